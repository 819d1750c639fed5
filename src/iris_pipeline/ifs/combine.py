"""Combination of dithered IFS cubes (spec3): geometry, sky matching, outliers, 3-D drizzle.

Pure-array algorithms (numpy in, numpy out); the steps of ``spec3_steps`` call them.

Geometry. A cube of ``(nwave, ny, nx)`` spaxels of side ``scale`` (mas) is a gnomonic (TAN)
projection about its pointing ``(ra, dec)`` (the field centre, ``((nx-1)/2, (ny-1)/2)``), with
+y at position angle ``pa`` East of North and +x West at ``pa = 0`` (as ``cube.cube_gwcs``).
`CubeGeometry.to_frame` gives the position of every spaxel centre in the spaxels of a reference
frame (another geometry): the output grid of the combination.

Resampling. Every input spaxel is a square of side ``pixfrac`` input spaxels, dropped onto the
output grid; an output spaxel receives the weighted mean of the surface brightness of the inputs
that overlap it (weights: overlap area times the exposure's weight), which conserves flux (the
drizzle of Fruchter & Hook 2002 in two spatial dimensions, planes being common to the inputs, as
in JWST ``cube_build`` for cubes already on one wavelength grid). Inputs of one target share the
position angle of the output grid (rotated inputs are refused). The variance is propagated with
the same weights; neighbouring output spaxels are correlated, so that the variance of a sum over
output spaxels (an extraction) is computed from the inputs (`linear_combination_variance`), not
from the output variance. The part of each input's variance from the spectral flat is the same
error in every exposure divided by that flat (same spaxel, same plane): `flat_variance` and
`linear_combination_variance` add those inputs' contributions before squaring them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numba
import numpy as np

__all__ = [
    "CubeGeometry",
    "DrizzleMap",
    "blot",
    "drizzle_cubes",
    "flag_outliers",
    "flat_variance",
    "linear_combination_variance",
    "match_backgrounds",
    "neighbour_derivative",
    "output_frame",
    "relative_shifts",
]

MAS_PER_DEG = 3.6e6


@dataclass(frozen=True)
class CubeGeometry:
    """Sky geometry of one cube (see the module docstring)."""

    ra_deg: float
    dec_deg: float
    pa_deg: float
    scale_mas: float
    nx: int
    ny: int

    def _rotation(self) -> np.ndarray:
        pa = math.radians(self.pa_deg)
        return np.array([[math.cos(pa), -math.sin(pa)], [math.sin(pa), math.cos(pa)]])

    def pixel_to_world(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """RA, Dec (deg) of 0-based spaxel coordinates."""
        dx = np.asarray(x, dtype=float) - 0.5 * (self.nx - 1)
        dy = np.asarray(y, dtype=float) - 0.5 * (self.ny - 1)
        rot = self._rotation()
        u, v = rot[0, 0] * dx + rot[0, 1] * dy, rot[1, 0] * dx + rot[1, 1] * dy
        scale = self.scale_mas / MAS_PER_DEG
        return _deproject(-u * scale, v * scale, self.ra_deg, self.dec_deg)

    def world_to_pixel(self, ra, dec) -> tuple[np.ndarray, np.ndarray]:
        """0-based spaxel coordinates of RA, Dec (deg)."""
        xi, eta = _project(ra, dec, self.ra_deg, self.dec_deg)
        scale = self.scale_mas / MAS_PER_DEG
        u, v = -xi / scale, eta / scale
        rot = self._rotation()
        dx, dy = rot[0, 0] * u + rot[1, 0] * v, rot[0, 1] * u + rot[1, 1] * v
        return dx + 0.5 * (self.nx - 1), dy + 0.5 * (self.ny - 1)

    def to_frame(self, frame: CubeGeometry) -> tuple[np.ndarray, np.ndarray]:
        """(ny, nx) positions of this cube's spaxel centres in the spaxels of ``frame``."""
        y, x = np.mgrid[0 : self.ny, 0 : self.nx]
        return frame.world_to_pixel(*self.pixel_to_world(x, y))

    def shifted(self, dra_deg: float, ddec_deg: float) -> CubeGeometry:
        """The same geometry with its pointing moved by ``(dra, ddec)`` degrees."""
        return CubeGeometry(self.ra_deg + dra_deg, self.dec_deg + ddec_deg, self.pa_deg, self.scale_mas,
                            self.nx, self.ny)  # fmt: skip


