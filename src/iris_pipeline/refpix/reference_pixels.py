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

from dataclasses import dataclass

import numba
import numpy as np
from scipy.ndimage import uniform_filter1d

from .. import dqflags

__all__ = [
    "ReferenceOffsets",
    "ReferencePixelLayout",
    "apply_reference_offsets",
    "measure_reference_offsets",
    "row_drift_detected",
    "subtract_reference_pixels",
]

UNUSABLE_REFERENCE = np.uint32(dqflags.PIXEL["BAD_REF_PIXEL"])
REFERENCE = np.uint32(dqflags.PIXEL["REFERENCE_PIXEL"])
ROW_DRIFT_SIGNIFICANCE = 3.0


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


@dataclass
class ReferenceOffsets:
    """Bias drifts of one integration measured on its reference pixels, DN.

    Attributes
    ----------
    column_dn : np.ndarray or None
        Offset of every column in every group, (ngroups, nx), from the reference rows.
    row_dn : np.ndarray or None
        Offset of every row in every group, (ngroups, ny), from the reference columns.
    """

    column_dn: np.ndarray | None
    row_dn: np.ndarray | None

    @property
    def applied(self) -> dict[str, bool]:
        return {"rows": self.column_dn is not None, "columns": self.row_dn is not None}


def _as_dn(values, data_offset, bias_dn):
    """Raw values (any dtype) -> float64 DN above the bias.

    The sums are made in float32 as the block conversion and the superbias kernel make them, so
    that offsets measured on raw reads equal those measured on a ramp saved after superbias.
    """
    values = (values.astype(np.float64) + data_offset).astype(np.float32)
    if bias_dn is not None:
        values -= bias_dn.astype(np.float32)
    return values.astype(np.float64)


def _column_offsets(rows_dn, usable, labels):
    """Mean reference-row level of each column group, broadcast to columns: (ngroups, nx)."""
    labels = labels - labels.min()
    nlabels = int(labels.max()) + 1
    weights = usable.astype(np.float64)
    column_sums = np.einsum("grx,rx->gx", rows_dn, weights)
    sums = np.stack([np.bincount(labels, weights=group, minlength=nlabels) for group in column_sums])
    counts = np.bincount(labels, weights=weights.sum(axis=0), minlength=nlabels)
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    return means[:, labels]


def row_drift_detected(side_dn: np.ndarray, weights: np.ndarray) -> bool:
    """Whether the reference columns show a drift along the rows beyond their own white noise.

    The side correction subtracts, from every pixel of a row, the mean of that row's reference
    columns (smoothed over rows). Where the bias has no row-to-row drift (no 1/f noise) that mean
    is pure read noise, and subtracting it adds noise common to the whole row: with the 4
    reference columns of a corner window it made blank-aperture sums 1.9x noisier than their
    ERR on simulated data. So the drift is tested first: on differences of consecutive groups
    (which cancel the fixed bias pattern), the variance of the row means is compared with what
    the within-row scatter predicts for white noise; a drift is detected when the excess is
    above `ROW_DRIFT_SIGNIFICANCE` standard errors. With one group, or fewer than two usable
    reference columns per row, nothing can be tested and a drift is assumed (JWST's behaviour).

    Parameters
    ----------
    side_dn : np.ndarray
        Reference-column values (ngroups, ny, ncolumns), DN, channel offsets removed.
    weights : np.ndarray
        1 for usable reference pixels, 0 otherwise, (ny, ncolumns).
    """
    n_per_row = weights.sum(axis=1)
    rows = n_per_row >= 2
    if side_dn.shape[0] < 2 or rows.sum() < 3:
        return True
    differences = np.diff(side_dn[:, rows, :], axis=0)
    w = weights[rows]
    n = n_per_row[rows]
    row_means = np.einsum("gyc,yc->gy", differences, w) / n
    within = np.einsum("gyc,yc->gy", (differences - row_means[..., None]) ** 2, w) / (n - 1)
    expected = (within / n).mean(axis=1)
    observed = row_means.var(axis=1, ddof=1)
    if not np.any(expected > 0):
        return bool(np.any(observed > 0))
    ratio = observed[expected > 0] / expected[expected > 0]
    standard_error = np.sqrt(2.0 / ((rows.sum() - 1) * ratio.size))
    return bool(ratio.mean() - 1.0 > ROW_DRIFT_SIGNIFICANCE * standard_error)


