"""LinearityStep: correct the classical nonlinearity of every unsaturated group."""

from __future__ import annotations

from ..streaming import ExposureContext, Stage1Unit
from ..streaming.step import Stage1Step
from .linearity import apply_linearity, linearity_tables

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
        prepared, pixel_flags = self.get_reference_arrays(model, "linearity", "coeffs", "dq", shape=context.shape,
                                                          prepare=linearity_tables)  # fmt: skip
        context.pixeldq |= pixel_flags
        return LinearityUnit(prepared)