def _project(ra, dec, ra0, dec0):
    """Gnomonic projection (deg) of RA, Dec about (ra0, dec0): standard coordinates xi (East), eta (North)."""
    ra, dec = np.radians(ra), np.radians(dec)
    a0, d0 = math.radians(ra0), math.radians(dec0)
    cos_c = math.sin(d0) * np.sin(dec) + math.cos(d0) * np.cos(dec) * np.cos(ra - a0)
    xi = np.cos(dec) * np.sin(ra - a0) / cos_c
    eta = (math.cos(d0) * np.sin(dec) - math.sin(d0) * np.cos(dec) * np.cos(ra - a0)) / cos_c
    return np.degrees(xi), np.degrees(eta)


def _deproject(xi, eta, ra0, dec0):
    xi, eta = np.radians(xi), np.radians(eta)
    d0 = math.radians(dec0)
    denominator = math.cos(d0) - eta * math.sin(d0)
    ra = math.radians(ra0) + np.arctan2(xi, denominator)
    dec = np.arctan2(math.sin(d0) + eta * math.cos(d0), np.hypot(xi, denominator))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def output_frame(geometries: list[CubeGeometry], scale_mas: float | None = None, pixfrac: float = 1.0) -> CubeGeometry:
    """The smallest grid, aligned with the first cube, that holds every input spaxel's footprint.

    Raises
    ------
    ValueError
        When the inputs' position angles differ by more than 0.01 degree.
    """
    first = geometries[0]
    for geometry in geometries[1:]:
        if abs((geometry.pa_deg - first.pa_deg + 180.0) % 360.0 - 180.0) > 0.01:
            raise ValueError(f"position angles {first.pa_deg} and {geometry.pa_deg} deg differ: rotated cubes "
                             "cannot be combined yet")  # fmt: skip
    scale = scale_mas or first.scale_mas
    # The provisional grid spans the first cube's field, so that its spaxel centres are the first cube's.
    # A 1 x 1 grid about the field centre put them half a spaxel off for an even number of spaxels: a
    # cube alone (a mosaic's edge) was resampled onto the neighbouring spaxels, and the grid one wider.
    ratio = first.scale_mas / scale
    provisional = CubeGeometry(first.ra_deg, first.dec_deg, first.pa_deg, scale, max(1, round(first.nx * ratio)),
                               max(1, round(first.ny * ratio)))  # fmt: skip
    lows, highs = [], []
    for geometry in geometries:
        x, y = geometry.to_frame(provisional)
        half = 0.5 * pixfrac * geometry.scale_mas / scale
        lows.append((x.min() - half, y.min() - half))
        highs.append((x.max() + half, y.max() + half))
    x_lo, y_lo = np.min(lows, axis=0)
    x_hi, y_hi = np.max(highs, axis=0)
    # Tolerance: footprints that end on a spaxel edge up to rounding do not add a column.
    x_first, y_first = math.floor(x_lo + 0.5 + 1e-6), math.floor(y_lo + 0.5 + 1e-6)
    nx, ny = math.ceil(x_hi - 0.5 - 1e-6) - x_first + 1, math.ceil(y_hi - 0.5 - 1e-6) - y_first + 1
    centre = provisional.pixel_to_world(x_first + 0.5 * (nx - 1), y_first + 0.5 * (ny - 1))
    return CubeGeometry(float(centre[0]), float(centre[1]), first.pa_deg, scale, int(nx), int(ny))


