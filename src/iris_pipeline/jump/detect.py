"""Standalone jump detection, per integration or across integrations (the kernels shared with the
fused ramp fit are in :mod:`iris_pipeline.lib.twopoint`)."""

from __future__ import annotations

import numba
import numpy as np

from ..lib import twopoint as tp
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
    """Flag jumps (JUMP_DET on the group after each jump) as stcal's two-point method.

    ``data`` is one integration, or an exposure of several. Integrations of at least 3 groups are
    searched one at a time. Integrations of 2 groups (CDS) have a single difference each, too few for
    a search of their own: as in stcal, the differences of all integrations of a pixel are then
    searched together (one median; the iterative search for fewer than 10 differences, the single
    pass from 10 on), so a multi-integration CDS exposure gets its jumps flagged.

    Differences from stcal 1.20 (``stcal.jump.jump.detect_jumps_data``):

    * Integrations of 3 or more groups are searched one at a time, each with its own median (stcal:
      one median over all integrations); integrations of 2 groups are searched together (stcal
      skips them unless the exposure has 100 or more groups for its sigma clipping).
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
        (ngroups, ny, nx) ramp of one integration or (nints, ngroups, ny, nx), any of uint16, int16,
        float32, float64 (possibly a ``np.memmap``).
    groupdq : np.ndarray or None
        uint8, shaped like ``data``, updated in place; ``None`` allocates a new one.
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
    if data.ndim not in (3, 4):
        raise ValueError(f"data must be (ngroups, ny, nx) or (nints, ngroups, ny, nx), got shape {data.shape}")
    ngroups, ny, nx = data.shape[-3:]
    if groupdq is None:
        groupdq = np.zeros(data.shape, dtype=np.uint8)
    if groupdq.shape != data.shape or groupdq.dtype != np.uint8:
        raise ValueError(f"groupdq must be uint8 {data.shape}, got {groupdq.dtype} {groupdq.shape}")
    times_s = np.asarray(read_times, dtype=np.float64)
    if times_s.shape != (ngroups,) or (ngroups > 1 and not np.all(np.diff(times_s) > 0)):
        raise ValueError("read_times must give one increasing mean time (s) per group")
    jump = tp.make_jump_settings(
        rejection_threshold, three_group_rejection_threshold, four_group_rejection_threshold,
        min_jump_to_flag_neighbors, max_jump_to_flag_neighbors, flag_4_neighbors,
    )  # fmt: skip
    halo = 1 if flag_4_neighbors else 0
    read_noise = np.broadcast_to(np.asarray(read_noise, dtype=np.float32), (ny, nx))
    gain = np.broadcast_to(np.asarray(gain, dtype=np.float32), (ny, nx))
    if data.ndim == 4 and ngroups < tp.MIN_GROUPS:
        if ngroups < 2 or data.shape[0] < 2:
            return groupdq, 0
        return groupdq, _detect_across_integrations(
            data, groupdq, read_noise, gain, times_s, int(nframes), jump, halo, data_offset, block_rows
        )
    if data.ndim == 4:
        total = 0
        for integration_data, integration_groupdq in zip(data, groupdq, strict=True):
            total += _detect_integration(
                integration_data, integration_groupdq, read_noise, gain, times_s, int(nframes), jump, halo,
                data_offset, block_rows,
            )  # fmt: skip
        return groupdq, total
    if ngroups < tp.MIN_GROUPS:
        return groupdq, 0
    return groupdq, _detect_integration(
        data, groupdq, read_noise, gain, times_s, int(nframes), jump, halo, data_offset, block_rows
    )


def _detect_integration(data, groupdq, read_noise, gain, times_s, nframes, jump, halo, data_offset, block_rows) -> int:
    """Search one integration (at least MIN_GROUPS groups) a block of rows at a time; the number of jumps."""
    ngroups, ny, nx = data.shape
    rows = int(block_rows) if block_rows else default_block_rows(ngroups, nx)
    max_rows = min(rows + 2 * halo, ny)
    networks = tp.make_networks(ngroups - 1, nx)
    dt, inv_dt = tp.time_steps(times_s)
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
                np.ascontiguousarray(gain[blk.start : blk.stop]), nframes, jump, networks, first_row, last_row,
                masks[:nrows], has_mask[:nrows], row_jumps[:nrows], max(1, min(nrows, 8 * numba.get_num_threads())),
            )  # fmt: skip
        if jump.flag_neighbours and has_mask[:nrows].any():
            jk.flag_neighbour_rows(gdq, first_row, last_row, masks[:nrows], has_mask[:nrows])
        total += int(row_jumps[first_row:last_row].sum())
        groupdq[:, blk.interior] = gdq[:, first_row:last_row]
    return total


def _detect_across_integrations(data, groupdq, read_noise, gain, times_s, nframes, jump, halo, data_offset,
                                block_rows) -> int:  # fmt: skip
    """Search 2-group integrations together, a block of rows (of every integration) at a time."""
    nints, ngroups, ny, nx = data.shape
    rows = int(block_rows) if block_rows else default_block_rows(nints * ngroups, nx)
    max_rows = min(rows + 2 * halo, ny)
    size = nints * ngroups * max_rows * nx
    buffer = np.empty(size, dtype=np.float32)
    gdq_buffer = np.empty(size, dtype=np.uint8)
    spread_buffer = np.empty(size, dtype=np.uint8)
    row_jumps = np.zeros(max_rows, dtype=np.int64)
    total = 0
    for blk in plan_blocks(ny, rows, halo):
        nrows = blk.stop - blk.start
        shape = (nints, ngroups, nrows, nx)
        count = nints * ngroups * nrows * nx
        block = buffer[:count].reshape(shape)
        gdq = gdq_buffer[:count].reshape(shape)
        spread = spread_buffer[:count].reshape(shape)
        for integration in range(nints):
            convert_rows(data[integration], blk.start, data_offset, block[integration])
        gdq[...] = groupdq[:, :, blk.start : blk.stop]
        first_row, last_row = blk.halo_top, nrows - blk.halo_bottom
        jk.detect_pooled_rows(
            block, gdq, times_s, np.ascontiguousarray(read_noise[blk.start : blk.stop]),
            np.ascontiguousarray(gain[blk.start : blk.stop]), nframes, jump, first_row, last_row, spread,
            row_jumps[:nrows],
        )  # fmt: skip
        if jump.flag_neighbours and spread.any():
            jk.flag_pooled_neighbour_rows(gdq, first_row, last_row, spread)
        total += int(row_jumps[first_row:last_row].sum())
        groupdq[:, :, blk.interior] = gdq[:, :, first_row:last_row]
    return total
