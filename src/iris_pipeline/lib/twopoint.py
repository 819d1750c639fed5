"""Numba kernels of two-point-difference jump detection (stcal ``jump.twopoint_difference``).

The arithmetic per pixel follows stcal for a single integration:

* first differences ``d_k = (y[k+1] - y[k]) / dt_k`` (DN/s) of groups that are neither
  ``SATURATED`` nor ``DO_NOT_USE`` (other flags, ``JUMP_DET`` included, do not mask a group);
* noise of a difference ``sigma_k = sqrt(|median| * dt_k / gain + 2 * read_noise**2 / nframes) / dt_k``;
* with at least ``MIN_DIFFS_SINGLE_PASS`` differences, one pass flags every difference with
  ``|d_k - median(d)| / sigma_k`` above the rejection threshold;
* with fewer, stcal's iteration on ``|d|``: the median of ``|d|`` without its largest value(s)
  (all of 3 values; the smaller of 2), the largest ratio ``||d_k| - median| / sigma_k`` is compared
  with the threshold for the number of usable differences (rejection threshold for 4 or more,
  ``four_group`` for 3, ``three_group`` for 2), the difference(s) at that ratio are flagged and
  masked, and the search is repeated;
* a primary jump whose ratio ``|d_k - median(d)| / sigma_k`` lies strictly between the minimum and
  maximum for neighbour flagging also flags the same group of the 4 adjacent pixels unless that
  group is ``SATURATED`` or ``DO_NOT_USE``.

``JUMP_DET`` goes on the group after the jump (the first group containing the new charge).

Clean pixels (no group flag at all) of a row are handled a tile of columns at a time: the
differences are written into a small (ndiffs, tile) array and sorted by a sorting network applied
to whole rows of that array, which the compiler turns into SIMD min/max over pixels. Only pixels
with flags, or whose clean-path test finds a jump, take the per-pixel scalar path.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numba
import numpy as np
from numba.core import types
from numba.extending import overload

from .. import dqflags

DO_NOT_USE = np.uint8(dqflags.GROUP["DO_NOT_USE"])
SATURATED = np.uint8(dqflags.GROUP["SATURATED"])
JUMP_DET = np.uint8(dqflags.GROUP["JUMP_DET"])
UNUSABLE = np.uint8(dqflags.GROUP["DO_NOT_USE"] | dqflags.GROUP["SATURATED"])


class RampRows(NamedTuple):
    """Rows ``row0`` to ``row0 + nrows - 1`` of a stored ramp, read in place: the kernels' block of rows.

    ``data`` is the whole (ngroups, ny, nx) integration, C-contiguous, of any native numeric type (a
    raw uint16 read, for instance); a sample is ``float32(data + offset)`` DN, the value the float32
    conversion of :func:`iris_pipeline.lib.blocks.convert_rows` gives. Reading the stored integers
    in place saves writing and reading back a float32 copy (3 times the bytes of a uint16 ramp).
    Kernels also accept a plain float32 (ngroups, nrows, nx) block.
    """

    data: np.ndarray
    row0: int
    nrows: int
    offset: float


def block_shape(block):
    """(ngroups, nrows, nx) of a block of rows: a float32 array or :class:`RampRows`."""


def group_row(block, group, row):
    """The stored samples of ``row`` (block row) in ``group``: convert them with :func:`to_dn`."""


def to_dn(block, value):
    """A stored sample of ``block`` as float32 DN."""


@overload(block_shape)
def _block_shape(block):
    if isinstance(block, types.Array):
        return lambda block: block.shape
    return lambda block: (block.data.shape[0], block.nrows, block.data.shape[2])


@overload(group_row)
def _group_row(block, group, row):
    if isinstance(block, types.Array):
        return lambda block, group, row: block[group, row]
    return lambda block, group, row: block.data[group, block.row0 + row]


@overload(to_dn)
def _to_dn(block, value):
    if isinstance(block, types.Array):
        return lambda block, value: value
    if block.types[block.fields.index("offset")] == types.float32:
        # Set by ramp_rows only where the float32 sum is exact (see there).
        return lambda block, value: np.float32(value) + block.offset
    return lambda block, value: np.float32(np.float64(value) + block.offset)


def ramp_rows(data: np.ndarray, row0: int, nrows: int, offset: float) -> RampRows:
    """:class:`RampRows` of C-contiguous native ``data``, its offset typed for the fastest exact conversion.

    Integers of up to 16 bits plus an integral offset of at most 2**23, and float32 without offset,
    convert exactly in float32 arithmetic (the sum is an integer below 2**24, or the value itself),
    which is the float64 sum rounded to float32 that other blocks get, at twice the SIMD width.
    """
    offset = float(offset)
    exact_in_float32 = (data.dtype.kind in "ui" and data.dtype.itemsize <= 2 and offset.is_integer()
                        and abs(offset) <= 2**23) or (data.dtype == np.float32 and offset == 0.0)  # fmt: skip
    return RampRows(data, int(row0), int(nrows), np.float32(offset) if exact_in_float32 else offset)


class JumpSettings(NamedTuple):
    """Thresholds of the two-point search, sigma (a numba named tuple: fields are read by name)."""

    rejection: float
    """Threshold for 4 or more usable differences, and of the single pass."""
    three_group: float
    """Threshold for 2 usable differences (stcal's ``three_group_rejection_threshold``)."""
    four_group: float
    """Threshold for 3 usable differences (stcal's ``four_group_rejection_threshold``)."""
    neighbour_min: float
    neighbour_max: float
    """A jump whose ratio lies strictly between these also flags the 4 neighbours ..."""
    flag_neighbours: bool
    """... when this is set."""


class SortingNetworks(NamedTuple):
    """Comparator index arrays for a tile's medians of differences and sorts of their absolute values."""

    median_first: np.ndarray
    median_second: np.ndarray
    abs_first: np.ndarray
    abs_second: np.ndarray
    tile: int
    """Columns per tile."""


def make_jump_settings(rejection, three_group, four_group, neighbour_min, neighbour_max, flag_neighbours):
    """A :class:`JumpSettings` with the numeric types the kernels are compiled for."""
    return JumpSettings(float(rejection), float(three_group), float(four_group), float(neighbour_min),
                        float(neighbour_max), bool(flag_neighbours))  # fmt: skip


def make_networks(ndiffs: int, nx: int) -> SortingNetworks:
    """The sorting networks and tile width for ``ndiffs`` differences per pixel and rows of ``nx`` columns."""
    return SortingNetworks(*sorting_network(ndiffs, True), *sorting_network(ndiffs, False), tile_columns(ndiffs, nx))


MIN_DIFFS_SINGLE_PASS = 10
"""stcal's ``min_diffs_single_pass``: from this many differences on, one pass without iteration."""

MIN_GROUPS = 3
"""stcal's ``minimum_groups``: no detection in ramps of fewer groups."""

SUBTILE = 64
"""Columns a sorting-network pass works on at once; (ndiffs x SUBTILE) float32 stays in L1."""

TILE_BYTES = 192 * 1024
"""Target size of one (ndiffs, tile) float32 work array, so that a tile's arrays stay in L2."""


# ----------------------------------------------------------------------------------------------
# Sorting networks
# ----------------------------------------------------------------------------------------------


def _batcher_pairs(n: int) -> list[tuple[int, int]]:
    """Comparators of Batcher's odd-even merge sort for ``n`` values (padded to a power of two).

    Comparators that touch a padding position are dropped: padding holds +inf, so they never swap.
    """
    size = 1
    while size < n:
        size *= 2
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return [(a, b) for a, b in pairs if b < n]


@functools.lru_cache(maxsize=64)
def sorting_network(n: int, median_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Comparator index arrays sorting ``n`` values, or only placing the median pair correctly.

    With ``median_only``, comparators that cannot influence positions ``(n-1)//2`` and ``n//2`` are
    removed (about 20 % fewer for 99 values).
    """
    pairs = _batcher_pairs(n)
    if median_only and n > 0:
        needed = {(n - 1) // 2, n // 2}
        kept = []
        for a, b in reversed(pairs):
            if a in needed or b in needed:
                kept.append((a, b))
                needed.update((a, b))
        pairs = kept[::-1]
    first = np.array([a for a, _ in pairs], dtype=np.int64)
    second = np.array([b for _, b in pairs], dtype=np.int64)
    return first, second


def tile_columns(ndiffs: int, nx: int) -> int:
    """Columns per tile: a multiple of SUBTILE with an (ndiffs, tile) float32 array near TILE_BYTES."""
    columns = TILE_BYTES // (4 * max(ndiffs, 1))
    columns = max(SUBTILE, (columns // SUBTILE) * SUBTILE)
    return min(columns, max(nx, 1))


@numba.njit(nogil=True, cache=True, fastmath=True, error_model="numpy")
def sort_columns(work, first, second, ncols):
    """Apply a sorting network to each column ``work[:, c]``, ``c < ncols`` (min goes to the lower row)."""
    # Indices from 0 in every inner loop: numba's negative-index handling would stop vectorization.
    for start in range(0, ncols, SUBTILE):
        stop = min(start + SUBTILE, ncols)
        width = stop - start
        for q in range(first.shape[0]):
            low = work[first[q], start:stop]
            high = work[second[q], start:stop]
            if width == SUBTILE:
                # A constant trip count lets the compiler unroll into whole SIMD registers.
                for c in range(SUBTILE):
                    a = low[c]
                    b = high[c]
                    low[c] = min(a, b)
                    high[c] = max(a, b)
            else:
                for c in range(width):
                    a = low[c]
                    b = high[c]
                    low[c] = min(a, b)
                    high[c] = max(a, b)


# ----------------------------------------------------------------------------------------------
# Small per-pixel helpers
# ----------------------------------------------------------------------------------------------


@numba.njit(nogil=True, cache=True, error_model="numpy")
def median_of_sorted(values, count):
    """Median of ``values[:count]``, already sorted; NaN when ``count`` is 0."""
    if count <= 0:
        return np.nan
    half = count // 2
    if count % 2 == 1:
        return values[half]
    return 0.5 * (values[half - 1] + values[half])


@numba.njit(nogil=True, cache=True, error_model="numpy")
def select_inplace(values, count, k):
    """The k-th smallest of ``values[:count]`` (Wirth's selection, reordering them): afterwards
    ``values[:k]`` are all <= ``values[k]``."""
    low = 0
    high = count - 1
    while low < high:
        pivot = values[k]
        i = low
        j = high
        while i <= j:
            while values[i] < pivot:
                i += 1
            while pivot < values[j]:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if j < k:
            low = i
        if k < i:
            high = j
    return values[k]


@numba.njit(nogil=True, cache=True, error_model="numpy")
def nanmedian_inplace(values, count):
    """Median of the finite values among ``values[:count]`` (reordered in place); NaN if none."""
    used = 0
    for i in range(count):
        v = values[i]
        if math.isfinite(v):
            values[used] = v
            used += 1
    if used == 0:
        return np.nan
    half = used // 2
    upper = select_inplace(values, used, half)
    if used % 2 == 1:
        return upper
    lower = values[0]
    for i in range(1, half):
        lower = max(lower, values[i])
    return 0.5 * (lower + upper)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def difference_sigma(median_dn_s, dt_s, gain_e_per_dn, read_var_diff_dn2):
    """Noise of one first difference, DN/s (stcal: Poisson noise of the median rate plus read noise)."""
    sigma = math.sqrt(abs(median_dn_s) * dt_s / gain_e_per_dn + read_var_diff_dn2) / dt_s
    if sigma == 0.0:
        return np.nan
    return sigma


# ----------------------------------------------------------------------------------------------
# Scalar path: one pixel, any flags
# ----------------------------------------------------------------------------------------------


@numba.njit(nogil=True, cache=True, error_model="numpy")
def detect_differences(ndiffs, gain_e_per_dn, read_var_diff_dn2, jump, scratch, hits, spreads):
    """Two-point search over one pixel's first differences (of one integration, or pooled over several).

    Parameters
    ----------
    ndiffs : int
        Number of differences.
    gain_e_per_dn, read_var_diff_dn2 : float
        Gain, e-/DN; read-noise variance of a difference, DN^2.
    jump : JumpSettings
        Thresholds.
    scratch : np.ndarray
        float64 (4, >= ndiffs): on entry ``scratch[2]`` the differences, DN/s (NaN where unusable) and
        ``scratch[3]`` the time each spans, s; rows 0 and 1 are work space.
    hits, spreads : np.ndarray
        uint8 (>= ndiffs) outputs: 1 for a difference flagged as a jump, and for one whose jump also
        flags the 4 neighbours.

    Returns
    -------
    int
        Number of jumps.
    """
    values = scratch[0]
    work = scratch[1]
    signed = scratch[2]
    dts = scratch[3]
    for k in range(ndiffs):
        hits[k] = 0
        spreads[k] = 0
        work[k] = signed[k]
    read_var_diff = read_var_diff_dn2
    median_all = nanmedian_inplace(work, ndiffs)
    njumps = 0
    if ndiffs >= MIN_DIFFS_SINGLE_PASS:
        for k in range(ndiffs):
            if math.isfinite(signed[k]):
                sigma = difference_sigma(median_all, dts[k], gain_e_per_dn, read_var_diff)
                if abs(signed[k] - median_all) / sigma > jump.rejection:
                    hits[k] = 1
                    njumps += 1
    else:
        # stcal's iterative search works on |d|; a flagged difference is masked for the next round.
        for k in range(ndiffs):
            values[k] = abs(signed[k])
        for _ in range(ndiffs):
            count = 0
            largest = -np.inf
            for k in range(ndiffs):
                if math.isfinite(values[k]):
                    count += 1
                    largest = max(largest, values[k])
            if count < 2:
                break
            kept = 0
            for k in range(ndiffs):
                v = values[k]
                if math.isfinite(v) and not (count >= 4 and v == largest):
                    work[kept] = v
                    kept += 1
            if count == 2:
                median_iter = min(work[0], work[1])
            else:
                median_iter = nanmedian_inplace(work, kept)
            max_ratio = -1.0
            for k in range(ndiffs):
                if math.isfinite(values[k]):
                    sigma = difference_sigma(median_iter, dts[k], gain_e_per_dn, read_var_diff)
                    ratio = abs(values[k] - median_iter) / sigma
                    work[k] = ratio
                    if ratio > max_ratio:
                        max_ratio = ratio
                else:
                    work[k] = np.nan
            if count >= 4:
                threshold = jump.rejection
            elif count == 3:
                threshold = jump.four_group
            else:
                threshold = jump.three_group
            if not max_ratio > threshold:
                break
            for k in range(ndiffs):
                if work[k] == max_ratio:
                    hits[k] = 1
                    values[k] = np.nan
                    njumps += 1
    if jump.flag_neighbours and njumps > 0:
        for k in range(ndiffs):
            if hits[k]:
                sigma = difference_sigma(median_all, dts[k], gain_e_per_dn, read_var_diff)
                if jump.neighbour_min < abs(signed[k] - median_all) / sigma < jump.neighbour_max:
                    spreads[k] = 1
    return njumps


@numba.njit(nogil=True, cache=True, error_model="numpy")
def detect_pixel(ramp_dn, flags, times_s, read_noise_dn, gain_e_per_dn, nframes, jump, scratch, primary, spread):
    """Detect jumps in one pixel's ramp.

    Parameters
    ----------
    ramp_dn : np.ndarray
        float64 (ngroups,) ramp, DN.
    flags : np.ndarray
        uint8 (ngroups,) group flags (only SATURATED and DO_NOT_USE are read).
    times_s : np.ndarray
        float64 (ngroups,) mean time of each group, s.
    read_noise_dn, gain_e_per_dn : float
        Noise of one read, DN; gain, e-/DN.
    nframes : int
        Reads averaged per group.
    jump : JumpSettings
        Thresholds and neighbour flagging.
    scratch : np.ndarray
        float64 scratch, (4, >= ngroups).
    primary, spread : np.ndarray
        uint8 (ngroups,) outputs: 1 where the group gets a primary jump flag, and where that jump
        also flags the 4 neighbours.

    Returns
    -------
    int
        Number of primary jumps.
    """
    ngroups = ramp_dn.shape[0]
    primary[0] = 0
    spread[0] = 0
    if ngroups < MIN_GROUPS or not gain_e_per_dn > 0.0:
        for k in range(ngroups):
            primary[k] = 0
            spread[k] = 0
        return 0
    ndiffs = ngroups - 1
    for k in range(ndiffs):
        scratch[3, k] = times_s[k + 1] - times_s[k]
        if (flags[k] | flags[k + 1]) & UNUSABLE:
            scratch[2, k] = np.nan
        else:
            scratch[2, k] = (ramp_dn[k + 1] - ramp_dn[k]) / scratch[3, k]
    # Difference k ends in group k + 1, the group that gets the flag.
    read_var_diff = 2.0 * read_noise_dn * read_noise_dn / nframes
    return detect_differences(ndiffs, gain_e_per_dn, read_var_diff, jump, scratch, primary[1:], spread[1:])


# ----------------------------------------------------------------------------------------------
# Clean-pixel tile path
# ----------------------------------------------------------------------------------------------


@numba.njit(nogil=True, cache=True, fastmath=True, error_model="numpy")
def load_differences(block, row, col0, ncols, inv_dt, diffs):
    """``diffs[k, c] = (block[k+1, row, col0+c] - block[k, row, col0+c]) / dt_k`` (float32, DN/s)."""
    for k in range(diffs.shape[0]):
        upper = group_row(block, k + 1, row)[col0 : col0 + ncols]
        lower = group_row(block, k, row)[col0 : col0 + ncols]
        out = diffs[k]
        scale = inv_dt[k]
        for c in range(ncols):
            out[c] = (to_dn(block, upper[c]) - to_dn(block, lower[c])) * scale


@numba.njit(nogil=True, cache=True, error_model="numpy")
def clean_columns(groupdq, row, col0, ncols, clean):
    """``clean[c]`` = no flag in any group of pixel ``(row, col0 + c)``."""
    for c in range(ncols):
        clean[c] = 0
    for k in range(groupdq.shape[0]):
        flags = groupdq[k, row, col0 : col0 + ncols]
        for c in range(ncols):
            clean[c] |= flags[c]
    for c in range(ncols):
        clean[c] = clean[c] == 0


@numba.njit(nogil=True, cache=True, fastmath=True, error_model="numpy")
def medians_of_columns(diffs, first, second, ncols, medians):
    """Median of each column of ``diffs`` (sorted in place by a median-selection network)."""
    ndiffs = diffs.shape[0]
    sort_columns(diffs, first, second, ncols)
    lower = diffs[(ndiffs - 1) // 2]
    upper = diffs[ndiffs // 2]
    for c in range(ncols):
        medians[c] = 0.5 * (lower[c] + upper[c])


@numba.njit(nogil=True, cache=True, error_model="numpy")
def noise_terms(medians, gain, read_noise, nframes, ncols, terms):
    """Per column, ``terms[0] = |median| / gain`` and ``terms[1] = 2 read_noise**2 / nframes``: the variance
    of a difference over ``dt`` is ``terms[0] * dt + terms[1]`` (DN^2), as in :func:`difference_sigma`."""
    for c in range(ncols):
        terms[0, c] = abs(medians[c]) / gain[c]
        terms[1, c] = np.float32(2.0) * read_noise[c] * read_noise[c] / np.float32(nframes)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def single_pass_candidates(block, row, col0, ncols, dt, medians, terms, threshold, found):
    """``found[c]`` = some difference of pixel ``col0 + c`` deviates from its median by > threshold sigma.

    ``terms`` from :func:`noise_terms`; squares are compared, without square roots or divisions.
    """
    threshold2 = np.float32(threshold * threshold)
    for c in range(ncols):
        found[c] = 0
    for k in range(dt.shape[0]):
        upper = group_row(block, k + 1, row)[col0 : col0 + ncols]
        lower = group_row(block, k, row)[col0 : col0 + ncols]
        step = dt[k]
        for c in range(ncols):
            deviation = (to_dn(block, upper[c]) - to_dn(block, lower[c])) - medians[c] * step
            found[c] |= deviation * deviation > threshold2 * (terms[0, c] * step + terms[1, c])


@numba.njit(nogil=True, cache=True, fastmath=True, error_model="numpy")
def absolute_values(diffs, ncols, out):
    for k in range(diffs.shape[0]):
        for c in range(ncols):
            out[k, c] = abs(diffs[k, c])


@numba.njit(nogil=True, cache=True, error_model="numpy")
def iterative_candidates(abs_sorted, diffs, ncols, dt, gain, read_noise, nframes, jump, medians, terms, found):
    """First round of stcal's iterative search for clean pixels: ``found[c]`` = a jump would be flagged.

    ``abs_sorted[:, c]`` holds the sorted ``|d|`` of column ``c`` of the tile, ``diffs[:, c]`` the signed
    differences (DN/s) in group order; ``gain`` and ``read_noise`` are the tile's columns. Squared
    ratios are compared, with the sigma of :func:`difference_sigma`.
    """
    ndiffs = abs_sorted.shape[0]
    if ndiffs >= 4:
        threshold = jump.rejection
    elif ndiffs == 3:
        threshold = jump.four_group
    else:
        threshold = jump.three_group
    threshold2 = np.float32(threshold * threshold)
    # Median of |d| without its largest value(s) (all of 3; the smaller of 2), as stcal's calc_med_first_diffs.
    for c in range(ncols):
        kept = ndiffs
        if ndiffs >= 4:
            largest = abs_sorted[ndiffs - 1, c]
            while kept > 0 and abs_sorted[kept - 1, c] == largest:
                kept -= 1
        if kept == 0:
            medians[c] = np.nan
        elif ndiffs == 2:
            medians[c] = abs_sorted[0, c]
        elif kept % 2 == 1:
            medians[c] = abs_sorted[kept // 2, c]
        else:
            medians[c] = 0.5 * (abs_sorted[kept // 2 - 1, c] + abs_sorted[kept // 2, c])
        found[c] = 0
    noise_terms(medians, gain, read_noise, nframes, ncols, terms)
    for k in range(ndiffs):
        step = dt[k]
        values = diffs[k]
        for c in range(ncols):
            deviation = (abs(values[c]) - medians[c]) * step
            found[c] |= deviation * deviation > threshold2 * (terms[0, c] * step + terms[1, c])


# ----------------------------------------------------------------------------------------------
# Neighbour masks: per pixel, which groups spread their jump flag (bit k % 64 of masks[row, col, k // 64])
# ----------------------------------------------------------------------------------------------


@numba.njit(nogil=True, cache=True, error_model="numpy")
def store_mask(masks, row, col, bits):
    for w in range(masks.shape[2]):
        masks[row, col, w] = 0
    for k in range(bits.shape[0]):
        if bits[k]:
            masks[row, col, k // 64] |= np.uint64(1) << np.uint64(k % 64)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def neighbour_flags(masks, has_mask, row, col, nrows, nx, flags_in, new_flags):
    """Flags from the jumps of the 4 neighbours of ``(row, col)`` on groups not SATURATED/DO_NOT_USE.

    ``new_flags[k]`` = 1 for groups that gain ``JUMP_DET`` (not already flagged). Returns their number.
    """
    ngroups = new_flags.shape[0]
    for k in range(ngroups):
        new_flags[k] = 0
    found = 0
    for d in range(4):
        r = row + (-1, 1, 0, 0)[d]
        c = col + (0, 0, -1, 1)[d]
        if r < 0 or r >= nrows or c < 0 or c >= nx or not has_mask[r, c]:
            continue
        for k in range(ngroups):
            if (masks[r, c, k // 64] >> np.uint64(k % 64)) & np.uint64(1):
                if not flags_in[k] & (UNUSABLE | JUMP_DET) and not new_flags[k]:
                    new_flags[k] = 1
                    found += 1
    return found


# ----------------------------------------------------------------------------------------------
# Per-tile and per-pixel steps shared by the detection pass below and the fused fit
# ----------------------------------------------------------------------------------------------


@numba.njit(nogil=True, cache=True, error_model="numpy")
def screen_tile(
    block, row, col0, ncols, diffs, dt, gain, read_noise, nframes, jump, searched, need_medians, networks, abs_diffs,
    medians, abs_medians, terms, found,
):  # fmt: skip
    """Clean-pixel jump candidates of a tile (if ``searched``) and the medians of its first differences
    (if ``need_medians``, or for the single-pass search, which needs them).

    ``diffs`` holds the differences (DN/s) in group order on entry (sorted columns on exit if the
    medians were computed); ``gain`` and ``read_noise`` are the tile's columns. ``found[c]`` = the
    pixel needs the scalar search.
    """
    ndiffs = diffs.shape[0]
    single_pass = ndiffs >= MIN_DIFFS_SINGLE_PASS
    if searched and not single_pass:
        absolute_values(diffs, ncols, abs_diffs)
        sort_columns(abs_diffs, networks.abs_first, networks.abs_second, ncols)
        iterative_candidates(abs_diffs, diffs, ncols, dt, gain, read_noise, nframes, jump, abs_medians, terms, found)
    if need_medians or (searched and single_pass):
        medians_of_columns(diffs, networks.median_first, networks.median_second, ncols, medians)
    if searched and single_pass:
        noise_terms(medians, gain, read_noise, nframes, ncols, terms)
        single_pass_candidates(block, row, col0, ncols, dt, medians, terms, jump.rejection, found)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def load_pixel(block, groupdq, has_groupdq, row, col, ramp, flags):
    """One pixel's ramp (float64) and group flags (0 without ``groupdq``)."""
    for k in range(block_shape(block)[0]):
        ramp[k] = to_dn(block, group_row(block, k, row)[col])
        flags[k] = groupdq[k, row, col] if has_groupdq else np.uint8(0)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def search_pixel(block, groupdq, row, col, times_s, read_noise, gain, nframes, jump, ramp, flags, work,
                 primary, spread, masks, has_mask):  # fmt: skip
    """Scalar search of pixel ``(row, col)``; stores its neighbour mask. Returns the number of primary jumps."""
    load_pixel(block, groupdq, True, row, col, ramp, flags)
    njumps = detect_pixel(ramp, flags, times_s, read_noise, gain, nframes, jump, work, primary, spread)
    if njumps:
        for k in range(ramp.shape[0]):
            if spread[k]:
                store_mask(masks, row, col, spread)
                has_mask[row, col] = 1
                break
    return njumps


@numba.njit(nogil=True, cache=True, error_model="numpy")
def near_spreading_jump(has_mask, row, col):
    nrows, nx = has_mask.shape
    return (
        (row > 0 and has_mask[row - 1, col])
        or (row + 1 < nrows and has_mask[row + 1, col])
        or (col > 0 and has_mask[row, col - 1])
        or (col + 1 < nx and has_mask[row, col + 1])
    )


def time_steps(times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 time between consecutive groups and its inverse (ones for a single group)."""
    dt = np.diff(times_s).astype(np.float32) if times_s.size > 1 else np.ones(1, np.float32)
    return dt, (1.0 / dt).astype(np.float32)