def relative_shifts(sources, geometries: list[CubeGeometry], max_shift: float) -> list[tuple[float, float] | None]:
    """Pointing corrections of dithered cubes from the point sources they share.

    The first cube with a source is the reference (no correction). Another cube is aligned on
    the pair (one of its sources, a source already placed on the sky) that lie within
    ``max_shift`` spaxels of each other by the commanded pointings, the pair of highest S/N (the
    lower S/N of the two); its sources, so corrected, join those on the sky, so that the cubes of
    a mosaic that do not overlap the reference are aligned through those that do. Matching the
    brightest source of each cube alone fails on a mosaic, whose fields hold different sources.

    Parameters
    ----------
    sources : list of list
        Point sources of each cube (objects with ``x``, ``y`` in that cube's spaxels and ``snr``).
    geometries : list of CubeGeometry
        Each cube's commanded geometry.
    max_shift : float
        Largest correction accepted, spaxels.

    Returns
    -------
    list
        ``(dx, dy)`` for every cube, in its spaxels (where the sky source falls by the commanded
        pointing minus where it is), or None where no source could be matched.
    """
    shifts: list[tuple[float, float] | None] = [None] * len(geometries)
    reference = next((k for k, found in enumerate(sources) if found), None)
    if reference is None:
        return shifts
    shifts[reference] = (0.0, 0.0)
    sky = [(*geometries[reference].pixel_to_world(s.x, s.y), s.snr) for s in sources[reference]]
    progress = True
    while progress:
        progress = False
        for k, (found, geometry) in enumerate(zip(sources, geometries, strict=True)):
            if shifts[k] is not None or not found:
                continue
            best = None
            for ra, dec, sky_snr in sky:
                x_expected, y_expected = geometry.world_to_pixel(ra, dec)
                for source in found:
                    shift = (float(x_expected) - source.x, float(y_expected) - source.y)
                    score = min(sky_snr, source.snr)
                    if np.hypot(*shift) <= max_shift and (best is None or score > best[0]):
                        best = (score, shift)
            if best is None:
                continue
            shifts[k] = best[1]
            corrected = geometry.shifted(*_pointing_change(geometry, best[1]))
            sky += [(*corrected.pixel_to_world(s.x, s.y), s.snr) for s in found]
            progress = True
    return shifts


def _pointing_change(geometry: CubeGeometry, shift: tuple[float, float]) -> tuple[float, float]:
    """(dRA, dDec) in degrees that moves the field centre by ``shift`` of the cube's spaxels."""
    ra, dec = geometry.pixel_to_world(0.5 * (geometry.nx - 1) + shift[0], 0.5 * (geometry.ny - 1) + shift[1])
    return float(ra) - geometry.ra_deg, float(dec) - geometry.dec_deg


@numba.njit(nogil=True, cache=True)
def _overlap(lo, hi, index):
    return max(0.0, min(hi, index + 0.5) - max(lo, index - 0.5))


@numba.njit(parallel=True, nogil=True, cache=True)
def _drizzle(data, var, good, weight, x_out, y_out, half, num, den, var_num, coverage):
    nwave, ny, nx = data.shape
    ny_out, nx_out = num.shape[1], num.shape[2]
    for k in numba.prange(nwave):
        for j in range(ny):
            for i in range(nx):
                if not good[k, j, i]:
                    continue
                xc, yc = x_out[j, i], y_out[j, i]
                x0, x1 = max(0, int(math.floor(xc - half + 0.5))), min(nx_out - 1, int(math.floor(xc + half + 0.5)))
                y0, y1 = max(0, int(math.floor(yc - half + 0.5))), min(ny_out - 1, int(math.floor(yc + half + 0.5)))
                for yo in range(y0, y1 + 1):
                    ay = _overlap(yc - half, yc + half, yo)
                    if ay == 0.0:
                        continue
                    for xo in range(x0, x1 + 1):
                        area = ay * _overlap(xc - half, xc + half, xo)
                        if area == 0.0:
                            continue
                        w = area * weight[k]
                        num[k, yo, xo] += w * data[k, j, i]
                        den[k, yo, xo] += w
                        var_num[k, yo, xo] += w * w * var[k, j, i]
                        coverage[k, yo, xo] += area


