"""Numba kernels of the optimally weighted OLS ramp fit (stcal OLS_C), fused with jump detection.

Per pixel and segment the arithmetic is stcal's ``slope_fitter.c`` (see :mod:`.ols` for the
description and the deliberate differences); times are the groups' mean times, so that unevenly
spaced groups are fitted correctly, which reduces to stcal's group-index arithmetic for even spacing.

Two paths give the same numbers:

* clean pixels (no group flag, usable gain, no jump) of a row are fitted a tile of columns at a
  time. Their single segment is the whole ramp, so the weighted slope is a fixed linear combination
  of the first differences for each of stcal's six weighting exponents, and its variances fixed
  multiples of the read variance and of the rate; the coefficients are precomputed
  (``ols._clean_ramp_tables``) and each pixel picks those of its signal-to-noise class. The median
  rate (for stcal's variances and for jump detection only) comes from a sorting network over the
  tile (see :mod:`iris_pipeline.lib.twopoint`);
* every other pixel goes through :func:`fit_pixel`, a scalar transcription of stcal's per-pixel code.

Settings, maps and outputs travel as named tuples (:class:`FitSettings`, :class:`PixelMaps`,
:class:`PixelNoise`, :class:`FitOutputs`, :class:`iris_pipeline.lib.twopoint.JumpSettings`): the
kernels read their fields by name, so arguments given in the wrong order do not compile.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from .. import dqflags
from ..lib import twopoint as tp

DO_NOT_USE = np.uint8(dqflags.GROUP["DO_NOT_USE"])
SATURATED = np.uint8(dqflags.GROUP["SATURATED"])
JUMP_DET = np.uint8(dqflags.GROUP["JUMP_DET"])
PERSISTENCE = np.uint8(dqflags.GROUP["PERSISTENCE"])
NOT_PERSISTENCE = np.uint8(0xFF ^ dqflags.GROUP["PERSISTENCE"])
UNUSABLE = np.uint8(dqflags.GROUP["DO_NOT_USE"] | dqflags.GROUP["SATURATED"])
PIXEL_DO_NOT_USE = np.uint32(dqflags.PIXEL["DO_NOT_USE"])
PIXEL_SATURATED = np.uint32(dqflags.PIXEL["SATURATED"])
PIXEL_JUMP_DET = np.uint32(dqflags.PIXEL["JUMP_DET"])
PIXEL_PERSISTENCE = np.uint32(dqflags.PIXEL["PERSISTENCE"])
PIXEL_NO_GAIN = np.uint32(dqflags.PIXEL["NO_GAIN_VALUE"] | dqflags.PIXEL["DO_NOT_USE"])
PIXEL_INVALID = np.uint32(dqflags.PIXEL["DO_NOT_USE"] | dqflags.PIXEL["SATURATED"])

SNR_LIMITS = (5.0, 10.0, 20.0, 50.0, 100.0)
"""stcal's segment signal-to-noise classes ..."""
POWERS = (0.0, 0.4, 1.0, 3.0, 6.0, 10.0)
"""... and the exponent of the Fixsen et al. (2000) weights in each class."""
NCLASSES = len(POWERS)

ACCUMULATE_COLUMNS = 4096
"""Columns of a tile accumulated at once: long runs of each group's row keep the reads streaming
(4096: 10 % less time than 1024 and 15 % less than 256 for 100 groups; slopes and classes stay in L2)."""

# Indices into the float64 `timing` array built by ols.py: stcal's one-group time (mean time of the
# first group) and group time (time between the first two groups), for single-group segments.
T_ONE_GROUP, T_GROUP = 0, 1


