"""Stage 2 imaging: count-rate image -> calibrated image (``_cal``) for the IRIS and Liger imagers."""

from __future__ import annotations

import logging

from ..assign_wcs import AssignWcsStep
from ..associations import ScienceExposure
from ..background import BackgroundStep
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
    See ``docs/image2.md``.
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
        return self.per_science_exposure(step_input, "cal", self._calibrate)

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
            model.meta.filename = f"{stem}_cal.fits"
        log.info("%s calibrated", model.meta.filename)
        return model
