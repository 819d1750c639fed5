"""Ramp fitting: count rates (DN/s) from the groups of each integration."""

from .ramp_fit_step import RampFitStep
from .stcal_adapter import RampFitResult, fit_ramps_stcal

__all__ = ["RampFitResult", "RampFitStep", "fit_ramps_stcal"]
