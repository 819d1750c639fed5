"""Bad-pixel masks from the products of calibration exposures."""

from __future__ import annotations

import numpy as np

from .. import dqflags

__all__ = ["MASK_FLAGS", "combine_masks", "reference_pixel_flags"]

# Flags a MASK reference carries; anything else in a dark's or flat's DQ (NO_FLAT_FIELD,
# UNRELIABLE_DARK...) describes that reference only.
MASK_FLAGS = np.uint32(
    dqflags.PIXEL["DO_NOT_USE"]
    | dqflags.PIXEL["DEAD"]
    | dqflags.PIXEL["HOT"]
    | dqflags.PIXEL["WARM"]
    | dqflags.PIXEL["LOW_QE"]
    | dqflags.PIXEL["REFERENCE_PIXEL"]
)
REFERENCE_FLAGS = np.uint32(dqflags.PIXEL["REFERENCE_PIXEL"] | dqflags.PIXEL["DO_NOT_USE"])


def reference_pixel_flags(
    full_shape: tuple[int, int], border_pix: int, first_row: int, first_column: int, shape: tuple[int, int]
) -> np.ndarray:
    """``REFERENCE_PIXEL | DO_NOT_USE`` on the reference border of a detector, cut to a window.

    Parameters
    ----------
    full_shape : tuple of int
        (ny, nx) of the full detector.
    border_pix : int
        Width of its reference-pixel border.
    first_row, first_column : int
        0-based full-frame row and column of the window's first pixel.
    shape : tuple of int
        (ny, nx) of the window.

    Returns
    -------
    numpy.ndarray
        uint32 DQ of the window.
    """
    rows = first_row + np.arange(shape[0])
    columns = first_column + np.arange(shape[1])
    edge_rows = (rows < border_pix) | (rows >= full_shape[0] - border_pix)
    edge_columns = (columns < border_pix) | (columns >= full_shape[1] - border_pix)
    border = edge_rows[:, None] | edge_columns[None, :]
    return np.where(border, REFERENCE_FLAGS, np.uint32(0)).astype(np.uint32)


def combine_masks(*dq_arrays: np.ndarray) -> np.ndarray:
    """OR of DQ arrays, keeping only the flags a bad-pixel mask carries (`MASK_FLAGS`).

    Pixels with ``DEAD`` or ``HOT`` also get ``DO_NOT_USE``.
    """
    if not dq_arrays:
        raise ValueError("no DQ array to combine")
    mask = np.zeros(dq_arrays[0].shape, np.uint32)
    for dq in dq_arrays:
        mask |= np.asarray(dq, np.uint32) & MASK_FLAGS
    unusable = (mask & np.uint32(dqflags.PIXEL["DEAD"] | dqflags.PIXEL["HOT"])) != 0
    mask[unusable] |= np.uint32(dqflags.PIXEL["DO_NOT_USE"])
    return mask
