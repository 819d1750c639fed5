"""The numba OLS ramp fit: agreement with stcal OLS_C, honest errors, block structure, inputs, DQ.

stcal is run directly (not through the package's adapter) with its two gotchas handled here: it wants
the CDS read noise, sqrt(2) times the single-read noise, and it modifies that array in place.
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from _ramps import FRAME_TIME_S, GAIN, READ_NOISE_DN, read_times, simulate, z_scores
from stcal.ramp_fitting.ramp_fit import ramp_fit_data
from stcal.ramp_fitting.ramp_fit_class import RampData

from iris_pipeline import dqflags
from iris_pipeline.ramp_fitting.ols import combine_integrations, fit_block, fit_ramps
from iris_pipeline.ramp_fitting.result import RampFitResult

G = dqflags.GROUP
P = dqflags.PIXEL
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _quiet_stcal():
    logging.getLogger("stcal").setLevel(logging.WARNING)


def stcal_fit(data, groupdq, pixeldq, read_noise, gain, nframes=1, groupgap=0, suppress_one_group=True,
              dark_dn_s=0.0):  # fmt: skip
    """stcal OLS_C on one or more integrations (data (nints, ngroups, ny, nx)); returns (image, integrations)."""
    data = np.asarray(data, dtype=np.float32)
    nints, ngroups, ny, nx = data.shape
    ramp = RampData()
    dark = np.broadcast_to(np.asarray(dark_dn_s, np.float32), (ny, nx)).copy()
    ramp.set_arrays(data.copy(), groupdq.copy(), pixeldq.copy(), dark)
    ramp.set_meta(
        name="IRIS", frame_time=FRAME_TIME_S, group_time=(nframes + groupgap) * FRAME_TIME_S, groupgap=groupgap,
        nframes=nframes,
    )  # fmt: skip
    ramp.algorithm = "OLS_C"
    ramp.set_dqflags(dqflags.PIXEL)
    ramp.start_row, ramp.num_rows = 0, ny
    ramp.suppress_one_group_ramps = suppress_one_group and ngroups > 1
    cds = np.broadcast_to(np.float32(read_noise * math.sqrt(2.0)), (ny, nx)).copy()
    gain_2d = np.broadcast_to(np.asarray(gain, np.float32), (ny, nx)).copy()
    image, integrations, _ = ramp_fit_data(ramp, False, cds, gain_2d, "OLS_C", "optimal", "none")
    return RampFitResult.from_stcal(image), RampFitResult.from_stcal(integrations)


def assert_slopes_agree(ours, theirs):
    """1e-4 relative or 1e-3 DN/s absolute, NaN where stcal has NaN."""
    ours = np.asarray(ours, np.float64)
    theirs = np.asarray(theirs, np.float64)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    ok = np.isnan(theirs) | (np.abs(ours - theirs) <= 1e-4 * np.abs(theirs) + 1e-3)
    assert ok.all(), f"{(~ok).sum()} slopes differ, worst {np.nanmax(np.abs(ours - theirs))}"


def assert_variances_agree(ours, theirs, where=Ellipsis):
    """var_poisson, var_rnoise and err within 1e-4 of the total variance (the median rate of faint
    pixels comes from float32 differences, good to ~3e-7 DN/s, so relative agreement of a tiny
    var_poisson alone would be meaningless)."""
    total = (theirs.var_poisson + theirs.var_rnoise)[where].astype(np.float64)
    for name in ("var_poisson", "var_rnoise"):
        difference = np.abs(getattr(ours, name)[where].astype(np.float64) - getattr(theirs, name)[where])
        assert np.all(difference <= 1e-4 * total + 1e-12), name
    np.testing.assert_allclose(ours.err[where], theirs.err[where], rtol=1e-4, atol=1e-10)


def log_uniform_flux(rng, shape, low=0.05, high=5000.0):
    return np.exp(rng.uniform(math.log(low), math.log(high), shape))


# ----------------------------------------------------------------------------------------------
# Agreement with stcal
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ngroups", "nframes", "groupgap"), [(2, 1, 0), (3, 1, 0), (5, 1, 0), (10, 1, 0),
                                                               (40, 1, 0), (6, 4, 1)])  # fmt: skip
def test_clean_ramps_match_stcal(ngroups, nframes, groupgap):
    rng = np.random.default_rng(ngroups)
    flux = log_uniform_flux(rng, (30, 64))
    data = simulate(flux, ngroups, rng, nframes, groupgap).astype(np.float32)
    times = read_times(ngroups, nframes, groupgap)
    ours = fit_ramps(data, times, READ_NOISE_DN, GAIN, nframes=nframes, variance="stcal")
    groupdq = np.zeros((1,) + data.shape, np.uint8)
    _, theirs = stcal_fit(data[None], groupdq, np.zeros(flux.shape, np.uint32), READ_NOISE_DN, GAIN, nframes,
                          groupgap)  # fmt: skip
    theirs = RampFitResult(*(getattr(theirs, name)[0] for name in RampFitResult.__dataclass_fields__))
    assert_slopes_agree(ours.slope, theirs.slope)
    assert_variances_agree(ours, theirs)
    np.testing.assert_array_equal(ours.dq, theirs.dq)
    exact = fit_ramps(data, times, READ_NOISE_DN, GAIN, nframes=nframes)
    np.testing.assert_array_equal(exact.slope, ours.slope)


def flagged_ramps(rng, ngroups, shape):
    """Ramps with saturation, DO_NOT_USE, JUMP_DET, PERSISTENCE and OUTLIER groups, bad pixels and gains."""
    flux = log_uniform_flux(rng, shape)
    data = simulate(flux, ngroups, rng).astype(np.float32)
    groupdq = np.zeros(data.shape, np.uint8)
    saturates = rng.random(shape) < 0.2
    first_saturated = rng.integers(0, ngroups, shape)
    for k in range(ngroups):
        groupdq[k][saturates & (first_saturated <= k)] |= G["SATURATED"]
    for name, fraction in (("DO_NOT_USE", 0.05), ("JUMP_DET", 0.08), ("PERSISTENCE", 0.02), ("OUTLIER", 0.01)):
        groupdq |= np.where(rng.random(data.shape) < fraction, np.uint8(G[name]), np.uint8(0))
    pixeldq = np.where(rng.random(shape) < 0.02, np.uint32(P["DO_NOT_USE"] | P["HOT"]), np.uint32(0))
    pixeldq = (pixeldq | np.where(rng.random(shape) < 0.02, np.uint32(P["WARM"]), np.uint32(0))).astype(np.uint32)
    gain = np.full(shape, GAIN, np.float32)
    gain[0, :3] = [0.0, np.nan, -1.0]
    return data, groupdq, pixeldq, gain


@pytest.mark.parametrize("ngroups", [1, 2, 3, 4, 6, 12])
@pytest.mark.parametrize("suppress", [True, False])
def test_flagged_ramps_match_stcal(ngroups, suppress):
    rng = np.random.default_rng(100 + ngroups)
    data, groupdq, pixeldq, gain = flagged_ramps(rng, ngroups, (40, 50))
    times = read_times(ngroups)
    ours = fit_ramps(data, times, READ_NOISE_DN, gain, groupdq.copy(), pixeldq, suppress_one_group=suppress,
                     variance="stcal")  # fmt: skip
    _, theirs = stcal_fit(data[None], groupdq[None], pixeldq, READ_NOISE_DN, gain, suppress_one_group=suppress)
    theirs = RampFitResult(*(getattr(theirs, name)[0] for name in RampFitResult.__dataclass_fields__))
    # Deliberate difference: no segment although some group is neither SATURATED nor DO_NOT_USE.
    # stcal reports slope 0 without DO_NOT_USE; we report NaN with DO_NOT_USE.
    differs = (ours.dq != theirs.dq) | (np.isnan(ours.slope) != np.isnan(theirs.slope))
    assert np.all(np.isnan(ours.slope[differs]))
    assert np.all(theirs.slope[differs] == 0)
    np.testing.assert_array_equal(ours.dq[differs], theirs.dq[differs] | P["DO_NOT_USE"])
    same = ~differs
    assert_slopes_agree(ours.slope[same], theirs.slope[same])
    np.testing.assert_array_equal(ours.dq[same], theirs.dq[same])
    assert_variances_agree(ours, theirs, same)


def test_no_segment_and_nan_samples_give_nan_and_do_not_use():
    data = np.tile(np.linspace(1000, 1100, 6, dtype=np.float32)[:, None, None], (1, 1, 3))
    groupdq = np.zeros(data.shape, np.uint8)
    groupdq[:, 0, 0] = G["OUTLIER"]
    groupdq[:, 0, 1] = [G["JUMP_DET"]] + [G["SATURATED"]] * 5
    data[2, 0, 2] = np.nan
    result = fit_ramps(data, read_times(6), READ_NOISE_DN, GAIN, groupdq)
    assert np.all(np.isnan(result.slope))
    assert np.all(result.dq & P["DO_NOT_USE"])
    assert result.dq[0, 1] & P["SATURATED"] and result.dq[0, 1] & P["JUMP_DET"]
    assert np.all(result.err == 0) and np.all(result.var_poisson == 0)


def test_dq_propagation():
    rng = np.random.default_rng(3)
    data = simulate(np.full((1, 6), 50.0), 8, rng).astype(np.float32)
    groupdq = np.zeros(data.shape, np.uint8)
    pixeldq = np.zeros((1, 6), np.uint32)
    pixeldq[0, 0] = P["DO_NOT_USE"] | P["DEAD"]
    pixeldq[0, 1] = P["HOT"]
    groupdq[5:, 0, 2] = G["SATURATED"]
    groupdq[:, 0, 3] = G["SATURATED"]
    groupdq[4, 0, 4] = G["JUMP_DET"]
    gain = np.full((1, 6), GAIN, np.float32)
    gain[0, 5] = np.nan
    result = fit_ramps(data, read_times(8), READ_NOISE_DN, gain, groupdq, pixeldq)
    dq = result.dq[0]
    assert np.isnan(result.slope[0, 0]) and dq[0] == P["DO_NOT_USE"] | P["DEAD"] and result.err[0, 0] == 0
    assert dq[1] == P["HOT"] and np.isfinite(result.slope[0, 1])
    assert dq[2] == P["SATURATED"] and abs(result.slope[0, 2] - 50) < 5
    assert dq[3] == P["SATURATED"] | P["DO_NOT_USE"] and np.isnan(result.slope[0, 3])
    assert dq[4] == P["JUMP_DET"] and np.isfinite(result.slope[0, 4])
    assert dq[5] == P["DO_NOT_USE"] | P["NO_GAIN_VALUE"] and np.isnan(result.slope[0, 5])


# ----------------------------------------------------------------------------------------------
# Honest errors
# ----------------------------------------------------------------------------------------------

HONEST_FLUXES = np.array([1.0, 3.0, 10.0, 30.0, 100.0, 1000.0, 10000.0])


@pytest.mark.parametrize("ngroups", [5, 10, 40])
def test_err_matches_scatter(ngroups):
    """Exact variances: std of (slope - truth) / err within 3 % of 1 from sky-like to bright pixels."""
    rng = np.random.default_rng(11 + ngroups)
    flux = np.repeat(HONEST_FLUXES[:, None], 12000, axis=1)
    data = simulate(flux, ngroups, rng).astype(np.float32)
    z = z_scores(fit_ramps(data, read_times(ngroups), READ_NOISE_DN, GAIN), flux)
    assert np.all(np.abs(z.std(axis=1) - 1) < 0.03), z.std(axis=1)
    # The Poisson term uses the pixel's own slope, so err grows with upward noise: a slight negative mean.
    assert np.all(np.abs(z.mean(axis=1)) < 0.07), z.mean(axis=1)


def test_err_of_stcal_variances_is_too_small_for_faint_many_group_ramps():
    """Why 'exact' is the default: stcal's median rate and unweighted formulas underestimate ERR."""
    rng = np.random.default_rng(5)
    flux = np.full((1, 12000), 1.0)
    data = simulate(flux, 40, rng).astype(np.float32)
    stcal_like = fit_ramps(data, read_times(40), READ_NOISE_DN, GAIN, variance="stcal")
    exact = fit_ramps(data, read_times(40), READ_NOISE_DN, GAIN)
    assert z_scores(stcal_like, flux).std() > 1.1
    assert abs(z_scores(exact, flux).std() - 1) < 0.03