class FitSettings(NamedTuple):
    """Everything the fit needs that does not depend on the pixel (built by :mod:`.ols`)."""

    times_s: np.ndarray
    """float64 (ngroups,) mean time of each group, s."""
    dt: np.ndarray
    inv_dt: np.ndarray
    """float32 (ngroups - 1,) time between consecutive groups, s, and its inverse."""
    timing: np.ndarray
    """float64 [one-group time, group time], s (indices T_ONE_GROUP, T_GROUP)."""
    coefficients: np.ndarray
    """float32 (NCLASSES, ngroups - 1) slope coefficients of the first differences of a clean ramp."""
    variance_factors: np.ndarray
    """float64 (2, NCLASSES) read-noise and Poisson variance factors of a clean ramp."""
    nframes: int
    """Reads averaged per group."""
    suppress_one_group: bool
    exact: bool
    """Variances of the computed slope (True) or stcal's formulas."""
    detect: bool
    """Search jumps in the same pass."""


class PixelMaps(NamedTuple):
    """Per-pixel inputs of a block of rows."""

    read_noise: np.ndarray
    """float32 (nrows, nx) noise of one read, DN; (1, nx): the same for every row (:func:`map_row`)."""
    gain: np.ndarray
    """float32 (nrows or 1, nx) e-/DN."""
    dark: np.ndarray
    """float32 (nrows or 1, nx) dark current subtracted from the ramp, DN/s (its shot noise is in var_poisson)."""
    pixeldq: np.ndarray
    """uint32 (nrows, nx) pixel flags (read only when has_pixeldq)."""
    has_pixeldq: bool
    groupdq: np.ndarray
    """uint8 (ngroups, nrows, nx) group flags (read only when has_groupdq); JUMP_DET is added in place."""
    has_groupdq: bool


class PixelNoise(NamedTuple):
    """Noise model of one pixel."""

    read_noise_dn: float
    gain_e_per_dn: float
    dark_dn_s: float


class FitOutputs(NamedTuple):
    """(rows, nx) outputs: float32 slope (DN/s), err, var_p, var_r ((DN/s)^2) and uint32 dq."""

    slope: np.ndarray
    err: np.ndarray
    var_p: np.ndarray
    var_r: np.ndarray
    dq: np.ndarray


class NeighbourMasks(NamedTuple):
    """Per pixel, the groups whose jump flags the 4 neighbours (bit k % 64 of masks[row, col, k // 64])."""

    masks: np.ndarray
    has_mask: np.ndarray


@numba.njit(nogil=True, cache=True)
def map_row(values, row):
    """Row ``row`` of a per-pixel map; a map of a single row serves every row (a constant value)."""
    return values[row if values.shape[0] > 1 else 0]


@numba.njit(nogil=True, cache=True, error_model="numpy")
def pixel_noise(maps, row, col):
    return PixelNoise(np.float64(map_row(maps.read_noise, row)[col]), np.float64(map_row(maps.gain, row)[col]),
                      np.float64(map_row(maps.dark, row)[col]))  # fmt: skip


@numba.njit(nogil=True, cache=True, error_model="numpy")
def pixel_flags(maps, row, col):
    return maps.pixeldq[row, col] if maps.has_pixeldq else np.uint32(0)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def snr_class(signal_dn, gain_e_per_dn, read_var_e2):
    """stcal's segment S/N class: ``signal * gain / sqrt(read_noise_e**2 + signal * gain)`` -> 0..5."""
    den = read_var_e2 + signal_dn * gain_e_per_dn
    if den <= 0.0 or gain_e_per_dn == 0.0:
        return 0
    snr = signal_dn * gain_e_per_dn / math.sqrt(den)
    level = 0
    for limit in SNR_LIMITS:
        if snr >= limit:
            level += 1
    return level


# ----------------------------------------------------------------------------------------------
# Scalar path
# ----------------------------------------------------------------------------------------------