@numba.njit(parallel=True, nogil=True, cache=True)
def _transpose(coefficient, good, weight, x_out, y_out, half, den, gain):
    nwave, ny, nx = good.shape
    ny_out, nx_out = den.shape[1], den.shape[2]
    for k in numba.prange(nwave):
        for j in range(ny):
            for i in range(nx):
                if not good[k, j, i]:
                    continue
                xc, yc = x_out[j, i], y_out[j, i]
                x0, x1 = max(0, int(math.floor(xc - half + 0.5))), min(nx_out - 1, int(math.floor(xc + half + 0.5)))
                y0, y1 = max(0, int(math.floor(yc - half + 0.5))), min(ny_out - 1, int(math.floor(yc + half + 0.5)))
                total = 0.0
                for yo in range(y0, y1 + 1):
                    ay = _overlap(yc - half, yc + half, yo)
                    for xo in range(x0, x1 + 1):
                        area = ay * _overlap(xc - half, xc + half, xo)
                        if area > 0.0 and den[k, yo, xo] > 0.0:
                            total += coefficient[k, yo, xo] * area * weight[k] / den[k, yo, xo]
                gain[k, j, i] = total


@dataclass
class DrizzleMap:
    """Where the inputs land on the output grid, and the sums a linear extraction needs."""

    positions: list[tuple[np.ndarray, np.ndarray]]
    half_width: list[float]
    weights: list[np.ndarray]
    weight_sum: np.ndarray


def drizzle_cubes(cubes, variances, goods, positions, weights, shape, pixfrac: float = 1.0, scale_ratios=None):
    """Flux-conserving combination of cubes on one output grid (see the module docstring).

    Parameters
    ----------
    cubes, variances, goods : list of np.ndarray
        (nwave, ny, nx) surface brightness, its variance, and usable voxels of each input.
    positions : list of (x, y)
        (ny, nx) output-grid coordinates of every input spaxel centre (`CubeGeometry.to_frame`).
    weights : list of np.ndarray
        (nwave,) weight of each input at each plane (e.g. exposure time over the median variance).
    shape : tuple of int
        Output (nwave, ny, nx).
    pixfrac : float
        Side of the dropped square in input spaxels.
    scale_ratios : list of float, optional
        Input over output spaxel size of each input (default 1).

    Returns
    -------
    data, variance, coverage : np.ndarray
        Weighted-mean surface brightness (NaN where nothing landed), its variance, and the sum of
        overlap areas (output spaxels covered, summed over inputs: the exposure map in units of
        one exposure).
    drizzle_map : DrizzleMap
    """
    num = np.zeros(shape)
    den = np.zeros(shape)
    var_num = np.zeros(shape)
    coverage = np.zeros(shape)
    scale_ratios = scale_ratios or [1.0] * len(cubes)
    halves = []
    for data, var, good, (x, y), weight, ratio in zip(cubes, variances, goods, positions, weights, scale_ratios,
                                                      strict=True):  # fmt: skip
        half = 0.5 * pixfrac * ratio
        halves.append(half)
        usable = good & np.isfinite(data) & np.isfinite(var)
        _drizzle(np.where(usable, data, 0.0).astype(np.float64), np.where(usable, var, 0.0).astype(np.float64),
                 usable, np.asarray(weight, dtype=np.float64), np.ascontiguousarray(x, dtype=np.float64),
                 np.ascontiguousarray(y, dtype=np.float64), half, num, den, var_num, coverage)  # fmt: skip
    with np.errstate(invalid="ignore", divide="ignore"):
        data = np.where(den > 0, num / den, np.nan)
        variance = np.where(den > 0, var_num / den**2, np.nan)
    return data, variance, coverage, DrizzleMap(list(positions), halves, [np.asarray(w, float) for w in weights], den)


