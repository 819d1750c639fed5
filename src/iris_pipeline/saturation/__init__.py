"""Saturation flagging of ramp groups against the SATURATION reference file."""

from .saturation import flag_saturation, prepare_saturation
from .saturation_step import SaturationStep, SaturationUnit

__all__ = ["SaturationStep", "SaturationUnit", "flag_saturation", "prepare_saturation"]
