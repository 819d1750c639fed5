"""Sigma-clipped combination of a stack of images (count rates of calibration exposures).

The combination of a few exposures (three darks, five flats) cannot estimate each pixel's
scatter from the stack itself: with three values an outlier never stands more than 1.15 sample
standard deviations from the mean. Each input therefore comes with its own uncertainty (the ERR
of the ramp fit), and a value is rejected when it lies more than ``sigma`` of *its* uncertainty
from the median of the values still in use (the median is robust to one outlier among three).
Without per-input errors the scale is the normalised median absolute deviation of the stack
(useful from about five inputs on). The result is the unweighted mean of the values kept:
inverse-variance weights would bias a Poisson-limited stack low, as the error grows with the
value itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["CombinedImage", "sigma_clipped_combine"]

# MAD of a normal distribution in units of its standard deviation.
MAD_TO_SIGMA = 1.482602218505602
# Standard error of the median of n normal values, times sqrt(n) / sigma (large n: sqrt(pi / 2)).
MEDIAN_EFFICIENCY = 1.2533141373155003


@dataclass
class CombinedImage:
    """The combination of a stack, per pixel.

    Attributes
    ----------
    data : numpy.ndarray
        float32 (ny, nx): mean of the values kept (NaN where none is left), units of the input.
    err : numpy.ndarray
        float32 (ny, nx): uncertainty of ``data``: ``sqrt(sum err_i**2) / n`` over the values kept
        when the inputs have errors, else their standard deviation over ``sqrt(n)`` (NaN for
        ``n < 2``).
    n_used : numpy.ndarray
        uint16 (ny, nx): number of inputs kept.
    n_rejected : numpy.ndarray
        uint16 (ny, nx): number of usable inputs rejected by the clipping.
    """

    data: np.ndarray
    err: np.ndarray
    n_used: np.ndarray
    n_rejected: np.ndarray


@numba.njit(cache=True, nogil=True)
def _median(values, count):
    ordered = np.sort(values[:count])
    half = count // 2
    if count % 2:
        return ordered[half]
    return 0.5 * (ordered[half - 1] + ordered[half])


@numba.njit(parallel=True, cache=True, nogil=True)
def _clip_kernel(stack, errors, usable, has_errors, sigma, max_iterations, out, out_err, n_used, n_rejected):
    nimages, ny, nx = stack.shape
    for y in numba.prange(ny):
        values = np.empty(nimages, np.float64)
        scratch = np.empty(nimages, np.float64)
        keep = np.empty(nimages, np.bool_)
        for x in range(nx):
            count = 0
            for i in range(nimages):
                ok = usable[i, y, x] and math.isfinite(stack[i, y, x])
                if has_errors:
                    ok = ok and math.isfinite(errors[i, y, x]) and errors[i, y, x] > 0.0
                keep[i] = ok
                if ok:
                    count += 1
            available = count
            scale = 0.0
            center_var = 0.0
            # Two values cannot tell which of them is the outlier.
            for _ in range(max_iterations):
                if count < 3:
                    break
                m = 0
                error_sum = 0.0
                for i in range(nimages):
                    if keep[i]:
                        values[m] = stack[i, y, x]
                        if has_errors:
                            error_sum += errors[i, y, x]
                        m += 1
                center = _median(values, m)
                if has_errors:
                    # The median of m values scatters by about 1.25 / sqrt(m) of one value's error.
                    center_var = (MEDIAN_EFFICIENCY * error_sum / m) ** 2 / m
                else:
                    for i in range(m):
                        scratch[i] = abs(values[i] - center)
                    scale = MAD_TO_SIGMA * _median(scratch, m)
                    if scale == 0.0:
                        break
                worst = -1
                worst_deviation = sigma
                for i in range(nimages):
                    if keep[i]:
                        if has_errors:
                            scale = math.sqrt(errors[i, y, x] ** 2 + center_var)
                        deviation = abs(stack[i, y, x] - center) / scale
                        if deviation > worst_deviation:
                            worst, worst_deviation = i, deviation
                if worst < 0:
                    break
                keep[worst] = False
                count -= 1
            total = 0.0
            total_var = 0.0
            for i in range(nimages):
                if keep[i]:
                    total += stack[i, y, x]
                    if has_errors:
                        total_var += errors[i, y, x] ** 2
            n_used[y, x] = count
            n_rejected[y, x] = available - count
            if count == 0:
                out[y, x] = np.nan
                out_err[y, x] = np.nan
                continue
            mean = total / count
            out[y, x] = mean
            if has_errors:
                out_err[y, x] = math.sqrt(total_var) / count
            elif count > 1:
                spread = 0.0
                for i in range(nimages):
                    if keep[i]:
                        spread += (stack[i, y, x] - mean) ** 2
                out_err[y, x] = math.sqrt(spread / (count - 1) / count)
            else:
                out_err[y, x] = np.nan


def sigma_clipped_combine(
    stack: np.ndarray,
    errors: np.ndarray | None = None,
    usable: np.ndarray | None = None,
    sigma: float = 4.0,
    max_iterations: int = 5,
) -> CombinedImage:
    """Combine a stack of images pixel by pixel, rejecting outliers.

    Parameters
    ----------
    stack : numpy.ndarray
        (nimages, ny, nx) values, e.g. count rates in DN/s; NaN values are not used.
    errors : numpy.ndarray, optional
        (nimages, ny, nx) 1-sigma uncertainty of each value (same units); values with a
        non-positive or non-finite error are not used. Without it the clipping scale is the
        normalised MAD of each pixel's values.
    usable : numpy.ndarray, optional
        (nimages, ny, nx) bool, False for values not to use (e.g. ``DO_NOT_USE`` or
        ``SATURATED`` in the input DQ).
    sigma : float
        Rejection threshold in units of the clipping scale.
    max_iterations : int
        Most clipping passes; each rejects at most one value (the most deviant) and recomputes
        the median.

    Returns
    -------
    CombinedImage
    """
    stack = np.asarray(stack)
    if stack.ndim != 3:
        raise ValueError(f"stack must be 3-D (nimages, ny, nx), got shape {stack.shape}")
    if sigma <= 0 or max_iterations < 1:
        raise ValueError("sigma must be positive and max_iterations at least 1")
    has_errors = errors is not None
    if has_errors:
        errors = np.asarray(errors)
        if errors.shape != stack.shape:
            raise ValueError(f"errors shape {errors.shape} differs from the stack's {stack.shape}")
    else:
        errors = np.empty((1, 1, 1), stack.dtype)
    if usable is None:
        usable = np.ones(stack.shape, np.bool_)
    elif usable.shape != stack.shape:
        raise ValueError(f"usable shape {usable.shape} differs from the stack's {stack.shape}")
    shape = stack.shape[1:]
    data = np.empty(shape, np.float32)
    err = np.empty(shape, np.float32)
    n_used = np.empty(shape, np.uint16)
    n_rejected = np.empty(shape, np.uint16)
    _clip_kernel(stack, errors, usable, has_errors, float(sigma), int(max_iterations), data, err, n_used, n_rejected)
    return CombinedImage(data, err, n_used, n_rejected)
