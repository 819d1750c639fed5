"""Calibration pipelines and their algorithms: create_dark, create_flat (preprocess_flatfield), create_mask.

The algorithms are checked on small synthetic arrays with known answers; the pipelines end to
end on a simulated 128 x 128 window against the simulator's own DARK, FLAT, MASK and READNOISE
reference files (the truth), including the store selecting the new files afterwards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import asdf
import numpy as np
import pytest
import yaml
from astropy.io import fits

from iris_pipeline import datamodels, dqflags
from iris_pipeline.associations import Association, write_association
from iris_pipeline.calibration import (
    combine_masks,
    find_bad_response,
    find_hot_pixels,
    fit_smooth_surface,
    normalize_flat,
    read_noise_from_differences,
    reference_pixel_flags,
    sigma_clipped_combine,
    subtract_channel_drift,
)
from iris_pipeline.exceptions import InputFileError
from iris_pipeline.pipelines import Detector1Pipeline
from iris_pipeline.pipelines.calibration import (
    CreateDarkPipeline,
    CreateFlatPipeline,
    CreateMaskPipeline,
    ProcessFlatfieldL2,
)
from iris_pipeline.references import ExposureSelectors, ReferenceStore
from iris_pipeline.references.selection import parse_date
from iris_pipeline.simulate import DetectorParameters, Stream, low_order_pattern, make_rng, simulate_observation
from iris_pipeline.simulate.detector import DetectorWindow

PIXEL = dqflags.PIXEL
BIN = Path(sys.executable).parent
CONFIG_DIR = Path(__file__).parents[1] / "src" / "iris_pipeline" / "pipelines" / "config"
SEED = 7
SIZE = 128
# Bad pixels ten times more common than the defaults, so that a 128^2 window holds dozens, and
# hot pixels up to 200 e-/s, so that many stand out of short darks.
BAD_PIXELS = DetectorParameters(
    hot_pixel_fraction=3e-3, dead_pixel_fraction=2e-3, low_qe_pixel_fraction=3e-3, hot_pixel_dark_e_s=(0.5, 200.0)
)
# A 128-row window is read in 0.0225 s; 60 groups make 1.3 s darks, in which a hot pixel shows
# above about 5 x 0.2 DN/s (combined dark ERR with 3 darks).
NGROUPS = 60
NDARKS, NFLATS = 3, 5


# ---------------------------------------------------------------------------------------------
# sigma-clipped combination


def test_combination_rejects_cosmic_rays_and_keeps_the_rest():
    rng = np.random.default_rng(1)
    truth = rng.uniform(5.0, 50.0, (64, 64))
    sigma = np.full((3, 64, 64), 0.5)
    stack = truth + sigma * rng.standard_normal((3, 64, 64))
    hits = rng.choice(64 * 64, 40, replace=False)
    rows, cols = np.unravel_index(hits, (64, 64))
    stack[1, rows, cols] += 30.0
    result = sigma_clipped_combine(stack, sigma, sigma=4.0)
    kept = (stack[0, rows, cols] + stack[2, rows, cols]) / 2
    np.testing.assert_allclose(result.data[rows, cols], kept, rtol=1e-6)
    assert (result.n_used[rows, cols] == 2).all()
    assert (result.n_rejected[rows, cols] == 1).all()
    clean = np.ones((64, 64), bool)
    clean[rows, cols] = False
    # A 4-sigma rejection around the median of three values loses a few per ten thousand.
    assert result.n_rejected[clean].sum() < 0.002 * clean.sum() * 3


def test_combination_rejects_an_outlier_frame():
    rng = np.random.default_rng(11)
    truth = rng.uniform(0.0, 2.0, (48, 48))
    sigma = np.full((5, 48, 48), 0.1)
    stack = truth + sigma * rng.standard_normal((5, 48, 48))
    stack[3] += 2.0  # a light leak: 20 sigma over the whole frame
    result = sigma_clipped_combine(stack, sigma)
    assert (result.n_used == 4).all()
    np.testing.assert_allclose(result.data, np.delete(stack, 3, axis=0).mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(result.err, 0.1 * np.sqrt(4) / 4, rtol=1e-5)


def test_combination_error_matches_the_scatter():
    rng = np.random.default_rng(2)
    truth = rng.uniform(10.0, 100.0, (96, 96))
    sigma = np.sqrt(truth)[None] * rng.uniform(0.05, 0.2, (5, 1, 1))
    stack = truth + sigma * rng.standard_normal((5, 96, 96))
    result = sigma_clipped_combine(stack.astype(np.float32), sigma.astype(np.float32))
    pull = (result.data - truth) / result.err
    assert abs(np.std(pull) - 1.0) < 0.03
    assert abs(np.mean(pull)) < 0.03


def test_combination_without_errors_clips_on_the_mad_of_the_stack():
    rng = np.random.default_rng(3)
    stack = rng.normal(100.0, 2.0, (9, 32, 32))
    stack[4, 10, 10] = 500.0
    result = sigma_clipped_combine(stack)
    assert result.n_used[10, 10] == 8
    np.testing.assert_allclose(result.data[10, 10], np.delete(stack[:, 10, 10], 4).mean(), rtol=1e-6)
    spread = np.std(stack, axis=0, ddof=1) / 3
    assert abs(np.median(result.err[result.n_used == 9] / spread[result.n_used == 9]) - 1) < 1e-5


def test_combination_skips_unusable_and_nan_values():
    stack = np.ones((3, 8, 8), np.float32)
    usable = np.ones((3, 8, 8), bool)
    stack[0, 2, 2] = np.nan
    usable[:, 5, 5] = False
    stack[2, 3, 3] = 99.0
    usable[2, 3, 3] = False
    result = sigma_clipped_combine(stack, np.full_like(stack, 0.1), usable)
    assert result.n_used[2, 2] == 2 and result.data[2, 2] == 1.0
    assert result.n_used[5, 5] == 0 and np.isnan(result.data[5, 5])
    assert result.data[3, 3] == 1.0


# ---------------------------------------------------------------------------------------------
# darks


def test_hot_and_warm_pixels_found_exactly():
    rng = np.random.default_rng(4)
    err = np.full((64, 64), 0.01, np.float32)
    dark = (0.001 + err * rng.standard_normal((64, 64))).astype(np.float32)
    hot = [(3, 4), (40, 50), (63, 0)]
    warm = [(10, 10), (20, 30)]
    for y, x in hot:
        dark[y, x] = 0.5
    for y, x in warm:
        dark[y, x] = 0.08
    dark[30, 30] = 0.3  # above the hot threshold but not significantly: only warm
    err[30, 30] = 0.05
    dq = find_hot_pixels(dark, err, hot_threshold_dn_s=0.1, warm_threshold_dn_s=0.02, sigma=5.0)
    assert {tuple(p) for p in np.argwhere(dq & PIXEL["HOT"])} == set(hot)
    assert {tuple(p) for p in np.argwhere(dq & PIXEL["WARM"])} == set(warm) | {(30, 30)}
    assert (dq[tuple(np.array(hot).T)] & PIXEL["DO_NOT_USE"]).all()
    assert not (dq[tuple(np.array(warm).T)] & PIXEL["DO_NOT_USE"]).any()


@pytest.mark.parametrize("nframes", [1, 4])
def test_read_noise_recovered_from_drifting_group_differences(nframes):
    rng = np.random.default_rng(5 + nframes)
    ny, nx, nexposures, ngroups = 64, 128, 3, 12
    read_noise = rng.uniform(1.5, 3.0, (ny, nx))
    channel = np.arange(nx) // 64
    reads = 1000.0 + rng.standard_normal((nexposures, ngroups, nframes, ny, nx)) * read_noise
    drifts = (
        rng.normal(0, 5.0, (nexposures, ngroups, nframes, 1, 1))
        + rng.normal(0, 2.0, (nexposures, ngroups, nframes, 1, 2))[..., channel]
    )
    groups = (reads + drifts).mean(axis=2)
    groups[1, 6:, 30, 40] += 400.0  # a cosmic ray
    differences = np.diff(groups, axis=1).reshape(-1, ny, nx).astype(np.float32)
    for frame in differences:
        subtract_channel_drift(frame, channel)
    measured, n_used = read_noise_from_differences(differences, nframes, ramp_length=ngroups - 1)
    ratio = measured / read_noise
    expected_scatter = 1 / np.sqrt(2 * (differences.shape[0] - 1))
    assert abs(np.mean(ratio) - 1) < 0.01
    assert np.std(ratio) < 1.2 * expected_scatter
    assert n_used[30, 40] == differences.shape[0] - 1
    assert abs(ratio[30, 40] - 1) < 4 * expected_scatter


# ---------------------------------------------------------------------------------------------
# flats and masks


def test_normalize_flat_over_good_pixels_or_a_region():
    flat = np.full((20, 20), 4.0, np.float32)
    flat[:, 10:] = 8.0
    good = np.ones_like(flat, bool)
    good[:, 15:] = False
    normalized, err, median = normalize_flat(flat, flat * 0.01, good)
    assert median == 4.0 and normalized[0, 0] == 1.0 and err[0, 0] == np.float32(0.01)
    normalized, _, median = normalize_flat(flat, flat * 0.01, good, region=(slice(0, 20), slice(10, 20)))
    assert median == 8.0 and normalized[0, 19] == 1.0
    with pytest.raises(ValueError, match="no good pixel"):
        normalize_flat(flat, flat, np.zeros_like(good))


def test_smooth_surface_recovers_a_low_order_pattern_despite_bad_pixels():
    rng = np.random.default_rng(6)
    window = DetectorWindow("IMG1", 4096, 4096, 4, 1, 1, 96, 96)
    pattern = low_order_pattern(window, 0.05, rng)
    image = pattern * (1 + 0.01 * rng.standard_normal(pattern.shape))
    bad = rng.random(pattern.shape) < 0.01
    image[bad] *= 0.3
    surface = fit_smooth_surface(image.astype(np.float32), np.ones(pattern.shape, bool), degree=2)
    assert np.max(np.abs(surface / pattern - 1)) < 2e-3


def test_bad_response_pixels_flagged_exactly():
    flat = np.ones((16, 16), np.float32)
    flat[1, 1], flat[2, 2], flat[3, 3], flat[4, 4] = 0.0, 0.5, 1.5, 0.81
    dq = find_bad_response(flat, dead_threshold=0.05, low_threshold=0.8, high_threshold=1.2)
    assert dq[1, 1] == PIXEL["DEAD"] | PIXEL["DO_NOT_USE"] | PIXEL["NO_FLAT_FIELD"]
    assert dq[2, 2] == PIXEL["LOW_QE"] and dq[3, 3] == PIXEL["UNRELIABLE_FLAT"]
    assert np.count_nonzero(dq) == 3


def test_mask_combination_and_reference_border_of_a_window():
    border = reference_pixel_flags((4096, 4096), 4, first_row=0, first_column=4090, shape=(8, 6))
    expected = np.zeros((8, 6), bool)
    expected[:4, :] = True
    expected[:, 2:] = True
    assert np.array_equal(border != 0, expected)
    dark_dq = np.zeros((8, 6), np.uint32)
    dark_dq[5, 0] = PIXEL["HOT"]
    flat_dq = np.zeros((8, 6), np.uint32)
    flat_dq[6, 1] = PIXEL["DEAD"] | PIXEL["NO_FLAT_FIELD"]
    flat_dq[7, 0] = PIXEL["LOW_QE"]
    mask = combine_masks(dark_dq, flat_dq, border)
    assert mask[5, 0] == PIXEL["HOT"] | PIXEL["DO_NOT_USE"]
    assert mask[6, 1] == PIXEL["DEAD"] | PIXEL["DO_NOT_USE"]
    assert mask[7, 0] == PIXEL["LOW_QE"]
    assert mask[0, 0] == PIXEL["REFERENCE_PIXEL"] | PIXEL["DO_NOT_USE"]


# ---------------------------------------------------------------------------------------------
# end to end on a simulated window


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """A simulation, and create_dark -> create_flat -> create_mask run on a copy of its store."""
    root = tmp_path_factory.mktemp("calibration")
    manifest = simulate_observation(
        root / "sim",
        instrument="IRIS",
        detectors=["IMG1"],
        size=SIZE,
        ngroups=NGROUPS,
        ndarks=NDARKS,
        nflats=NFLATS,
        ndithers=1,
        n_stars=3,
        n_galaxies=0,
        seed=SEED,
        detector_params=BAD_PIXELS,
    )
    store = root / "store"
    shutil.copytree(manifest.reference_dir, store)
    out = root / "out"
    asn = write_association(
        Association.from_files("create_dark", "darks", [], dark=manifest.darks), root / "darks_asn.json"
    )
    # save_results keeps the stage-1 rates, which later tests feed back as inputs.
    dark, readnoise = CreateDarkPipeline.call(
        str(asn), refstore=str(store), output_dir=str(out), save_results=True, configure_log=False
    )
    flat = CreateFlatPipeline.call(
        [str(p) for p in manifest.flats],
        refstore=str(store),
        output_dir=str(out),
        save_results=True,
        configure_log=False,
    )
    mask = CreateMaskPipeline.call(
        [str(out / dark.meta.filename), str(out / flat.meta.filename)],
        refstore=str(store),
        output_dir=str(out),
        configure_log=False,
    )
    return {
        "manifest": manifest,
        "store": store,
        "out": out,
        "dark": dark,
        "readnoise": readnoise,
        "flat": flat,
        "mask": mask,
    }


def truth(manifest, reftype, extension="SCI"):
    return fits.getdata(manifest.reference_dir / reftype / f"iris_img1_{reftype}_0001.fits", extension)


def test_dark_matches_truth_within_its_errors_and_finds_the_detectable_hot_pixels(calibrated):
    manifest, dark = calibrated["manifest"], calibrated["dark"]
    true_dark, true_dq = truth(manifest, "dark"), truth(manifest, "dark", "DQ")
    light = (dark.dq & PIXEL["REFERENCE_PIXEL"]) == 0
    pull = (dark.data - true_dark)[light] / dark.err[light]
    assert abs(np.std(pull) - 1) < 0.15, "ERR does not describe the scatter about the truth"
    true_hot = (true_dq & PIXEL["HOT"]) != 0
    found_hot = (dark.dq & PIXEL["HOT"]) != 0
    assert not (found_hot & ~true_hot).any(), "false hot pixels"
    # Detectable: the truth clears the threshold by the 5-sigma test plus 2 sigma of noise.
    detectable = true_hot & (true_dark > 0.1 + 7 * dark.err)
    assert detectable.sum() >= 5
    assert found_hot[detectable].all()
    first_dark = min(parse_date(datamodels.open(p, read_data=False).meta.observation.date_obs) for p in manifest.darks)
    assert parse_date(dark.meta.useafter) == (first_dark - timedelta(hours=24)).replace(microsecond=0)


def test_read_noise_matches_truth(calibrated):
    manifest, readnoise = calibrated["manifest"], calibrated["readnoise"]
    # The simulator rounds every read to whole DN: uniform quantisation noise of 1/12 DN^2 that
    # its READNOISE truth leaves out but a measurement includes.
    effective = np.sqrt(truth(manifest, "readnoise") ** 2 + 1 / 12)
    ratio = readnoise.data / effective
    ndifferences = NDARKS * (NGROUPS - 1)
    assert abs(np.median(ratio) - 1) < 0.01
    # Consecutive differences are correlated (-1/2): the estimate scatters by sqrt(3 / (4 (n - 1))).
    assert np.std(ratio) < 1.2 * np.sqrt(0.75 / (ndifferences - 1))


def test_flat_within_one_percent_of_truth(calibrated):
    """Noise-limited expectation: a lamp flat collects ~22 500 e- per pixel (half the nonlinearity
    onset), 0.7 % per exposure after the ramp fit; five flats give ~0.3 % per pixel, so 99 % of
    the pixels within 1 % is a 3-sigma statement and the flat's ERR should match the scatter."""
    manifest, flat = calibrated["manifest"], calibrated["flat"]
    true_flat, true_dq = truth(manifest, "flat"), truth(manifest, "flat", "DQ")
    good = (true_dq == 0) & (flat.dq == 0)
    ratio = flat.data[good] / true_flat[good]
    assert abs(np.median(ratio) - 1) < 0.001
    assert np.percentile(np.abs(ratio - 1), 99) < 0.01
    pull = (flat.data - true_flat)[good] / flat.err[good]
    assert abs(np.std(pull) - 1) < 0.1
    assert np.median(flat.err[good]) < 0.004


