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


def _design(columns: np.ndarray, rows: np.ndarray, shape: tuple[int, int], degree: int) -> np.ndarray:
    """Polynomial terms ``u**i * v**j`` (i + j <= degree), with u, v scaled to [-1, 1]."""
    ny, nx = shape
    u = 2.0 * columns / max(nx - 1, 1) - 1.0
    v = 2.0 * rows / max(ny - 1, 1) - 1.0
    return np.stack([u**i * v**j for i in range(degree + 1) for j in range(degree + 1 - i)], axis=1)


def fit_smooth_surface(
    image: np.ndarray, good: np.ndarray, degree: int = 2, sigma: float = 4.0, max_iterations: int = 5
) -> np.ndarray:
    """Low-order 2-D polynomial fitted to an image over its good pixels, with outlier rejection.

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
    use = good & np.isfinite(image)
    rows, columns = np.nonzero(use)
    values = image[use].astype(np.float64)
    design = _design(columns, rows, image.shape, degree)
    keep = np.ones(values.size, bool)
    coefficients = None
    for _ in range(max_iterations):
        if keep.sum() < design.shape[1]:
            raise ValueError(f"{keep.sum()} good pixels cannot constrain a degree-{degree} surface")
        coefficients = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        residual = values - design @ coefficients
        scale = 1.482602218505602 * np.median(np.abs(residual[keep]))
        new_keep = np.abs(residual) <= sigma * scale if scale > 0 else keep
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    all_rows, all_columns = np.indices(image.shape)
    surface = _design(all_columns.ravel(), all_rows.ravel(), image.shape, degree) @ coefficients
    return surface.reshape(image.shape).astype(np.float32)


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
