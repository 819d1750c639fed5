"""Reference-pixel correction: synthetic drifts, bad reference pixels, and simulated exposures."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from astropy.io import fits
from conftest import linear_ramp, write_raw, write_refstore
from stpipe import _cmdline

from iris_pipeline import dqflags
from iris_pipeline.pipelines import Detector1Pipeline
from iris_pipeline.refpix import subtract_reference_pixels
from iris_pipeline.refpix.reference_pixels import row_drift_detected
from iris_pipeline.simulate import simulate_observation

REF = dqflags.PIXEL["REFERENCE_PIXEL"]
BORDER = 4
CHANNEL = 16


def corner_window(ny=64, nx=64, ngroups=4, seed=0):
    """Signal on the light-sensitive pixels plus drifts per read, per channel and column parity."""
    rng = np.random.default_rng(seed)
    dq = np.zeros((ny, nx), np.uint32)
    dq[:BORDER, :] |= REF | dqflags.PIXEL["DO_NOT_USE"]
    dq[:, :BORDER] |= REF | dqflags.PIXEL["DO_NOT_USE"]
    signal = np.zeros((1, ngroups, ny, nx))
    signal[:, :, BORDER:, BORDER:] = rng.uniform(0, 50, (ny - BORDER, nx - BORDER)) * np.arange(ngroups)[:, None, None]
    columns = np.arange(nx)
    channel_parity = (columns // CHANNEL) * 2 + columns % 2
    drift = (
        rng.normal(0, 5, (1, ngroups, 1, 1))
        + rng.normal(0, 3, (1, ngroups, 1, channel_parity.max() + 1))[..., channel_parity]
    )
    return (1000.0 + signal + drift).astype(np.float32), dq, signal


def test_channel_and_parity_drifts_are_removed():
    data, dq, signal = corner_window()
    applied = subtract_reference_pixels(data, dq, first_column=0, channel_width_pix=CHANNEL, use_side_ref_pixels=False)
    assert applied == {"rows": True, "columns": False}
    np.testing.assert_allclose(data[..., BORDER:, BORDER:], signal[..., BORDER:, BORDER:], atol=1e-3)


def test_without_odd_even_columns_parity_drifts_remain():
    data, dq, signal = corner_window()
    subtract_reference_pixels(data, dq, 0, CHANNEL, odd_even_columns=False, use_side_ref_pixels=False)
    residual = data[..., BORDER:, BORDER:] - signal[..., BORDER:, BORDER:]
    assert np.abs(residual).max() > 0.5


def test_side_columns_remove_row_dependent_drift():
    data, dq, signal = corner_window(ny=200)
    row_drift = np.linspace(-8, 8, 200)[None, None, :, None] * np.array([0, 1, -1, 2])[None, :, None, None]
    data += row_drift.astype(np.float32)
    subtract_reference_pixels(data, dq, 0, CHANNEL, side_smoothing_length=1)
    residual = data[..., BORDER:, BORDER:] - signal[..., BORDER:, BORDER:]
    # The row drift is removed; what remains is the row drift's share of the bottom-row means.
    assert np.ptp(residual, axis=2).max() < 1e-3


def test_bad_reference_pixels_are_ignored():
    data, dq, signal = corner_window()
    dq[1, 20] |= dqflags.PIXEL["BAD_REF_PIXEL"]
    data[:, :, 1, 20] += 5000.0
    subtract_reference_pixels(data, dq, 0, CHANNEL, use_side_ref_pixels=False)
    np.testing.assert_allclose(data[..., BORDER:, BORDER:], signal[..., BORDER:, BORDER:], atol=1e-3)


def test_window_without_reference_pixels_is_left_alone():
    data, _, _ = corner_window()
    before = data.copy()
    applied = subtract_reference_pixels(data, np.zeros(data.shape[-2:], np.uint32), 0, CHANNEL)
    assert applied == {"rows": False, "columns": False}
    np.testing.assert_array_equal(data, before)


@pytest.fixture(scope="module")
def noisy_and_noiseless(tmp_path_factory):
    """The same simulated 96 x 96 exposure with and without noise and bias drifts."""
    root = tmp_path_factory.mktemp("refpix_sim")
    manifests = {}
    for noise in (True, False):
        manifests[noise] = simulate_observation(
            root / f"noise_{noise}", size=96, detectors=["IMG1"], ndithers=1, n_stars=0, n_galaxies=0,
            ndarks=0, nflats=0, cosmic_ray_rate_per_pix_s=0.0, noise=noise, seed=3, ngroups=10,
        )  # fmt: skip
    return manifests


@pytest.mark.parametrize("skip_refpix", [False, True])
def test_simulated_drifts_need_refpix_for_honest_rates(noisy_and_noiseless, skip_refpix):
    rates = {}
    for noise, manifest in noisy_and_noiseless.items():
        rates[noise] = Detector1Pipeline.call(
            str(manifest.science[0]), refstore=str(manifest.reference_dir), steps={"refpix": {"skip": skip_refpix}}
        )
    good = (rates[True].dq == 0) & (rates[False].dq == 0)
    z = ((rates[True].data - rates[False].data) / rates[True].err)[good]
    if skip_refpix:
        assert abs(z.mean()) > 0.5 or z.std() > 1.2
    else:
        assert abs(z.mean()) < 0.15
        assert 0.9 < z.std() < 1.1


@pytest.mark.parametrize(("drift_dn", "expected"), [(0.0, False), (1.5, True)])
def test_side_correction_only_where_the_reference_columns_show_a_row_drift(drift_dn, expected):
    """White read noise alone: subtracting the side signal would add row-correlated noise, so it
    is skipped; a row-to-row (1/f-like) drift above that noise is detected and removed."""
    rng = np.random.default_rng(3)
    data, dq, _ = corner_window(ny=256, nx=64, ngroups=5)
    data = data + rng.normal(0, 5.0, data.shape).astype(np.float32)
    row_walk = np.cumsum(rng.normal(0, drift_dn, (1, 5, 256, 1)), axis=2)
    data = (data + row_walk).astype(np.float32)
    side = data[0][:, :, :BORDER] - data[0][:, :, :BORDER].mean(axis=(1, 2), keepdims=True)
    assert row_drift_detected(side, np.ones((256, BORDER))) is expected
    applied = subtract_reference_pixels(data, dq, 0, CHANNEL)
    assert applied["columns"] is expected


def test_refpix_alone_on_a_window_without_reference_pixels_records_skipped(tmp_path, caplog):
    """A window inside the detector has no reference pixels: nothing is corrected, and S_REFPIX says so."""
    window = {"SUBSTRT1": 1001, "SUBSTRT2": 1001}
    refs = write_refstore(tmp_path / "refs", (16, 16), **window)
    write_raw(tmp_path / "obs_uncal.fits", linear_ramp(np.full((16, 16), 5.0)), **window)
    for alias, source in (("dq_init", "obs_uncal.fits"), ("refpix", "obs_dq_init.fits")):
        _cmdline.step_from_cmdline(
            [f"iris-pipeline::{alias}", str(tmp_path / source), f"--refstore={refs}", f"--output_dir={tmp_path}"]
        )
    assert fits.getval(tmp_path / "obs_refpix.fits", "S_REFPIX") == "SKIPPED"
    assert any(
        record.levelno == logging.WARNING and "no reference pixels" in record.getMessage() for record in caplog.records
    )


def test_a_step_instance_run_again_records_its_new_outcome(tmp_path):
    """SKIPPED on a window without reference pixels does not stick to the next exposure, which has them."""
    from iris_pipeline.refpix import RefPixStep

    paths = {}
    border = np.zeros((16, 16), np.uint32)
    border[:BORDER] = border[:, :BORDER] = REF | dqflags.PIXEL["DO_NOT_USE"]
    for name, start, mask in (("inner", 1001, None), ("corner", 1, border)):
        folder = tmp_path / name
        window = {"SUBSTRT1": start, "SUBSTRT2": start}
        refs = write_refstore(folder / "refs", (16, 16), mask_dq=mask, **window)
        write_raw(folder / "obs_uncal.fits", linear_ramp(np.full((16, 16), 5.0)), **window)
        _cmdline.step_from_cmdline(
            ["iris-pipeline::dq_init", str(folder / "obs_uncal.fits"), f"--refstore={refs}", f"--output_dir={folder}"]
        )
        paths[name] = (folder / "obs_dq_init.fits", refs)
    step = RefPixStep()
    outcomes = []
    for name in ("inner", "corner"):
        path, refs = paths[name]
        step.refstore = str(refs)
        outcomes.append(step.run(str(path)).meta.cal_step.refpix)
    assert outcomes == ["SKIPPED", "COMPLETE"]