def test_err_of_zero_flux_is_not_underestimated():
    rng = np.random.default_rng(8)
    flux = np.zeros((1, 12000))
    z = z_scores(fit_ramps(simulate(flux, 10, rng).astype(np.float32), read_times(10), READ_NOISE_DN, GAIN), flux)
    assert 0.9 < z.std() < 1.03


def test_err_of_segmented_ramps_is_honest():
    """A flagged jump splits ramps 3 + 12 groups: exact err fits the scatter; stcal's is too small."""
    rng = np.random.default_rng(9)
    flux = np.repeat(np.array([3.0, 30.0, 300.0, 3000.0])[:, None], 10000, axis=1)
    data = simulate(flux, 15, rng)
    data[3:] += 300.0
    groupdq = np.zeros(data.shape, np.uint8)
    groupdq[3] = G["JUMP_DET"]
    data = data.astype(np.float32)
    exact = z_scores(fit_ramps(data, read_times(15), READ_NOISE_DN, GAIN, groupdq), flux)
    stcal_like = z_scores(fit_ramps(data, read_times(15), READ_NOISE_DN, GAIN, groupdq, variance="stcal"), flux)
    assert np.all(np.abs(exact.std(axis=1) - 1) < 0.03), exact.std(axis=1)
    assert stcal_like.std(axis=1)[-1] > 1.05


