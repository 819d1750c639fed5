"""SuperBiasStep: subtract the bias level of every pixel."""

from __future__ import annotations

from ..streaming import ExposureContext, Stage1Unit
from ..streaming.step import Stage1Step
from .superbias import prepare_superbias, subtract_superbias

__all__ = ["SuperBiasStep", "SuperBiasUnit"]


class SuperBiasUnit(Stage1Unit):
    """Subtracts the prepared bias from blocks of groups."""

    def __init__(self, bias_dn):
        self.bias_dn = bias_dn

    def apply_block(self, block_dn, groupdq, rows):
        subtract_superbias(block_dn, self.bias_dn[rows])


class SuperBiasStep(Stage1Step):
    """Subtract the SUPERBIAS reference from every group (DN above bias afterwards)."""

    class_alias = "superbias"
    spec = """
    """
    reference_file_types = ["superbias"]

    def stage1_unit(self, model, context: ExposureContext) -> SuperBiasUnit:
        bias, bias_dq = self.get_reference_arrays(model, "superbias", "data", "dq", shape=context.shape)
        bias = prepare_superbias(bias, bias_dq, context.pixeldq)
        context.subtracted_bias_dn = bias
        return SuperBiasUnit(bias)
