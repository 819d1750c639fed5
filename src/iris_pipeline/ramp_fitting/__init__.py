"""Ramp fitting: count rates (DN/s) from the groups of each integration."""

from .ols import combine_integrations, fit_block, fit_ramps
from .ramp_fit_step import RampFitStep
from .result import RampFitResult
from .stcal_adapter import fit_ramps_stcal

__all__ = [
    "RampFitResult",
    "RampFitStep",
    "combine_integrations",
    "fit_block",
    "fit_ramps",
    "fit_ramps_stcal",
]
