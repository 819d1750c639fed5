"""Stage 2 IFS: count-rate image -> calibrated data cube (``_s3d``) for the IRIS lenslet and slicer modes."""

from __future__ import annotations

import logging
from pathlib import Path

from ..associations import ScienceExposure
from ..ifs import CubeBuildStep, ExtractIFSStep, IFSFlatStep, SkySubtractionStep, TelluricStep, WavecalStep
from ..stpipe import IrisPipeline
from ..stpipe.base import remove_known_suffix

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
    }

    def process(self, step_input):
        return self.per_science_exposure(step_input, "s3d", self._reduce)

    def _spectra(self, exposure):
        spectra = self.extract.run(exposure)
        spectra = self.wavecal.run(spectra)
        return self.ifs_flat.run(spectra)

    def _reduce(self, exposure: ScienceExposure):
        spectra = self._spectra(exposure.science)
        sky = None
        if exposure.skies and not self.sky_subtraction.skip:
            sky = self._spectra(exposure.skies[0])
        spectra = self.sky_subtraction.run(spectra, sky)
        cube = self.telluric.run(self.cube_build.run(spectra))
        stem, _ = remove_known_suffix(Path(exposure.product_name or cube.meta.filename).stem)
        cube.meta.filename = f"{stem}_s3d.fits"
        log.info("%s: cube of %d planes x %d x %d spaxels", cube.meta.filename, *cube.data.shape)
        return cube