def test_flat_and_mask_flag_the_true_bad_pixels(calibrated):
    manifest, flat, mask = calibrated["manifest"], calibrated["flat"], calibrated["mask"]
    true_mask = truth(manifest, "mask", "DQ")
    for name in ("DEAD", "LOW_QE", "REFERENCE_PIXEL"):
        true_set = (true_mask & PIXEL[name]) != 0
        assert true_set.any()
        assert np.array_equal((flat.dq & PIXEL[name]) != 0, true_set), name
        assert np.array_equal((mask.dq & PIXEL[name]) != 0, true_set), name
    found_hot = (mask.dq & PIXEL["HOT"]) != 0
    assert found_hot.any() and not (found_hot & ((true_mask & PIXEL["HOT"]) == 0)).any()
    assert ((mask.dq & PIXEL["DO_NOT_USE"]) != 0)[found_hot].all()


def test_lamp_pattern_kept_or_removed_as_asked(calibrated, tmp_path):
    """The simulated lamp adds a documented low-order pattern (``lamp_gradient``) that a pixel
    flat must not contain: ``keep`` measures it (flat / truth = the lamp pattern), ``remove``
    leaves the pixel flat (truth with its own smooth part divided out)."""
    manifest = calibrated["manifest"]
    flats = [str(p) for p in sorted(calibrated["out"].glob("*_flat_e*_rate.fits"))]
    assert len(flats) == NFLATS
    common = {
        "refstore": str(calibrated["store"]),
        "output_dir": str(tmp_path),
        "add_to_store": False,
        "configure_log": False,
    }
    kept = CreateFlatPipeline.call(flats, large_scale="keep", **common)
    removed = CreateFlatPipeline.call(flats, large_scale="remove", **common)
    true_flat, true_dq = truth(manifest, "flat"), truth(manifest, "flat", "DQ")
    good = (true_dq == 0) & (kept.dq == 0)
    config = manifest.config
    window = DetectorWindow("IMG1", 4096, 4096, 4, 1, 1, SIZE, SIZE)
    lamp = low_order_pattern(window, config["lamp_gradient"], make_rng(SEED, Stream.LAMP, 0))
    measured_lamp = fit_smooth_surface(kept.data / true_flat, good)
    measured_lamp /= np.median(measured_lamp[good])
    np.testing.assert_allclose(measured_lamp[good], (lamp / np.median(lamp[good]))[good], atol=1e-3)
    true_pixel_flat = true_flat / fit_smooth_surface(true_flat, good)
    ratio = removed.data[good] / (true_pixel_flat[good] / np.median(true_pixel_flat[good]))
    assert np.percentile(np.abs(ratio - 1), 99) < 0.01


