"""Dark-current subtraction on plain arrays (numba, parallel over rows).

The DARK reference holds the dark current as a rate (DN/s), so one file serves every read mode
and group time: group ``k`` loses ``dark * t_k``, with ``t_k`` the mean time of its reads since
the reset. This removes the dark from the slope exactly for any read pattern.
"""

from __future__ import annotations

import numba
import numpy as np

from .. import dqflags

__all__ = ["prepare_dark", "subtract_dark"]

UNRELIABLE_DARK = np.uint32(dqflags.PIXEL["UNRELIABLE_DARK"])


def prepare_dark(dark_dn_s: np.ndarray, dark_dq: np.ndarray, pixeldq: np.ndarray) -> np.ndarray:
    """Dark rate to subtract (NaN replaced by 0) and its flags OR-ed into the pixel DQ (in place).

    Pixels whose dark is unknown are flagged ``UNRELIABLE_DARK``.
    """
    unknown = ~np.isfinite(dark_dn_s)
    pixeldq |= dark_dq.astype(np.uint32) | np.where(unknown, UNRELIABLE_DARK, np.uint32(0))
    return np.where(unknown, 0.0, dark_dn_s).astype(np.float32)


@numba.njit(parallel=True, nogil=True, cache=True)
def subtract_dark(ramp_dn, dark_dn_s, group_times_s):
    """Subtract ``dark * t`` from every group, in place.

    Parameters
    ----------
    ramp_dn : np.ndarray
        float32 groups of one integration, DN, (ngroups, nrows, nx).
    dark_dn_s : np.ndarray
        float32 dark rate for the same rows, DN/s, (nrows, nx).
    group_times_s : np.ndarray
        Mean time of each group since the reset, s, (ngroups,).
    """
    ngroups, nrows, nx = ramp_dn.shape
    for row in numba.prange(nrows):
        for group in range(ngroups):
            time_s = np.float32(group_times_s[group])
            for col in range(nx):
                ramp_dn[group, row, col] -= dark_dn_s[row, col] * time_s
