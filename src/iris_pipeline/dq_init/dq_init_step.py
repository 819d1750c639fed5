"""DQInitStep: raw ramp -> RampModel with pixel DQ from the MASK reference file."""

from __future__ import annotations

import numpy as np

from .. import datamodels
from ..lib.subarray import Window, reference_cutout
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
            mask_path = self.get_reference_file(raw, "mask")
            shape = raw.data.shape
            if mask_path == "N/A":
                mask_dq = np.zeros(shape[-2:], dtype=np.uint32)
            else:
                with datamodels.MaskModel(mask_path) as mask:
                    mask_dq = reference_cutout(
                        mask.dq,
                        Window.from_model(mask, mask.dq.shape),
                        Window.from_model(raw, shape),
                        mask.meta.filename,
                    )
            ramp.pixeldq, ramp.groupdq = initialize_dq(mask_dq, shape)
            ramp.data = raw.data.astype(np.float32)
            ramp.err = np.zeros(shape, dtype=np.float32)
        return ramp