@numba.njit(nogil=True, cache=True, error_model="numpy")
def fit_segment(ramp_dn, times_s, start, stop, gain, read_var_e2, weights):
    """Optimally weighted slope of groups ``start .. stop-1`` (at least 2), DN/s, and its noise factors.

    Returns ``(slope, q_read, q_poisson)``: writing the slope as ``sum_k c_k y_k``, ``q_read = sum(c**2)``
    (read-noise variance per group read variance) and ``q_poisson = sum_j dt_j (sum_{k>j} c_k)**2``
    (Poisson variance per DN/s of rate per e-/DN of gain), the variance of the slope actually computed.
    ``weights`` is scratch of at least ``stop - start`` values.
    """
    length = stop - start
    span = times_s[stop - 1] - times_s[start]
    if length == 2:
        return (ramp_dn[start + 1] - ramp_dn[start]) / span, 2.0 / (span * span), 1.0 / span
    power = POWERS[snr_class(ramp_dn[stop - 1] - ramp_dn[start], gain, read_var_e2)]
    mid = 0.5 * span
    sum_w = sum_x = sum_xx = sum_y = sum_xy = 0.0
    for k in range(start, stop):
        x = times_s[k] - times_s[start]
        # stcal evaluates the weight with powf (single precision); 0**0 is 1.
        weight = 1.0 if power == 0.0 else np.float64(np.float32(abs(x - mid) / mid) ** np.float32(power))
        weights[k - start] = weight
        y = ramp_dn[k]
        sum_w += weight
        sum_x += weight * x
        sum_xx += weight * x * x
        sum_y += weight * y
        sum_xy += weight * x * y
    den = sum_w * sum_xx - sum_x * sum_x
    q_read = 0.0
    q_poisson = 0.0
    tail = 0.0
    for k in range(stop - 1, start - 1, -1):
        coef = weights[k - start] * (sum_w * (times_s[k] - times_s[start]) - sum_x) / den
        q_read += coef * coef
        if k > start:
            tail += coef
            q_poisson += (times_s[k] - times_s[k - 1]) * tail * tail
    return (sum_w * sum_xy - sum_x * sum_y) / den, q_read, q_poisson


@numba.njit(nogil=True, cache=True, error_model="numpy")
def centred_sum_squares(times_s, start, stop):
    mean = 0.0
    for k in range(start, stop):
        mean += times_s[k]
    mean /= stop - start
    total = 0.0
    for k in range(start, stop):
        total += (times_s[k] - mean) ** 2
    return total


