"""Mesh background: sigma-clipped sky level in boxes, interpolated by a smooth spline.

The frame is cut into ``box x box`` pixel boxes (the last row and column of boxes may be
smaller). In each box the good pixels are sigma-clipped (3 sigma about the median, until no
pixel is rejected or 10 iterations; each box is sorted once, so each iteration is a search)
and the sky level is SExtractor's mode estimate
``2.5 median - 1.5 mean`` of the clipped values, or their median where the distribution is too
skewed for it (``(mean - median) / std > 0.3``; Bertin & Arnouts 1996). Boxes with less than
``min_good_fraction`` of good pixels take the mean of their valid neighbours. A cubic spline
through the box levels, placed at the centre of each box's pixels, gives the background of every
pixel, continued linearly beyond the outermost box centres, so that the edges follow the
gradient of the field instead of being held flat as a clamped interpolation would.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.interpolate import RectBivariateSpline

__all__ = ["box_sky_levels", "interpolate_levels", "mesh_background"]

CLIP_SIGMA = 3.0
CLIP_MAX_ITERATIONS = 10
MODE_SKEW_LIMIT = 0.3
MEDIAN_ERROR_FACTOR = 1.2533


@numba.njit(nogil=True, cache=True)
def _clipped_level(values):
    """Clipped sky level of sorted `values`: clipping keeps a contiguous range of them."""
    n_all = values.size
    if n_all == 0:
        return np.nan, np.nan, 0
    sums = np.empty(n_all + 1)
    squares = np.empty(n_all + 1)
    sums[0] = squares[0] = 0.0
    for k in range(n_all):
        sums[k + 1] = sums[k] + values[k]
        squares[k + 1] = squares[k] + values[k] * values[k]
    first, end = 0, n_all
    median = mean = std = 0.0
    for _ in range(CLIP_MAX_ITERATIONS + 1):
        n = end - first
        median = 0.5 * (values[first + (n - 1) // 2] + values[first + n // 2])
        mean = (sums[end] - sums[first]) / n
        std = np.sqrt(max((squares[end] - squares[first]) / n - mean * mean, 0.0))
        new_first = np.searchsorted(values, median - CLIP_SIGMA * std, side="left")
        new_end = np.searchsorted(values, median + CLIP_SIGMA * std, side="right")
        if (new_first == first and new_end == end) or new_end - new_first < 3:
            break
        first, end = new_first, new_end
    level = median
    if std > 0 and (mean - median) / std < MODE_SKEW_LIMIT:
        level = 2.5 * median - 1.5 * mean
    return level, std, end - first


@numba.njit(parallel=True, nogil=True, cache=True)
def _sorted_box_levels(sorted_boxes, n_valid, levels, rms, counts):
    for index in numba.prange(sorted_boxes.shape[0]):
        level, std, used = _clipped_level(sorted_boxes[index, : n_valid[index]])
        levels[index] = level
        rms[index] = std
        counts[index] = used


def box_sky_levels(data, good, box: int, min_good_fraction: float = 0.5, step: int = 1):
    """Sky level and RMS in each box, and the box centres (see the module docstring).

    Parameters
    ----------
    data : numpy.ndarray
        Image (any unit), (ny, nx).
    good : numpy.ndarray
        Boolean (ny, nx): pixels that may be used (not flagged, not in a source mask, finite).
    box : int
        Box side, pixels.
    min_good_fraction : float
        Boxes with fewer usable pixels than this fraction take their neighbours' mean.
    step : int
        Use every `step`-th pixel along each axis (a quick first estimate).

    Returns
    -------
    levels, errors : numpy.ndarray
        (my, mx) sky level per box and its statistical error (``1.25 std / sqrt(n)``, the
        error of a median).
    y_centres, x_centres : numpy.ndarray
        Pixel coordinates of the box centres along each axis.

    Raises
    ------
    ValueError
        If no box has enough usable pixels.
    """
    ny, nx = data.shape
    my, mx = -(-ny // box), -(-nx // box)
    # Boxes as rows, bad pixels NaN (sorted last by numpy's fast sort), sampled every `step` pixels.
    padded = np.full((my * box, mx * box), np.nan, np.float32)
    padded[:ny, :nx] = np.where(good, data, np.nan)
    side = -(-box // step)
    boxes = padded[::step, ::step].reshape(my, side, mx, side).transpose(0, 2, 1, 3).reshape(my * mx, side * side)
    boxes.sort(axis=1)
    n_valid = np.count_nonzero(np.isfinite(boxes), axis=1)
    levels, rms = np.empty(my * mx), np.empty(my * mx)
    counts = np.empty(my * mx, np.int64)
    _sorted_box_levels(boxes, n_valid, levels, rms, counts)
    levels, rms, counts = levels.reshape(my, mx), rms.reshape(my, mx), counts.reshape(my, mx)
    starts_y, starts_x = np.arange(my) * box, np.arange(mx) * box
    sizes = np.outer(
        -(-(np.minimum(starts_y + box, ny) - starts_y) // step), -(-(np.minimum(starts_x + box, nx) - starts_x) // step)
    )
    valid = counts >= min_good_fraction * sizes
    if not valid.any():
        raise ValueError(f"no {box} x {box} box has {min_good_fraction:.0%} usable pixels")
    errors = MEDIAN_ERROR_FACTOR * rms / np.sqrt(np.maximum(counts, 1))
    levels, errors = _fill_invalid(levels, valid), _fill_invalid(errors, valid)
    y_centres = (starts_y + np.minimum(starts_y + box, ny) - 1) / 2.0
    x_centres = (starts_x + np.minimum(starts_x + box, nx) - 1) / 2.0
    return levels, errors, y_centres, x_centres


def _fill_invalid(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Invalid boxes take the mean of their valid 8-neighbours, growing until all are filled."""
    values = np.where(valid, values, np.nan)
    filled = valid.copy()
    while not filled.all():
        padded = np.pad(values, 1, constant_values=np.nan)
        neighbours = np.stack(
            [padded[1 + dy : 1 + dy + values.shape[0], 1 + dx : 1 + dx + values.shape[1]]
             for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
        )  # fmt: skip
        count = np.isfinite(neighbours).sum(axis=0)
        total = np.nansum(neighbours, axis=0)
        update = ~filled & (count > 0)
        values[update] = total[update] / count[update]
        filled |= update
    return values


def interpolate_levels(levels, y_centres, x_centres, shape, errors=None) -> np.ndarray:
    """Spline through the box levels at every pixel of `shape` (float32).

    Between the outermost box centres: a bicubic spline (bilinear with fewer than four boxes on
    an axis) that smooths the levels until the sum of squared residuals reaches the sum of the
    squared `errors` (FITPACK's smoothing condition; it interpolates when `errors` is None).
    Beyond them, in the outer half box: the spline's value and slope
    at the outermost centre, continued linearly, so that a gradient reaches the frame edge
    without the swing of an extrapolated cubic.
    """
    ny, nx = shape
    levels = np.asarray(levels, float)
    smoothing = 0.0 if errors is None else float(np.sum(np.square(errors)))
    if levels.shape[0] == 1:
        levels, y_centres = np.vstack([levels, levels]), np.array([y_centres[0] - 1.0, y_centres[0] + 1.0])
    if levels.shape[1] == 1:
        levels, x_centres = np.hstack([levels, levels]), np.array([x_centres[0] - 1.0, x_centres[0] + 1.0])
    degree_y, degree_x = min(3, levels.shape[0] - 1), min(3, levels.shape[1] - 1)
    spline = RectBivariateSpline(y_centres, x_centres, levels, kx=degree_y, ky=degree_x, s=smoothing)
    rows = np.arange(ny, dtype=float)
    columns = np.arange(nx, dtype=float)
    inner_rows = np.clip(rows, y_centres[0], y_centres[-1])
    inner_columns = np.clip(columns, x_centres[0], x_centres[-1])
    image = spline(inner_rows, inner_columns)
    outer_rows = np.flatnonzero(rows != inner_rows)
    outer_columns = np.flatnonzero(columns != inner_columns)
    # Slopes by a one-pixel difference inside the edge: FITPACK gives no derivative of a linear spline.
    if outer_rows.size:
        edges, which = np.unique(inner_rows[outer_rows], return_inverse=True)
        inward = np.where(edges > y_centres[0], -1.0, 1.0)
        slope = (spline(edges, inner_columns) - spline(edges + inward, inner_columns)) * -inward[:, None]
        image[outer_rows, :] += (rows - inner_rows)[outer_rows, None] * slope[which]
    if outer_columns.size:
        edges, which = np.unique(inner_columns[outer_columns], return_inverse=True)
        inward = np.where(edges > x_centres[0], -1.0, 1.0)
        slope = (spline(inner_rows, edges) - spline(inner_rows, edges + inward)) * -inward[None, :]
        image[:, outer_columns] += (columns - inner_columns)[None, outer_columns] * slope[:, which]
    return image.astype(np.float32)


def mesh_background(data, good, box: int, min_good_fraction: float = 0.5, step: int = 1) -> np.ndarray:
    """Background image of a frame, float32 (see the module docstring; `step` as `box_sky_levels`)."""
    levels, errors, y_centres, x_centres = box_sky_levels(data, good, box, min_good_fraction, step)
    return interpolate_levels(levels, y_centres, x_centres, data.shape, errors)
