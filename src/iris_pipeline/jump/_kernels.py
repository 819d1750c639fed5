"""Numba passes of the standalone jump detection; the per-pixel and per-tile kernels they share with
the fused ramp fit are in :mod:`iris_pipeline.lib.twopoint`.

* :func:`detect_rows` then :func:`flag_neighbour_rows`: one integration of at least
  ``MIN_GROUPS`` groups (stcal's two-point search within the integration);
* :func:`detect_pooled_rows` then :func:`flag_pooled_neighbour_rows`: integrations too short for a
  search of their own (2 groups, CDS), searched together as stcal does: the first differences of
  every integration of a pixel form one set, with one median and one iterative (fewer than
  ``MIN_DIFFS_SINGLE_PASS`` differences) or single-pass search.
"""

from __future__ import annotations

import numba
import numpy as np

from ..lib import twopoint as tp

JUMP_DET = tp.JUMP_DET
UNUSABLE = tp.UNUSABLE


@numba.njit(nogil=True, cache=True, error_model="numpy")
def detect_row(
    row, block, groupdq, times_s, dt, inv_dt, read_noise, gain, nframes, jump, networks, first_row, last_row, masks,
    has_mask, diffs, abs_diffs, medians, abs_medians, terms, found, clean, ramp, flags, work, primary, spread,
):  # fmt: skip
    """One row of :func:`detect_rows`; returns the primary jumps flagged in it (interior rows)."""
    ngroups, nrows, nx = block.shape
    interior = first_row <= row < last_row
    jumps = 0
    has_mask[row, :] = 0
    tile = networks.tile
    for col0 in range(0, nx, tile):
        ncols = min(tile, nx - col0)
        cols = slice(col0, col0 + ncols)
        tp.clean_columns(groupdq, row, col0, ncols, clean)
        tp.load_differences(block, row, col0, ncols, inv_dt, diffs)
        tp.screen_tile(
            block, row, col0, ncols, diffs, dt, gain[row, cols], read_noise[row, cols], nframes, jump, True, False,
            networks, abs_diffs, medians, abs_medians, terms, found,
        )  # fmt: skip
        for c in range(ncols):
            col = col0 + c
            if clean[c] and not found[c] and gain[row, col] > 0.0:
                continue
            njumps = tp.search_pixel(
                block, groupdq, row, col, times_s, read_noise[row, col], gain[row, col], nframes, jump, ramp,
                flags, work, primary, spread, masks, has_mask,
            )  # fmt: skip
            if njumps and interior:
                jumps += njumps
                for k in range(ngroups):
                    if primary[k]:
                        groupdq[k, row, col] |= JUMP_DET
    return jumps


@numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def detect_rows(
    block, groupdq, times_s, dt, inv_dt, read_noise, gain, nframes, jump, networks, first_row, last_row, masks,
    has_mask, row_jumps, nchunks,
):  # fmt: skip
    """Pass 1: primary detection in every row of the block (at least MIN_GROUPS groups); JUMP_DET
    written for rows ``first_row <= row < last_row`` (the interior), neighbour masks stored for all."""
    ngroups, nrows, nx = block.shape
    ndiffs = ngroups - 1
    tile = networks.tile
    for chunk in numba.prange(nchunks):
        # Work arrays once per chunk: allocated per row they would cost page faults.
        diffs = np.empty((ndiffs, tile), np.float32)
        abs_diffs = np.empty((ndiffs, tile), np.float32)
        medians = np.empty(tile, np.float32)
        abs_medians = np.empty(tile, np.float32)
        terms = np.empty((2, tile), np.float32)
        found = np.zeros(tile, np.uint8)
        clean = np.empty(tile, np.uint8)
        ramp = np.empty(ngroups, np.float64)
        flags = np.empty(ngroups, np.uint8)
        work = np.empty((4, ngroups), np.float64)
        primary = np.empty(ngroups, np.uint8)
        spread = np.empty(ngroups, np.uint8)
        for row in range(chunk * nrows // nchunks, (chunk + 1) * nrows // nchunks):
            row_jumps[row] = detect_row(
                row, block, groupdq, times_s, dt, inv_dt, read_noise, gain, nframes, jump, networks, first_row,
                last_row, masks, has_mask, diffs, abs_diffs, medians, abs_medians, terms, found, clean, ramp, flags,
                work, primary, spread,
            )  # fmt: skip


@numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def flag_neighbour_rows(groupdq, first_row, last_row, masks, has_mask):
    """Pass 2: JUMP_DET on the 4 neighbours of spreading jumps, for interior rows only."""
    ngroups, nrows, nx = groupdq.shape
    for row in numba.prange(first_row, last_row):
        flags = np.empty(ngroups, np.uint8)
        new_flags = np.empty(ngroups, np.uint8)
        for col in range(nx):
            if not tp.near_spreading_jump(has_mask, row, col):
                continue
            for k in range(ngroups):
                flags[k] = groupdq[k, row, col]
            if tp.neighbour_flags(masks, has_mask, row, col, nrows, nx, flags, new_flags):
                for k in range(ngroups):
                    if new_flags[k]:
                        groupdq[k, row, col] |= JUMP_DET


@numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def detect_pooled_rows(block, groupdq, times_s, read_noise, gain, nframes, jump, first_row, last_row, spread,
                       row_jumps):  # fmt: skip
    """Pass 1 of the search across integrations, over a block (nints, ngroups, nrows, nx) of rows.

    Every row is searched; JUMP_DET goes on the interior rows ``first_row <= row < last_row`` and
    ``spread`` (uint8, like ``groupdq``) marks, on every row, the groups whose jump also flags the
    4 neighbours. ``row_jumps[row]``: primary jumps flagged in the row.
    """
    nints, ngroups, nrows, nx = block.shape
    per_integration = ngroups - 1
    ndiffs = nints * per_integration
    for row in numba.prange(nrows):
        scratch = np.empty((4, ndiffs), np.float64)
        hits = np.empty(ndiffs, np.uint8)
        spreads = np.empty(ndiffs, np.uint8)
        interior = first_row <= row < last_row
        jumps = 0
        for col in range(nx):
            for i in range(nints):
                for k in range(ngroups):
                    spread[i, k, row, col] = 0
            g = np.float64(gain[row, col])
            if not g > 0.0:
                continue
            for i in range(nints):
                for k in range(per_integration):
                    d = i * per_integration + k
                    step = times_s[k + 1] - times_s[k]
                    scratch[3, d] = step
                    if (groupdq[i, k, row, col] | groupdq[i, k + 1, row, col]) & UNUSABLE:
                        scratch[2, d] = np.nan
                    else:
                        scratch[2, d] = (np.float64(block[i, k + 1, row, col]) - block[i, k, row, col]) / step
            rn = np.float64(read_noise[row, col])
            if tp.detect_differences(ndiffs, g, 2.0 * rn * rn / nframes, jump, scratch, hits, spreads) == 0:
                continue
            for d in range(ndiffs):
                if hits[d]:
                    i = d // per_integration
                    k = d % per_integration + 1
                    spread[i, k, row, col] = spreads[d]
                    if interior:
                        groupdq[i, k, row, col] |= JUMP_DET
                        jumps += 1
        row_jumps[row] = jumps


@numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def flag_pooled_neighbour_rows(groupdq, first_row, last_row, spread):
    """Pass 2 of the search across integrations: JUMP_DET on the 4 neighbours of spreading jumps
    (interior rows), on groups that are not SATURATED, DO_NOT_USE or already JUMP_DET."""
    nints, ngroups, nrows, nx = groupdq.shape
    for row in numba.prange(first_row, last_row):
        for col in range(nx):
            for i in range(nints):
                for k in range(ngroups):
                    if groupdq[i, k, row, col] & (UNUSABLE | JUMP_DET):
                        continue
                    if (
                        (row > 0 and spread[i, k, row - 1, col])
                        or (row + 1 < nrows and spread[i, k, row + 1, col])
                        or (col > 0 and spread[i, k, row, col - 1])
                        or (col + 1 < nx and spread[i, k, row, col + 1])
                    ):
                        groupdq[i, k, row, col] |= JUMP_DET
