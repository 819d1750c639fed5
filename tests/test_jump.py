"""Two-point-difference jump detection: completeness, false positives, neighbours, agreement with stcal."""

from __future__ import annotations

import logging
import math

import _ramps
import numpy as np
import pytest
from _ramps import FRAME_TIME_S, GAIN, READ_NOISE_DN, read_times
from stcal.jump.jump import detect_jumps_data
from stcal.jump.jump_class import JumpData

from iris_pipeline import dqflags
from iris_pipeline.jump import detect_jumps
from iris_pipeline.ramp_fitting.ols import fit_ramps

G = dqflags.GROUP
JUMP = G["JUMP_DET"]


@pytest.fixture(autouse=True)
def _quiet_stcal():
    logging.getLogger("stcal").setLevel(logging.WARNING)


def simulate(flux_dn_s, ngroups, rng):
    """Integer-valued Poisson + read-noise ramps, float32 (ngroups, *shape)."""
    return np.round(_ramps.simulate(flux_dn_s, ngroups, rng)).astype(np.float32)


def difference_sigma(flux_dn_s):
    """Noise of one group-to-group difference, DN."""
    return np.sqrt(flux_dn_s * FRAME_TIME_S / GAIN + 2 * READ_NOISE_DN**2)


def stcal_jumps(data, groupdq, times=None, **options):
    """stcal's detect_jumps_data on one integration (its read noise is the CDS noise); ``times`` for
    uneven groups (stcal's ``dt_group``, as for Roman)."""
    shape = data.shape[1:]
    jump_data = JumpData(
        gain2d=np.full(shape, GAIN, np.float32),
        rnoise2d=np.full(shape, READ_NOISE_DN * math.sqrt(2), np.float32),
        dqflags=dqflags.PIXEL,
    )
    jump_data.init_arrays_from_arrays(data[None].copy(), groupdq[None].copy(), np.zeros(shape, np.uint32))
    jump_data.nframes = 1
    jump_data.dt_group = np.ones(1) if times is None else np.diff(times)
    jump_data.n_reads_groupdiff = np.full(jump_data.dt_group.size, 2.0)
    jump_data.set_detection_settings(
        options.get("rejection_threshold", 4.0), 6.0, 5.0, options.get("max_jump_to_flag_neighbors", 200.0),
        options.get("min_jump_to_flag_neighbors", 10.0), options.get("flag_4_neighbors", True),
    )  # fmt: skip
    jump_data.max_cores = "none"
    gdq, _, n_jumps, _ = detect_jumps_data(jump_data)
    return gdq[0], n_jumps


def inject(data, rng, fraction, sigma_range, flux):
    """Jumps of ``sigma_range`` difference-sigmas into a ``fraction`` of pixels; returns (hit, group)."""
    ngroups = data.shape[0]
    hit = rng.random(data.shape[1:]) < fraction
    group = rng.integers(1, ngroups, data.shape[1:])
    size = rng.uniform(*sigma_range, data.shape[1:]) * difference_sigma(flux)
    for k in range(1, ngroups):
        data[k] += np.where(hit & (group <= k), size, 0).astype(np.float32)
    return hit, group


@pytest.mark.parametrize("ngroups", [5, 10, 30])
def test_large_jumps_are_found_at_their_group(ngroups):
    rng = np.random.default_rng(ngroups)
    flux = np.exp(rng.uniform(math.log(0.5), math.log(2000), (150, 100)))
    data = simulate(flux, ngroups, rng)
    hit, group = inject(data, rng, 0.3, (10, 100), flux)
    groupdq, _ = detect_jumps(data, None, READ_NOISE_DN, GAIN, read_times(ngroups), flag_4_neighbors=False)
    found = np.take_along_axis(groupdq, group[None], axis=0)[0] & JUMP != 0
    completeness = found[hit].mean()
    assert completeness >= 0.98, completeness