@numba.njit(nogil=True, cache=True, error_model="numpy")
def fit_pixel(ramp_dn, flags, fit, noise, pixeldq, work):
    """Fit one pixel's ramp with any group flags (stcal OLS_C per-pixel logic).

    Parameters
    ----------
    ramp_dn : np.ndarray
        float64 (ngroups,), DN.
    flags : np.ndarray
        uint8 (ngroups,) group flags, jumps included.
    fit : FitSettings
        Group times, reads per group, and the variance and one-group options.
    noise : PixelNoise
        Read noise of one read (DN), gain (e-/DN) and the dark current subtracted from the ramp
        (DN/s), whose shot noise adds to the Poisson variance.
    pixeldq : int
        uint32 pixel flags.
    work : np.ndarray
        float64 scratch, (4, ngroups).

    Returns
    -------
    slope, var_poisson, var_rnoise, err : float
        DN/s and (DN/s)^2.
    dq : int
        uint32 output flags.
    """
    times_s = fit.times_s
    timing = fit.timing
    nframes = fit.nframes
    exact = fit.exact
    read_noise_dn = noise.read_noise_dn
    gain = noise.gain_e_per_dn
    dark_dn_s = noise.dark_dn_s
    suppress_one_group = fit.suppress_one_group
    ngroups = ramp_dn.shape[0]
    dq = np.uint32(pixeldq)
    if not gain > 0.0:
        dq |= PIXEL_NO_GAIN
    good_np = 0
    for k in range(ngroups):
        if flags[k] & NOT_PERSISTENCE == 0:
            good_np += 1
    # As stcal, suppression never applies to single-group integrations.
    suppress_one_group = suppress_one_group and ngroups > 1
    suppressed = suppress_one_group and good_np == 1
    extra = DO_NOT_USE if suppressed else np.uint8(0)
    count_good = count_sat = count_unusable = 0
    for k in range(ngroups):
        f = flags[k] | extra
        if f & JUMP_DET:
            dq |= PIXEL_JUMP_DET
        if f & PERSISTENCE:
            dq |= PIXEL_PERSISTENCE
        if f == 0:
            count_good += 1
        if f & SATURATED:
            count_sat += 1
        if f & UNUSABLE:
            count_unusable += 1
    first_flags = flags[0] | extra
    only_zeroth = (not suppress_one_group) and count_good == 1 and first_flags == 0

    # Median rate of the first differences: stcal's estimate for the Poisson variance.
    if exact:
        median_rate = 0.0
    elif ngroups == 1 or only_zeroth:
        median_rate = ramp_dn[0] / timing[T_ONE_GROUP]
    else:
        used = 0
        for k in range(ngroups - 1):
            fk = flags[k] | extra
            fn = flags[k + 1] | extra
            if (fk | fn) & UNUSABLE or fn & JUMP_DET:
                continue
            d = (ramp_dn[k + 1] - ramp_dn[k]) / (times_s[k + 1] - times_s[k])
            if math.isfinite(d):
                work[0, used] = d
                used += 1
        if used == 0:
            median_rate = np.nan if first_flags & UNUSABLE else ramp_dn[0] / timing[T_GROUP]
        else:
            median_rate = tp.nanmedian_inplace(work[0], used)
    if not median_rate > 0.0:
        median_rate = 0.0

    # Segments: runs of good groups; a JUMP_DET group opens the next segment.
    starts = work[1]
    stops = work[2]
    nseg = 0
    longest = 0
    if first_flags & SATURATED:
        dq |= PIXEL_DO_NOT_USE | PIXEL_SATURATED
    elif count_unusable == ngroups:
        dq |= PIXEL_DO_NOT_USE
        if count_sat == ngroups:
            dq |= PIXEL_SATURATED
    else:
        in_segment = False
        start = 0
        for k in range(ngroups + 1):
            good = k < ngroups and ((flags[k] | extra) & NOT_PERSISTENCE) == 0
            if good and not in_segment:
                start = k
                if k > 0 and ((flags[k - 1] | extra) & NOT_PERSISTENCE) == JUMP_DET:
                    start = k - 1
                in_segment = True
            elif not good and in_segment:
                length = k - start
                # stcal drops a one-group segment once a longer one exists, then prunes below.
                if not (length == 1 and longest > 1):
                    starts[nseg] = start
                    stops[nseg] = k
                    nseg += 1
                    longest = max(longest, length)
                in_segment = False
        if nseg >= 2:
            if longest < 2:
                nseg = 1
            else:
                kept = 0
                for s in range(nseg):
                    if stops[s] - starts[s] > 1:
                        starts[kept] = starts[s]
                        stops[kept] = stops[s]
                        kept += 1
                nseg = kept
        if nseg == 0:
            dq |= PIXEL_DO_NOT_USE

    slope = np.nan
    var_poisson = 0.0
    var_rnoise = 0.0
    err = 0.0
    if not dq & PIXEL_INVALID:
        read_var_group = read_noise_dn * read_noise_dn / nframes
        read_var_e2 = read_var_group * gain * gain
        sum_w = sum_ws = 0.0
        # exact: sums of w**2 q over segments; stcal: sums of inverse variances.
        sum_read = sum_poisson = sum_total = 0.0
        for s in range(nseg):
            start = int(starts[s])
            stop = int(stops[s])
            if stop - start == 1:
                duration = timing[T_ONE_GROUP] if only_zeroth else timing[T_GROUP]
                seg_slope = ramp_dn[start] / duration
                # stcal: read-noise variance 2 * sigma**2 / t**2 for a single group.
                q_read = 2.0 / (duration * duration)
                q_poisson = 1.0 / duration
                weight = 0.5 * duration * duration
            else:
                duration = times_s[stop - 1] - times_s[start]
                seg_slope, q_read, q_poisson = fit_segment(ramp_dn, times_s, start, stop, gain, read_var_e2, work[3])
                weight = centred_sum_squares(times_s, start, stop)
            # stcal's segment weight is 1 / var_R with var_R = read_var_group / weight.
            sum_w += weight
            sum_ws += weight * seg_slope
            if exact:
                sum_read += weight * weight * q_read
                sum_poisson += weight * weight * q_poisson
            else:
                seg_var_p = (median_rate + dark_dn_s) / (duration * gain)
                seg_var_r = read_var_group / weight
                if seg_var_p > 0.0:
                    sum_poisson += 1.0 / seg_var_p
                sum_total += 1.0 / (seg_var_p + seg_var_r)
        slope = sum_ws / sum_w
        if exact:
            var_rnoise = read_var_group * sum_read / (sum_w * sum_w)
            var_poisson = max(slope + dark_dn_s, 0.0) / gain * sum_poisson / (sum_w * sum_w)
            err = math.sqrt(var_poisson + var_rnoise)
        else:
            var_rnoise = read_var_group / sum_w
            var_poisson = 1.0 / sum_poisson if sum_poisson > 0.0 else 0.0
            err = math.sqrt(1.0 / sum_total)
        if not math.isfinite(slope):
            dq |= PIXEL_DO_NOT_USE
    if dq & PIXEL_INVALID:
        slope = np.nan
        var_poisson = var_rnoise = err = 0.0
    if count_sat > 0:
        dq |= PIXEL_SATURATED
    return slope, var_poisson, var_rnoise, err, dq