def test_err_with_averaged_and_uneven_groups():
    """MCDS (two groups of 8 reads far apart) and 4-read groups: slopes unbiased, ERR within 3 %."""
    rng = np.random.default_rng(10)
    flux = np.repeat(np.array([1.0, 10.0, 100.0, 1000.0])[:, None], 10000, axis=1)
    reads = simulate(flux, 100, rng)
    mcds = np.stack([reads[:8].mean(axis=0), reads[92:].mean(axis=0)]).astype(np.float32)
    times = np.array([4.5, 96.5]) * FRAME_TIME_S
    z = z_scores(fit_ramps(mcds, times, READ_NOISE_DN, GAIN, nframes=8), flux)
    assert np.all(np.abs(z.std(axis=1) - 1) < 0.03) and np.all(np.abs(z.mean(axis=1)) < 0.05)
    groups = simulate(flux, 8, rng, nframes=4).astype(np.float32)
    z = z_scores(fit_ramps(groups, read_times(8, 4), READ_NOISE_DN, GAIN, nframes=4), flux)
    assert np.all(np.abs(z.std(axis=1) - 1) < 0.03) and np.all(np.abs(z.mean(axis=1)) < 0.07)


# ----------------------------------------------------------------------------------------------
# Uneven group times
# ----------------------------------------------------------------------------------------------


