"""Dark-current products: hot and warm pixels, and the read noise from the raw reads of darks."""

from __future__ import annotations

import math

import numba
import numpy as np

from .. import dqflags
from .combine import MAD_TO_SIGMA

__all__ = [
    "HOT_FLAGS",
    "WARM_FLAGS",
    "channel_drift",
    "find_hot_pixels",
    "read_noise_from_differences",
    "subtract_channel_drift",
]

HOT_FLAGS = np.uint32(dqflags.PIXEL["HOT"] | dqflags.PIXEL["DO_NOT_USE"])
WARM_FLAGS = np.uint32(dqflags.PIXEL["WARM"])


def find_hot_pixels(
    dark_dn_s: np.ndarray,
    err_dn_s: np.ndarray,
    hot_threshold_dn_s: float,
    warm_threshold_dn_s: float,
    sigma: float,
) -> np.ndarray:
    """DQ flags of hot and warm pixels of a combined dark.

    A pixel is hot when its dark current exceeds ``hot_threshold_dn_s`` *and* does so
    significantly, ``dark - hot_threshold > sigma * err``; warm likewise with
    ``warm_threshold_dn_s``. The significance test keeps noise from flagging pixels in short
    darks; the absolute threshold keeps a well-measured but harmless dark current from being
    flagged in long ones.

    Parameters
    ----------
    dark_dn_s, err_dn_s : numpy.ndarray
        Dark current and its uncertainty, DN/s (ny, nx). NaN pixels are not flagged.
    hot_threshold_dn_s, warm_threshold_dn_s : float
        Dark current above which a pixel is hot (``HOT | DO_NOT_USE``) or warm (``WARM``), DN/s;
        ``warm_threshold_dn_s <= hot_threshold_dn_s``.
    sigma : float
        Required significance of the excess over the threshold, in units of ``err_dn_s``.

    Returns
    -------
    numpy.ndarray
        uint32 DQ (ny, nx).
    """
    if warm_threshold_dn_s > hot_threshold_dn_s:
        raise ValueError(
            f"warm threshold {warm_threshold_dn_s} DN/s exceeds the hot threshold {hot_threshold_dn_s} DN/s"
        )
    with np.errstate(invalid="ignore"):
        hot = (dark_dn_s - hot_threshold_dn_s) > sigma * err_dn_s
        warm = ~hot & ((dark_dn_s - warm_threshold_dn_s) > sigma * err_dn_s)
    dq = np.zeros(dark_dn_s.shape, np.uint32)
    dq[hot] = HOT_FLAGS
    dq[warm] = WARM_FLAGS
    return dq


def channel_drift(difference_dn: np.ndarray, channel_of_column: np.ndarray) -> np.ndarray:
    """Bias drift of each output channel in a difference of two reads, per column.

    The bias of a read drifts as a whole and per output channel; in the difference of two reads
    of a dark that drift is a constant over each channel, taken as the median of the channel's
    pixels (robust to hot pixels and cosmic rays; the dark signal of a normal pixel is far below
    the read noise and is removed with it).

    Parameters
    ----------
    difference_dn : numpy.ndarray
        float (ny, nx) difference of two groups, DN.
    channel_of_column : numpy.ndarray
        int (nx,) output channel of each column.

    Returns
    -------
    numpy.ndarray
        float32 (nx,): the drift of each column's channel, DN.
    """
    drift = np.empty(channel_of_column.shape, np.float32)
    for channel in np.unique(channel_of_column):
        columns = channel_of_column == channel
        drift[columns] = np.nanmedian(difference_dn[:, columns])
    return drift


def subtract_channel_drift(difference_dn: np.ndarray, channel_of_column: np.ndarray) -> np.ndarray:
    """Remove the `channel_drift` from a difference of two reads, in place; returns it."""
    difference_dn -= channel_drift(difference_dn, channel_of_column)[None, :]
    return difference_dn