def measure_reference_offsets(
    ramp,
    pixeldq: np.ndarray,
    first_column: int,
    channel_width_pix: int,
    *,
    bias_dn: np.ndarray | None = None,
    data_offset: float = 0.0,
    odd_even_columns: bool = True,
    use_side_ref_pixels: bool = True,
    side_smoothing_length: int = 11,
    side_gain: float = 1.0,
) -> ReferenceOffsets:
    """Measure the drifts of one integration; only its reference rows and columns are read.

    Parameters
    ----------
    ramp : array-like
        Groups of one integration, (ngroups, ny, nx), in DN after adding ``data_offset``; may be
        a memory-mapped integer array (only the reference rows and columns are converted).
    pixeldq : np.ndarray
        uint32 pixel DQ (ny, nx) with ``REFERENCE_PIXEL`` on the reference border; pixels flagged
        ``BAD_REF_PIXEL`` are not used (``DO_NOT_USE`` is normal on reference pixels).
    first_column : int
        0-based full-frame column of the window's first column (``SUBSTRT1 - 1``).
    channel_width_pix : int
        Columns read by one output channel.
    bias_dn : np.ndarray, optional
        Superbias (ny, nx) to remove from the reference pixels first, as in the data they correct.
    data_offset : float
        Added to the stored values (32768 for FITS unsigned integers read unscaled).
    odd_even_columns : bool
        Measure even and odd columns of each channel separately (they have separate drifts).
    use_side_ref_pixels : bool
        Also measure the row-by-row drift on the reference columns, where they show one
        (`row_drift_detected`).
    side_smoothing_length : int
        Rows of the running mean applied to the side reference signal.
    side_gain : float
        Multiplier of the side correction.
    """
    layout = ReferencePixelLayout(pixeldq, first_column, channel_width_pix)
    column_dn = row_dn = None
    if layout.rows.size:
        bias_rows = None if bias_dn is None else bias_dn[layout.rows, :]
        rows_dn = _as_dn(np.asarray(ramp[:, layout.rows, :]), data_offset, bias_rows)
        column_dn = _column_offsets(rows_dn, layout.usable[layout.rows, :], layout.column_groups(odd_even_columns))
    if use_side_ref_pixels and layout.columns.size:
        bias_cols = None if bias_dn is None else bias_dn[:, layout.columns]
        side_dn = _as_dn(np.asarray(ramp[:, :, layout.columns]), data_offset, bias_cols)
        if column_dn is not None:
            side_dn -= column_dn[:, None, layout.columns]
        weights = layout.usable[:, layout.columns].astype(np.float64)
        if not row_drift_detected(side_dn, weights):
            return ReferenceOffsets(column_dn, None)
        counts = weights.sum(axis=1)
        sums = np.einsum("gyc,yc->gy", side_dn, weights)
        side = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        row_dn = side_gain * uniform_filter1d(side, size=side_smoothing_length, axis=-1, mode="nearest")
    return ReferenceOffsets(column_dn, row_dn)


def apply_reference_offsets(block_dn: np.ndarray, offsets: ReferenceOffsets, first_row: int = 0) -> None:
    """Subtract measured offsets from a block of rows of one integration, in place.

    Parameters
    ----------
    block_dn : np.ndarray
        float32 groups, DN, (ngroups, nrows, nx).
    offsets : ReferenceOffsets
        Offsets of the integration.
    first_row : int
        Row of the integration where the block starts.
    """
    nrows = block_dn.shape[1]
    column = None if offsets.column_dn is None else offsets.column_dn.astype(np.float32)
    row = None if offsets.row_dn is None else offsets.row_dn[:, first_row : first_row + nrows].astype(np.float32)
    _subtract_offsets(block_dn, column, row)


@numba.njit(parallel=True, nogil=True, cache=True)
def _subtract_offsets(block_dn, column_dn, row_dn):
    ngroups, nrows, nx = block_dn.shape
    for row in numba.prange(nrows):
        for group in range(ngroups):
            row_offset = np.float32(0.0) if row_dn is None else row_dn[group, row]
            for col in range(nx):
                column_offset = np.float32(0.0) if column_dn is None else column_dn[group, col]
                block_dn[group, row, col] -= column_offset + row_offset


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
    """Remove per-read bias drifts measured on the reference pixels from a whole ramp, in place.

    Parameters
    ----------
    data_dn : np.ndarray
        float32 ramp in DN, (nints, ngroups, ny, nx); corrected in place.
    pixeldq, first_column, channel_width_pix, odd_even_columns, use_side_ref_pixels, side_smoothing_length, side_gain
        As for `measure_reference_offsets`.

    Returns
    -------
    dict
        Which corrections were applied: ``{'rows': bool, 'columns': bool}`` (a window without
        reference rows or columns cannot have that part).
    """
    applied = {"rows": False, "columns": False}
    for integration in data_dn:
        offsets = measure_reference_offsets(
            integration, pixeldq, first_column, channel_width_pix, odd_even_columns=odd_even_columns,
            use_side_ref_pixels=use_side_ref_pixels, side_smoothing_length=side_smoothing_length,
            side_gain=side_gain,
        )  # fmt: skip
        apply_reference_offsets(integration, offsets)
        applied = offsets.applied
    return applied
