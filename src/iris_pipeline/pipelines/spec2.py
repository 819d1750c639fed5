"""Stage 2 IFS: count-rate image -> calibrated data cube (``_s3d``) for the IRIS lenslet and slicer modes."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import datamodels
from ..associations import ScienceExposure
from ..ifs import CubeBuildStep, ExtractIFSStep, IFSFlatStep, SkySubtractionStep, TelluricStep, WavecalStep
from ..ifs.tso import IFSTsoExtractStep, IntegrationCalibration, mean_rate
from ..stpipe import IrisPipeline
from ..stpipe.base import copy_provenance, remove_known_suffix

__all__ = ["Spec2Pipeline"]

log = logging.getLogger(__name__)


class Spec2Pipeline(IrisPipeline):
    """Stage 2 IFS: extraction, wavelength solution, spectral flat, sky subtraction, cube.

    Steps, in order: ``extract`` -> ``wavecal`` -> ``ifs_flat`` -> ``sky_subtraction`` ->
    ``cube_build`` (resampling onto a common wavelength grid, flux calibration, FITS WCS and
    gWCS) -> ``telluric`` (with ``--steps.telluric.standard=<standard _s3d cube>``). The input
    is a rate file or model, an association (members ``science`` and ``sky``/``background``; the
    first sky member is extracted and calibrated like the science exposure and subtracted with
    OH-line scaling), or a list of them. Each science exposure gives
    one ``_s3d`` cube, and with ``quicklook`` (default on) a PNG beside it: the white-light image
    and the spectrum of the brightest spaxel. See ``docs/ifs.md``.

    Time series: a per-integration input (``_rateints``, which detector1 writes for the TSO
    exposures the EXP_TYPE table sends to tso3) gives ``_x1dints``, the target's spectrum in every
    integration (``tso_extract_1d``): the steps above run once on the mean of the integrations and
    their factors are applied to each integration (`iris_pipeline.ifs.tso`). No cube per
    integration is written. See ``docs/steps/tso3.md``.
    """

    class_alias = "spec2"
    spec = """
    quicklook = boolean(default=True)  # write the cube's preview (white-light image and brightest spectrum) as PNG
    """  # noqa: E501
    step_defs = {
        "extract": ExtractIFSStep,
        "wavecal": WavecalStep,
        "ifs_flat": IFSFlatStep,
        "sky_subtraction": SkySubtractionStep,
        "cube_build": CubeBuildStep,
        "telluric": TelluricStep,
        "tso_extract_1d": IFSTsoExtractStep,
    }

    def process(self, step_input):
        result = self.per_science_exposure(step_input, "s3d", self._reduce)
        models = result if isinstance(result, list) else [result]
        if all(isinstance(model, datamodels.MultiSpecIntsModel) for model in models):
            self.suffix = "x1dints"
        return result

    def _spectra(self, exposure):
        spectra = self.extract.run(exposure)
        spectra = self.wavecal.run(spectra)
        return self.ifs_flat.run(spectra)

    def _reduce(self, exposure: ScienceExposure):
        science = datamodels.open(exposure.science)
        if isinstance(science, datamodels.RateIntsModel):
            return self._reduce_integrations(exposure, science)
        spectra = self._spectra(science)
        sky = None
        if exposure.skies and not self.sky_subtraction.skip:
            sky = self._spectra(exposure.skies[0])
        spectra = self.sky_subtraction.run(spectra, sky)
        cube = self.telluric.run(self.cube_build.run(spectra))
        stem, _ = remove_known_suffix(Path(exposure.product_name or cube.meta.filename).stem)
        cube.meta.filename = f"{stem}_s3d.fits"
        log.info("%s: cube of %d planes x %d x %d spaxels", cube.meta.filename, *cube.data.shape)
        return cube

    def _reduce_integrations(self, exposure: ScienceExposure, rateints):
        """``_x1dints`` of a time series: the steps on the mean of the integrations, their factors
        measured on probe spectra, then every integration (`iris_pipeline.ifs.tso`)."""
        template_rate = mean_rate(rateints)
        spectra = self.wavecal.run(self.extract.run(template_rate))
        ones = spectra.copy()
        ones.data = np.where(np.isfinite(spectra.data), 1.0, np.nan).astype(np.float32)
        ones.err = np.zeros_like(ones.err)
        inverse_response = self.ifs_flat.run(ones).data.astype(float)
        spectra = self.ifs_flat.run(spectra)
        if exposure.skies:
            log.info("%s: time series; the sky is the local background of each integration, %s is not subtracted",
                     rateints.meta.filename, exposure.skies[0])  # fmt: skip
        template = self.telluric.run(self.cube_build.run(spectra))
        unit_density = spectra.copy()
        unit_density.data = np.where(np.isfinite(spectra.data), np.abs(spectra.dispersion), np.nan).astype(np.float32)
        unit_density.err = np.zeros_like(unit_density.err)
        probe = self.telluric.run(self.cube_build.run(unit_density))
        usable = np.isfinite(probe.data) & ((probe.dq & np.uint32(1)) == 0)
        with np.errstate(invalid="ignore"):
            conversion = np.nanmedian(np.where(usable, probe.data, np.nan), axis=(1, 2))
        spax = spectra.spaxel_table
        subarray = rateints.meta.subarray
        calibration = IntegrationCalibration(
            spectral_format=self.extract.spectral_format(template_rate), bandwidth=self.extract.joint_bandwidth()[1],
            x0=(subarray.xstart or 1) - 1, y0=(subarray.ystart or 1) - 1,
            wavelength=np.asarray(spectra.wavelength, float), dispersion=np.asarray(spectra.dispersion, float),
            inverse_response=inverse_response, grid_um=template.wavelength.astype(float), conversion=conversion,
            spax_x=np.asarray(spax["SPAX_X"], int), spax_y=np.asarray(spax["SPAX_Y"], int),
            nspax_x=spectra.meta.ifs_format.nspax_x, nspax_y=spectra.meta.ifs_format.nspax_y,
        )  # fmt: skip
        result = self.tso_extract_1d.run(rateints, template, calibration)
        self.integration_calibration = calibration
        copy_provenance(result, [template], warn=False)
        stem, _ = remove_known_suffix(Path(exposure.product_name or rateints.meta.filename).stem)
        result.meta.filename = f"{stem}_x1dints.fits"
        log.info("%s: spectra of %d integrations, %d planes", result.meta.filename, len(result.spec),
                 template.wavelength.size)  # fmt: skip
        return result
