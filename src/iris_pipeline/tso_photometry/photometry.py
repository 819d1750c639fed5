"""Per-integration aperture photometry of a time series (pure numpy; no I/O, no stpipe).

Method, for each star and integration of a cube ``data[nint, ny, nx]``:

1. **Centroid** (``x_pix``, ``y_pix``, 0-based array coordinates): first moments of the
   background-subtracted pixels within ``centroid_radius_pix`` of the current position,
   iterated ``centroid_iterations`` times from the starting position.
2. **FWHM** (``fwhm_pix``): from the second moment ``<r^2>`` about the centroid within the same
   radius, corrected for the truncation of a circular Gaussian at that radius
   (``<r^2> = 2 s^2 (1 - u e^-u / (1 - e^-u))``, ``u = R^2 / 2 s^2``, solved for ``s`` by
   bisection), ``FWHM = 2 sqrt(2 ln 2) s``. Exact for a Gaussian PSF; for another profile a
   diagnostic of seeing and focus changes.
3. **Background** (``background``, data units per pixel): sigma-clipped median of the pixels whose
   centre lies in the annulus ``[annulus_inner_pix, annulus_outer_pix)``, unusable pixels
   excluded; its error is ``sqrt(pi / 2) * s_b / sqrt(n)`` with ``s_b`` the clipped standard
   deviation of the ``n`` kept annulus pixels (the error of a median of Gaussian values).
4. **Flux** (``flux``, data units x pixel): ``sum(w (data - background))`` over the circular
   aperture with exact pixel-overlap weights ``w`` (photutils ``method='exact'``) centred on the
   median centroid of all integrations (or each integration's centroid with ``recenter``).
   **Error**: ``sqrt(sum(w^2 err^2) + (A * background_err)^2)``, ``A = sum(w)``: the pixel
   errors (ERR: Poisson of source and sky, read noise, flat) plus the error of the background
   estimate, which is common to all aperture pixels.
5. **DQ** (per integration and star): ``DO_NOT_USE`` when an aperture pixel is ``DO_NOT_USE``
   in this integration but not in all (the flux then misses a pixel the other integrations
   have: a cosmic ray, a jump) or no background pixel survives; a pixel unusable in *every*
   integration (a dead pixel) is left out of all of them alike, which keeps the series
   consistent, and is counted in ``static_bad_pixels`` instead; ``SATURATED`` when an aperture
   pixel is saturated, ``OUTLIER`` when the centroid moved more than ``max_shift_pix`` from the
   median centroid.

Units are those of the input cube: ``flux`` is the sum of pixel values (DN/s for ``_rateints``,
MJy/sr x pixel for ``_calints``; `flux_scale` converts to Jy).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..dqflags import PIXEL

__all__ = [
    "ApertureSettings",
    "PhotometryResult",
    "aperture_weights",
    "gaussian_fwhm_from_moment",
    "measure_time_series",
]

DO_NOT_USE = np.uint32(PIXEL["DO_NOT_USE"])
SATURATED = np.uint32(PIXEL["SATURATED"])
OUTLIER = np.uint32(PIXEL["OUTLIER"])
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


@dataclass(frozen=True)
class ApertureSettings:
    """Aperture geometry and measurement options (all lengths in pixels)."""

    radius_pix: float = 4.0
    annulus_inner_pix: float = 8.0
    annulus_outer_pix: float = 12.0
    centroid_radius_pix: float = 4.0
    centroid_iterations: int = 3
    clip_sigma: float = 3.0
    clip_iterations: int = 5
    recenter: bool = False
    max_shift_pix: float = 1.0

    def __post_init__(self):
        if not 0 < self.radius_pix <= self.annulus_inner_pix < self.annulus_outer_pix:
            raise ValueError(
                "need 0 < radius_pix <= annulus_inner_pix < annulus_outer_pix, got "
                f"{self.radius_pix}, {self.annulus_inner_pix}, {self.annulus_outer_pix}"
            )
        if self.centroid_radius_pix <= 0:
            raise ValueError(f"centroid_radius_pix must be > 0, got {self.centroid_radius_pix}")


@dataclass
class PhotometryResult:
    """Measurements of ``nstar`` stars in ``nint`` integrations, arrays of shape ``(nint, nstar)``.

    Attributes
    ----------
    flux, flux_err : ndarray
        Background-subtracted aperture sum and its error (data units x pixel).
    background, background_err : ndarray
        Background per pixel and its error (data units).
    x_pix, y_pix : ndarray
        Centroid, 0-based array coordinates (pixels).
    fwhm_pix : ndarray
        FWHM (pixels; NaN where the moment is not measurable).
    dq : ndarray of uint32
        Flags of each measurement (module docstring).
    aperture_area_pix : ndarray
        ``sum(w)`` of each star's aperture (pixels), shape ``(nstar,)`` (per integration with ``recenter``).
    aperture_x, aperture_y : ndarray
        Aperture centre of each star (median centroid), shape ``(nstar,)``.
    static_bad_pixels : ndarray of int
        Aperture pixels of each star unusable in every integration, shape ``(nstar,)``.
    """

    flux: np.ndarray
    flux_err: np.ndarray
    background: np.ndarray
    background_err: np.ndarray
    x_pix: np.ndarray
    y_pix: np.ndarray
    fwhm_pix: np.ndarray
    dq: np.ndarray
    aperture_area_pix: np.ndarray
    aperture_x: np.ndarray
    aperture_y: np.ndarray
    static_bad_pixels: np.ndarray


def aperture_weights(shape, x: float, y: float, radius: float) -> np.ndarray:
    """Exact overlap of each pixel of an array of ``shape`` with a circle (photutils, ``method='exact'``)."""
    from photutils.aperture import CircularAperture

    mask = CircularAperture((x, y), r=radius).to_mask(method="exact")
    weights = mask.to_image(shape)
    return np.zeros(shape) if weights is None else weights


def gaussian_fwhm_from_moment(mean_r2, radius: float) -> np.ndarray:
    """FWHM of a circular Gaussian whose ``<r^2>`` within ``radius`` is ``mean_r2`` (pixels^2).

    NaN where ``mean_r2`` is not finite or outside ``(0, radius^2 / 2)`` (the value for a flat
    profile, which has no finite Gaussian equivalent).
    """
    m = np.asarray(mean_r2, dtype=float)
    valid = np.isfinite(m) & (m > 0) & (m < 0.5 * radius**2 * 0.999)
    lo = np.full(m.shape, 1e-3)
    hi = np.full(m.shape, 100.0 * radius)

    def truncated_r2(sigma):
        u = radius**2 / (2.0 * sigma**2)
        with np.errstate(over="ignore", invalid="ignore"):
            correction = np.where(u > 50, 0.0, u * np.exp(-u) / -np.expm1(-u))
        return 2.0 * sigma**2 * (1.0 - correction)

    for _ in range(60):  # truncated_r2 increases with sigma: bisection
        mid = 0.5 * (lo + hi)
        too_big = truncated_r2(mid) > m
        hi = np.where(too_big, mid, hi)
        lo = np.where(too_big, lo, mid)
    return np.where(valid, FWHM_PER_SIGMA * 0.5 * (lo + hi), np.nan)


def _cutout_bounds(x: float, y: float, half: int, shape) -> tuple[slice, slice, int, int]:
    ny, nx = shape
    x0, y0 = max(int(np.floor(x)) - half, 0), max(int(np.floor(y)) - half, 0)
    x1, y1 = min(int(np.floor(x)) + half + 2, nx), min(int(np.floor(y)) + half + 2, ny)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"star at ({x:.1f}, {y:.1f}) is off the {nx} x {ny} image")
    return slice(y0, y1), slice(x0, x1), x0, y0


def _row_median(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Median of the kept values of each row (NaN for a row with none), vectorised: a sort with the
    left-out values last, then the middle one or two (numpy's nanmedian goes row by row)."""
    ordered = np.sort(np.where(keep, values, np.inf), axis=1)
    count = keep.sum(axis=1)
    lo = np.clip((count - 1) // 2, 0, None)[:, None]
    hi = np.clip(count // 2, 0, None)[:, None]
    if ordered.shape[1] == 0:
        return np.full(len(values), np.nan)
    hi = np.minimum(hi, ordered.shape[1] - 1)
    median = 0.5 * (np.take_along_axis(ordered, lo, 1) + np.take_along_axis(ordered, hi, 1))[:, 0]
    return np.where(count > 0, median, np.nan)


def _clipped_median(values: np.ndarray, good: np.ndarray, nsigma: float, iterations: int):
    """Row-wise sigma-clipped median, standard deviation and count of ``values[nint, npix]``
    (NaN where a row keeps no value)."""
    keep = good.copy()
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: NaN, reported by the count
        for _ in range(iterations):
            masked = np.where(keep, values, np.nan)
            median = _row_median(values, keep)
            std = np.nanstd(masked, axis=1)
            new = keep & (np.abs(values - median[:, None]) <= nsigma * std[:, None])
            if np.array_equal(new, keep):
                break
            keep = new
        masked = np.where(keep, values, np.nan)
        median = _row_median(values, keep)
        std = np.nanstd(masked, axis=1, ddof=1)
    return median, std, keep.sum(axis=1)


def _measure_star(data, err, dq, x0: float, y0: float, settings: ApertureSettings) -> dict:
    nint = data.shape[0]
    half = int(np.ceil(max(settings.annulus_outer_pix, settings.centroid_radius_pix + settings.max_shift_pix))) + 1
    rows, cols, ox, oy = _cutout_bounds(x0, y0, half, data.shape[1:])
    cut = np.asarray(data[:, rows, cols], dtype=np.float64)
    cut_err = np.asarray(err[:, rows, cols], dtype=np.float64)
    cut_dq = np.asarray(dq[:, rows, cols], dtype=np.uint32)
    usable = ((cut_dq & DO_NOT_USE) == 0) & np.isfinite(cut) & np.isfinite(cut_err)
    h, w = cut.shape[1:]
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    lx, ly = x0 - ox, y0 - oy  # local start position

    def background(cx, cy):
        """Per-integration annulus background about centres cx, cy (arrays of nint)."""
        r2 = (xx[None] - np.asarray(cx)[:, None, None]) ** 2 + (yy[None] - np.asarray(cy)[:, None, None]) ** 2
        ring = (r2 >= settings.annulus_inner_pix**2) & (r2 < settings.annulus_outer_pix**2)
        values = cut.reshape(nint, -1)
        good = (ring & usable).reshape(nint, -1)
        return _clipped_median(values, good, settings.clip_sigma, settings.clip_iterations)

    cx, cy = np.full(nint, lx), np.full(nint, ly)
    bkg, bkg_std, bkg_n = background(cx, cy)
    sub = np.where(usable, cut - np.nan_to_num(bkg)[:, None, None], 0.0)
    rc2 = settings.centroid_radius_pix**2
    for _ in range(max(settings.centroid_iterations, 1)):
        r2 = (xx[None] - cx[:, None, None]) ** 2 + (yy[None] - cy[:, None, None]) ** 2
        inside = r2 < rc2
        weight = np.where(inside, sub, 0.0)
        total = weight.sum(axis=(1, 2))
        ok = total > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            nx_ = np.where(ok, (weight * xx[None]).sum(axis=(1, 2)) / total, cx)
            ny_ = np.where(ok, (weight * yy[None]).sum(axis=(1, 2)) / total, cy)
        cx, cy = nx_, ny_
    r2 = (xx[None] - cx[:, None, None]) ** 2 + (yy[None] - cy[:, None, None]) ** 2
    weight = np.where(r2 < rc2, sub, 0.0)
    total = weight.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_r2 = np.where(total > 0, (weight * r2).sum(axis=(1, 2)) / total, np.nan)
    fwhm = gaussian_fwhm_from_moment(mean_r2, settings.centroid_radius_pix)

    ax, ay = float(np.nanmedian(cx)), float(np.nanmedian(cy))
    flags = np.zeros(nint, np.uint32)
    shift = np.hypot(cx - ax, cy - ay)
    flags[~(shift <= settings.max_shift_pix)] |= OUTLIER
    if settings.recenter:
        centres = list(zip(cx, cy, strict=True))
        bkg, bkg_std, bkg_n = background(cx, cy)
    else:
        centres = [(ax, ay)] * nint
        bkg, bkg_std, bkg_n = background(np.full(nint, ax), np.full(nint, ay))
    bkg_err = np.sqrt(np.pi / 2.0) * bkg_std / np.sqrt(np.maximum(bkg_n, 1))
    flags[~(bkg_n > 1)] |= DO_NOT_USE

    static = ~usable.any(axis=0)  # unusable in every integration (dead pixels...): left out of all alike
    if settings.recenter:
        weights = np.stack([aperture_weights((h, w), px, py, settings.radius_pix) for px, py in centres])
    else:
        weights = aperture_weights((h, w), ax, ay, settings.radius_pix)[None]
    inside = weights > 0
    n_static = int(np.count_nonzero(inside & static[None], axis=(1, 2)).max())
    flags[np.any(inside & ~usable & ~static[None], axis=(1, 2))] |= DO_NOT_USE
    flags[np.any(inside & ((cut_dq & SATURATED) != 0), axis=(1, 2))] |= SATURATED
    good_weights = np.where(usable & inside, weights, 0.0)
    area = weights.sum(axis=(1, 2)) * np.ones(nint)
    flux = (good_weights * np.where(usable, cut, 0.0)).sum(axis=(1, 2)) - good_weights.sum(axis=(1, 2)) * bkg
    var = (good_weights**2 * np.where(usable, cut_err, 0.0) ** 2).sum(axis=(1, 2))
    flux_err = np.sqrt(var + (area * bkg_err) ** 2)
    return {
        "flux": flux, "flux_err": flux_err, "background": bkg, "background_err": bkg_err,
        "x_pix": cx + ox, "y_pix": cy + oy, "fwhm_pix": fwhm, "dq": flags,
        "aperture_area_pix": area if settings.recenter else area[0], "aperture_x": ax + ox, "aperture_y": ay + oy,
        "static_bad_pixels": n_static,
    }  # fmt: skip


def measure_time_series(data, err, dq, positions, settings: ApertureSettings | None = None) -> PhotometryResult:
    """Aperture photometry of every star in every integration (module docstring for the method).

    Parameters
    ----------
    data, err : ndarray (nint, ny, nx)
        Per-integration images and their 1-sigma errors (same units).
    dq : ndarray of uint32 (nint, ny, nx)
        Pixel flags; ``DO_NOT_USE`` pixels are not used.
    positions : sequence of (x, y)
        Starting position of each star (0-based array coordinates); the first is the target.
    settings : ApertureSettings, optional

    Returns
    -------
    PhotometryResult

    Raises
    ------
    ValueError
        Shapes disagree, or a star's annulus lies entirely off the image.
    """
    settings = settings or ApertureSettings()
    data = np.asarray(data)
    if data.ndim != 3 or np.shape(err) != data.shape or np.shape(dq) != data.shape:
        raise ValueError(
            f"data, err and dq must be 3-D of one shape, got {data.shape}, {np.shape(err)}, {np.shape(dq)}"
        )
    stars = [_measure_star(data, err, dq, float(x), float(y), settings) for x, y in positions]
    if not stars:
        raise ValueError("no star to measure")

    def stack(name):
        return np.stack([star[name] for star in stars], axis=-1)

    return PhotometryResult(**{name: stack(name) for name in stars[0]})