@pytest.mark.parametrize("ngroups", [5, 10, 30])
def test_false_positives_on_clean_pixels(ngroups):
    rng = np.random.default_rng(10 + ngroups)
    flux = np.exp(rng.uniform(math.log(0.5), math.log(2000), (200, 150)))
    groupdq, n_jumps = detect_jumps(simulate(flux, ngroups, rng), None, READ_NOISE_DN, GAIN, read_times(ngroups))
    flagged_pixels = (groupdq & JUMP).any(axis=0).mean()
    assert flagged_pixels < 0.005, flagged_pixels
    assert n_jumps == (groupdq & JUMP).astype(bool).sum()


@pytest.mark.parametrize(("ngroups", "size_sigma", "neighbours"), [(8, 40, True), (8, 7, False), (8, 400, False),
                                                                   (20, 40, True), (20, 400, False)])  # fmt: skip
def test_neighbours_of_jumps_between_min_and_max(ngroups, size_sigma, neighbours):
    rng = np.random.default_rng(20)
    flux = np.full((9, 9), 5.0)
    data = simulate(flux, ngroups, rng)
    data[4:, 4, 4] += size_sigma * difference_sigma(5.0)
    groupdq = np.zeros(data.shape, np.uint8)
    groupdq[:, 4, 5] = G["SATURATED"]
    detect_jumps(data, groupdq, READ_NOISE_DN, GAIN, read_times(ngroups), block_rows=4)
    assert groupdq[4, 4, 4] & JUMP
    for row, col in ((3, 4), (5, 4), (4, 3)):
        assert bool(groupdq[4, row, col] & JUMP) == neighbours
    assert not groupdq[4, 4, 5] & JUMP  # a saturated neighbour is not flagged


@pytest.mark.parametrize("ngroups", [3, 4, 5, 6, 10, 11, 30])
def test_flags_match_stcal(ngroups):
    """Same flags as stcal (primary and neighbours), apart from ratios that land on a threshold."""
    rng = np.random.default_rng(30 + ngroups)
    flux = np.exp(rng.uniform(math.log(0.05), math.log(3000), (60, 80)))
    data = simulate(flux, ngroups, rng)
    inject(data, rng, 0.03, (4, 300), flux)
    groupdq = np.zeros(data.shape, np.uint8)
    saturates = rng.random(flux.shape) < 0.05
    first = rng.integers(0, ngroups, flux.shape)
    for k in range(ngroups):
        groupdq[k][saturates & (first <= k)] |= G["SATURATED"]
    groupdq |= np.where(rng.random(data.shape) < 0.01, np.uint8(G["DO_NOT_USE"]), np.uint8(0))
    ours, n_ours = detect_jumps(data, groupdq.copy(), READ_NOISE_DN, GAIN, read_times(ngroups), block_rows=7)
    theirs, n_theirs = stcal_jumps(data, groupdq)
    mismatched = ((ours & JUMP) != (theirs & JUMP)).sum()
    assert mismatched <= 1e-4 * data.size, mismatched
    assert (ours & JUMP).any()
    assert abs(n_ours - n_theirs) <= 1e-4 * data.size
    np.testing.assert_array_equal(ours & ~np.uint8(JUMP), groupdq)


def test_threshold_and_neighbour_options_match_stcal():
    rng = np.random.default_rng(40)
    flux = np.exp(rng.uniform(math.log(0.5), math.log(300), (50, 50)))
    data = simulate(flux, 12, rng)
    inject(data, rng, 0.05, (3, 500), flux)
    options = dict(rejection_threshold=5.0, max_jump_to_flag_neighbors=100.0, min_jump_to_flag_neighbors=20.0)
    ours, _ = detect_jumps(data, None, READ_NOISE_DN, GAIN, read_times(12), **options)
    theirs, _ = stcal_jumps(data, np.zeros(data.shape, np.uint8), **options)
    assert ((ours & JUMP) != (theirs & JUMP)).sum() <= 2
    no_neighbours, _ = detect_jumps(data, None, READ_NOISE_DN, GAIN, read_times(12), flag_4_neighbors=False)
    theirs, _ = stcal_jumps(data, np.zeros(data.shape, np.uint8), flag_4_neighbors=False)
    assert ((no_neighbours & JUMP) != (theirs & JUMP)).sum() <= 2


