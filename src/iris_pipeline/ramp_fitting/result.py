"""The result of a ramp fit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RampFitResult"]


@dataclass
class RampFitResult:
    """Slopes and their uncertainties; arrays are (ny, nx) or, per integration, (nints, ny, nx).

    Attributes
    ----------
    slope : np.ndarray
        Count rate, DN/s (float32).
    err : np.ndarray
        Total 1-sigma error of the slope, DN/s.
    var_poisson, var_rnoise : np.ndarray
        Poisson and read-noise parts of the variance, (DN/s)^2.
    dq : np.ndarray
        uint32 DQ flags.
    """

    slope: np.ndarray
    err: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray
    dq: np.ndarray

    @classmethod
    def from_stcal(cls, info: dict) -> RampFitResult:
        return cls(
            slope=info["slope"],
            err=info["err"],
            var_poisson=info["var_poisson"],
            var_rnoise=info["var_rnoise"],
            dq=info["dq"],
        )