def linear_combination_variance(coefficients: np.ndarray, drizzle_map: DrizzleMap, variances, goods,
                                flat_errors=None, flat_groups=None) -> np.ndarray:  # fmt: skip
    """Variance, per plane, of ``sum(coefficients * combined)`` computed from the inputs.

    A sum over output spaxels is a linear combination of the input voxels
    (``sum_o c_o w a_io / W_o`` for input voxel ``i``); its variance is the sum of the squared
    gains times the inputs' variances, which includes the covariance between output spaxels.

    Parameters
    ----------
    coefficients : np.ndarray
        (nwave, ny_out, nx_out) weight of every output voxel in the sum.
    drizzle_map : DrizzleMap
        From `drizzle_cubes`.
    variances, goods : list of np.ndarray
        Each input's variance (without the flat's part when ``flat_errors`` are given) and usable voxels.
    flat_errors : list of np.ndarray, optional
        Each input's error from the spectral flat, with the sign of its data (see `flat_variance`).
    flat_groups : list, optional
        A key per input: inputs with the same key were divided by the same flat (default: all).
    """
    total = np.zeros(coefficients.shape[0])
    gains = []
    for (x, y), half, weight, var, good in zip(drizzle_map.positions, drizzle_map.half_width, drizzle_map.weights,
                                               variances, goods, strict=True):  # fmt: skip
        usable = good & np.isfinite(var)
        gain = np.zeros(var.shape)
        _transpose(np.ascontiguousarray(coefficients, dtype=np.float64), usable, weight,
                   np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64), half,
                   drizzle_map.weight_sum, gain)  # fmt: skip
        total += np.sum(np.where(usable, gain**2 * var, 0.0), axis=(1, 2))
        gains.append(np.where(usable, gain, 0.0))
    if flat_errors is not None:
        for members in _flat_groups(flat_errors, flat_groups):
            # One flat error per input voxel position, shared by the inputs of the group: gains add first.
            shared = sum(gains[k] * np.nan_to_num(flat_errors[k]) for k in members)
            total += np.sum(shared**2, axis=(1, 2))
    return total


def _flat_groups(flat_errors, flat_groups) -> list[list[int]]:
    """Indices of the inputs that share a flat (same key and shape), group by group."""
    keys = flat_groups if flat_groups is not None else [None] * len(flat_errors)
    groups: dict = {}
    for k, (key, errors) in enumerate(zip(keys, flat_errors, strict=True)):
        groups.setdefault((key, np.shape(errors)), []).append(k)
    return list(groups.values())


@numba.njit(parallel=True, nogil=True, cache=True)
def _drizzle_shared(flat_errors, goods, weights, x_out, y_out, halves, var_num):
    """``var_num[o] += sum_i (sum_k w_k a_kio e_ki)^2``: inputs ``k`` share the error of voxel position ``i``."""
    ninputs, nwave, ny, nx = flat_errors.shape
    ny_out, nx_out = var_num.shape[1], var_num.shape[2]
    for p in numba.prange(nwave):
        shared = np.zeros((ny_out, nx_out))
        for j in range(ny):
            for i in range(nx):
                lo_x, hi_x, lo_y, hi_y = nx_out, -1, ny_out, -1
                for k in range(ninputs):
                    if not goods[k, p, j, i]:
                        continue
                    xc, yc, half = x_out[k, j, i], y_out[k, j, i], halves[k]
                    x0 = max(0, int(math.floor(xc - half + 0.5)))
                    x1 = min(nx_out - 1, int(math.floor(xc + half + 0.5)))
                    y0 = max(0, int(math.floor(yc - half + 0.5)))
                    y1 = min(ny_out - 1, int(math.floor(yc + half + 0.5)))
                    lo_x, hi_x, lo_y, hi_y = min(lo_x, x0), max(hi_x, x1), min(lo_y, y0), max(hi_y, y1)
                    for yo in range(y0, y1 + 1):
                        ay = _overlap(yc - half, yc + half, yo)
                        for xo in range(x0, x1 + 1):
                            area = ay * _overlap(xc - half, xc + half, xo)
                            shared[yo, xo] += area * weights[k, p] * flat_errors[k, p, j, i]
                for yo in range(lo_y, hi_y + 1):
                    for xo in range(lo_x, hi_x + 1):
                        var_num[p, yo, xo] += shared[yo, xo] * shared[yo, xo]
                        shared[yo, xo] = 0.0


