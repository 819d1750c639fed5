"""LinearityStep: correct the classical nonlinearity of every unsaturated group."""

from __future__ import annotations

from ..stpipe import IrisStep
from .linearity import apply_linearity, prepare_coefficients

__all__ = ["LinearityStep"]


class LinearityStep(IrisStep):
    """Apply the LINEARITY polynomials (needs DN above bias: run superbias first)."""

    class_alias = "linearity"
    spec = """
    """
    reference_file_types = ["linearity"]

    def process(self, step_input):
        ramp = self.open_ramp(step_input)
        coeffs, lin_dq = self.get_reference_arrays(ramp, "linearity", "coeffs", "dq")
        coeffs = prepare_coefficients(coeffs, lin_dq, ramp.pixeldq)
        for integration, groupdq in zip(ramp.data, ramp.groupdq, strict=True):
            apply_linearity(integration, groupdq, coeffs)
        return ramp
