"""Sky matching: additive sky offsets that make overlapping images agree (JWST/Roman skymatch).

Pure functions. Each image is binned onto a common coarse sky grid (the mean of its good pixels
in every cell); for every pair of overlapping images the sigma-clipped median of the cell-by-cell
difference estimates the difference of their skies; the offsets solve that system of pairwise
differences by weighted least squares (weight: number of common cells), separately in each group
of connected images. Sources largely cancel in the differences, and the median rejects the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy.stats import sigma_clipped_stats

__all__ = ["SKY_METHODS", "SkyInput", "SkyResult", "bin_to_grid", "match_sky"]

SKY_METHODS = ("match", "global", "global+match", "local")
MIN_OVERLAP_CELLS = 10


@dataclass
class SkyInput:
    """One image for sky matching.

    Attributes
    ----------
    data : np.ndarray
        Image (any unit; offsets are in the same unit).
    good : np.ndarray of bool
        Pixels to use.
    pixmap : np.ndarray
        (ny, nx, 2) pixel coordinates ``(x, y)`` of every pixel on the common fine grid
        (`iris_pipeline.resample.pixel_map`), NaN outside.
    """

    data: np.ndarray
    good: np.ndarray
    pixmap: np.ndarray


@dataclass
class SkyResult:
    """Sky of each image: ``sky = offset + global_level``; subtract it to match the images."""

    sky: np.ndarray
    offset: np.ndarray
    global_level: float
    connected_groups: list[list[int]]


def bin_to_grid(image: SkyInput, grid_shape: Sequence[int], binning: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the good pixels of ``image`` in each cell of the fine grid binned by ``binning``.

    Returns the flat indices of the non-empty cells of the coarse grid (shape
    ``ceil(grid_shape / binning)``), sorted, and the mean in each: a sparse map, so that a large,
    mostly empty mosaic costs no memory.
    """
    ny, nx = (int(np.ceil(n / binning)) for n in grid_shape)
    x = image.pixmap[..., 0]
    y = image.pixmap[..., 1]
    use = image.good & np.isfinite(image.data) & np.isfinite(x) & np.isfinite(y)
    cx = np.floor((x[use] + 0.5) / binning).astype(np.int64)
    cy = np.floor((y[use] + 0.5) / binning).astype(np.int64)
    inside = (cx >= 0) & (cx < nx) & (cy >= 0) & (cy < ny)
    cells, inverse, counts = np.unique(cy[inside] * nx + cx[inside], return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=image.data[use][inside].astype(np.float64), minlength=cells.size)
    return cells, sums / counts


def _clipped_median(values: np.ndarray, nsigma: float) -> float:
    return float(sigma_clipped_stats(values, sigma=nsigma, maxiters=5)[1])


def _connected_groups(weights: np.ndarray) -> list[list[int]]:
    n = len(weights)
    unseen, groups = set(range(n)), []
    while unseen:
        stack, group = [min(unseen)], []
        unseen.discard(stack[0])
        while stack:
            i = stack.pop()
            group.append(i)
            for j in np.flatnonzero(weights[i] > 0):
                if j in unseen:
                    unseen.discard(j)
                    stack.append(int(j))
        groups.append(sorted(group))
    return groups


def match_sky(
    images: Sequence[SkyInput],
    grid_shape: Sequence[int],
    method: str = "global+match",
    match_down: bool = True,
    binning: int = 4,
    nsigma: float = 3.0,
) -> SkyResult:
    """Sky level of every image.

    Parameters
    ----------
    images : sequence of SkyInput
        The images, all mapped onto one fine grid.
    grid_shape : tuple of int
        Shape (ny, nx) of the fine grid.
    method : str
        ``match``: offsets only, relative to the lowest (``match_down``) or highest sky of each
        connected group; ``global``: one level for all, the lowest of the images' clipped
        medians; ``global+match``: both (matched offsets plus the global level of the matched
        images); ``local``: each image's own clipped median.
    match_down : bool
        Offsets are >= 0 (matched to the lowest sky) when True, <= 0 when False.
    binning : int
        Fine-grid pixels per coarse cell side.
    nsigma : float
        Clipping threshold of the medians.

    Returns
    -------
    SkyResult
    """
    if method not in SKY_METHODS:
        raise ValueError(f"unknown sky method {method!r}; choose one of {', '.join(SKY_METHODS)}")
    n = len(images)
    own_levels = np.array(
        [
            _clipped_median(image.data[image.good & np.isfinite(image.data)], nsigma)
            if np.any(image.good & np.isfinite(image.data))
            else 0.0
            for image in images
        ]
    )
    if method == "local":
        return SkyResult(own_levels, own_levels.copy(), 0.0, [[i] for i in range(n)])

    offsets = np.zeros(n)
    groups = [list(range(n))]
    if method in ("match", "global+match") and n > 1:
        binned = [bin_to_grid(image, grid_shape, binning) for image in images]
        weights = np.zeros((n, n))
        differences = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1, n):
                _, in_i, in_j = np.intersect1d(binned[i][0], binned[j][0], assume_unique=True, return_indices=True)
                if in_i.size < MIN_OVERLAP_CELLS:
                    continue
                delta = _clipped_median(binned[i][1][in_i] - binned[j][1][in_j], nsigma)
                weights[i, j] = weights[j, i] = in_i.size
                differences[i, j], differences[j, i] = delta, -delta
        groups = _connected_groups(weights)
        for group in groups:
            if len(group) < 2:
                continue
            rows, targets, row_weights = [], [], []
            for a, i in enumerate(group):
                for b in range(a + 1, len(group)):
                    j = group[b]
                    if weights[i, j] > 0:
                        row = np.zeros(len(group))
                        row[a], row[b] = 1.0, -1.0
                        rows.append(row)
                        targets.append(differences[i, j])
                        row_weights.append(np.sqrt(weights[i, j]))
            # One row fixes the otherwise free constant; it is removed below by the match_down rule.
            rows.append(np.ones(len(group)))
            targets.append(0.0)
            row_weights.append(1.0)
            w = np.asarray(row_weights)[:, None]
            solution, *_ = np.linalg.lstsq(np.asarray(rows) * w, np.asarray(targets) * w[:, 0], rcond=None)
            solution -= solution.min() if match_down else solution.max()
            offsets[group] = solution

    global_level = 0.0
    if method in ("global", "global+match"):
        matched = [
            image.data[image.good & np.isfinite(image.data)] - offset
            for image, offset in zip(images, offsets, strict=True)
        ]
        levels = [_clipped_median(values, nsigma) for values in matched if values.size]
        global_level = float(min(levels)) if levels else 0.0
    return SkyResult(offsets + global_level, offsets, global_level, groups)