def reference_fit(ramp, times, read_noise, gain):
    """float64 weighted least squares of one segment as documented (time-based Fixsen weights)."""
    x = times - times[0]
    signal = (ramp[-1] - ramp[0]) * gain
    den = read_noise**2 * gain**2 + signal
    snr = signal / math.sqrt(den) if den > 0 else 0.0
    power = [0.0, 0.4, 1.0, 3.0, 6.0, 10.0][int(np.searchsorted([5, 10, 20, 50, 100], snr, side="right"))]
    mid = x[-1] / 2
    w = (np.abs(x - mid) / mid).astype(np.float32) ** np.float32(power)
    return np.polyfit(x, ramp, 1, w=np.sqrt(w.astype(np.float64)))[0]


def test_uneven_times_match_reference():
    rng = np.random.default_rng(12)
    times = np.array([1.0, 2.0, 5.0, 6.5, 12.0, 13.0, 25.0, 26.0])
    flux = log_uniform_flux(rng, (4, 60))
    data = np.empty((times.size,) + flux.shape)
    for k, t in enumerate(times):
        data[k] = 1000 + flux * t + rng.normal(0, READ_NOISE_DN, flux.shape)
    data = data.astype(np.float32)
    groupdq = np.zeros(data.shape, np.uint8)
    groupdq[6:, 2:] = G["SATURATED"]  # rows 2-3 take the per-pixel path with a 6-group segment
    result = fit_ramps(data, times, READ_NOISE_DN, GAIN, groupdq)
    for row in range(4):
        used = 8 if row < 2 else 6
        for col in range(0, 60, 7):
            expected = reference_fit(data[:used, row, col].astype(np.float64), times[:used], READ_NOISE_DN, GAIN)
            assert abs(result.slope[row, col] - expected) <= 1e-4 * abs(expected) + 1e-4