# ----------------------------------------------------------------------------------------------
# Clean-pixel tile path
# ----------------------------------------------------------------------------------------------


@numba.njit(nogil=True, cache=True, error_model="numpy")
def classify_columns(block, row, col0, ncols, gain, read_noise, nframes, levels):
    """S/N class (:func:`snr_class`) of the whole ramp of each pixel, into ``levels``.

    ``S >= L`` is tested as ``s**2 >= L**2 * den`` (``s > 0``), which needs no square root or division.
    """
    first = tp.group_row(block, 0, row)[col0 : col0 + ncols]
    last = tp.group_row(block, tp.block_shape(block)[0] - 1, row)[col0 : col0 + ncols]
    g_row = gain[col0 : col0 + ncols]
    rn_row = read_noise[col0 : col0 + ncols]
    inv_nframes = 1.0 / nframes
    for c in range(ncols):
        g = np.float64(g_row[c])
        rn = np.float64(rn_row[c])
        signal_e = (np.float64(tp.to_dn(block, last[c])) - np.float64(tp.to_dn(block, first[c]))) * g
        den = rn * rn * g * g * inv_nframes + signal_e
        s2 = signal_e * signal_e
        level = (
            np.int64(s2 >= SNR_LIMITS[0] ** 2 * den)
            + np.int64(s2 >= SNR_LIMITS[1] ** 2 * den)
            + np.int64(s2 >= SNR_LIMITS[2] ** 2 * den)
            + np.int64(s2 >= SNR_LIMITS[3] ** 2 * den)
            + np.int64(s2 >= SNR_LIMITS[4] ** 2 * den)
        )
        level = level if (signal_e > 0.0 and den > 0.0) else 0
        levels[c] = level


@numba.njit(nogil=True, cache=True)
def by_class(level, v0, v1, v2, v3, v4, v5):
    """The value of class ``level`` (0..5) by selects, which vectorise (a gather from a table does not)."""
    value = v5
    value = v4 if level == 4 else value
    value = v3 if level == 3 else value
    value = v2 if level == 2 else value
    value = v1 if level == 1 else value
    return v0 if level == 0 else value


