"""Data-quality initialisation on plain arrays."""

from __future__ import annotations

import numpy as np

__all__ = ["initialize_dq"]


def initialize_dq(mask_dq: np.ndarray, ramp_shape: tuple[int, int, int, int]):
    """Pixel and group DQ arrays for a ramp, from a bad-pixel mask.

    Parameters
    ----------
    mask_dq : np.ndarray
        uint32 DQ flags of the mask reference, shape (ny, nx), already cut to the exposure window.
    ramp_shape : tuple of int
        (nints, ngroups, ny, nx) of the ramp.

    Returns
    -------
    pixeldq : np.ndarray
        uint32 (ny, nx): a copy of the mask flags.
    groupdq : np.ndarray
        uint8 (nints, ngroups, ny, nx), all zero (no group flagged yet).
    """
    if tuple(mask_dq.shape) != tuple(ramp_shape[-2:]):
        raise ValueError(f"mask shape {mask_dq.shape} differs from the ramp's {ramp_shape[-2:]}")
    pixeldq = np.asarray(mask_dq, dtype=np.uint32).copy()
    groupdq = np.zeros(ramp_shape, dtype=np.uint8)
    return pixeldq, groupdq
