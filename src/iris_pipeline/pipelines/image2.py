"""Stage 2 imaging: count-rate image -> calibrated image (``_cal``) for the IRIS and Liger imagers."""

from __future__ import annotations

import logging

from ..assign_wcs import AssignWcsStep
from ..associations import ScienceExposure
from ..background import BackgroundStep
from ..datamodels import CubeModel
from ..exceptions import InputFileError
from ..flat_field import FlatFieldStep
from ..photom import PhotomStep
from ..stpipe import IrisPipeline
from ..stpipe.base import remove_known_suffix

__all__ = ["ProcessImagerL2Pipeline"]

log = logging.getLogger(__name__)


class ProcessImagerL2Pipeline(IrisPipeline):
    """Stage 2 imaging: WCS, flat field, background, flux calibration.

    Steps, in order: ``assign_wcs`` -> ``flat_field`` -> ``background`` -> ``photom``. The
    background is measured after the flat field, so that a background measured on the frame
    itself does not carry the flat's pixel-to-pixel structure; associated sky exposures are
    flat-fielded with the same reference before they are matched and subtracted.

    The input is a rate file or model, an association (JSON; members ``science`` and
    ``background``/``sky``), or a list of them. Each science exposure gives one ``_cal`` product,
    named after the association product when it has one science member, else after the input.

    Time series: a per-integration input (``_rateints``, written by detector1 for every exposure
    of more than one integration, the TSO exposures the EXP_TYPE table sends to tso3) is
    calibrated integration by integration into a ``_calints`` cube (`CubeModel`): one WCS and
    one flat for all planes, and no background subtraction (tso3 measures it in an annulus
    about each star; ``S_BKDSUB = SKIPPED``). See ``docs/image2.md``.
    """

    class_alias = "image2"
    spec = """
    """
    step_defs = {
        "assign_wcs": AssignWcsStep,
        "flat_field": FlatFieldStep,
        "background": BackgroundStep,
        "photom": PhotomStep,
    }

    def process(self, step_input):
        result = self.per_science_exposure(step_input, "cal", self._calibrate)
        models = result if isinstance(result, list) else [result]
        cubes = [isinstance(model, CubeModel) for model in models]
        if any(cubes) and not all(cubes):
            raise InputFileError(models[cubes.index(True)].meta.filename,
                                 "image2 calibrates per-integration cubes (_rateints) and images (_rate) in separate "
                                 "runs")  # fmt: skip
        if all(cubes):
            self.suffix = "calints"
        return result

    def _calibrate(self, exposure: ScienceExposure):
        model = self.assign_wcs.run(exposure.science)
        model = self.flat_field.run(model)
        skies = []
        if exposure.skies and not self.background.skip:
            skies = [self.flat_field.run(sky) for sky in exposure.skies]
        model = self.background.run(model, skies)
        model = self.photom.run(model)
        if exposure.product_name:
            stem, _ = remove_known_suffix(exposure.product_name)
            model.meta.filename = f"{stem}_calints.fits" if isinstance(model, CubeModel) else f"{stem}_cal.fits"
        log.info("%s calibrated", model.meta.filename)
        return model
