"""Stage-1 algorithms on plain arrays, and reference cut-outs for subarray exposures."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import linear_ramp, write_raw, write_refstore

from iris_pipeline import datamodels, dqflags
from iris_pipeline.exceptions import ReferenceFileError
from iris_pipeline.lib.subarray import Window, reference_cutout
from iris_pipeline.pipelines import Detector1Pipeline
from iris_pipeline.ramp_fitting import fit_ramps_stcal
from iris_pipeline.saturation import flag_saturation, prepare_saturation

SAT = dqflags.GROUP["SATURATED"]


def test_saturation_flags_the_crossing_group_and_all_later_ones():
    data = np.zeros((5, 5, 5), np.float32)
    data[:, 2, 2] = [100, 200, 300, 400, 500]
    groupdq = np.zeros(data.shape, np.uint8)
    pixeldq = np.zeros((5, 5), np.uint32)
    level = np.full((5, 5), 1000.0, np.float32)
    level[2, 2] = 250.0
    threshold = prepare_saturation(level, np.zeros((5, 5), np.uint32), pixeldq)
    flag_saturation(data + 1, groupdq, threshold, n_pix_grow_sat=0)
    assert [bool(g & SAT) for g in groupdq[:, 2, 2]] == [False, False, True, True, True]
    assert np.count_nonzero(groupdq & SAT) == 3
    assert not pixeldq.any()


def test_saturation_grows_into_neighbours_and_honours_unknown_levels():
    data = np.full((2, 5, 5), 500.0, np.float32)
    level = np.full((5, 5), 1000.0, np.float32)
    level[2, 2] = 100.0
    level[0, 0] = np.nan
    level[4, 4] = 10.0
    level_dq = np.zeros((5, 5), np.uint32)
    level_dq[4, 4] = dqflags.PIXEL["NO_SAT_CHECK"]
    groupdq = np.zeros(data.shape, np.uint8)
    pixeldq = np.zeros((5, 5), np.uint32)
    threshold = prepare_saturation(level, level_dq, pixeldq)
    flag_saturation(data, groupdq, threshold, n_pix_grow_sat=1)
    assert np.count_nonzero(groupdq[1] & SAT) == 9
    assert pixeldq[0, 0] & dqflags.PIXEL["NO_SAT_CHECK"] and pixeldq[4, 4] & dqflags.PIXEL["NO_SAT_CHECK"]
    assert not groupdq[:, 0, 0].any() and not groupdq[:, 4, 4].any()


@pytest.mark.parametrize("n_pix_grow_sat", [0, 1, 2])
def test_saturation_matches_stcal_for_single_read_groups(n_pix_grow_sat):
    from stcal.saturation.saturation import flag_saturated_pixels

    rng = np.random.default_rng(5)
    data = np.cumsum(rng.uniform(0, 4000, (1, 8, 40, 30)), axis=1).astype(np.float32)
    data[0, :, 3, 3] = 0.0
    level = rng.uniform(10000, 30000, (40, 30)).astype(np.float32)
    level[5, 5] = np.nan
    gdq_stcal, _, _ = flag_saturated_pixels(
        data.copy(), np.zeros(data.shape, np.uint8), np.zeros((40, 30), np.uint32), level.copy(),
        np.zeros((40, 30), np.uint32), 65535, dqflags.PIXEL, n_pix_grow_sat=n_pix_grow_sat,
    )  # fmt: skip
    groupdq = np.zeros(data.shape[1:], np.uint8)
    threshold = prepare_saturation(level, np.zeros((40, 30), np.uint32), np.zeros((40, 30), np.uint32))
    flag_saturation(data[0], groupdq, threshold, n_pix_grow_sat)
    np.testing.assert_array_equal(groupdq, gdq_stcal[0])


@pytest.mark.parametrize(("signal_per_read", "group0_saturated"), [(300.0, True), (200.0, False)])
def test_saturation_diluted_by_group_averaging(signal_per_read, group0_saturated):
    """Two groups of 4 averaged reads on a 1000 DN bias; the signal saturates at 1000 DN.

    At 300 DN/read the 4th read of group 0 saturates although the group's mean is below the
    threshold: group 0 must be flagged. At 200 DN/read group 0 never saturates; a test on raw DN
    (bias included) would flag it wrongly.
    """
    bias = 1000.0
    reads = bias + np.minimum(signal_per_read * np.arange(1, 9), 1000.0)
    data = np.array([reads[:4].mean(), reads[4:].mean()], np.float32)[:, None, None]
    threshold = np.full((1, 1), bias + 1000.0, np.float32)
    groupdq = np.zeros((2, 1, 1), np.uint8)
    pattern = [[1, 2, 3, 4], [5, 6, 7, 8]]
    flag_saturation(data, groupdq, threshold, 0, read_pattern=pattern, bias_dn=np.full((1, 1), bias, np.float32))
    assert [bool(g & SAT) for g in groupdq[:, 0, 0]] == [group0_saturated, True]


def test_stcal_fit_uses_single_read_noise_correctly():
    """Read-noise variance of an unweighted-equivalent fit: 12 sigma^2 / (n^3 - n) / dt^2."""
    n, dt, sigma = 10, 0.72, 3.0
    data = (1000.0 + 0.0 * np.arange(n))[None, :, None, None] * np.ones((1, n, 4, 4), np.float32)
    image, _ = fit_ramps_stcal(
        data.astype(np.float32), np.zeros(data.shape, np.uint8), np.zeros((4, 4), np.uint32),
        np.full((4, 4), sigma, np.float32), np.full((4, 4), 2.0, np.float32),
        frame_time_s=dt, group_time_s=dt, nframes=1, groupgap=0,
    )  # fmt: skip
    expected = 12 * sigma**2 / ((n**3 - n) * dt**2)
    np.testing.assert_allclose(image.var_rnoise, expected, rtol=1e-4)
    np.testing.assert_allclose(image.slope, 0.0, atol=1e-6)


def test_window_cutout_of_full_frame_reference():
    full = np.arange(100 * 100, dtype=np.float32).reshape(100, 100)
    cut = reference_cutout(full, Window(1, 1, 100, 100), Window(11, 21, 30, 20), "ref.fits")
    np.testing.assert_array_equal(cut, full[20:40, 10:40])
    with pytest.raises(ReferenceFileError, match="ref.fits: reference covers rows 1-100"):
        reference_cutout(full, Window(1, 1, 100, 100), Window(90, 1, 30, 20), "ref.fits")
    with pytest.raises(ReferenceFileError, match="array shape .* disagrees with its SUBSIZE"):
        reference_cutout(full, Window(1, 1, 64, 64), Window(1, 1, 10, 10), "ref.fits")


def test_subarray_exposure_uses_the_right_part_of_full_frame_references(tmp_path, monkeypatch):
    saturation = np.full((64, 64), 60000.0, np.float32)
    saturation[40:, 40:] = 1500.0  # only inside the window below
    root = write_refstore(tmp_path / "refs", (64, 64), saturation_dn=saturation)
    monkeypatch.setenv("IRIS_REFSTORE", str(root))
    rate = np.full((16, 16), 100 / 0.72)
    raw = write_raw(
        tmp_path / "w_uncal.fits", linear_ramp(rate, ngroups=8), SUBARRAY="WIN16",
        SUBSTRT1=41, SUBSTRT2=33,
    )  # fmt: skip
    rate_model = Detector1Pipeline.call(str(raw), save_calibrated_ramp=False)
    # Rows 33-39 (1-based) see the 60000 DN level; rows 40-48 see 1500 DN and saturate at group 5.
    assert not (rate_model.dq[:7] & SAT).any()
    assert (rate_model.dq[7:] & SAT).all()
    np.testing.assert_allclose(rate_model.data, 100 / 0.72, rtol=1e-5)


def test_reference_of_wrong_shape_is_refused(tmp_path, monkeypatch):
    root = write_refstore(tmp_path / "refs", (16, 16))
    monkeypatch.setenv("IRIS_REFSTORE", str(root))
    raw = write_raw(tmp_path / "big_uncal.fits", linear_ramp(np.ones((32, 32)), ngroups=3))
    with pytest.raises(ReferenceFileError, match="iris_img1_mask.fits: reference covers rows 1-16"):
        Detector1Pipeline.call(str(raw))


def test_one_group_ramp_and_fully_saturated_ramp_are_flagged_not_crashing(tmp_path, refstore):
    one_group = write_raw(tmp_path / "one_uncal.fits", linear_ramp(np.full((32, 32), 10.0), ngroups=1))
    result = Detector1Pipeline.call(str(one_group))
    assert result.data.shape == (32, 32)
    # stcal / JWST with suppress_one_group: a single read gives no rate, and says so.
    assert np.isnan(result.data).all()
    assert (result.dq & dqflags.PIXEL["DO_NOT_USE"]).all()
    kept = Detector1Pipeline.call(str(one_group), steps={"ramp_fit": {"suppress_one_group": False}})
    light = (kept.dq & dqflags.PIXEL["DO_NOT_USE"]) == 0
    assert light.any() and np.isfinite(kept.data[light]).all()
    saturated = write_raw(tmp_path / "sat_uncal.fits", np.full((1, 4, 32, 32), 65000, np.uint16))
    result = Detector1Pipeline.call(str(saturated))
    assert (result.dq & dqflags.PIXEL["SATURATED"]).all()
    assert (result.dq & dqflags.PIXEL["DO_NOT_USE"]).all()
    assert isinstance(result, datamodels.RateModel)


def test_ramp_steps_refuse_raw_input_with_a_clear_message(tmp_path, refstore):
    from iris_pipeline.exceptions import InputFileError
    from iris_pipeline.saturation import SaturationStep

    raw = write_raw(tmp_path / "r_uncal.fits", linear_ramp(np.ones((32, 32)), ngroups=3))
    with pytest.raises(InputFileError, match="r_uncal.fits: saturation needs a RampModel, not RawRampModel"):
        SaturationStep.call(str(raw))
