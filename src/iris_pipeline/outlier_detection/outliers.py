"""Outlier (cosmic-ray residual) detection in dithered images (the JWST/Roman imaging algorithm).

1. Drizzle every exposure alone onto the output grid (all its detectors together).
2. Take the per-pixel median of these single-exposure images, ignoring pixels whose drizzle weight
   is below ``maskpt`` times the typical weight of that exposure (image edges, gaps, bad pixels).
3. "Blot" the median back onto each input image: interpolate it at the output-grid position of
   every input pixel.
4. Flag input pixels that differ from the blotted median by more than ``snr * ERR`` plus
   ``scale * |derivative of the blot|`` (the derivative term protects sharp sources against
   small registration errors), with the two-threshold test of stcal's ``flag_resampled_crs``.

Pure arrays in, boolean masks out.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from stcal.outlier_detection.utils import compute_weight_threshold, flag_resampled_crs

from ..resample.drizzle import DrizzleInput, drizzle_images, pixel_map
from ..resample.grid import TanGrid

__all__ = ["OutlierResult", "blot", "detect_outliers", "median_image"]


@dataclass
class OutlierResult:
    """Masks of outlier pixels (one per input image, True = outlier) and the median image."""

    masks: list[np.ndarray]
    median: np.ndarray


def median_image(
    images: Sequence[DrizzleInput],
    grid: TanGrid,
    maskpt: float = 0.7,
    pixfrac: float = 1.0,
    kernel: str = "square",
    weight_type: str = "ivm",
    good_bits=None,
) -> np.ndarray:
    """Median of the single-exposure drizzled images (exposures by ``group_id``), NaN where none."""
    group_ids = list(dict.fromkeys(image.group_id for image in images))
    planes = []
    for group_id in group_ids:
        members = [image for image in images if image.group_id == group_id]
        single = drizzle_images(
            members,
            grid,
            pixfrac=pixfrac,
            kernel=kernel,
            fillval="NaN",
            weight_type=weight_type,
            good_bits=good_bits,
            enable_var=False,
            enable_ctx=False,
            propagate_dq=False,
        )
        threshold = compute_weight_threshold(single.wht, maskpt)
        plane = np.where(single.wht >= threshold, single.data, np.nan).astype(np.float32)
        planes.append(plane)
    # Only pixels that some exposure covers: a mosaic of far-apart windows is mostly empty.
    covered = np.zeros(grid.shape, bool)
    for plane in planes:
        covered |= np.isfinite(plane)
    median = np.full(grid.shape, np.nan, np.float32)
    median[covered] = np.nanmedian(np.stack([plane[covered] for plane in planes]), axis=0)
    return median


def blot(median: np.ndarray, pixmap: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``median`` at output-grid positions ``pixmap`` (ny, nx, 2); NaN outside."""
    x = pixmap[..., 0]
    y = pixmap[..., 1]
    valid_median = np.isfinite(median)
    filled = np.where(valid_median, median, 0.0)
    coords = np.array([np.nan_to_num(y, nan=-10.0), np.nan_to_num(x, nan=-10.0)])
    values = ndimage.map_coordinates(filled, coords, order=1, mode="constant", cval=np.nan)
    # A pixel is valid only when every median pixel that enters the interpolation is.
    support = ndimage.map_coordinates(valid_median.astype(np.float32), coords, order=1, mode="constant", cval=0.0)
    return np.where((support > 0.999) & np.isfinite(x) & np.isfinite(y), values, np.nan)


def detect_outliers(
    images: Sequence[DrizzleInput],
    errors: Sequence[np.ndarray],
    grid: TanGrid,
    snr: tuple[float, float] = (5.0, 4.0),
    scale: tuple[float, float] = (1.2, 0.7),
    maskpt: float = 0.7,
    backg: float = 0.0,
    pixfrac: float = 1.0,
    kernel: str = "square",
    weight_type: str = "ivm",
    good_bits=None,
) -> OutlierResult:
    """Outlier pixels of each input image.

    Parameters
    ----------
    images : sequence of DrizzleInput
        Sky-matched images with their WCS and ``group_id`` (exposure); at least two exposures.
    errors : sequence of np.ndarray
        ERR of each image, same unit as the data.
    grid : TanGrid
        Grid of the median (normally the mosaic's).
    snr : tuple of float
        Thresholds (in ERR) before and after the 3x3 smoothing of the first mask.
    scale : tuple of float
        Multipliers of the blotted median's derivative in the two thresholds.
    maskpt : float
        Fraction of an exposure's typical drizzle weight below which its pixels stay out of the median.
    backg : float
        Background subtracted from the difference (0 for sky-subtracted data).
    pixfrac, kernel, weight_type, good_bits
        Drizzle parameters of the single-exposure images.

    Returns
    -------
    OutlierResult
    """
    if len({image.group_id for image in images}) < 2:
        raise ValueError("outlier detection in dithered images needs at least two exposures")
    median = median_image(images, grid, maskpt, pixfrac, kernel, weight_type, good_bits)
    output_wcs = grid.to_gwcs()
    masks = []
    for image, error in zip(images, errors, strict=True):
        blotted = blot(median, pixel_map(image.wcs, image.data_mjy_sr.shape, output_wcs))
        valid = np.isfinite(blotted) & np.isfinite(image.data_mjy_sr)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
            mask = flag_resampled_crs(
                np.where(valid, image.data_mjy_sr, 0.0),
                np.where(valid, error, 0.0),
                np.where(valid, blotted, 0.0),
                snr[0],
                snr[1],
                scale[0],
                scale[1],
                backg,
            )
        masks.append(mask & valid)
    return OutlierResult(masks, median)