@numba.njit(nogil=True, cache=True, fastmath={"contract"}, error_model="numpy")
def load_and_accumulate(block, row, col0, ncols, inv_dt, coefficients, levels, fitted, keep_diffs, diffs, slopes):
    """First differences ``d_k`` (DN/s) into ``diffs`` (if ``keep_diffs``) and, if ``fitted``,
    ``slopes[c] = sum_k coef[levels[c], k] * d_k``.

    One pass over the groups, a sub-tile of columns at a time so that the sub-tile's slopes stay in
    L1; each pixel picks the coefficient of its S/N class. Only contraction to fused multiply-adds
    is allowed, so the sums are those of a per-class accumulation in group order. Each case has
    its own loop: a test inside the loop over columns stops it from being vectorised.
    """
    ndiffs = diffs.shape[0]
    for sub0 in range(0, ncols, ACCUMULATE_COLUMNS):
        nsub = min(ACCUMULATE_COLUMNS, ncols - sub0)
        first = col0 + sub0
        acc = slopes[sub0 : sub0 + nsub]
        lev = levels[sub0 : sub0 + nsub]
        for c in range(nsub):
            acc[c] = 0.0
        for k in range(ndiffs):
            upper = tp.group_row(block, k + 1, row)[first : first + nsub]
            lower = tp.group_row(block, k, row)[first : first + nsub]
            out = diffs[k, sub0 : sub0 + nsub]
            scale = inv_dt[k]
            c0, c1, c2 = coefficients[0, k], coefficients[1, k], coefficients[2, k]
            c3, c4, c5 = coefficients[3, k], coefficients[4, k], coefficients[5, k]
            if fitted and keep_diffs:
                for c in range(nsub):
                    d = (tp.to_dn(block, upper[c]) - tp.to_dn(block, lower[c])) * scale
                    out[c] = d
                    acc[c] += by_class(lev[c], c0, c1, c2, c3, c4, c5) * d
            elif fitted:
                for c in range(nsub):
                    d = (tp.to_dn(block, upper[c]) - tp.to_dn(block, lower[c])) * scale
                    acc[c] += by_class(lev[c], c0, c1, c2, c3, c4, c5) * d
            else:
                for c in range(nsub):
                    out[c] = (tp.to_dn(block, upper[c]) - tp.to_dn(block, lower[c])) * scale


@numba.njit(nogil=True, cache=True, error_model="numpy")
def store_clean_results(slopes, levels, medians, maps, fit, row, col0, ncols, out, out_row):
    """Results of flag-free single-segment ramps for a tile (all columns; other pixels are overwritten later).

    The tile is columns ``col0 .. col0 + ncols - 1`` of block row ``row``, written to row ``out_row``
    of ``out``. ``variance_factors[0, level]`` times the group read variance is the read-noise variance,
    ``variance_factors[1, level]`` times rate / gain the Poisson variance; the rate is the slope plus
    the dark current, not below 0 (``exact``), or stcal's ``max(median rate, 0) + dark``.
    """
    cols = slice(col0, col0 + ncols)
    gain = map_row(maps.gain, row)[cols]
    read_noise = map_row(maps.read_noise, row)[cols]
    dark = map_row(maps.dark, row)[cols]
    slope = out.slope[out_row, cols]
    inv_nframes = np.float32(1.0 / fit.nframes)
    zero = np.float32(0.0)
    err = out.err[out_row, cols]
    var_p = out.var_p[out_row, cols]
    var_r = out.var_r[out_row, cols]
    dq = out.dq[out_row, cols]
    f = fit.variance_factors
    r0, r1, r2 = np.float32(f[0, 0]), np.float32(f[0, 1]), np.float32(f[0, 2])
    r3, r4, r5 = np.float32(f[0, 3]), np.float32(f[0, 4]), np.float32(f[0, 5])
    p0, p1, p2 = np.float32(f[1, 0]), np.float32(f[1, 1]), np.float32(f[1, 2])
    p3, p4, p5 = np.float32(f[1, 3]), np.float32(f[1, 4]), np.float32(f[1, 5])
    exact = fit.exact
    has_pixeldq = maps.has_pixeldq
    for c in range(ncols):
        level = levels[c]
        read_factor = by_class(level, r0, r1, r2, r3, r4, r5)
        poisson_factor = by_class(level, p0, p1, p2, p3, p4, p5)
        rn = read_noise[c]
        this_slope = slopes[c]
        rate = max(this_slope + dark[c], zero) if exact else max(medians[c], zero) + dark[c]
        this_var_r = rn * rn * inv_nframes * read_factor
        this_var_p = rate / gain[c] * poisson_factor
        flags = maps.pixeldq[row, col0 + c] if has_pixeldq else np.uint32(0)
        flags |= np.uint32(0) if math.isfinite(this_slope) else PIXEL_DO_NOT_USE
        bad = (flags & PIXEL_INVALID) != 0
        slope[c] = np.float32(np.nan) if bad else this_slope
        var_r[c] = zero if bad else this_var_r
        var_p[c] = zero if bad else this_var_p
        # float32 square root: the float64 one rounded to float32 is the same number.
        err[c] = zero if bad else np.sqrt(this_var_p + this_var_r)
        dq[c] = flags