def flat_variance(drizzle_map: DrizzleMap, flat_errors, goods, flat_groups=None) -> np.ndarray:
    """Variance of every combined voxel from the spectral flat, shared by the inputs of one flat.

    The flat's error at one spaxel and plane is the same in every exposure divided by that flat
    (their spaxels are the same detector spectra, their planes the same columns), wherever the
    dithers put them on the sky: the inputs' contributions to an output voxel add before they are
    squared. For inputs of different flats, or a single input, this is the usual sum of squares.

    Parameters
    ----------
    drizzle_map : DrizzleMap
        From `drizzle_cubes` of the same inputs.
    flat_errors : list of np.ndarray
        (nwave, ny, nx) error of each input from its flat (``sqrt(VAR_FLAT)``), with the sign of
        its data (the flat's error moves every exposure's value by the same fraction).
    goods : list of np.ndarray
        Usable voxels of each input.
    flat_groups : list, optional
        A key per input: inputs with the same key were divided by the same flat (default: all).
    """
    weight_sum = drizzle_map.weight_sum
    var_num = np.zeros(weight_sum.shape)
    for members in _flat_groups(flat_errors, flat_groups):
        errors = np.stack([np.nan_to_num(np.asarray(flat_errors[k], dtype=np.float64)) for k in members])
        usable = np.stack([goods[k] & np.isfinite(flat_errors[k]) for k in members])
        weights = np.stack([drizzle_map.weights[k] for k in members]).astype(np.float64)
        x_out = np.stack([np.asarray(drizzle_map.positions[k][0], dtype=np.float64) for k in members])
        y_out = np.stack([np.asarray(drizzle_map.positions[k][1], dtype=np.float64) for k in members])
        halves = np.array([drizzle_map.half_width[k] for k in members], dtype=np.float64)
        _drizzle_shared(errors, usable, weights, x_out, y_out, halves, var_num)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight_sum > 0, var_num / weight_sum**2, np.nan)


