"""detector1 end to end on simulated ramps with known truth: rates, errors, jumps, saturation, bad inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from iris_pipeline import datamodels, dqflags
from iris_pipeline.exceptions import InputFileError, ReferenceFileError
from iris_pipeline.instruments import get_instrument
from iris_pipeline.pipelines import Detector1Pipeline
from iris_pipeline.simulate import (
    ExposureInfo,
    Pointing,
    Stream,
    make_detector_geometry,
    make_detector_model,
    make_read_pattern,
    make_rng,
    raw_keywords,
    simulate_ramp,
    write_raw,
    write_reference_files,
    write_refstore,
)

IRIS = get_instrument("IRIS")
SIZE = 128
JUMP = dqflags.PIXEL["JUMP_DET"]
SATURATED = dqflags.PIXEL["SATURATED"]
DO_NOT_USE = dqflags.PIXEL["DO_NOT_USE"]


@dataclass
class SimulatedExposure:
    raw: Path
    refstore: Path
    truth_rate_dn_s: np.ndarray
    cosmic_rays: object
    model: object


def simulate_exposure(root: Path, *, read_mode="UTR", ngroups=10, nframes=None, groupgap=None, cr_rate=0.0, seed=7):
    """A 128 x 128 corner window lit from faint to saturating, with its reference store and truth.

    A 128-row window reads in 22.5 ms, so the illumination spans 10 to 3e7 e-/s to reach saturation.
    """
    model = make_detector_model("IRIS", "IMG1", size=SIZE, seed=seed)
    geometry = make_detector_geometry(IRIS, "IMG1", make_rng(seed, Stream.GEOMETRY, 0))
    columns = np.linspace(0.0, 1.0, SIZE)
    illumination = np.broadcast_to(10.0 * 10 ** (6.5 * columns), (SIZE, SIZE)).copy()
    pattern = make_read_pattern(IRIS, read_mode, SIZE, ngroups=ngroups, nframes=nframes, groupgap=groupgap)
    ramp = simulate_ramp(
        model, illumination, pattern, make_rng(seed, Stream.EXPOSURE, 0), cosmic_ray_rate_per_pix_s=cr_rate
    )
    refs = root / "refs"
    write_reference_files(refs, IRIS, model, geometry, "Kbb", 0.3, "2031-01-01T00:00:00")
    write_refstore(refs)
    info = ExposureInfo(
        exp_type="IRIS_IMAGE", date_obs="2031-03-15T08:00:00.000", program="001", observation="001", visit="001",
        exposure=1, target_name="flat field", target_ra_deg=150.0, target_dec_deg=2.0,
        pointing=Pointing(150.0, 2.0, 0.0),
    )  # fmt: skip
    raw = write_raw(
        root / "ramp_uncal.fits", ramp.data, raw_keywords(IRIS, "IMG1", "Kbb", model.window, pattern, 1, info)
    )
    truth = (ramp.detected_rate_e_s - model.dark_e_s) / model.gain_e_per_dn
    return SimulatedExposure(raw, refs, truth, ramp.cosmic_rays, model)


@pytest.fixture(scope="module")
def clean_exposure(tmp_path_factory):
    return simulate_exposure(tmp_path_factory.mktemp("clean"))


@pytest.fixture(scope="module")
def cosmic_exposure(tmp_path_factory):
    return simulate_exposure(tmp_path_factory.mktemp("cosmic"), cr_rate=0.05, seed=8)


def usable(rate, model):
    return (rate.dq & (DO_NOT_USE | SATURATED | JUMP)) == 0


def test_rates_match_truth_within_honest_errors(clean_exposure):
    rate = Detector1Pipeline.call(str(clean_exposure.raw), refstore=str(clean_exposure.refstore))
    good = usable(rate, clean_exposure.model)
    assert good.mean() > 0.5
    z = ((rate.data - clean_exposure.truth_rate_dn_s) / rate.err)[good]
    assert abs(np.mean(z)) < 0.1
    assert 0.9 < np.std(z) < 1.15
    bright = good & (clean_exposure.truth_rate_dn_s > 1000)
    ratio = rate.data[bright] / clean_exposure.truth_rate_dn_s[bright]
    assert abs(np.median(ratio) - 1) < 2e-3, "linearity correction leaves a bias on bright pixels"


def test_pixels_that_saturate_are_flagged(clean_exposure):
    rate = Detector1Pipeline.call(str(clean_exposure.raw), refstore=str(clean_exposure.refstore))
    model = clean_exposure.model
    light = (model.dq & (dqflags.PIXEL["REFERENCE_PIXEL"] | DO_NOT_USE)) == 0
    last_group_time_s = 10 * IRIS.read_time_s(SIZE)
    signal_dn = clean_exposure.truth_rate_dn_s * last_group_time_s
    well_dn = model.saturation_dn - model.bias_dn
    # The nonlinearity keeps the measured signal some per cent below the true one near saturation.
    assert (rate.dq[light & (signal_dn > 1.3 * well_dn)] & SATURATED).all()
    assert not (rate.dq[light & (signal_dn < 0.5 * well_dn)] & SATURATED).any()
    assert (light & (signal_dn > 1.3 * well_dn)).sum() > 100


def test_cosmic_rays_are_found_and_clean_pixels_are_left_alone(cosmic_exposure):
    rate = Detector1Pipeline.call(str(cosmic_exposure.raw), refstore=str(cosmic_exposure.refstore))
    hits = cosmic_exposure.cosmic_rays
    model = cosmic_exposure.model
    group_time_s = IRIS.read_time_s(SIZE)
    read_e = model.read_noise_dn * model.gain_e_per_dn
    noise_e = np.sqrt(2 * read_e**2 + cosmic_exposure.truth_rate_dn_s * group_time_s * model.gain_e_per_dn)
    x, y = np.asarray(hits["x_pix"]), np.asarray(hits["y_pix"])
    central_charge = np.asarray(hits["charge_e"]) * 0.8
    strong = (central_charge > 10 * noise_e[y, x]) & (np.asarray(hits["group"]) > 0)
    unsaturated = (rate.dq[y, x] & SATURATED) == 0
    found = (rate.dq[y, x] & JUMP) != 0
    completeness = found[strong & unsaturated].mean()
    assert strong.sum() > 20
    assert completeness > 0.95
    # A hit's neighbours receive some of its charge and may flag their own neighbours: 2-pixel radius.
    hit_or_neighbour = np.zeros(rate.dq.shape, bool)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            hit_or_neighbour[np.clip(y + dy, 0, SIZE - 1), np.clip(x + dx, 0, SIZE - 1)] = True
    clean = ~hit_or_neighbour & ((rate.dq & (SATURATED | DO_NOT_USE)) == 0)
    false_positive_rate = ((rate.dq[clean] & JUMP) != 0).mean()
    assert false_positive_rate < 0.01


@pytest.mark.parametrize(("read_mode", "nframes", "groupgap"), [("CDS", None, None), ("MCDS", 4, 6)])
def test_cds_and_mcds_rates_match_truth(tmp_path, read_mode, nframes, groupgap):
    exposure = simulate_exposure(tmp_path, read_mode=read_mode, ngroups=None, nframes=nframes, groupgap=groupgap)
    rate = Detector1Pipeline.call(str(exposure.raw), refstore=str(exposure.refstore))
    good = usable(rate, exposure.model)
    z = ((rate.data - exposure.truth_rate_dn_s) / rate.err)[good]
    assert abs(np.mean(z)) < 0.15
    assert 0.85 < np.std(z) < 1.2


def test_stcal_algorithm_gives_the_same_rates(clean_exposure):
    """Same slopes as stcal OLS_C; same errors when asked for stcal's variance formulas."""
    ours = Detector1Pipeline.call(
        str(clean_exposure.raw), refstore=str(clean_exposure.refstore), steps={"ramp_fit": {"variance": "stcal"}}
    )
    theirs = Detector1Pipeline.call(
        str(clean_exposure.raw), refstore=str(clean_exposure.refstore), steps={"ramp_fit": {"algorithm": "OLS_C"}}
    )
    good = usable(ours, clean_exposure.model) & usable(theirs, clean_exposure.model)
    np.testing.assert_allclose(ours.data[good], theirs.data[good], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(ours.err[good], theirs.err[good], rtol=1e-3)


def test_saved_ramp_and_step_status(clean_exposure, tmp_path):
    Detector1Pipeline.call(
        str(clean_exposure.raw), refstore=str(clean_exposure.refstore), output_dir=str(tmp_path), save_results=True,
        save_calibrated_ramp=True, steps={"dark_current": {"skip": True}},
    )  # fmt: skip
    header = fits.getheader(tmp_path / "ramp_rate.fits")
    assert header["S_DARK"] == "SKIPPED"
    for keyword in ("S_DQINIT", "S_SATURA", "S_SUPERB", "S_REFPIX", "S_LINEAR", "S_JUMP", "S_RAMP"):
        assert header[keyword] == "COMPLETE", keyword
    for keyword in ("R_MASK", "R_SATURA", "R_SUPERB", "R_LINEAR", "R_READNO", "R_GAIN"):
        assert header[keyword].endswith(".fits"), keyword
    assert "R_DARK" not in header
    with datamodels.open(tmp_path / "ramp_ramp.fits") as ramp:
        assert ramp.data.dtype.newbyteorder("=") == np.float32 and ramp.data.shape == (1, 10, SIZE, SIZE)


def test_nan_reference_values_are_flagged(clean_exposure, tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    for path in clean_exposure.refstore.rglob("*.fits"):
        target = refs / path.relative_to(clean_exposure.refstore)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    with fits.open(next(refs.glob("gain/*.fits")), mode="update") as hdul:
        hdul["SCI"].data[50, 60] = np.nan
    with fits.open(next(refs.glob("linearity/*.fits")), mode="update") as hdul:
        hdul["COEFFS"].data[2, 70, 80] = np.nan
    from iris_pipeline.references import ReferenceStore

    ReferenceStore(refs).index()
    rate = Detector1Pipeline.call(str(clean_exposure.raw), refstore=str(refs))
    assert rate.dq[50, 60] & dqflags.PIXEL["NO_GAIN_VALUE"] and rate.dq[50, 60] & DO_NOT_USE
    assert rate.dq[70, 80] & dqflags.PIXEL["NO_LIN_CORR"]
    assert np.isfinite(rate.data[usable(rate, clean_exposure.model)]).all()


def test_truncated_raw_file_is_refused(clean_exposure, tmp_path):
    truncated = tmp_path / "cut_uncal.fits"
    data = clean_exposure.raw.read_bytes()
    truncated.write_bytes(data[: len(data) - 100_000])
    with pytest.raises(InputFileError, match="cut_uncal.fits: truncated"):
        Detector1Pipeline.call(str(truncated), refstore=str(clean_exposure.refstore))


def test_rate_input_is_refused(clean_exposure, tmp_path):
    Detector1Pipeline.call(
        str(clean_exposure.raw), refstore=str(clean_exposure.refstore), output_dir=str(tmp_path), save_results=True
    )
    with pytest.raises(InputFileError, match="detector1 needs a raw ramp, not RateModel"):
        Detector1Pipeline.call(str(tmp_path / "ramp_rate.fits"), refstore=str(clean_exposure.refstore))


def test_reference_of_another_window_is_refused(clean_exposure, tmp_path):
    small = simulate_exposure(tmp_path, ngroups=3)
    with fits.open(small.raw, mode="update") as hdul:
        hdul[0].header["SUBSTRT1"] = 200
    with pytest.raises(ReferenceFileError, match="reference covers rows"):
        Detector1Pipeline.call(str(small.raw), refstore=str(small.refstore))
