"""Ramp fitting: count rates (DN/s) from the groups of each integration."""

from .ramp_fit_step import RampFitStep
from .result import RampFitResult
from .stcal_adapter import fit_ramps_stcal

__all__ = ["RampFitResult", "RampFitStep", "fit_ramps_stcal"]