# ----------------------------------------------------------------------------------------------
# Inputs, blocks, fit_block, memory
# ----------------------------------------------------------------------------------------------


def test_input_types_and_offsets_give_identical_results(tmp_path):
    rng = np.random.default_rng(13)
    flux = log_uniform_flux(rng, (20, 24), high=500)
    true_dn = np.round(simulate(flux, 7, rng, bias=20000.0))
    times = read_times(7)
    read_noise = np.full(flux.shape, READ_NOISE_DN, np.float32)
    reference = fit_ramps(true_dn.astype(np.float32), times, read_noise, GAIN)
    unsigned = np.memmap(tmp_path / "u16.raw", np.uint16, "w+", shape=true_dn.shape)
    unsigned[:] = true_dn
    fits_like = np.memmap(tmp_path / "i16.raw", ">i2", "w+", shape=true_dn.shape)
    fits_like[:] = true_dn - 32768
    big_endian_u16 = np.memmap(tmp_path / "bu16.raw", ">u2", "w+", shape=true_dn.shape)
    big_endian_u16[:] = true_dn
    native_i16 = (true_dn - 32768).astype(np.int16)
    for data, offset in ((unsigned, 0), (fits_like, 32768), (big_endian_u16, 0), (native_i16, 32768),
                         (true_dn, 0), (true_dn.astype(">f8"), 0)):  # fmt: skip
        before = np.array(data)
        result = fit_ramps(data, times, read_noise, GAIN, data_offset=offset, block_rows=6)
        for name in RampFitResult.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(result, name), getattr(reference, name), err_msg=str(data.dtype))
        np.testing.assert_array_equal(np.array(data), before)
    assert np.all(read_noise == np.float32(READ_NOISE_DN))


@pytest.mark.parametrize("jumps", [False, True])
def test_block_rows_do_not_change_results(jumps):
    rng = np.random.default_rng(14)
    data, groupdq, pixeldq, gain = flagged_ramps(rng, 12, (23, 31))
    groupdq[:, 4:6, 7] = 0
    gain[4:6, 7] = GAIN
    data[6:, 5, 7] += 1000.0
    threshold = 4.0 if jumps else None
    results = []
    for rows in (1, 2, 5, None):
        gdq = groupdq.copy()
        result = fit_ramps(data, read_times(12), READ_NOISE_DN, gain, gdq, pixeldq, jump_threshold=threshold,
                           block_rows=rows)  # fmt: skip
        results.append((result, gdq))
    for result, gdq in results[1:]:
        np.testing.assert_array_equal(gdq, results[0][1])
        for name in RampFitResult.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(result, name), getattr(results[0][0], name))
    if jumps:
        assert results[0][1][6, 5, 7] & G["JUMP_DET"] and results[0][1][6, 4, 7] & G["JUMP_DET"]


def empty_result(shape, fill=-1.0):
    return RampFitResult(
        *(np.full(shape, fill, np.float32) for _ in range(4)), dq=np.full(shape, 12345, np.uint32)
    )  # fmt: skip


