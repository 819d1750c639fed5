"""Flat-field products: normalisation, the large-scale/small-scale split, bad-response pixels.

A combined flat-field exposure is ``illumination * response``. A twilight sky illuminates the
detector uniformly; a calibration lamp does not, and its smooth illumination pattern must not end
up in a pixel flat. As JWST's flats do (a pixel flat for the small scales, a separate large-scale
flat), the combined image is split into a smooth surface, a low-order 2-D polynomial fitted over
the good pixels, and the pixel flat ``image / surface``. The large-scale part of the reference is
then either kept (uniform illumination), dropped, or taken from another flat (the smooth part of
the current FLAT reference).
"""

from __future__ import annotations

import numpy as np

from .. import dqflags
from .combine import MAD_TO_SIGMA

__all__ = [
    "DEAD_FLAGS",
    "HIGH_FLAGS",
    "LOW_FLAGS",
    "find_bad_response",
    "fit_smooth_surface",
    "normalize_flat",
]

DEAD_FLAGS = np.uint32(dqflags.PIXEL["DEAD"] | dqflags.PIXEL["DO_NOT_USE"] | dqflags.PIXEL["NO_FLAT_FIELD"])
LOW_FLAGS = np.uint32(dqflags.PIXEL["LOW_QE"])
HIGH_FLAGS = np.uint32(dqflags.PIXEL["UNRELIABLE_FLAT"])
# Most pixels a smooth-surface fit uses.
MAX_FIT_PIXELS = 2**20


def normalize_flat(
    flat: np.ndarray, err: np.ndarray, good: np.ndarray, region: tuple[slice, slice] | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Divide a flat and its error by the median of its good pixels.

    Parameters
    ----------
    flat, err : numpy.ndarray
        Combined flat (any units, e.g. DN/s) and its uncertainty (ny, nx).
    good : numpy.ndarray
        bool (ny, nx), pixels that may enter the median.
    region : tuple of slice, optional
        (rows, columns) of the array to take the median over (default: the whole array).

    Returns
    -------
    flat, err : numpy.ndarray
        float32, normalised.
    median : float
        The divisor, in the input's units.

    Raises
    ------
    ValueError
        If the region holds no good finite pixel, or their median is not positive.
    """
    selection = good & np.isfinite(flat)
    if region is not None:
        inside = np.zeros(flat.shape, bool)
        inside[region] = True
        selection &= inside
    if not selection.any():
        raise ValueError("no good pixel to normalise the flat over")
    median = float(np.median(flat[selection]))
    if not median > 0:
        raise ValueError(f"median of the flat's good pixels is {median}, not positive")
    return (flat / median).astype(np.float32), (err / median).astype(np.float32), median


def _scaled(index: np.ndarray, size: int) -> np.ndarray:
    """Pixel index scaled to [-1, 1] across ``size`` pixels."""
    return 2.0 * index / max(size - 1, 1) - 1.0


def _powers(degree: int) -> list[tuple[int, int]]:
    """Exponents (i, j) of the terms ``u**i * v**j`` with ``i + j <= degree``."""
    return [(i, j) for i in range(degree + 1) for j in range(degree + 1 - i)]


def fit_smooth_surface(
    image: np.ndarray, good: np.ndarray, degree: int = 2, sigma: float = 4.0, max_iterations: int = 5
) -> np.ndarray:
    """Low-order 2-D polynomial fitted to an image over its good pixels, with outlier rejection.

    The fit uses at most about `MAX_FIT_PIXELS` pixels (every ``s``-th row and column of a larger
    image), ample for a handful of coefficients, so that a full 4096^2 frame costs tens of MB.

    Parameters
    ----------
    image : numpy.ndarray
        (ny, nx) flat-field image.
    good : numpy.ndarray
        bool (ny, nx), pixels that may enter the fit.
    degree : int
        Total degree of the polynomial in the column and row coordinates (2 holds a gradient and a
        vignetting-like curvature along each axis).
    sigma : float
        Pixels further than ``sigma`` normalised MADs from the surface are left out of the next
        pass (low-QE pixels, cosmic-ray residuals).
    max_iterations : int
        Most fitting passes.

    Returns
    -------
    numpy.ndarray
        float32 (ny, nx): the surface.

    Raises
    ------
    ValueError
        If fewer good pixels than polynomial terms remain.
    """
    ny, nx = image.shape
    stride = max(1, int(np.ceil(np.sqrt(image.size / MAX_FIT_PIXELS))))
    sample = (slice(None, None, stride), slice(None, None, stride))
    use = good[sample] & np.isfinite(image[sample])
    rows, columns = np.nonzero(use)
    u, v = _scaled(columns * stride, nx), _scaled(rows * stride, ny)
    powers = _powers(degree)
    design = np.stack([u**i * v**j for i, j in powers], axis=1)
    values = image[sample][use].astype(np.float64)
    keep = np.ones(values.size, bool)
    coefficients = None
    for _ in range(max_iterations):
        if keep.sum() < design.shape[1]:
            raise ValueError(f"{keep.sum()} good pixels cannot constrain a degree-{degree} surface")
        coefficients = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        residual = values - design @ coefficients
        scale = MAD_TO_SIGMA * np.median(np.abs(residual[keep]))
        new_keep = np.abs(residual) <= sigma * scale if scale > 0 else keep
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    u_all, v_all = _scaled(np.arange(nx), nx), _scaled(np.arange(ny), ny)
    surface = np.zeros((ny, nx), np.float64)
    for coefficient, (i, j) in zip(coefficients, powers, strict=True):
        surface += coefficient * np.outer(v_all**j, u_all**i)
    return surface.astype(np.float32)


def find_bad_response(
    pixel_flat: np.ndarray,
    dead_threshold: float,
    low_threshold: float,
    high_threshold: float,
) -> np.ndarray:
    """DQ flags of pixels whose response stands out of a pixel flat (median 1, no large scales).

    Parameters
    ----------
    pixel_flat : numpy.ndarray
        (ny, nx) response relative to the smooth response around it.
    dead_threshold : float
        Below it (or non-finite): dead, ``DEAD | DO_NOT_USE | NO_FLAT_FIELD``.
    low_threshold : float
        Below it (and not dead): low response, ``LOW_QE`` (the flat still corrects it).
    high_threshold : float
        Above it: ``UNRELIABLE_FLAT``.

    Returns
    -------
    numpy.ndarray
        uint32 DQ (ny, nx).
    """
    if not dead_threshold < low_threshold < 1.0 < high_threshold:
        raise ValueError(
            f"thresholds must satisfy dead < low < 1 < high, got {dead_threshold}, {low_threshold}, {high_threshold}"
        )
    dq = np.zeros(pixel_flat.shape, np.uint32)
    with np.errstate(invalid="ignore"):
        dead = ~(pixel_flat >= dead_threshold)
        low = ~dead & (pixel_flat < low_threshold)
        high = pixel_flat > high_threshold
    dq[dead] = DEAD_FLAGS
    dq[low] = LOW_FLAGS
    dq[high] = HIGH_FLAGS
    return dq
