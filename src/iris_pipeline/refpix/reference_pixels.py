"""Reference-pixel correction on plain arrays.

H2RG/H4RG arrays have a border of reference pixels that see no light but share the bias drifts
of each read: an offset per output channel (measured on the reference rows at the bottom and top,
separately for even and odd columns) and a slowly varying offset along the read direction
(measured on the reference columns at the left and right, smoothed over rows). Subtracting both
from every group removes the drifts that would otherwise bias the ramp slopes. This follows the
JWST NIRCam/NIRISS/NIRSpec full-frame algorithm (Rauscher et al. 2017, PASP 129, 105003 describe
the detector systems; JWST calibration documentation, "Reference Pixel Correction").
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

from .. import dqflags

__all__ = ["ReferencePixelLayout", "subtract_reference_pixels"]

UNUSABLE_REFERENCE = np.uint32(dqflags.PIXEL["BAD_REF_PIXEL"])
REFERENCE = np.uint32(dqflags.PIXEL["REFERENCE_PIXEL"])


class ReferencePixelLayout:
    """Where the reference rows and columns of a window are, from its pixel DQ.

    A row (column) is a reference row (column) when every pixel in it is flagged
    ``REFERENCE_PIXEL``; a corner window of a detector has only the border rows and columns that
    it contains.

    Parameters
    ----------
    pixeldq : np.ndarray
        uint32 pixel DQ of the window, (ny, nx).
    first_column : int
        0-based full-frame column of the window's first column.
    channel_width_pix : int
        Columns read by one output channel.
    """

    def __init__(self, pixeldq: np.ndarray, first_column: int, channel_width_pix: int):
        is_reference = (pixeldq & REFERENCE) != 0
        self.rows = np.flatnonzero(is_reference.all(axis=1))
        self.columns = np.flatnonzero(is_reference.all(axis=0))
        self.usable = (pixeldq & UNUSABLE_REFERENCE) == 0
        full_columns = first_column + np.arange(pixeldq.shape[1])
        self.channel = full_columns // channel_width_pix
        self.parity = full_columns % 2

    def column_groups(self, odd_even_columns: bool) -> np.ndarray:
        """Label of each column: its channel, or its channel and column parity."""
        if odd_even_columns:
            return self.channel * 2 + self.parity
        return self.channel.copy()


def _channel_offsets(data_dn, layout, odd_even_columns):
    """Mean reference-row level of each column group, broadcast to columns: (nints, ngroups, nx)."""
    labels = layout.column_groups(odd_even_columns)
    labels = labels - labels.min()
    nlabels = int(labels.max()) + 1
    rows = data_dn[:, :, layout.rows, :]
    weights = layout.usable[layout.rows, :].astype(np.float64)
    row_sums = np.einsum("igrx,rx->igx", rows, weights, dtype=np.float64)
    counts_per_column = weights.sum(axis=0)
    nints, ngroups, nx = row_sums.shape
    sums = np.zeros((nints * ngroups, nlabels))
    for label in range(nlabels):
        in_label = labels == label
        sums[:, label] = row_sums.reshape(-1, nx)[:, in_label].sum(axis=1)
    counts = np.bincount(labels, weights=counts_per_column, minlength=nlabels)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, 0.0)
    return means[:, labels].reshape(nints, ngroups, nx)


def subtract_reference_pixels(
    data_dn: np.ndarray,
    pixeldq: np.ndarray,
    first_column: int,
    channel_width_pix: int,
    odd_even_columns: bool = True,
    use_side_ref_pixels: bool = True,
    side_smoothing_length: int = 11,
    side_gain: float = 1.0,
) -> dict[str, bool]:
    """Remove per-read bias drifts measured on the reference pixels, in place.

    Parameters
    ----------
    data_dn : np.ndarray
        float32 ramp in DN, (nints, ngroups, ny, nx); corrected in place.
    pixeldq : np.ndarray
        uint32 pixel DQ (ny, nx) with ``REFERENCE_PIXEL`` on the reference border; pixels flagged
        ``BAD_REF_PIXEL`` are not used (``DO_NOT_USE`` is normal on reference pixels).
    first_column : int
        0-based full-frame column of the window's first column (``SUBSTRT1 - 1``).
    channel_width_pix : int
        Columns read by one output channel.
    odd_even_columns : bool
        Measure even and odd columns of each channel separately (they have separate drifts).
    use_side_ref_pixels : bool
        Also subtract the row-by-row drift measured on the reference columns.
    side_smoothing_length : int
        Rows of the running mean applied to the side reference signal.
    side_gain : float
        Multiplier of the side correction.

    Returns
    -------
    dict
        Which corrections were applied: ``{'rows': bool, 'columns': bool}`` (a window without
        reference rows or columns cannot have that part).
    """
    layout = ReferencePixelLayout(pixeldq, first_column, channel_width_pix)
    applied = {"rows": False, "columns": False}
    if layout.rows.size:
        data_dn -= _channel_offsets(data_dn, layout, odd_even_columns)[:, :, None, :].astype(data_dn.dtype)
        applied["rows"] = True
    if use_side_ref_pixels and layout.columns.size:
        weights = layout.usable[:, layout.columns].astype(np.float64)
        counts = weights.sum(axis=1)
        side = np.einsum("igyc,yc->igy", data_dn[..., layout.columns], weights, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            side = np.where(counts > 0, side / counts, 0.0)
        side = uniform_filter1d(side, size=side_smoothing_length, axis=-1, mode="nearest")
        data_dn -= (side_gain * side)[..., None].astype(data_dn.dtype)
        applied["columns"] = True
    return applied