def test_fit_block_writes_interior_rows_only():
    rng = np.random.default_rng(15)
    ngroups, ny, nx = 8, 12, 20
    data = simulate(log_uniform_flux(rng, (ny, nx), high=300), ngroups, rng).astype(np.float32)
    data[4:, 5, 3] += 1000.0  # a jump in the first interior row of the block below
    groupdq = np.zeros(data.shape, np.uint8)
    expected_gdq = groupdq.copy()
    expected = fit_ramps(data, read_times(ngroups), READ_NOISE_DN, GAIN, expected_gdq, jump_threshold=4.0)
    out = empty_result((ny, nx))
    block = data[:, 4:10].copy()
    block_gdq = groupdq[:, 4:10].copy()
    njumps = fit_block(
        block, block_gdq, read_times(ngroups), READ_NOISE_DN, np.full((6, nx), GAIN), out, slice(5, 9),
        jump_threshold=4.0, halo_top=1, halo_bottom=1,
    )  # fmt: skip
    assert njumps >= 1
    np.testing.assert_array_equal(block, data[:, 4:10])
    for name in RampFitResult.__dataclass_fields__:
        written = getattr(out, name)
        np.testing.assert_array_equal(written[5:9], getattr(expected, name)[5:9])
        assert np.all(written[:5] == (12345 if name == "dq" else -1)) and np.all(written[9:] == written[0, 0])
    np.testing.assert_array_equal(block_gdq[:, 1:5], expected_gdq[:, 5:9])
    assert not block_gdq[:, 0].any() and not block_gdq[:, 5].any()
    assert block_gdq[4, 1, 3] & G["JUMP_DET"] and block_gdq[4, 2, 3] & G["JUMP_DET"]


def test_fit_block_accepts_non_contiguous_block_and_writes_back_flags():
    rng = np.random.default_rng(16)
    data = simulate(np.full((6, 10), 20.0), 6, rng).astype(np.float32)
    data[3:, 2, 4] += 1000.0
    buffer = np.zeros((6, 9, 10), np.float32)
    gdq_buffer = np.zeros((6, 9, 10), np.uint8)
    buffer[:, :6] = data
    out = empty_result((6, 10))
    times = read_times(6)
    fit_block(buffer[:, :6], gdq_buffer[:, :6], times, READ_NOISE_DN, GAIN, out, slice(0, 6), jump_threshold=4.0)
    assert gdq_buffer[3, 2, 4] & G["JUMP_DET"] and gdq_buffer[3, 1, 4] & G["JUMP_DET"]
    assert np.all(np.isfinite(out.slope))


def test_memory_is_the_block_buffer_not_the_cube(tmp_path):
    """numpy allocations stay near one float32 block plus the 2-D outputs, whatever the number of reads."""
    ngroups, ny, nx = 60, 256, 256
    raw = np.memmap(tmp_path / "ramp.raw", np.uint16, "w+", shape=(ngroups, ny, nx))
    raw[:] = (1000 + np.arange(ngroups)[:, None, None] * 3).astype(np.uint16)
    raw.flush()
    data = np.memmap(tmp_path / "ramp.raw", np.uint16, "r", shape=(ngroups, ny, nx))
    block_rows = 16
    fit_ramps(data, read_times(ngroups), READ_NOISE_DN, GAIN, block_rows=block_rows)
    tracemalloc.start()
    fit_ramps(data, read_times(ngroups), READ_NOISE_DN, GAIN, block_rows=block_rows)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    block_bytes = 4 * ngroups * block_rows * nx
    outputs = 5 * 4 * ny * nx
    assert peak < 1.5 * block_bytes + outputs + 2**20, peak
    assert peak < 0.25 * 4 * data.size


def test_validation_errors():
    data = np.zeros((4, 3, 3), np.float32)
    with pytest.raises(ValueError, match="increase"):
        fit_ramps(data, [1, 2, 2, 3], 5.0, 2.0)
    with pytest.raises(ValueError, match="one mean time"):
        fit_ramps(data, [1, 2, 3], 5.0, 2.0)
    with pytest.raises(ValueError, match="variance"):
        fit_ramps(data, [1, 2, 3, 4], 5.0, 2.0, variance="optimal")
    with pytest.raises(ValueError, match="read_noise"):
        fit_ramps(data, [1, 2, 3, 4], np.ones((2, 2)), 2.0)
    with pytest.raises(ValueError, match="out.slope"):
        fit_block(data, None, [1, 2, 3, 4], 5.0, 2.0, empty_result((3, 4)), slice(0, 3))


# ----------------------------------------------------------------------------------------------
# Single-group ramps and the exposure combination
# ----------------------------------------------------------------------------------------------