def test_store_selects_the_new_references_for_later_exposures(calibrated, tmp_path):
    manifest, store = calibrated["manifest"], calibrated["store"]
    made = {
        m.meta.reftype: m.meta.filename
        for m in (calibrated["dark"], calibrated["readnoise"], calibrated["flat"], calibrated["mask"])
    }
    later = tmp_path / "later_uncal.fits"
    with fits.open(manifest.science[0]) as hdul:
        hdul[0].header["DATE-OBS"] = "2031-03-16T00:00:00.000"
        hdul.writeto(later)
    science = datamodels.open(later, read_data=False)
    rules = ReferenceStore(store)
    for reftype, name in made.items():
        assert rules.select(reftype, ExposureSelectors.from_model(science)).path.name == name
    # The night's science, taken just before the calibrations, uses them too; an exposure of the
    # day before keeps the references of its time.
    same_night = datamodels.open(manifest.science[0], read_data=False)
    assert rules.select("dark", ExposureSelectors.from_model(same_night)).path.name == made["dark"]
    day_before = datamodels.open(manifest.science[0], read_data=False)
    day_before.meta.observation.date_obs = "2031-03-14T04:00:00.000"
    assert rules.select("dark", ExposureSelectors.from_model(day_before)).path.name == "iris_img1_dark_0001.fits"
    rate = Detector1Pipeline.call(str(later), refstore=str(store), configure_log=False)
    header = {"R_DARK": made["dark"], "R_MASK": made["mask"], "R_READNO": made["readnoise"]}
    rate.save(str(tmp_path / "later_rate.fits"))
    with fits.open(tmp_path / "later_rate.fits") as hdul:
        for keyword, name in header.items():
            assert hdul[0].header[keyword] == name