@pytest.mark.parametrize("ngroups", [6, 15])
def test_standalone_and_fused_detection_agree(ngroups):
    rng = np.random.default_rng(50 + ngroups)
    flux = np.exp(rng.uniform(math.log(0.5), math.log(2000), (33, 40)))
    data = simulate(flux, ngroups, rng)
    inject(data, rng, 0.05, (5, 150), flux)
    standalone, n_standalone = detect_jumps(data, None, READ_NOISE_DN, GAIN, read_times(ngroups))
    for block_rows in (1, 4, None):
        fused = np.zeros(data.shape, np.uint8)
        fit_ramps(data, read_times(ngroups), READ_NOISE_DN, GAIN, fused, jump_threshold=4.0, block_rows=block_rows)
        np.testing.assert_array_equal(fused, standalone)
        again, n_again = detect_jumps(data, None, READ_NOISE_DN, GAIN, read_times(ngroups), block_rows=block_rows)
        np.testing.assert_array_equal(again, standalone)
        assert n_again == n_standalone


def test_existing_jump_flags_are_kept_but_neither_counted_nor_spread():
    rng = np.random.default_rng(60)
    data = simulate(np.full((5, 5), 2.0), 8, rng)
    groupdq = np.zeros(data.shape, np.uint8)
    groupdq[3, 2, 2] = JUMP
    groupdq[5, 0, 0] = JUMP | G["DO_NOT_USE"]
    groupdq, n_jumps = detect_jumps(data, groupdq, READ_NOISE_DN, GAIN, read_times(8))
    assert n_jumps == 0
    assert groupdq[3, 2, 2] == JUMP and groupdq[5, 0, 0] == JUMP | G["DO_NOT_USE"]
    assert (groupdq != 0).sum() == 2


def test_ramps_too_short_and_uneven_times():
    rng = np.random.default_rng(70)
    data = simulate(np.full((4, 4), 10.0), 2, rng)
    data[1] += 1000
    groupdq, n_jumps = detect_jumps(data, None, READ_NOISE_DN, GAIN, read_times(2))
    assert n_jumps == 0 and not groupdq.any()
    # Groups at uneven times: differences are compared as rates, each with its own sigma, as stcal
    # does with its dt_group. (Its false-positive rate is higher there: the median of |d| over rates
    # of unequal noise is a poorer reference.)
    times = np.array([1.0, 2.0, 4.0, 7.0, 11.0, 16.0, 22.0]) * FRAME_TIME_S
    flux = np.full((100, 100), 20.0)
    steps = np.diff(times, prepend=0.0)
    electrons = np.stack([rng.poisson(flux * dt * GAIN) for dt in steps]).cumsum(axis=0).astype(np.float64)
    data = (1000 + electrons / GAIN + rng.normal(0, READ_NOISE_DN, electrons.shape)).astype(np.float32)
    groupdq, _ = detect_jumps(data, None, READ_NOISE_DN, GAIN, times)
    theirs, _ = stcal_jumps(data, np.zeros(data.shape, np.uint8), times)
    assert ((groupdq & JUMP) != (theirs & JUMP)).sum() <= 2
    assert (groupdq & JUMP).any(axis=0).mean() < 0.01
    data[4:, :, :50] += 300.0
    groupdq, _ = detect_jumps(data, None, READ_NOISE_DN, GAIN, times, flag_4_neighbors=False)
    assert (groupdq[4, :, :50] & JUMP).astype(bool).mean() >= 0.98