def test_single_group_integrations():
    data = np.full((1, 2, 2), 300.0, np.float32)
    result = fit_ramps(data, read_times(1), READ_NOISE_DN, GAIN)
    np.testing.assert_allclose(result.slope, 300.0 / read_times(1)[0])
    groupdq = np.zeros((3, 2, 2), np.uint8)
    groupdq[1:] = G["SATURATED"]
    result = fit_ramps(np.full((3, 2, 2), 300.0, np.float32), read_times(3), READ_NOISE_DN, GAIN, groupdq)
    assert np.all(np.isnan(result.slope)) and np.all(result.dq == P["DO_NOT_USE"] | P["SATURATED"])


def combined_exposure(variance, identical):
    rng = np.random.default_rng(17)
    nints, ngroups = 3, 7
    flux = log_uniform_flux(rng, (20, 30))
    if identical:
        data = np.stack([simulate(flux, ngroups, rng)] * nints).astype(np.float32)
    else:
        data = np.stack([simulate(flux, ngroups, rng) for _ in range(nints)]).astype(np.float32)
    groupdq = np.zeros(data.shape, np.uint8)
    groupdq[:, 0, 1, :5] = G["SATURATED"]  # no slope in any integration
    groupdq[1, 0, 2, :5] = G["SATURATED"]  # no slope in one integration
    if not identical:
        groupdq[0, 4:, 0, :10] = G["SATURATED"]  # a shorter first integration: unequal weights
    pixeldq = np.zeros(flux.shape, np.uint32)
    per_integration = [fit_ramps(data[i], read_times(ngroups), READ_NOISE_DN, GAIN, groupdq[i], pixeldq,
                                 variance=variance) for i in range(nints)]  # fmt: skip
    exposure = combine_integrations(per_integration, variance=variance)
    assert np.all(np.isnan(exposure.slope[1, :5])) and np.all(exposure.dq[1, :5] == P["DO_NOT_USE"] | P["SATURATED"])
    assert np.all(np.isfinite(exposure.slope[2, :5])) and np.all(exposure.dq[2, :5] == P["SATURATED"])
    return data, groupdq, pixeldq, per_integration, exposure


@pytest.mark.parametrize("variance", ["exact", "stcal"])
def test_combine_integrations_as_stcal(variance):
    """Identical integrations, so that stcal's pixel median rate (the mean of the integrations' medians,
    which we do not have when fitting integrations one at a time) equals each integration's where
    all integrations have a slope. Slopes and dq match in both modes, variances in 'stcal' mode."""
    data, groupdq, pixeldq, _, exposure = combined_exposure(variance, identical=True)
    image, _ = stcal_fit(data, groupdq, pixeldq, READ_NOISE_DN, GAIN)
    assert_slopes_agree(exposure.slope, image.slope)
    np.testing.assert_array_equal(exposure.dq, image.dq)
    if variance == "stcal":
        every_integration = ~(groupdq[:, 0] & G["SATURATED"]).any(axis=0)
        assert_variances_agree(exposure, image, every_integration)


