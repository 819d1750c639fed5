"""Flux calibration of imager exposures."""

from .photom import PhotometricConversion, ab_zeropoint_for_unit_sum, apply_conversion, select_conversion
from .photom_step import PhotomStep

__all__ = ["PhotometricConversion", "PhotomStep", "ab_zeropoint_for_unit_sum", "apply_conversion", "select_conversion"]
