"""Pure array helpers of the quick-look previews: block reduction, DQ overlays, display limits, IFS cubes.

Nothing here reads or writes files; arrays in, arrays out. The block reduction is a numba kernel
that streams the image in strips of rows, so that a memory-mapped, big-endian FITS array of a full
4096 x 4096 detector is reduced without a full-size copy. The kernels are serial and release the
GIL: previews are drawn from dask worker threads, where numba's ``workqueue`` threading layer (the
fallback when neither OpenMP nor TBB is present) would abort on concurrent parallel launches, and a
single pass over a strip is memory-bound anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from astropy.visualization import (
    AsinhStretch,
    AsymmetricPercentileInterval,
    ImageNormalize,
    LinearStretch,
    ZScaleInterval,
)

from .. import dqflags

__all__ = [
    "MAX_PREVIEW_SIDE_PIX",
    "OVERLAY_FLAGS",
    "ReducedImage",
    "block_factor",
    "block_reduce",
    "brightest_spaxel",
    "count_dq_flags",
    "display_norm",
    "lit_pixels",
    "white_light_image",
]

MAX_PREVIEW_SIDE_PIX = 1024
"""Largest side, in display pixels, of one detector or mosaic in a preview."""

DO_NOT_USE = np.uint32(dqflags.PIXEL["DO_NOT_USE"])
SATURATED_OR_JUMP = np.uint32(dqflags.PIXEL["SATURATED"] | dqflags.PIXEL["JUMP_DET"])
OVERLAY_FLAGS = {"DO_NOT_USE": int(DO_NOT_USE), "SATURATED|JUMP_DET": int(SATURATED_OR_JUMP)}
"""DQ bits of the two overlay layers; a pixel with both goes to the saturated/jump layer."""

_STRIP_OUTPUT_ROWS = 128
_NORM_SAMPLES = 200_000
_ZSCALE_SAMPLES = 20_000
_LIT_SIGMA = 5.0


@dataclass(frozen=True)
class ReducedImage:
    """An image block-averaged for display, with its DQ overlay masks.

    Attributes
    ----------
    mean : np.ndarray
        float32 (ceil(ny / factor), ceil(nx / factor)): mean of the finite pixels of each block
        that are not ``DO_NOT_USE``; NaN where a block has none.
    do_not_use : np.ndarray
        bool, same shape: the block holds a ``DO_NOT_USE`` pixel that is neither saturated nor a jump.
    saturated_or_jump : np.ndarray
        bool, same shape: the block holds a ``SATURATED`` or ``JUMP_DET`` pixel.
    factor : int
        Side of a block in input pixels (the last row and column of blocks may be partial).
    n_do_not_use, n_saturated_or_jump : int
        Number of input pixels in each overlay class (the classes are disjoint).
    """

    mean: np.ndarray
    do_not_use: np.ndarray
    saturated_or_jump: np.ndarray
    factor: int
    n_do_not_use: int
    n_saturated_or_jump: int


def block_factor(shape, max_side_pix: int = MAX_PREVIEW_SIDE_PIX) -> int:
    """Smallest integer block side that brings both sides of ``shape`` to at most ``max_side_pix``."""
    return max(1, -(-max(shape[-2:]) // max_side_pix))


@numba.njit(nogil=True, cache=True)
def _reduce_strip(sci, dq, factor, mean_out, dnu_out, satjump_out, counts_out):
    nrows, nx = sci.shape
    nyr, nxr = mean_out.shape
    for i in range(nyr):
        sums = np.zeros(nxr)
        ngood = np.zeros(nxr, dtype=np.int64)
        n_dnu = 0
        n_satjump = 0
        for y in range(i * factor, min((i + 1) * factor, nrows)):
            for x in range(nx):
                j = x // factor
                flags = dq[y, x]
                if flags & SATURATED_OR_JUMP:
                    satjump_out[i, j] = True
                    n_satjump += 1
                elif flags & DO_NOT_USE:
                    dnu_out[i, j] = True
                    n_dnu += 1
                value = sci[y, x]
                if not (flags & DO_NOT_USE) and np.isfinite(value):
                    sums[j] += value
                    ngood[j] += 1
        for j in range(nxr):
            mean_out[i, j] = sums[j] / ngood[j] if ngood[j] else np.nan
        counts_out[i, 0] = n_dnu
        counts_out[i, 1] = n_satjump


def block_reduce(sci, dq=None, factor: int | None = None) -> ReducedImage:
    """Block-average a 2-D image for display, ignoring NaN and ``DO_NOT_USE`` pixels.

    Parameters
    ----------
    sci : array-like
        2-D image (any float or integer dtype and byte order; a memory map is read in strips).
    dq : array-like, optional
        uint32 DQ flags of ``sci``, same shape; none means every pixel is good.
    factor : int, optional
        Block side in pixels; by default `block_factor` of the shape (at most
        `MAX_PREVIEW_SIDE_PIX` blocks per side).

    Returns
    -------
    ReducedImage
        The block means and the DQ overlay masks (a block is marked when any of its pixels is).
    """
    if np.ndim(sci) != 2:
        raise ValueError(f"block_reduce needs a 2-D image, got shape {np.shape(sci)}")
    if dq is not None and np.shape(dq) != np.shape(sci):
        raise ValueError(f"DQ shape {np.shape(dq)} differs from the image shape {np.shape(sci)}")
    ny, nx = np.shape(sci)
    factor = block_factor((ny, nx)) if factor is None else int(factor)
    nyr, nxr = -(-ny // factor), -(-nx // factor)
    mean = np.empty((nyr, nxr), dtype=np.float32)
    dnu = np.zeros((nyr, nxr), dtype=np.bool_)
    satjump = np.zeros((nyr, nxr), dtype=np.bool_)
    counts = np.zeros((nyr, 2), dtype=np.int64)
    strip_blocks = _STRIP_OUTPUT_ROWS
    for first_block in range(0, nyr, strip_blocks):
        last_block = min(first_block + strip_blocks, nyr)
        rows = slice(first_block * factor, min(last_block * factor, ny))
        # Native-order copies of one strip: numba cannot read big-endian FITS memory maps.
        sci_strip = np.ascontiguousarray(sci[rows], dtype=np.float32)
        if dq is None:
            dq_strip = np.zeros(sci_strip.shape, dtype=np.uint32)
        else:
            dq_strip = np.ascontiguousarray(dq[rows], dtype=np.uint32)
        blocks = slice(first_block, last_block)
        _reduce_strip(sci_strip, dq_strip, factor, mean[blocks], dnu[blocks], satjump[blocks], counts[blocks])
    n_dnu, n_satjump = (int(n) for n in counts.sum(axis=0))
    return ReducedImage(mean, dnu, satjump, factor, n_dnu, n_satjump)


@numba.njit(nogil=True, cache=True)
def _count_bits(dq, counts_out):
    nrows, nx = dq.shape
    for y in range(nrows):
        for x in range(nx):
            flags = dq[y, x]
            bit = 0
            while flags:
                if flags & np.uint32(1):
                    counts_out[y, bit] += 1
                flags >>= np.uint32(1)
                bit += 1


def count_dq_flags(dq) -> dict[str, int]:
    """Number of pixels with each DQ flag set (flags never set are omitted), in one pass.

    Same result as `iris_pipeline.dqflags.describe`, without one full-size temporary per bit.

    Parameters
    ----------
    dq : array-like
        DQ flags of any shape (uint32 values; a memory map is read in strips of rows).

    Returns
    -------
    dict of str to int
        ``{flag name: number of pixels}`` in bit order.
    """
    dq = np.asarray(dq)
    if dq.size == 0:
        return {}
    rows = dq.reshape(-1, dq.shape[-1]) if dq.ndim > 1 else dq.reshape(1, -1)
    totals = np.zeros(32, dtype=np.int64)
    strip_rows = max(1, (1 << 22) // rows.shape[1])
    for start in range(0, rows.shape[0], strip_rows):
        strip = np.ascontiguousarray(rows[start : start + strip_rows], dtype=np.uint32)
        counts = np.zeros((strip.shape[0], 32), dtype=np.int64)
        _count_bits(strip, counts)
        totals += counts.sum(axis=0)
    names = {bit: name for name, bit in dqflags.PIXEL.items() if bit}
    return {names[1 << bit]: int(totals[bit]) for bit in range(32) if totals[bit]}


def lit_pixels(values) -> np.ndarray:
    """The values that stand clear of the dark background: above its median by 5 robust sigma.

    On an IFS detector frame most pixels lie between the spectral traces and hold background only;
    a display scale computed on all of them is a scale for the empty frame, and every trace is
    white. Returns the values above ``median + 5 * 1.4826 * MAD`` (finite ones only); all finite
    values when fewer than 1 % of them are lit (a frame without traces).
    """
    values = np.asarray(values, dtype=np.float32).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return values
    median = np.median(values)
    sigma = 1.4826 * np.median(np.abs(values - median))
    lit = values[values > median + _LIT_SIGMA * sigma]
    return lit if lit.size >= max(1, values.size // 100) else values


def display_norm(images, stretch: str = "zscale", lit_only: bool = False) -> ImageNormalize:
    """One display normalisation shared by several (reduced) images.

    Parameters
    ----------
    images : sequence of np.ndarray
        The images to be drawn with the same scale; NaN values are ignored.
    stretch : {"zscale", "asinh"}
        ``zscale``: linear between the IRAF zscale limits (`astropy.visualization.ZScaleInterval`).
        ``asinh``: `astropy.visualization.AsinhStretch` between the 1st and 99.99th percentiles,
        which keeps faint structure and bright cores visible together.
    lit_only : bool
        Compute the limits on the `lit_pixels` only (IFS detector frames: the traces, not the
        dark frame between them).

    Returns
    -------
    astropy.visualization.ImageNormalize
        A matplotlib normalisation. The limits come from a regular subsample of at most 200 000
        finite values (20 000 for zscale).
    """
    if stretch not in ("zscale", "asinh"):
        raise ValueError(f"unknown stretch {stretch!r}; use 'zscale' or 'asinh'")
    values = np.concatenate([np.asarray(image, dtype=np.float32).ravel() for image in images])
    values = values[np.isfinite(values)]
    values = values[:: max(1, values.size // _NORM_SAMPLES)]
    if lit_only:
        values = lit_pixels(values)
    if values.size == 0:
        vmin, vmax = 0.0, 1.0
    elif stretch == "zscale":
        vmin, vmax = ZScaleInterval(n_samples=_ZSCALE_SAMPLES).get_limits(values)
    else:
        vmin, vmax = AsymmetricPercentileInterval(1.0, 99.99).get_limits(values)
    if not vmax > vmin:
        vmin, vmax = vmin - 0.5, vmin + 0.5
    display_stretch = AsinhStretch() if stretch == "asinh" else LinearStretch()
    return ImageNormalize(vmin=float(vmin), vmax=float(vmax), stretch=display_stretch)


def white_light_image(cube_sci, cube_dq=None) -> np.ndarray:
    """Collapse an IFS cube over wavelength: the mean of each spaxel's good planes.

    Parameters
    ----------
    cube_sci : array-like
        Cube, shape (nwave, ny, nx), in any flux unit.
    cube_dq : array-like, optional
        uint32 DQ flags, shape (nwave, ny, nx) or (ny, nx). A plane is good for a spaxel when its
        value is finite and ``DO_NOT_USE`` is not set.

    Returns
    -------
    np.ndarray
        float32 (ny, nx) white-light image in the unit of the cube; NaN where no plane is good.
    """
    cube_sci = np.asarray(cube_sci)
    if cube_sci.ndim != 3:
        raise ValueError(f"white_light_image needs a (nwave, ny, nx) cube, got shape {cube_sci.shape}")
    nwave, ny, nx = cube_sci.shape
    if cube_dq is not None:
        cube_dq = np.asarray(cube_dq)
        if cube_dq.shape not in ((nwave, ny, nx), (ny, nx)):
            raise ValueError(f"cube DQ shape {cube_dq.shape} does not match the cube shape {cube_sci.shape}")
    total = np.zeros((ny, nx))
    ngood = np.zeros((ny, nx), dtype=np.int64)
    planes_per_chunk = max(1, (1 << 22) // max(1, ny * nx))
    for start in range(0, nwave, planes_per_chunk):
        chunk = np.asarray(cube_sci[start : start + planes_per_chunk], dtype=np.float64)
        good = np.isfinite(chunk)
        if cube_dq is not None:
            dq = cube_dq[start : start + planes_per_chunk] if cube_dq.ndim == 3 else cube_dq[None]
            good &= (dq & DO_NOT_USE) == 0
        total += np.where(good, chunk, 0.0).sum(axis=0)
        ngood += good.sum(axis=0)
    image = np.full((ny, nx), np.nan, dtype=np.float32)
    np.divide(total, ngood, out=image, where=ngood > 0, casting="same_kind")
    return image


def brightest_spaxel(white_light) -> tuple[int, int] | None:
    """(y, x) of the largest finite value of a white-light image, or None when it has none."""
    white_light = np.asarray(white_light)
    finite = np.isfinite(white_light)
    if not finite.any():
        return None
    index = np.argmax(np.where(finite, white_light, -np.inf))
    y, x = np.unravel_index(index, white_light.shape)
    return int(y), int(x)
