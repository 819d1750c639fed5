"""Stage 3 imaging time series: per-integration cubes (``_calints``) -> light curve (``_phot.ecsv``) and plot."""

from __future__ import annotations

import logging
from pathlib import Path

from ..lib.atomic import atomic_path
from ..stpipe import IrisPipeline
from ..stpipe.base import remove_known_suffix
from ..tso_photometry import TsoPhotometryStep
from ..tso_photometry.tso_photometry_step import open_integrations

__all__ = ["Tso3Pipeline"]

log = logging.getLogger(__name__)


class Tso3Pipeline(IrisPipeline):
    """Light curve of an imaging time series (JWST's calwebb_tso3 for imaging).

    Steps: ``tso_photometry`` (per-integration aperture photometry of the target and comparison
    stars, times in BJD_TDB and MJD, optional transit fit). Input: an association JSON (the
    ``science`` members of its first product), or one or several ``_calints`` (or ``_rateints``)
    files. Products, in ``output_dir``, each written under a temporary name and renamed when
    complete: ``<product>_phot.ecsv`` (astropy ``Table.read``) and with ``quicklook``
    ``<product>_phot.png``. No product when the step could not measure the target
    (``S_TSOPHT = SKIPPED``, a WARNING; ``fail_on_incomplete`` makes it an error). See
    ``docs/steps/tso3.md``.
    """

    class_alias = "tso3"
    spec = """
    quicklook = boolean(default=True)  # write the light curve plot as PNG
    """  # noqa: E501
    step_defs = {"tso_photometry": TsoPhotometryStep}

    def process(self, step_input):
        cubes, product = open_integrations(step_input)
        if product is None:
            product, _ = remove_known_suffix(Path(cubes[0].meta.filename or "tso3_calints.fits").stem)
        log.info("tso3: product %s from %d exposure(s)", product, len(cubes))
        result = self.tso_photometry.run(cubes)
        # None when the step is skipped (steps.tso_photometry.skip) or could not measure the target.
        table = getattr(self.tso_photometry, "light_curve", None) if not self.tso_photometry.skip else None
        self.light_curve, self.transit_fit = table, getattr(self.tso_photometry, "transit_fit", None)
        if table is None:
            log.warning("tso3: no light curve for %s", product)
        if self.save_results:
            if table is not None:
                output_dir = Path(self.output_dir or ".")
                table.meta["product"] = product
                with atomic_path(output_dir / f"{product}_phot.ecsv") as tmp:
                    table.write(tmp, format="ascii.ecsv", overwrite=True)
                log.info("Saved %s", output_dir / f"{product}_phot.ecsv")
                if self.quicklook:
                    from ..tso_photometry.preview import write_light_curve_preview

                    write_light_curve_preview(table, output_dir / f"{product}_phot.png")
            # The products are the table and the plot; stpipe must not save the input cube again.
            self.save_results = False
        return result