def stcal_jumps_exposure(data, groupdq, **options):
    """stcal's detect_jumps_data on a whole exposure (nints, ngroups, ny, nx)."""
    shape = data.shape[2:]
    jump_data = JumpData(
        gain2d=np.full(shape, GAIN, np.float32),
        rnoise2d=np.full(shape, READ_NOISE_DN * math.sqrt(2), np.float32),
        dqflags=dqflags.PIXEL,
    )
    jump_data.init_arrays_from_arrays(data.copy(), groupdq.copy(), np.zeros(shape, np.uint32))
    jump_data.nframes = 1
    jump_data.dt_group = np.ones(1)
    jump_data.n_reads_groupdiff = np.full(1, 2.0)
    jump_data.set_detection_settings(4.0, 6.0, 5.0, 200.0, 10.0, options.get("flag_4_neighbors", True))
    jump_data.max_cores = "none"
    gdq, _, n_jumps, _ = detect_jumps_data(jump_data)
    return gdq, n_jumps


@pytest.mark.parametrize("nints", [2, 4, 12])
def test_cds_integrations_are_searched_together(nints):
    """2-group integrations have one difference each: the integrations of a pixel are searched together
    (iterative for 2 and 4 differences, single pass for 12) with stcal's arithmetic on the pooled
    differences; jumps of 8-100 sigma are found, clean pixels almost never flagged. stcal 1.20 itself
    skips such exposures (fewer than 3 usable groups per integration and fewer than 100 groups for
    its sigma clipping): a documented difference."""
    rng = np.random.default_rng(80 + nints)
    flux = np.full((40, 40), 5.0)
    data = np.stack([simulate(flux, 2, rng) for _ in range(nints)])
    hit = rng.random((nints,) + flux.shape) < 0.03
    size = rng.uniform(8, 100, hit.shape) * difference_sigma(flux)
    data[:, 1] += np.where(hit, size, 0).astype(np.float32)
    groupdq, n_jumps = detect_jumps(data, None, READ_NOISE_DN, GAIN, read_times(2), flag_4_neighbors=False)
    flagged = (groupdq[:, 1] & JUMP) != 0
    assert not (groupdq[:, 0] & JUMP).any()
    assert n_jumps == flagged.sum()
    assert flagged[hit].mean() >= 0.95, flagged[hit].mean()
    clean = ~hit.any(axis=0)
    assert flagged[:, clean].mean() < 0.01
    theirs, _ = stcal_jumps_exposure(data, np.zeros(data.shape, np.uint8), flag_4_neighbors=False)
    assert not (theirs & JUMP).any()
    # One integration alone: nothing to compare with, nothing flagged (3-D and 4-D input alike).
    assert detect_jumps(data[:1], None, READ_NOISE_DN, GAIN, read_times(2))[1] == 0
    assert detect_jumps(data[0], None, READ_NOISE_DN, GAIN, read_times(2))[1] == 0


def test_cds_neighbours_and_multi_group_exposures():
    """Across integrations, a jump between the neighbour limits flags the same group of its 4 neighbours;
    a 4-D exposure of longer integrations gives the flags of its integrations searched one at a time."""
    rng = np.random.default_rng(90)
    flux = np.full((9, 9), 5.0)
    data = np.stack([simulate(flux, 2, rng) for _ in range(4)])
    data[2, 1, 4, 4] += 50 * difference_sigma(5.0)
    groupdq, n_jumps = detect_jumps(data, None, READ_NOISE_DN, GAIN, read_times(2))
    assert n_jumps == 1
    flagged = np.argwhere(groupdq & JUMP)
    assert {tuple(f) for f in flagged} == {(2, 1, 4, 4), (2, 1, 3, 4), (2, 1, 5, 4), (2, 1, 4, 3), (2, 1, 4, 5)}
    longer = np.stack([simulate(np.full((20, 20), 5.0), 6, rng) for _ in range(3)])
    longer[1, 3:, 5, 5] += 300.0
    exposure, n_exposure = detect_jumps(longer, None, READ_NOISE_DN, GAIN, read_times(6))
    separately = [detect_jumps(ramp, None, READ_NOISE_DN, GAIN, read_times(6)) for ramp in longer]
    np.testing.assert_array_equal(exposure, np.stack([gdq for gdq, _ in separately]))
    assert n_exposure == sum(n for _, n in separately) >= 1
