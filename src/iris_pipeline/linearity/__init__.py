"""Classical linearity correction with per-pixel polynomials from the LINEARITY reference file."""

from .linearity import apply_linearity, prepare_coefficients
from .linearity_step import LinearityStep, LinearityUnit

__all__ = ["LinearityStep", "LinearityUnit", "apply_linearity", "prepare_coefficients"]
