"""Superbias subtraction on plain arrays (numba, parallel over rows)."""

from __future__ import annotations

import numba
import numpy as np

from .. import dqflags

__all__ = ["prepare_superbias", "subtract_superbias"]

UNRELIABLE_BIAS = np.uint32(dqflags.PIXEL["UNRELIABLE_BIAS"])


def prepare_superbias(bias_dn: np.ndarray, bias_dq: np.ndarray, pixeldq: np.ndarray):
    """Bias to subtract (NaN replaced by 0) and the pixel DQ with ``UNRELIABLE_BIAS`` where it is unknown.

    Parameters
    ----------
    bias_dn : np.ndarray
        Superbias, DN, (ny, nx).
    bias_dq : np.ndarray
        uint32 DQ of the superbias reference; its flags are OR-ed into the pixel DQ.
    pixeldq : np.ndarray
        uint32 pixel DQ of the exposure, updated in place.

    Returns
    -------
    np.ndarray
        float32 bias, DN.
    """
    unknown = ~np.isfinite(bias_dn)
    pixeldq |= bias_dq.astype(np.uint32) | np.where(unknown, UNRELIABLE_BIAS, np.uint32(0))
    return np.where(unknown, 0.0, bias_dn).astype(np.float32)


@numba.njit(parallel=True, nogil=True, cache=True)
def subtract_superbias(ramp_dn, bias_dn):
    """Subtract the bias from every group, in place.

    Parameters
    ----------
    ramp_dn : np.ndarray
        float32 groups of one integration, DN, (ngroups, nrows, nx).
    bias_dn : np.ndarray
        float32 bias for the same rows, DN, (nrows, nx).
    """
    ngroups, nrows, nx = ramp_dn.shape
    for row in numba.prange(nrows):
        for group in range(ngroups):
            for col in range(nx):
                ramp_dn[group, row, col] -= bias_dn[row, col]
