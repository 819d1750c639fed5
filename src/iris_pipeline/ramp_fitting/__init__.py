"""Ramp fitting: count rates (DN/s) from the groups of each integration."""

from .stcal_adapter import RampFitResult, fit_ramps_stcal
from .ramp_fit_step import RampFitStep

__all__ = ["RampFitResult", "RampFitStep", "fit_ramps_stcal"]
