"""LinearityStep: correct the classical nonlinearity of every unsaturated group."""

from __future__ import annotations

from ..streaming import ExposureContext, Stage1Unit
from ..streaming.step import Stage1Step
from .linearity import apply_linearity, prepare_coefficients

__all__ = ["LinearityStep", "LinearityUnit"]


class LinearityUnit(Stage1Unit):
    """Applies the prepared polynomials to blocks of groups (DN above bias)."""

    def __init__(self, coeffs):
        self.coeffs = coeffs

    def apply_block(self, block_dn, groupdq, rows):
        apply_linearity(block_dn, groupdq, self.coeffs[:, rows])


class LinearityStep(Stage1Step):
    """Apply the LINEARITY polynomials (needs DN above bias: run superbias first)."""

    class_alias = "linearity"
    spec = """
    """
    reference_file_types = ["linearity"]

    def stage1_unit(self, model, context: ExposureContext) -> LinearityUnit:
        coeffs, lin_dq = self.get_reference_arrays(model, "linearity", "coeffs", "dq", shape=context.shape)
        return LinearityUnit(prepare_coefficients(coeffs, lin_dq, context.pixeldq))
