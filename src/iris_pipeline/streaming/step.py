"""Base class of the stage-1 correction steps: a step run alone runs its unit over the whole ramp."""

from __future__ import annotations

import numpy as np

from ..stpipe import IrisStep
from ..stpipe.base import _native_arrays
from .stage1 import ExposureContext, Stage1Unit, run_units

__all__ = ["Stage1Step"]


class Stage1Step(IrisStep):
    """A stage-1 step: subclasses write ``stage1_unit`` once; ``detector1`` composes the same units.

    ``process`` opens the input ramp (its arrays converted once to native byte order: FITS stores
    them big-endian, the numba kernels need native), prepares the unit and applies it to every
    integration as one block.
    """

    def stage1_unit(self, model, context: ExposureContext) -> Stage1Unit:
        """The step prepared for the exposure ``model``: its references read and flags added to ``context.pixeldq``."""
        raise NotImplementedError

    def open_stage1_input(self, step_input):
        """The input ramp with native arrays, and its context (sharing the ramp's pixel DQ)."""
        ramp = _native_arrays(self.open_ramp(step_input))
        ramp.pixeldq = np.require(ramp.pixeldq, np.uint32, ("C", "W"))
        ramp.groupdq = np.require(ramp.groupdq, np.uint8, ("C", "W"))
        ramp.data = np.require(ramp.data, np.float32, ("C", "W"))
        return ramp, ExposureContext.from_model(ramp, ramp.data.shape, ramp.pixeldq)

    def process(self, step_input):
        ramp, context = self.open_stage1_input(step_input)
        unit = self.stage1_unit(ramp, context)
        run_units(
            ramp.data, context, [unit], groupdq=ramp.groupdq, corrected_ramp=ramp.data,
            corrected_groupdq=ramp.groupdq, block_rows=context.shape[2],
        )  # fmt: skip
        self.report(ramp, unit)
        return ramp

    def report(self, ramp, unit: Stage1Unit) -> None:
        """Log (and record on ``ramp``) what the unit found, once it has run over the whole ramp (nothing by default)."""