def test_reference_files_carry_selection_and_provenance_keywords(calibrated):
    out = calibrated["out"]
    header = fits.getheader(out / calibrated["flat"].meta.filename)
    for keyword, value in {
        "REFTYPE": "flat",
        "INSTRUME": "IRIS",
        "DETECTOR": "IMG1",
        "FILTER": "Kbb",
        "SUBARRAY": f"SUB{SIZE}",
        "SUBSTRT1": 1,
        "SUBSTRT2": 1,
        "DATAMODL": "FlatModel",
        "PEDIGREE": "GROUND",
    }.items():
        assert header[keyword] == value, keyword
    assert header["AUTHOR"] and header["DESCRIP"] and header["USEAFTER"]
    history = " ".join(str(card) for card in header["HISTORY"])
    assert all(path.name in history for path in calibrated["manifest"].flats)
    assert not list(out.glob(".*partial*"))


def test_created_references_record_the_references_and_steps_their_inputs_went_through(calibrated):
    """R_*/H_*/S_* on references made by the calibration pipelines, as on products (issue 12, item 14)."""
    from iris_pipeline.references import sha256_of

    out, store = calibrated["out"], ReferenceStore(calibrated["store"])
    stored = {Path(entry.file).name: store.root / entry.file for entry in store.entries}
    dark = fits.getheader(out / calibrated["dark"].meta.filename)
    flat = fits.getheader(out / calibrated["flat"].meta.filename)
    mask = fits.getheader(out / calibrated["mask"].meta.filename)
    # create_dark: stage 1 without dark subtraction, the store's read noise (never its own), a border-only mask
    assert dark["S_DARK"] == "SKIPPED" and dark["S_RAMP"] == "COMPLETE" and dark["S_DQINIT"] == "COMPLETE"
    assert dark["R_MASK"].startswith("border_mask_") and len(dark["H_MASK"]) == 64
    for keyword in ("SUPERB", "READNO", "LINEAR", "SATURA", "GAIN"):
        name = dark[f"R_{keyword}"]
        assert name in stored and dark[f"H_{keyword}"] == sha256_of(stored[name]), keyword
    assert dark["R_READNO"] != calibrated["readnoise"].meta.filename
    # create_flat: its darks subtracted with the dark just made; lamp large scales from the store's flat
    assert flat["S_DARK"] == "COMPLETE" and flat["R_DARK"] == calibrated["dark"].meta.filename
    assert flat["H_DARK"] == sha256_of(out / calibrated["dark"].meta.filename)
    assert flat["R_FLAT"] in stored and flat["R_FLAT"] != calibrated["flat"].meta.filename
    # create_mask from the two files: each recorded with its checksum
    assert mask["R_DARK"] == calibrated["dark"].meta.filename and mask["R_FLAT"] == calibrated["flat"].meta.filename
    assert mask["H_DARK"] == sha256_of(out / calibrated["dark"].meta.filename)
    assert mask["H_FLAT"] == sha256_of(out / calibrated["flat"].meta.filename)