@numba.njit(parallel=True, cache=True, nogil=True)
def _robust_std_kernel(differences, ramp_length, sigma, out, n_used):
    ndiff, ny, nx = differences.shape
    for y in numba.prange(ny):
        values = np.empty(ndiff, np.float64)
        scratch = np.empty(ndiff, np.float64)
        keep = np.empty(ndiff, np.bool_)
        for x in range(nx):
            count = 0
            for k in range(ndiff):
                keep[k] = math.isfinite(differences[k, y, x])
                if keep[k]:
                    count += 1
            for _ in range(5):
                if count < 3:
                    break
                m = 0
                for k in range(ndiff):
                    if keep[k]:
                        values[m] = differences[k, y, x]
                        m += 1
                ordered = np.sort(values[:m])
                center = ordered[m // 2] if m % 2 else 0.5 * (ordered[m // 2 - 1] + ordered[m // 2])
                for k in range(m):
                    scratch[k] = abs(values[k] - center)
                spread = np.sort(scratch[:m])
                mad = spread[m // 2] if m % 2 else 0.5 * (spread[m // 2 - 1] + spread[m // 2])
                limit = sigma * MAD_TO_SIGMA * mad
                changed = False
                for k in range(ndiff):
                    if keep[k] and abs(differences[k, y, x] - center) > limit:
                        keep[k] = False
                        count -= 1
                        changed = True
                if not changed:
                    break
            n_used[y, x] = count
            if count < 2:
                out[y, x] = np.nan
                continue
            mean = 0.0
            for k in range(ndiff):
                if keep[k]:
                    mean += differences[k, y, x]
            mean /= count
            total = 0.0
            adjacent = 0
            for k in range(ndiff):
                if keep[k]:
                    total += (differences[k, y, x] - mean) ** 2
                    if k + 1 < ndiff and keep[k + 1] and (k + 1) % ramp_length != 0:
                        adjacent += 1
            # Consecutive differences of a ramp share a group (correlation -1/2), so the sum of
            # squares about the mean has expectation var * (n - 1 + adjacent / n), not var * (n - 1).
            dof = count - 1 + adjacent / count
            c4 = math.sqrt(2.0 / (count - 1)) * math.exp(math.lgamma(count / 2.0) - math.lgamma((count - 1) / 2.0))
            out[y, x] = math.sqrt(total / dof) / c4


def read_noise_from_differences(differences_dn: np.ndarray, nframes: int, ramp_length: int, sigma: float = 5.0):
    """Noise of one read from the scatter of group differences of dark ramps.

    Each value is the difference of two consecutive groups of a dark ramp (drift removed, see
    `subtract_channel_drift`), a CDS pair. A group averages ``nframes`` reads, so the variance
    of a difference is ``2 * read_noise**2 / nframes`` plus the dark current's shot noise
    (negligible for normal pixels). Cosmic rays and jumps are removed by clipping at ``sigma``
    normalised MADs from the median; the standard deviation of the values kept (which the
    clipping at 5 sigma lowers by less than 0.1 %) gives ``read_noise = std * sqrt(nframes / 2)``.

    Parameters
    ----------
    differences_dn : numpy.ndarray
        (ndifferences, ny, nx) differences of consecutive groups, DN, from any number of
        integrations and exposures of the same read pattern; NaN values are not used.
    nframes : int
        Reads averaged into each group (NFRAMES).
    ramp_length : int
        Differences per ramp (``NGROUPS - 1``): the first axis holds ramps one after another.
    sigma : float
        Clipping threshold in normalised MADs.

    Returns
    -------
    read_noise_dn : numpy.ndarray
        float32 (ny, nx): noise of one read, DN (NaN with fewer than 2 values).
    n_used : numpy.ndarray
        uint16 (ny, nx): differences used.
    """
    differences_dn = np.asarray(differences_dn)
    if differences_dn.ndim != 3:
        raise ValueError(f"differences must be 3-D (ndifferences, ny, nx), got shape {differences_dn.shape}")
    shape = differences_dn.shape[1:]
    std = np.empty(shape, np.float32)
    n_used = np.empty(shape, np.uint16)
    if ramp_length < 1 or differences_dn.shape[0] % ramp_length:
        raise ValueError(f"{differences_dn.shape[0]} differences are not whole ramps of {ramp_length}")
    _robust_std_kernel(differences_dn, int(ramp_length), float(sigma), std, n_used)
    return (std * np.float32(math.sqrt(nframes / 2.0))).astype(np.float32), n_used
