"""DQInitStep: raw ramp -> RampModel with pixel DQ from the MASK reference file."""

from __future__ import annotations

import numpy as np

from .. import datamodels
from ..stpipe import IrisStep
from .dq_init import initialize_dq

__all__ = ["DQInitStep"]


class DQInitStep(IrisStep):
    """Start a ramp: float32 data, pixel DQ from the bad-pixel mask, empty group DQ."""

    class_alias = "dq_init"
    spec = """
    """
    reference_file_types = ["mask"]

    def process(self, step_input):
        with datamodels.open(step_input) as raw:
            ramp = datamodels.RampModel()
            ramp.update(raw)
            ramp.meta.filename = raw.meta.filename
            shape = raw.data.shape
            mask = self.get_reference_arrays(raw, "mask", "dq")
            mask_dq = np.zeros(shape[-2:], dtype=np.uint32) if mask is None else mask[0]
            ramp.pixeldq, ramp.groupdq = initialize_dq(mask_dq, shape)
            ramp.data = raw.data.astype(np.float32)
            ramp.err = np.zeros(shape, dtype=np.float32)
        return ramp