def test_strun_create_dark_on_an_association_of_rate_files(calibrated, tmp_path):
    manifest = calibrated["manifest"]
    store = tmp_path / "store"
    shutil.copytree(manifest.reference_dir, store)
    rates = sorted(calibrated["out"].glob("*_dark_e*_rate.fits"))
    assert len(rates) == NDARKS
    asn = write_association(Association.from_files("create_dark", "darks", [], dark=rates), tmp_path / "darks.json")
    result = subprocess.run(
        [
            str(BIN / "strun"),
            "create_dark",
            str(asn),
            f"--refstore={store}",
            f"--output_dir={tmp_path / 'o'}",
            "--readnoise=False",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    written = list((tmp_path / "o").glob("iris_img1_dark_*.fits"))
    assert len(written) == 1
    assert (store / "dark" / written[0].name).exists()
    entries = [e["file"] for e in yaml.safe_load((store / "refstore.yaml").read_text())["references"]]
    assert f"dark/{written[0].name}" in entries
    np.testing.assert_array_equal(fits.getdata(written[0], "SCI"), calibrated["dark"].data)


def test_preprocess_flatfield_is_create_flat_under_the_seed_name():
    assert issubclass(ProcessFlatfieldL2, CreateFlatPipeline)
    assert ProcessFlatfieldL2.class_alias == "preprocess_flatfield"
    assert ProcessFlatfieldL2().get_pars() == CreateFlatPipeline().get_pars()


def test_wrong_exposure_type_is_a_one_line_error(calibrated, tmp_path):
    flat = calibrated["manifest"].flats[0]
    with pytest.raises(InputFileError, match=f"{flat.name}.*not a IMAGE_DARK"):
        CreateDarkPipeline.call([str(flat)], output_dir=str(tmp_path), add_to_store=False, configure_log=False)
    asn = tmp_path / "empty.json"
    asn.write_text(json.dumps({"products": [{"name": "x", "members": [{"expname": str(flat), "exptype": "flat"}]}]}))
    with pytest.raises(InputFileError, match="no member of exptype dark"):
        CreateDarkPipeline.call(str(asn), output_dir=str(tmp_path), add_to_store=False, configure_log=False)


@pytest.mark.parametrize("alias", ["create_dark", "create_flat", "create_mask", "preprocess_flatfield"])
def test_shipped_parameter_files_match_the_defaults(alias):
    from stpipe import Step

    from_cfg = Step.from_config_file(str(CONFIG_DIR / f"{alias}.cfg"))
    defaults = type(from_cfg)().get_pars()
    assert from_cfg.get_pars() == defaults
    with asdf.open(CONFIG_DIR / f"{alias}.asdf") as af:
        assert af.tree["class"].endswith(type(from_cfg).__name__)
        assert af.tree["parameters"] == {name: value for name, value in defaults.items() if name != "steps"}


def test_auto_large_scales_follow_the_exposure_type_and_the_store(calibrated, tmp_path, caplog):
    """Twilight flats keep their large scales; lamp flats take them from the store's FLAT, or keep
    their own (with a warning) when the store has none."""
    rates = sorted(calibrated["out"].glob("*_flat_e*_rate.fits"))
    common = {"output_dir": str(tmp_path), "add_to_store": False, "configure_log": False}
    kept = CreateFlatPipeline.call(
        [str(p) for p in rates], large_scale="keep", refstore=str(calibrated["store"]), **common
    )
    twilight = []
    for path in rates:
        with datamodels.open(path) as rate:
            rate.meta.exposure.type = "IRIS_IMAGE_TWILIGHT"
            twilight.append(rate.save(str(tmp_path / path.name.replace("_flat_", "_twilight_"))))
    auto_twilight = CreateFlatPipeline.call(twilight, refstore=str(calibrated["store"]), **common)
    np.testing.assert_array_equal(auto_twilight.data, kept.data)
    assert "large scales: keep" in auto_twilight.meta.description

    no_flat_store = tmp_path / "store"
    shutil.copytree(calibrated["store"], no_flat_store)
    rules = ReferenceStore(no_flat_store)
    rules.entries = [entry for entry in rules.entries if entry.reftype != "flat"]
    rules.save_rules()
    auto_lamp = CreateFlatPipeline.call([str(p) for p in rates], refstore=str(no_flat_store), **common)
    np.testing.assert_array_equal(auto_lamp.data, kept.data)
    assert "the lamp's large scales are kept" in caplog.text


def test_a_rerun_of_create_flat_never_takes_its_own_earlier_flat(calibrated, tmp_path):
    """A lamp flat takes its large scales from the store's FLAT; a rerun (its first product now in
    the store, newer) must still take them from that FLAT, and give the same flat."""
    rates = [str(p) for p in sorted(calibrated["out"].glob("*_flat_e*_rate.fits"))]
    store = tmp_path / "store"
    shutil.copytree(calibrated["store"], store)
    common = {"output_dir": str(tmp_path / "out"), "refstore": str(store), "large_scale": "reference",
              "configure_log": False}  # fmt: skip
    first = CreateFlatPipeline.call(rates, **common)
    own = first.meta.filename
    assert own in {Path(entry.file).name for entry in ReferenceStore(store).entries}
    second = CreateFlatPipeline.call(rates, **common)
    np.testing.assert_array_equal(second.data, first.data)
    np.testing.assert_array_equal(second.dq, first.dq)
    assert fits.getval(tmp_path / "out" / own, "R_FLAT") != own
