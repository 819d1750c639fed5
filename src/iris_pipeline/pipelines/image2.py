"""Stage 2 imaging: count-rate image -> calibrated image (``_cal``) for the IRIS and Liger imagers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..assign_wcs import AssignWcsStep
from ..associations import is_association, read_association
from ..background import BackgroundStep
from ..exceptions import InputFileError
from ..flat_field import FlatFieldStep
from ..photom import PhotomStep
from ..stpipe import IrisPipeline
from ..stpipe.base import remove_known_suffix

__all__ = ["ProcessImagerL2Pipeline"]

log = logging.getLogger(__name__)

SKY_MEMBER_TYPES = ("background", "sky")


@dataclass
class _Exposure:
    """One science exposure to calibrate, with its sky exposures and its product name."""

    science: object
    skies: list = field(default_factory=list)
    product_name: str | None = None


def _exposures(step_input) -> list[_Exposure]:
    """The science exposures of the input: a file, a model, an association file, or a list of those."""
    if isinstance(step_input, list | tuple):
        return [exposure for item in step_input for exposure in _exposures(item)]
    if isinstance(step_input, str | Path) and is_association(step_input):
        exposures = []
        for product in read_association(step_input).products:
            science = product.members_of("science")
            if not science:
                raise InputFileError(step_input, f"product {product.name} has no science member")
            skies = [str(path) for path in product.members_of(*SKY_MEMBER_TYPES)]
            name = product.name if len(science) == 1 else None
            exposures += [_Exposure(str(path), skies, name) for path in science]
        return exposures
    return [_Exposure(str(step_input) if isinstance(step_input, Path) else step_input)]


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
        self.output_use_model = True
        self.suffix = "cal"
        results = [self._calibrate(exposure) for exposure in _exposures(step_input)]
        return results[0] if len(results) == 1 else results

    def _calibrate(self, exposure: _Exposure):
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