@numba.njit(nogil=True, cache=True, error_model="numpy")
def store_result(out, row, col, result):
    slope, var_p, var_r, err, dq = result
    out.slope[row, col] = slope
    out.err[row, col] = err
    out.var_p[row, col] = var_p
    out.var_r[row, col] = var_r
    out.dq[row, col] = dq


@numba.njit(nogil=True, cache=True, error_model="numpy")
def any_scalar_pixel(clean, gain, found, searched, ncols):
    """Whether a pixel of the tile needs the scalar path (flags, no usable gain, a jump candidate)."""
    scalar = False
    for c in range(ncols):
        scalar = scalar | (clean[c] == 0) | (not gain[c] > 0.0) | (searched and found[c] != 0)
    return scalar


@numba.njit(nogil=True, cache=True, error_model="numpy")
def fit_row(row, block, maps, fit, jump, networks, first_row, last_row, neighbours, out, scratch):
    """One row of :func:`fit_rows`; returns the number of primary jumps flagged in it (interior rows)."""
    ngroups, nrows, nx = tp.block_shape(block)
    interior = first_row <= row < last_row
    searched = fit.detect and ngroups >= tp.MIN_GROUPS
    out_row = row - first_row
    jumps = 0
    gain_row = map_row(maps.gain, row)
    rn_row = map_row(maps.read_noise, row)
    groupdq = maps.groupdq
    sc = scratch
    if fit.detect:
        neighbours.has_mask[row, :] = 0
    tile = networks.tile
    for col0 in range(0, nx, tile):
        ncols = min(tile, nx - col0)
        cols = slice(col0, col0 + ncols)
        if maps.has_groupdq:
            tp.clean_columns(groupdq, row, col0, ncols, sc.clean)
        else:
            sc.clean[:ncols] = 1
        if ngroups >= 2:
            if interior:
                classify_columns(block, row, col0, ncols, gain_row, rn_row, fit.nframes, sc.levels)
            # The median rate (of the differences) serves stcal's variances and the jump search only.
            need_medians = searched or not fit.exact
            load_and_accumulate(block, row, col0, ncols, fit.inv_dt, fit.coefficients, sc.levels, interior,
                                need_medians, sc.diffs, sc.slopes)  # fmt: skip
            if need_medians:
                tp.screen_tile(
                    block, row, col0, ncols, sc.diffs, fit.dt, gain_row[cols], rn_row[cols], fit.nframes, jump,
                    searched, not fit.exact, networks, sc.abs_diffs, sc.medians, sc.abs_medians, sc.terms, sc.found,
                )  # fmt: skip
            if interior:
                store_clean_results(sc.slopes, sc.levels, sc.medians, maps, fit, row, col0, ncols, out, out_row)
        if ngroups >= 2 and not any_scalar_pixel(sc.clean, gain_row[cols], sc.found, searched, ncols):
            continue
        for c in range(ncols):
            col = col0 + c
            fast = ngroups >= 2 and sc.clean[c] and gain_row[col] > 0.0
            if fast and not (searched and sc.found[c]):
                continue
            njumps = 0
            if searched:
                njumps = tp.search_pixel(
                    block, groupdq, row, col, fit.times_s, rn_row[col], gain_row[col], fit.nframes, jump, sc.ramp,
                    sc.flags, sc.work, sc.primary, sc.spread, neighbours.masks, neighbours.has_mask,
                )  # fmt: skip
            if not interior or (fast and njumps == 0):
                continue
            tp.load_pixel(block, groupdq, maps.has_groupdq, row, col, sc.ramp, sc.flags)
            if njumps:
                jumps += njumps
                for k in range(ngroups):
                    if sc.primary[k]:
                        sc.flags[k] |= JUMP_DET
                        groupdq[k, row, col] |= JUMP_DET
            result = fit_pixel(
                sc.ramp, sc.flags, fit, pixel_noise(maps, row, col), pixel_flags(maps, row, col), sc.work
            )
            store_result(out, out_row, col, result)
    return jumps


