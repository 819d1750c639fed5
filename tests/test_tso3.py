"""tso3: time-series photometry of a simulated transit.

Array level (`iris_pipeline.tso_photometry` on `simulate_tso_rates` cubes): the depth and the
mid-time are recovered within 2 sigma, and their errors are calibrated over 24 realisations.
Then one end-to-end run through `Tso3Pipeline` on the ``_calints`` that image2 saved from a raw
TSO exposure (`simulate_tso_observation` -> detector1 -> image2), and one through ``strun``.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from _transit_pulls import assert_transit_pulls_calibrated

from iris_pipeline.dqflags import PIXEL
from iris_pipeline.simulate.tso import TransitTruth, simulate_tso_rates
from iris_pipeline.tso_photometry import (
    ApertureSettings,
    fit_transit,
    gaussian_fwhm_from_moment,
    measure_time_series,
    relative_flux,
    trapezoid_shape,
)

logging.getLogger("stpipe").setLevel(logging.WARNING)

SECONDS_PER_DAY = 86400.0
SETTINGS = ApertureSettings(radius_pix=5.0, annulus_inner_pix=8.0, annulus_outer_pix=12.0, centroid_radius_pix=4.0)
N_REALISATIONS = 24


def _fit(sim, settings=SETTINGS):
    result = measure_time_series(sim.data, sim.err, sim.dq, sim.positions, settings)
    rel, rel_err = relative_flux(result.flux[:, 0], result.flux_err[:, 0], result.flux[:, 1:], result.flux_err[:, 1:])
    transit = sim.transit
    fit = fit_transit(sim.mid_time_s / SECONDS_PER_DAY, rel, rel_err, transit.duration_s / SECONDS_PER_DAY,
                      transit.ingress_s / SECONDS_PER_DAY, good=(result.dq == 0).all(axis=1))  # fmt: skip
    return result, fit


def test_trapezoid_shape_and_fwhm_inversion():
    assert trapezoid_shape([0.0, 0.3, 0.45, 0.5, 0.7], 1.0, 0.1).tolist() == pytest.approx([1, 1, 0.5, 0, 0])
    # <r^2> of a Gaussian truncated at R, measured numerically, gives back its FWHM.
    sigma, radius = 1.7, 4.0
    r = np.linspace(0, radius, 200001)
    weight = r * np.exp(-(r**2) / (2 * sigma**2))
    mean_r2 = np.trapezoid(weight * r**2, r) / np.trapezoid(weight, r)
    assert gaussian_fwhm_from_moment(mean_r2, radius) == pytest.approx(2.3548 * sigma, rel=1e-4)


def test_one_light_curve_measures_centroid_fwhm_background():
    sim = simulate_tso_rates(seed=3)
    result, fit = _fit(sim)
    nint = sim.data.shape[0]
    assert result.flux.shape == (nint, 3)
    # Centroids follow the jitter; FWHM is the simulated Gaussian's.
    truth_x = sim.positions[:, 0][None, :] + sim.jitter_xy[:, :1]
    assert np.abs(result.x_pix - truth_x).max() < 0.05
    assert np.median(result.fwhm_pix) == pytest.approx(sim.fwhm_pix, rel=0.05)
    sky_dn_s = sim.sky_e_s / sim.gain_e_per_dn
    assert np.median(result.background) == pytest.approx(sky_dn_s, abs=3 * np.median(result.background_err))
    # Out-of-transit scatter of the relative flux agrees with its propagated error.
    rel, rel_err = relative_flux(result.flux[:, 0], result.flux_err[:, 0], result.flux[:, 1:], result.flux_err[:, 1:])
    out = sim.target_relative_flux == 1.0
    assert np.std(rel[out]) / np.median(rel_err[out]) == pytest.approx(1.0, abs=0.3)
    assert abs(fit.depth - sim.transit.depth) < 2 * fit.depth_err + 1e-12


def test_bad_pixel_in_aperture_flags_the_integration():
    sim = simulate_tso_rates(nints=20, seed=4)
    x, y = np.rint(sim.positions[0]).astype(int)
    sim.dq[5, y, x + 1] |= PIXEL["DO_NOT_USE"]
    sim.dq[7, y, x] |= PIXEL["SATURATED"]
    result = measure_time_series(sim.data, sim.err, sim.dq, sim.positions, SETTINGS)
    assert result.dq[5, 0] & PIXEL["DO_NOT_USE"]
    assert result.dq[7, 0] & PIXEL["SATURATED"]
    assert not result.dq[5, 1:].any() and not result.dq[[0, 1, 2, 3, 4, 6], 0].any()


def test_depth_and_mid_time_recovered_with_calibrated_errors():
    """24 realisations: depth and mid-time within 2 sigma of the truth (>= 85 % and >= 80 % of the
    realisations, none beyond 3.5 sigma), and the depth error calibrated: the spread of
    (depth - truth) / depth_err is 1 within 0.3.

    The mid-time pulls are not Gaussian (the chi-square has kinks where the contact points cross
    integration times): the std of a batch of 24 ranges 0.5-1.4 between seeds, 1.01 over 150
    realisations; hence the wider bound on their spread.
    """
    # 100 integrations of 8 groups (0.10 s each), 6 integrations per ingress: a depth of ~4 times
    # the error per integration, where the chi-square is close to a parabola in the mid-time.
    transit = TransitTruth(depth=0.012, mid_time_s=4.5, duration_s=3.0, ingress_s=0.6)
    depth_pulls, time_pulls = [], []
    for seed in range(N_REALISATIONS):
        sim = simulate_tso_rates(nints=100, ngroups=8, transit=transit, seed=100 + seed)
        _, fit = _fit(sim)
        depth_pulls.append((fit.depth - transit.depth) / fit.depth_err)
        time_pulls.append((fit.t0 * SECONDS_PER_DAY - transit.mid_time_s) / (fit.t0_err * SECONDS_PER_DAY))
    depth_pulls, time_pulls = np.array(depth_pulls), np.array(time_pulls)
    print(f"depth pulls: mean {depth_pulls.mean():+.2f} std {depth_pulls.std(ddof=1):.2f}; "
          f"mid-time pulls: mean {time_pulls.mean():+.2f} std {time_pulls.std(ddof=1):.2f}")  # fmt: skip
    assert_transit_pulls_calibrated(depth_pulls, time_pulls)


# -- end to end: raw TSO exposure -> process (detector1, image2, tso3) -> light curve --------------


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    """A simulated raw TSO exposure run through ``iris-pipeline process`` (stage 1, 2 and 3)."""
    from iris_pipeline.cli import main
    from iris_pipeline.simulate.tso import simulate_tso_observation

    root = tmp_path_factory.mktemp("tso")
    sim = simulate_tso_observation(root / "sim", nints=60, ngroups=4, seed=0)
    out = root / "out"
    status = main(
        ["process", str(sim["raw"]), "-o", str(out), "--refstore", str(sim["reference_dir"]), "--no-progress"]
    )
    return sim, out, status


def _bjd_truth(sim):
    from astropy.table import Table

    from iris_pipeline.instruments import get_instrument
    from iris_pipeline.tso_photometry import mjd_utc_to_bjd_tdb

    meta = Table.read(sim["truth"]).meta
    return meta, mjd_utc_to_bjd_tdb([meta["mid_time_mjd_utc"]], meta["target_ra_deg"], meta["target_dec_deg"],
                                    get_instrument("IRIS").site)[0]  # fmt: skip


def test_process_keeps_integrations_and_runs_tso3_after_image2(processed):
    from astropy.table import Table

    from iris_pipeline import datamodels
    from iris_pipeline.execution.plan import build_plan

    sim, out, status = processed
    assert status == 0
    plan = build_plan([sim["raw"]], out, refstore=str(sim["reference_dir"]))
    kinds = {task.kind: task for task in plan.tasks}
    assert kinds["stage1"].options.get("save_rateints") is True
    assert kinds["stage2"].inputs[0].endswith("_rateints.fits")
    assert kinds["stage3"].alias == "tso3" and kinds["stage3"].inputs[0].endswith("_calints.fits")
    stem = sim["raw"].name.removesuffix("_uncal.fits")
    with datamodels.open(out / f"{stem}_calints.fits") as cube:
        assert isinstance(cube, datamodels.CubeModel) and cube.data.shape == (60, 64, 64)
        assert cube.meta.bunit_data == "MJy/sr"
        steps = cube.meta.cal_step
        assert (steps.assign_wcs, steps.flat_field, steps.photom, steps.background) == ("COMPLETE",) * 3 + ("SKIPPED",)
    (phot,) = out.glob("*_phot.ecsv")
    assert phot.with_suffix(".png").is_file()
    assert not list(out.glob(".*partial*"))
    table = Table.read(phot)
    assert len(table) == 60 and table.meta["S_TSOPHT"] == "COMPLETE" and table.meta["TARGPOS"] == "WCS"


def test_tso3_pipeline_recovers_the_simulated_transit(processed, tmp_path):
    from astropy.table import Table

    from iris_pipeline.pipelines.tso3 import Tso3Pipeline

    sim, out, _ = processed
    meta, bjd_truth = _bjd_truth(sim)
    (calints,) = out.glob("*_calints.fits")
    pipeline = Tso3Pipeline(steps={"tso_photometry": {"transit_duration": meta["duration_s"],
                                                      "transit_ingress": meta["ingress_s"]}})  # fmt: skip
    pipeline.output_dir, pipeline.save_results = str(tmp_path), True
    pipeline.run(str(calints))
    table = Table.read(tmp_path / calints.name.replace("_calints.fits", "_phot.ecsv"))
    fit = table.meta["transit_fit"]
    assert fit["flux"] == "rel_flux" and len(table.meta["comparison_xy_pix"]) == 2
    print(f"end to end: depth pull {(fit['depth'] - meta['depth']) / fit['depth_err']:+.2f}, mid-time pull "
          f"{(fit['mid_time_bjd_tdb'] - bjd_truth) * SECONDS_PER_DAY / fit['mid_time_err_s']:+.2f}")  # fmt: skip
    assert abs(fit["depth"] - meta["depth"]) < 2 * fit["depth_err"]
    assert abs(fit["mid_time_bjd_tdb"] - bjd_truth) * SECONDS_PER_DAY < 2 * fit["mid_time_err_s"]
    # Centroids on the simulated position (plus jitter), times increasing by the integration period.
    assert np.median(table["x_centroid"]) == pytest.approx(meta["x_pix"][0], abs=0.1)
    assert np.median(table["y_centroid"]) == pytest.approx(meta["y_pix"][0], abs=0.1)
    period_s = np.diff(table["time_mjd_utc"]) * SECONDS_PER_DAY
    assert np.allclose(period_s, period_s[0], rtol=1e-6, atol=1e-4)
    # Barycentric correction of a few minutes at most, and BJD later than MJD + 2400000.5 by TT-UTC +- 8.3 min.
    shift_s = (table["time_bjd_tdb"] - table["time_mjd_utc"] - 2400000.5) * SECONDS_PER_DAY
    assert np.all(np.abs(shift_s - 69.184) < 500)


def test_strun_tso3_on_the_calints_image2_saved(processed, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from astropy.table import Table

    sim, out, _ = processed
    (calints,) = out.glob("*_calints.fits")
    command = [str(Path(sys.executable).parent / "strun"), "tso3", str(calints), f"--output_dir={tmp_path}",
               "--steps.tso_photometry.n_comparisons=1"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    table = Table.read(tmp_path / calints.name.replace("_calints.fits", "_phot.ecsv"))
    assert str(table["flux"].unit) == "Jy" and str(table["time_bjd_tdb"].unit) == "d"
    assert str(table["background"].unit) == "MJy / sr" and str(table["fwhm"].unit) == "pix"
    assert {"comp1_flux", "rel_flux", "dq"} <= set(table.colnames) and "comp2_flux" not in table.colnames
    assert all(table[name].description for name in table.colnames)
    assert (tmp_path / calints.name.replace("_calints.fits", "_phot.png")).is_file()


def test_target_off_the_image_is_skipped_with_a_warning_or_fails(processed, tmp_path, caplog):
    from iris_pipeline.exceptions import InputFileError
    from iris_pipeline.pipelines.tso3 import Tso3Pipeline

    _, out, _ = processed
    (calints,) = out.glob("*_calints.fits")
    off = {"target_x": 500.0, "target_y": 20.0}
    with caplog.at_level(logging.WARNING):
        result = Tso3Pipeline.call(str(calints), output_dir=str(tmp_path), save_results=True, configure_log=False,
                                   steps={"tso_photometry": off})  # fmt: skip
    assert result.meta.cal_step.tso_photometry == "SKIPPED"
    assert "off the 64 x 64 image" in caplog.text
    assert not list(tmp_path.glob("*_phot.*"))
    with pytest.raises(InputFileError, match="off the"):
        Tso3Pipeline.call(str(calints), output_dir=str(tmp_path), configure_log=False,
                          steps={"tso_photometry": {**off, "fail_on_incomplete": True}})  # fmt: skip


def test_image2_calibrates_each_integration_as_it_would_a_rate_image(processed, tmp_path):
    """Plane k of the _calints equals image2 of a _rate made of integration k (background off)."""
    from iris_pipeline import datamodels
    from iris_pipeline.pipelines import ProcessImagerL2Pipeline

    sim, out, _ = processed
    stem = sim["raw"].name.removesuffix("_uncal.fits")
    k = 7
    with datamodels.open(out / f"{stem}_rateints.fits") as cube:
        rate = datamodels.RateModel()
        rate.update(cube)
        for name in ("data", "dq", "err", "var_poisson", "var_rnoise"):
            setattr(rate, name, np.array(getattr(cube, name)[k]))
        rate.meta.filename = "one_rate.fits"
    single = ProcessImagerL2Pipeline.call(rate, refstore=str(sim["reference_dir"]), configure_log=False,
                                          steps={"background": {"skip": True}})  # fmt: skip
    with datamodels.open(out / f"{stem}_calints.fits") as calints:
        np.testing.assert_allclose(calints.data[k], single.data, rtol=1e-6, atol=0)
        np.testing.assert_allclose(calints.err[k], single.err, rtol=1e-6, atol=0)
        np.testing.assert_array_equal(calints.dq[k], single.dq)
        np.testing.assert_allclose(calints.area, single.area, rtol=1e-6)
