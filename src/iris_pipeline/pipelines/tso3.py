"""Stage 3 time series: imaging ``_calints`` -> ``_phot.ecsv``, IFS ``_x1dints`` -> ``_whtlt.ecsv``; plots."""

from __future__ import annotations

import logging
from pathlib import Path

from .. import datamodels
from ..lib.atomic import atomic_path
from ..stpipe import IrisPipeline
from ..stpipe.base import remove_known_suffix
from ..tso_photometry import TsoPhotometryStep, WhiteLightStep
from ..tso_photometry.tso_photometry_step import open_integrations

__all__ = ["Tso3Pipeline"]

log = logging.getLogger(__name__)


class Tso3Pipeline(IrisPipeline):
    """Light curve of a time series (JWST's calwebb_tso3), imaging or IFS by the kind of input.

    Imaging (``_calints``, or ``_rateints``): ``tso_photometry`` (per-integration aperture
    photometry of the target and comparison stars, times in BJD_TDB and MJD, optional transit
    fit) -> ``<product>_phot.ecsv`` and with ``quicklook`` ``<product>_phot.png``.

    IFS (``_x1dints``, the target's spectrum in every integration that spec2 extracts):
    ``white_light`` (flux summed over a wavelength range per integration, times from INT_TIMES,
    optional transit fit) -> ``<product>_whtlt.ecsv`` and ``<product>_whtlt.png``.

    Input: an association JSON (the ``science`` members of its first product), or one or several
    files of one kind. Products are written in ``output_dir`` under a temporary name and renamed
    when complete; none when the step could not measure the target (its status ``SKIPPED``, a
    WARNING; ``fail_on_incomplete`` makes it an error). See ``docs/steps/tso3.md``.
    """

    class_alias = "tso3"
    spec = """
    quicklook = boolean(default=True)  # write the light curve plot as PNG
    """  # noqa: E501
    step_defs = {"tso_photometry": TsoPhotometryStep, "white_light": WhiteLightStep}

    def process(self, step_input):
        models, product = open_integrations(step_input)
        spectra = [isinstance(model, datamodels.MultiSpecIntsModel) for model in models]
        if any(spectra) and not all(spectra):
            from ..exceptions import InputFileError

            raise InputFileError(models[spectra.index(True)].meta.filename,
                                 "tso3 measures imaging integrations (_calints) and IFS spectra (_x1dints) in "
                                 "separate runs")  # fmt: skip
        step, suffix = (self.white_light, "whtlt") if all(spectra) else (self.tso_photometry, "phot")
        if product is None:
            default = "tso3_x1dints.fits" if all(spectra) else "tso3_calints.fits"
            product, _ = remove_known_suffix(Path(models[0].meta.filename or default).stem)
        log.info("tso3: product %s from %d exposure(s)", product, len(models))
        result = step.run(models)
        # None when the step is skipped (steps.<name>.skip) or could not measure the target.
        table = getattr(step, "light_curve", None) if not step.skip else None
        self.light_curve, self.transit_fit = table, getattr(step, "transit_fit", None)
        if table is None:
            log.warning("tso3: no light curve for %s", product)
        if self.save_results:
            if table is not None:
                output_dir = Path(self.output_dir or ".")
                table.meta["product"] = product
                path = output_dir / f"{product}_{suffix}.ecsv"
                with atomic_path(path) as tmp:
                    table.write(tmp, format="ascii.ecsv", overwrite=True)
                log.info("Saved %s", path)
                if self.quicklook:
                    from ..tso_photometry.preview import write_light_curve_preview

                    write_light_curve_preview(table, path.with_suffix(".png"))
            # The products are the table and the plot; stpipe must not save the input again.
            self.save_results = False
        return result