def blot(cube: np.ndarray, x: np.ndarray, y: np.ndarray, min_weight: float = 0.5) -> np.ndarray:
    """Values of ``cube`` (nwave, ny, nx) at positions ``x, y`` (spaxels), bilinearly interpolated.

    Neighbours that are NaN (beyond the field, or too few exposures there) are left out and the
    weights of the others renormalised, as long as those carry at least ``min_weight`` of the
    total: the edge row of a dithered cube, a fraction of a spaxel beyond the last fully covered
    row, is still compared. NaN outside the grid or where the finite neighbours weigh less.
    """
    ny, nx = cube.shape[1:]
    # Positions on the last row or column (within rounding) are interpolated in the last cell.
    inside = (x >= -1e-6) & (y >= -1e-6) & (x <= nx - 1 + 1e-6) & (y <= ny - 1 + 1e-6)
    x0 = np.clip(np.floor(x).astype(int), 0, max(nx - 2, 0))
    y0 = np.clip(np.floor(y).astype(int), 0, max(ny - 2, 0))
    x1, y1 = np.minimum(x0 + 1, nx - 1), np.minimum(y0 + 1, ny - 1)
    tx, ty = np.clip(x - x0, 0.0, 1.0), np.clip(y - y0, 0.0, 1.0)
    total = np.zeros((cube.shape[0], *np.shape(x)))
    weight = np.zeros_like(total)
    for w, yy, xx in (
        ((1 - tx) * (1 - ty), y0, x0),
        (tx * (1 - ty), y0, x1),
        ((1 - tx) * ty, y1, x0),
        (tx * ty, y1, x1),
    ):
        values = cube[:, yy, xx]
        finite = np.isfinite(values)
        total += np.where(finite, w * values, 0.0)
        weight += np.where(finite, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / weight
    return np.where(inside[None] & (weight >= min_weight), out, np.nan)


def flag_outliers(data, err, good, blotted, blotted_derivative, snr: float = 5.0, scale: float = 1.0) -> np.ndarray:
    """Voxels of one exposure that differ from the blotted median of all exposures.

    A voxel is an outlier where ``|data - blotted| > snr * err + scale * derivative`` (the
    derivative term, the largest difference of the median to its neighbours, tolerates the
    interpolation error of steep profiles, as in JWST's outlier detection). An outlier on the core
    of a bright source smaller than that tolerance is kept.
    """
    usable = good & np.isfinite(data) & np.isfinite(blotted) & np.isfinite(err)
    limit = snr * err + scale * np.where(np.isfinite(blotted_derivative), blotted_derivative, 0.0)
    return usable & (np.abs(data - blotted) > limit)


def neighbour_derivative(cube: np.ndarray) -> np.ndarray:
    """Largest absolute difference of every spaxel to its four neighbours, per plane (NaN-safe)."""
    padded = np.pad(cube, ((0, 0), (1, 1), (1, 1)), constant_values=np.nan)
    centre = padded[:, 1:-1, 1:-1]
    differences = [np.abs(padded[:, 1:-1, :-2] - centre), np.abs(padded[:, 1:-1, 2:] - centre),
                   np.abs(padded[:, :-2, 1:-1] - centre), np.abs(padded[:, 2:, 1:-1] - centre)]  # fmt: skip
    stacked = np.stack(differences)
    result = np.where(np.isfinite(stacked), stacked, -np.inf).max(axis=0)
    return np.where(np.isfinite(result), result, np.nan)


def match_backgrounds(resampled: list[np.ndarray], min_overlap: int = 4, smooth_planes: int = 21) -> np.ndarray:
    """Background offset of every exposure, per plane, from the differences where they overlap.

    For every pair of exposures the median difference over their common output spaxels is taken
    per plane and smoothed along wavelength (running median of ``smooth_planes``); the offsets
    ``b_i`` minimise ``sum (d_ij - (b_i - b_j))^2`` with ``sum b_i = 0`` (JWST skymatch's
    ``match`` mode), so that a common level (the sky itself) is never removed.

    Parameters
    ----------
    resampled : list of np.ndarray
        Each exposure alone on the output grid (nwave, ny, nx), NaN where it has no data.

    Returns
    -------
    np.ndarray
        (nexp, nwave) offsets to subtract; zero for an exposure that overlaps no other.
    """
    n = len(resampled)
    nwave = resampled[0].shape[0]
    rows, values = [], []
    for i in range(n):
        for j in range(i + 1, n):
            common = np.isfinite(resampled[i]) & np.isfinite(resampled[j])
            if common.sum(axis=(1, 2)).min() < min_overlap:
                continue
            difference = np.where(common, resampled[i] - resampled[j], np.nan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                per_plane = np.nanmedian(difference.reshape(nwave, -1), axis=1)
            rows.append((i, j))
            values.append(_running_median(per_plane, smooth_planes))
    offsets = np.zeros((n, nwave))
    if not rows:
        return offsets
    design = np.zeros((len(rows) + 1, n))
    for r, (i, j) in enumerate(rows):
        design[r, i], design[r, j] = 1.0, -1.0
    design[-1, :] = 1.0
    target = np.vstack([np.asarray(values), np.zeros((1, nwave))])
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    connected = np.zeros(n, dtype=bool)
    for i, j in rows:
        connected[i] = connected[j] = True
    offsets[connected] = solution[connected]
    return offsets


def _running_median(values: np.ndarray, width: int) -> np.ndarray:
    half = width // 2
    padded = np.pad(values, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(windows, axis=1)
