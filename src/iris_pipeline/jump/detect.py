"""Standalone jump detection on one integration (the kernels shared with the fused ramp fit)."""

from __future__ import annotations

import numba
import numpy as np

from ..lib.blocks import convert_rows, default_block_rows, dynamic_schedule, plan_blocks
from . import _kernels as jk

__all__ = ["detect_jumps"]


def detect_jumps(
    data: np.ndarray,
    groupdq: np.ndarray | None,
    read_noise,
    gain,
    read_times,
    *,
    nframes: int = 1,
    rejection_threshold: float = 4.0,
    three_group_rejection_threshold: float = 6.0,
    four_group_rejection_threshold: float = 5.0,
    flag_4_neighbors: bool = True,
    max_jump_to_flag_neighbors: float = 200.0,
    min_jump_to_flag_neighbors: float = 10.0,
    data_offset: float = 0,
    block_rows: int | None = None,
) -> tuple[np.ndarray, int]:
    """Flag jumps (JUMP_DET on the group after each jump) in one integration, as stcal's two-point method.

    Differences from stcal 1.20 (``stcal.jump.jump.detect_jumps_data``):

    * The choice between one pass (10 or more differences) and the iterative search depends on
      ``ngroups`` alone; stcal also discounts group planes that are ``DO_NOT_USE`` in every pixel.
    * Only jumps found here flag their neighbours and are counted; JUMP_DET flags already in
      ``groupdq`` are kept as they are (stcal lets them flag neighbours, counts them, and removes
      JUMP_DET from groups that are also ``SATURATED`` or ``DO_NOT_USE``).
    * No sigma-clipping path (stcal uses it only with 100 or more integrations), no snowball or
      shower flagging, no flagging of groups after large jumps.
    * Arithmetic in DN (stcal works in electrons; the ratios are the same) and, for the screening of
      flag-free pixels, float32: a ratio within about 1e-6 of a threshold may be decided differently.

    Parameters
    ----------
    data : np.ndarray
        (ngroups, ny, nx) ramp, any of uint16, int16, float32, float64 (possibly a ``np.memmap``).
    groupdq : np.ndarray or None
        uint8 (ngroups, ny, nx), updated in place; ``None`` allocates a new one.
    read_noise : float or np.ndarray
        Noise of one read, DN, scalar or (ny, nx).
    gain : float or np.ndarray
        e-/DN, scalar or (ny, nx).
    read_times : array_like
        Mean time of each group, s, increasing.
    nframes : int
        Reads averaged per group.
    rejection_threshold : float
        Threshold (sigma) for ramps of 4 or more usable differences and in the single pass.
    three_group_rejection_threshold, four_group_rejection_threshold : float
        Thresholds for ramps with 2 and 3 usable differences.
    flag_4_neighbors : bool
        Flag the 4 adjacent pixels of jumps whose ratio is strictly between
        ``min_jump_to_flag_neighbors`` and ``max_jump_to_flag_neighbors``.
    data_offset : float
        Added to the stored values (32768 for FITS-unsigned int16).
    block_rows : int, optional
        Rows per block (default: a float32 buffer of about 48 MB).

    Returns
    -------
    groupdq : np.ndarray
        The updated group DQ.
    n_jumps : int
        Number of primary jumps flagged (neighbour flags not counted).
    """
    if data.ndim != 3:
        raise ValueError(f"data must be one integration (ngroups, ny, nx), got shape {data.shape}")
    ngroups, ny, nx = data.shape
    if groupdq is None:
        groupdq = np.zeros(data.shape, dtype=np.uint8)
    if groupdq.shape != data.shape or groupdq.dtype != np.uint8:
        raise ValueError(f"groupdq must be uint8 {data.shape}, got {groupdq.dtype} {groupdq.shape}")
    times_s = np.asarray(read_times, dtype=np.float64)
    if times_s.shape != (ngroups,) or (ngroups > 1 and not np.all(np.diff(times_s) > 0)):
        raise ValueError("read_times must give one increasing mean time (s) per group")
    if ngroups < jk.MIN_GROUPS:
        return groupdq, 0
    params = np.array(
        [
            rejection_threshold,
            three_group_rejection_threshold,
            four_group_rejection_threshold,
            min_jump_to_flag_neighbors,
            max_jump_to_flag_neighbors,
            1.0 if flag_4_neighbors else 0.0,
        ]
    )
    halo = 1 if flag_4_neighbors else 0
    rows = int(block_rows) if block_rows else default_block_rows(ngroups, nx)
    max_rows = min(rows + 2 * halo, ny)
    read_noise = np.broadcast_to(np.asarray(read_noise, dtype=np.float32), (ny, nx))
    gain = np.broadcast_to(np.asarray(gain, dtype=np.float32), (ny, nx))
    ndiffs = ngroups - 1
    first, second = jk.sorting_network(ndiffs, True)
    abs_first, abs_second = jk.sorting_network(ndiffs, False)
    tile = jk.tile_columns(ndiffs, nx)
    dt, inv_dt = jk.time_steps(times_s)
    buffer = np.empty(ngroups * max_rows * nx, dtype=np.float32)
    gdq_buffer = np.empty(ngroups * max_rows * nx, dtype=np.uint8)
    masks = np.empty((max_rows, nx, (ngroups + 63) // 64), dtype=np.uint64)
    has_mask = np.zeros((max_rows, nx), dtype=np.uint8)
    row_jumps = np.zeros(max_rows, dtype=np.int64)
    total = 0
    for blk in plan_blocks(ny, rows, halo):
        nrows = blk.stop - blk.start
        block = buffer[: ngroups * nrows * nx].reshape(ngroups, nrows, nx)
        gdq = gdq_buffer[: ngroups * nrows * nx].reshape(ngroups, nrows, nx)
        convert_rows(data, blk.start, data_offset, block)
        gdq[...] = groupdq[:, blk.start : blk.stop]
        first_row, last_row = blk.halo_top, nrows - blk.halo_bottom
        with dynamic_schedule():
            jk.detect_rows(
                block, gdq, times_s, dt, inv_dt, np.ascontiguousarray(read_noise[blk.start : blk.stop]),
                np.ascontiguousarray(gain[blk.start : blk.stop]), int(nframes), params, first, second, abs_first,
                abs_second, tile, first_row, last_row, masks[:nrows], has_mask[:nrows], row_jumps[:nrows],
                max(1, min(nrows, 8 * numba.get_num_threads())),
            )  # fmt: skip
        if flag_4_neighbors and has_mask[:nrows].any():
            jk.flag_neighbour_rows(gdq, first_row, last_row, masks[:nrows], has_mask[:nrows])
        total += int(row_jumps[first_row:last_row].sum())
        groupdq[:, blk.interior] = gdq[:, first_row:last_row]
    return groupdq, total