def test_combine_integrations_weights_and_exact_variances():
    """Integrations weighted by 1 / var_rnoise; with exact variances that is the exact read-noise
    variance, so integrations in different S/N classes are weighted slightly differently from stcal."""
    _, _, _, per_integration, exposure = combined_exposure("exact", identical=False)
    ok = np.all([np.isfinite(r.slope) for r in per_integration], axis=0)
    w = np.stack([1 / r.var_rnoise[ok] for r in per_integration]).astype(np.float64)
    slopes = np.stack([r.slope[ok] for r in per_integration]).astype(np.float64)
    var_p = np.stack([r.var_poisson[ok] for r in per_integration]).astype(np.float64)
    np.testing.assert_allclose(exposure.slope[ok], (w * slopes).sum(axis=0) / w.sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(exposure.var_poisson[ok], (w**2 * var_p).sum(axis=0) / w.sum(axis=0) ** 2, rtol=1e-5)
    np.testing.assert_allclose(exposure.var_rnoise[ok], 1 / w.sum(axis=0), rtol=1e-5)


# ----------------------------------------------------------------------------------------------
# The benchmark script
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_benchmark_quick_runs_and_reports_a_ratio():
    completed = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_ramp_fit.py"), "--quick"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "ratio" in completed.stdout and "x" in completed.stdout, completed.stdout


# ----------------------------------------------------------------------------------------------
# Dark-current shot noise
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ngroups", [2, 10])
@pytest.mark.parametrize("variance", ["exact", "stcal"])
def test_err_of_hot_pixels_includes_the_dark_shot_noise(ngroups, variance):
    """Hot pixels (dark 2-200 DN/s) on a faint sky: after the dark (dark * t) is subtracted, the slope is
    the sky and its ERR must include the dark's Poisson noise (stcal's average-dark term): the std of
    (slope - truth) / ERR is within 5 % of 1 with ``dark_dn_s``; without it 1.6 (2 groups) to 5 (10
    groups) at 200 DN/s."""
    rng = np.random.default_rng(31 + ngroups)
    sky_dn_s = 1.0
    dark_dn_s = np.repeat(np.array([2.0, 20.0, 200.0])[:, None], 6000, axis=1)
    times = read_times(ngroups)
    data = simulate(sky_dn_s + dark_dn_s, ngroups, rng) - dark_dn_s * times[:, None, None]
    data = data.astype(np.float32)
    with_dark = z_scores(fit_ramps(data, times, READ_NOISE_DN, GAIN, variance=variance, dark_dn_s=dark_dn_s), sky_dn_s)
    without = z_scores(fit_ramps(data, times, READ_NOISE_DN, GAIN, variance=variance), sky_dn_s)
    assert np.all(np.abs(with_dark.std(axis=1) - 1) < 0.05), with_dark.std(axis=1)
    assert without.std(axis=1)[-1] > 1.5, without.std(axis=1)


def test_dark_term_in_fit_block_matches_stcal_average_dark_current():
    """With variance='stcal', var_poisson is stcal's (median rate + average dark current) / (gain T)."""
    rng = np.random.default_rng(33)
    dark = rng.uniform(0.0, 50.0, (8, 30)).astype(np.float32)
    data = (simulate(np.full((8, 30), 30.0), 6, rng)).astype(np.float32)
    ours = fit_ramps(data, read_times(6), READ_NOISE_DN, GAIN, variance="stcal", dark_dn_s=dark)
    theirs, _ = stcal_fit(data[None], np.zeros((1,) + data.shape, np.uint8), np.zeros((8, 30), np.uint32),
                          READ_NOISE_DN, GAIN, dark_dn_s=dark)  # fmt: skip
    assert_variances_agree(ours, theirs)


@pytest.mark.parametrize("variance", ["exact", "stcal"])
def test_poisson_variance_of_integrations_with_different_counts(variance):
    """Integrations of 30 and 3000 DN/s: each integration's Poisson variance from its own rate gives
    calibrated rateints ERR (stcal's mean of the integrations' medians gives 0.2 and 1.7), and the
    exposure's ERR, the variance of the weighted mean, is calibrated too."""
    rng = np.random.default_rng(41)
    fluxes = np.array([30.0, 3000.0])
    data = np.stack([simulate(np.full((1, 8000), f), 10, rng) for f in fluxes]).astype(np.float32)
    per_integration = [fit_ramps(d, read_times(10), READ_NOISE_DN, GAIN, variance=variance) for d in data]
    for result, flux in zip(per_integration, fluxes, strict=True):
        assert abs(z_scores(result, flux).std() - 1) < 0.05
    exposure = combine_integrations(per_integration, variance=variance)
    weights = np.stack([1.0 / r.var_rnoise.astype(np.float64) for r in per_integration])
    truth = (weights * fluxes[:, None, None]).sum(axis=0) / weights.sum(axis=0)
    assert abs(z_scores(exposure, truth).std() - 1) < 0.05
    _, theirs = stcal_fit(data, np.zeros(data.shape, np.uint8), np.zeros((1, 8000), np.uint32), READ_NOISE_DN, GAIN)
    first = RampFitResult(*(getattr(theirs, name)[0] for name in RampFitResult.__dataclass_fields__))
    assert z_scores(first, 30.0).std() < 0.5