class RowScratch(NamedTuple):
    """Work arrays of one thread (allocated once per chunk of rows: per row they would cost page faults)."""

    diffs: np.ndarray
    abs_diffs: np.ndarray
    slopes: np.ndarray
    levels: np.ndarray
    medians: np.ndarray
    abs_medians: np.ndarray
    terms: np.ndarray
    found: np.ndarray
    clean: np.ndarray
    ramp: np.ndarray
    flags: np.ndarray
    work: np.ndarray
    primary: np.ndarray
    spread: np.ndarray


@numba.njit(nogil=True, cache=True, error_model="numpy")
def row_scratch(ngroups, tile):
    ndiffs = max(ngroups - 1, 1)
    return RowScratch(
        np.empty((ndiffs, tile), np.float32), np.empty((ndiffs, tile), np.float32), np.empty(tile, np.float32),
        np.zeros(tile, np.int64), np.empty(tile, np.float32), np.empty(tile, np.float32),
        np.empty((2, tile), np.float32),
        np.zeros(tile, np.uint8), np.ones(tile, np.uint8), np.empty(ngroups, np.float64), np.empty(ngroups, np.uint8),
        np.empty((4, ngroups), np.float64), np.zeros(ngroups, np.uint8), np.empty(ngroups, np.uint8),
    )  # fmt: skip


@numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def fit_rows(block, maps, fit, jump, networks, first_row, last_row, neighbours, row_jumps, out, nchunks):
    """Pass 1 over a block: jump detection (all rows, when ``fit.detect``) and fit (interior rows).

    Rows ``first_row <= row < last_row`` are the interior and map to row ``row - first_row`` of
    ``out``; JUMP_DET of primary jumps is written to their ``maps.groupdq``. Halo rows are only
    searched for jumps, to store their neighbour masks. Rows go to the threads in ``nchunks``
    chunks (one at a time under :func:`iris_pipeline.lib.blocks.dynamic_schedule`).
    """
    ngroups, nrows, nx = tp.block_shape(block)
    for chunk in numba.prange(nchunks):
        scratch = row_scratch(ngroups, networks.tile)
        for row in range(chunk * nrows // nchunks, (chunk + 1) * nrows // nchunks):
            row_jumps[row] = 0
            if not (fit.detect or first_row <= row < last_row):
                continue
            row_jumps[row] = fit_row(row, block, maps, fit, jump, networks, first_row, last_row, neighbours, out,
                                     scratch)  # fmt: skip


@numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def refit_neighbour_rows(block, maps, fit, first_row, last_row, neighbours, out):
    """Pass 2: JUMP_DET on the 4 neighbours of spreading jumps, and a new fit of the pixels that got one."""
    ngroups, nrows, nx = tp.block_shape(block)
    groupdq = maps.groupdq
    for row in numba.prange(first_row, last_row):
        ramp = np.empty(ngroups, np.float64)
        flags = np.empty(ngroups, np.uint8)
        new_flags = np.empty(ngroups, np.uint8)
        work = np.empty((4, ngroups), np.float64)
        for col in range(nx):
            if not tp.near_spreading_jump(neighbours.has_mask, row, col):
                continue
            tp.load_pixel(block, groupdq, True, row, col, ramp, flags)
            if not tp.neighbour_flags(neighbours.masks, neighbours.has_mask, row, col, nrows, nx, flags, new_flags):
                continue
            for k in range(ngroups):
                if new_flags[k]:
                    flags[k] |= JUMP_DET
                    groupdq[k, row, col] |= JUMP_DET
            result = fit_pixel(ramp, flags, fit, pixel_noise(maps, row, col), pixel_flags(maps, row, col), work)
            store_result(out, row - first_row, col, result)
