"""DQInitStep: raw ramp -> RampModel with pixel DQ from the MASK reference file."""

from __future__ import annotations

import numpy as np

from .. import datamodels
from ..exceptions import InputFileError
from ..streaming import ExposureContext, Stage1Unit, run_units
from ..streaming.step import Stage1Step

__all__ = ["DQInitStep", "DQInitUnit"]


class DQInitUnit(Stage1Unit):
    """The mask's flags are in the pixel DQ once prepared; blocks need nothing more."""

    def apply_block(self, block_dn, groupdq, rows):
        """Nothing to do: the groups start unflagged."""


class DQInitStep(Stage1Step):
    """Start a ramp: float32 data, pixel DQ from the bad-pixel mask, empty group DQ."""

    class_alias = "dq_init"
    spec = """
    """
    reference_file_types = ["mask"]

    def stage1_unit(self, model, context: ExposureContext) -> DQInitUnit:
        mask = self.get_reference_arrays(model, "mask", "dq", shape=context.shape)
        if mask is not None:
            context.pixeldq |= mask[0].astype(np.uint32)
        return DQInitUnit()

    def process(self, step_input):
        with datamodels.open(step_input) as raw:
            if not isinstance(raw, datamodels.RawRampModel):
                raise InputFileError(raw.meta.filename, f"dq_init needs a raw ramp, not {raw.meta.model_type}")
            shape = raw.data.shape
            context = ExposureContext.from_model(raw, shape, np.zeros(shape[-2:], np.uint32))
            unit = self.stage1_unit(raw, context)
            ramp = datamodels.RampModel()
            ramp.update(raw)
            ramp.meta.filename = raw.meta.filename
            data = np.empty(shape, np.float32)
            groupdq = np.zeros(shape, np.uint8)
            run_units(raw.data, context, [unit], corrected_ramp=data, corrected_groupdq=groupdq)
            ramp.data, ramp.groupdq, ramp.pixeldq = data, groupdq, context.pixeldq
            ramp.err = np.zeros(shape, dtype=np.float32)
        return ramp
