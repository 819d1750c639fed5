"""SaturationStep: flag saturated groups from the SATURATION reference file."""

from __future__ import annotations

import logging

import numpy as np

from ..streaming import ExposureContext, Stage1Unit
from ..streaming.step import Stage1Step
from .saturation import flag_saturation, prepare_saturation

__all__ = ["SaturationStep", "SaturationUnit"]

log = logging.getLogger(__name__)


class SaturationUnit(Stage1Unit):
    """Saturation flags for blocks of raw groups (bias included)."""

    def __init__(self, threshold_dn, n_pix_grow_sat, read_pattern_s, bias_dn):
        self.threshold_dn = threshold_dn
        self.n_pix_grow_sat = n_pix_grow_sat
        self.halo_rows = n_pix_grow_sat
        self.read_pattern_s = read_pattern_s
        self.bias_dn = bias_dn

    def apply_block(self, block_dn, groupdq, rows):
        flag_saturation(
            block_dn, groupdq, self.threshold_dn[rows], self.n_pix_grow_sat, read_pattern=self.read_pattern_s,
            bias_dn=None if self.bias_dn is None else self.bias_dn[rows],
        )  # fmt: skip


class SaturationStep(Stage1Step):
    """Flag groups at or above the saturation level, and all later groups of the ramp.

    When groups average several reads, the superbias is read too: the tests for saturation hidden
    by the averaging work on the signal above the bias.
    """

    class_alias = "saturation"
    spec = """
    n_pix_grow_sat = integer(default=1, min=0)  # neighbours flagged around a saturated pixel (charge spilling)
    """  # noqa: E501
    reference_file_types = ["saturation", "superbias"]

    def stage1_unit(self, model, context: ExposureContext) -> SaturationUnit:
        level, level_dq = self.get_reference_arrays(model, "saturation", "data", "dq", shape=context.shape)
        threshold = prepare_saturation(level, level_dq, context.pixeldq)
        bias = None
        if context.read_pattern_s is not None:
            arrays = self.get_reference_arrays(model, "superbias", "data", shape=context.shape)
            if arrays is None:
                log.warning("%s: no superbias; averaged groups are tested for saturation with a bias of 0",
                            model.meta.filename)  # fmt: skip
            else:
                bias = np.where(np.isfinite(arrays[0]), arrays[0], 0.0).astype(np.float32)
        return SaturationUnit(threshold, self.n_pix_grow_sat, context.read_pattern_s, bias)
