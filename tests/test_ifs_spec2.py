"""IFS end to end on simulated count rates: calibrations, spec2 cubes, and their accuracy against truth.

A scaled-down configuration of each mode (10 x 8 spaxels, K band 2.05-2.25 um at R = 4000, a
1024^2 detector window) is simulated with `simulate_ifs_observation`; the calibration pipelines
make the wavelength solution, spectral flat and (lenslet) measured traces from the simulated lamp
exposures; spec2 then reduces the science exposure with its sky. Every figure is compared with the
simulator's truth.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from iris_pipeline import datamodels, dqflags
from iris_pipeline.exceptions import InputFileError, ReferenceFileError
from iris_pipeline.ifs import SpectralFormat, TelluricStep, extract_spectra
from iris_pipeline.pipelines.ifs_calibration import CreateIFSFlatPipeline, CreateRectmatPipeline, CreateWavecalPipeline
from iris_pipeline.pipelines.spec2 import Spec2Pipeline
from iris_pipeline.references.store import ReferenceStore
from iris_pipeline.simulate.ifs import (
    IFSConfiguration,
    IFSScene,
    column_signal_dn_s,
    disperse,
    nominal_format,
    scene_spectra,
    simulate_ifs_observation,
    telluric_transmission,
)
from iris_pipeline.simulate.ifs.truth import flux_ratio, line_centroid_errors, point_source_centroid, truth_on_grid

logging.getLogger("stpipe").setLevel(logging.WARNING)

OH_VARIATION = 1.08


def _reduce(tmp_path_factory, mode):
    root = tmp_path_factory.mktemp(mode.lower())
    config = IFSConfiguration.create(mode, spaxels=(10, 8), wave_range_um=(2.05, 2.25), window_size=1024)
    # A compact extended source keeps its light off the point source in this small field.
    scene = IFSScene(extended_sigma_spax=(1.2, 1.0), line_flux_peak_w_m2=1.5e-20)
    sim = simulate_ifs_observation(root / "sim", config, scene, seed=3, oh_variation=OH_VARIATION)
    refstore = sim.refstore
    products = root / "products"
    # Each calibration pipeline writes its reference in output_dir and adds it to the store; saving
    # results as strun and process do must not write a second copy. The order is process's.
    calibrate = {"refstore": refstore, "output_dir": str(products), "save_results": True}
    if mode == "LENSLET":
        CreateRectmatPipeline.call(sim.scans, **calibrate)
    wavecal = CreateWavecalPipeline.call(sim.arc, **calibrate)
    CreateIFSFlatPipeline.call(sim.flat, **calibrate)
    assert {e.reftype for e in ReferenceStore(refstore).entries} >= {"ifs_wavecal", "ifs_flat", "ifs_trace"}
    cube = Spec2Pipeline.call(sim.association, refstore=refstore, output_dir=str(products), save_results=True)
    return {"sim": sim, "config": config, "wavecal": wavecal, "cube": cube,
            "cube_path": products / cube.meta.filename, "products": products}  # fmt: skip


@pytest.fixture(scope="module", params=["LENSLET", "SLICER"])
def reduced(request, tmp_path_factory):
    return _reduce(tmp_path_factory, request.param)


def test_cube_flux_matches_truth_within_2_percent(reduced):
    ratio, used, ratios = flux_ratio(reduced["cube_path"], reduced["sim"].truth_dir, min_snr=20)
    assert used >= 20
    assert abs(ratio - 1.0) < 0.02, ratio


def test_spectral_flat_matches_the_spaxel_throughputs(reduced):
    from astropy.table import Table

    truth = np.asarray(Table.read(f"{reduced['sim'].truth_dir}/spaxels.ecsv")["THROUGHPUT"])
    flat_path = next(reduced["products"].glob("*_ifs_flat_*.fits"))
    with datamodels.open(flat_path) as flat:
        response = np.where(flat.dq == 0, flat.data, np.nan)
    relative = response / (truth / np.median(truth))
    # The simulated throughputs scatter by 4 % between spaxels; the flat removes that to < 1 %.
    assert np.nanstd(truth / np.median(truth)) > 0.03
    assert abs(np.nanmedian(relative) - 1) < 0.01
    assert np.nanstd(relative) < 0.01


def test_arc_residuals_below_0_05_pixel(reduced):
    wavecal = reduced["wavecal"]
    assert wavecal.meta.wavecal.rms_pix < 0.05
    assert np.all(wavecal.wavecal_table["NLINES"] >= 5)


def test_point_source_centroid_within_0_1_spaxel(reduced):
    cube, sim = reduced["cube"], reduced["sim"]
    white = np.nansum(cube.data, axis=0)
    from astropy.table import Table

    sources = Table.read(f"{sim.truth_dir}/sources.ecsv")
    true_x, true_y = float(sources["x_spax"][0]), float(sources["y_spax"][0])
    x, y = point_source_centroid(white, (true_x, true_y))
    assert np.hypot(x - true_x, y - true_y) < 0.1


def test_emission_line_centroids_within_0_1_resolution_element(reduced):
    errors = line_centroid_errors(reduced["cube_path"], reduced["sim"].truth_dir, "Br_gamma", 4000, min_snr=30)
    assert errors.size >= 5
    assert np.max(np.abs(errors)) < 0.1, errors


def test_oh_lines_scaled_to_the_science_exposure(reduced):
    assert reduced["cube"].meta.oh_scale == pytest.approx(OH_VARIATION, rel=0.02)


def test_cube_has_fits_wcs_gwcs_and_provenance(reduced):
    path, cube = reduced["cube_path"], reduced["cube"]
    with fits.open(path) as hdul:
        header = hdul["SCI"].header
        assert hdul[0].header["DATAMODL"] == "IFUCubeModel"
        assert hdul[0].header["R_TRACE"].endswith(".fits") and "_ifs_wavecal_" in hdul[0].header["R_WAVCAL"]
        # The traces measured on the scans (lenslet) or on the flat (slicer).
        assert "truth" not in hdul[0].header["R_TRACE"]
        assert hdul[0].header["S_CUBBLD"] == "COMPLETE"
        wave = hdul["WAVELENGTH"].data
    fits_wcs = WCS(header)
    ra, dec, lam = fits_wcs.all_pix2world(3.0, 2.0, 10.0, 0)
    with datamodels.open(path) as back:
        g_ra, g_dec, g_lam = back.meta.wcs(3.0, 2.0, 10.0)
    assert g_ra == pytest.approx(float(ra), abs=1e-9) and g_dec == pytest.approx(float(dec), abs=1e-9)
    assert g_lam == pytest.approx(float(lam) * 1e6, rel=1e-9) == pytest.approx(float(wave[10]), rel=1e-6)
    scale = reduced["config"].scale_mas / 3.6e6
    assert abs(header["CDELT2"]) == pytest.approx(scale)
    assert cube.data.shape[1:] == (8, 10)
    # The quick-look preview (white-light image and brightest spectrum) is written beside the cube,
    # and the white-light image is in the cube itself: the mean over each spaxel's good planes.
    assert path.with_suffix(".png").stat().st_size > 1000
    good = (cube.dq & dqflags.PIXEL["DO_NOT_USE"]) == 0
    planes = np.where(good, cube.data, 0.0).sum(axis=0) / np.maximum(good.sum(axis=0), 1)
    np.testing.assert_allclose(cube.white_light[good.any(axis=0)], planes[good.any(axis=0)], rtol=1e-4)


def test_created_references_record_the_trace_and_solution_they_used(reduced):
    """IFS references made by create_wavecal, create_rectmat and create_ifs_flat name the trace
    (and wavelength solution) their extraction used, with its checksum (issue 12, item 14)."""
    store = ReferenceStore(reduced["sim"].refstore)
    stored = {Path(entry.file).name: entry for entry in store.entries}
    made = {}
    for path in sorted(reduced["products"].glob("*.fits")):
        header = fits.getheader(path)
        if header.get("REFTYPE") and path.name in stored:
            made[header["REFTYPE"].lower()] = (path.name, header)
    assert set(made) == {"ifs_wavecal", "ifs_flat", "ifs_trace"}
    references = [path.name for path in reduced["products"].glob("*.fits") if fits.getheader(path).get("REFTYPE")]
    assert sorted(references) == sorted(name for name, _ in made.values()), "one file per reference, no copies"
    for name, header in made.values():
        assert header["R_TRACE"] in stored and header["R_TRACE"] != name
        assert header["H_TRACE"] == stored[header["R_TRACE"]].sha256
        assert header["REFTYPE"].lower() == "ifs_trace" or header["S_EXTRCT"] == "COMPLETE"
    flat = made["ifs_flat"][1]
    assert flat["R_TRACE"] == made["ifs_trace"][0], "the flat is measured with the measured trace"
    assert flat["R_WAVCAL"] == made["ifs_wavecal"][0] and flat["S_WAVCAL"] == "COMPLETE"


@pytest.mark.parametrize("mode", ["LENSLET", "SLICER"])
def test_crosstalk_between_neighbouring_spectra_below_1_percent(mode):
    """Every third spectrum lit (a scan): flux the extraction puts into the unlit neighbours."""
    config = IFSConfiguration.create(mode, spaxels=(6, 6), wave_range_um=(2.15, 2.19), window_size=192)
    table = nominal_format(config)
    lamp = scene_spectra(config, table, IFSScene(point_flux_w_m2_um=0, extended_peak_w_m2_um=0, oh_peak_w_m2=0,
                                                 sky_continuum_w_m2_um=1e-16))  # fmt: skip
    lit = (np.arange(len(table)) % 3) == 1
    signal = column_signal_dn_s(config, table, lamp, np.ones((len(table), 1)) * lit[:, None])
    image = disperse(config, table, signal)
    rng = np.random.default_rng(2)
    variance = np.maximum(image, 0) / 300.0 + 0.01
    noisy = image + rng.normal(size=image.shape) * np.sqrt(variance)
    spectral_format = SpectralFormat.from_table(table, config.nspax_x, config.nspax_y, *config.wave_range_um)
    bad = np.zeros(image.shape, dtype=bool)
    level = {}
    for name, bandwidth in (("optimal", 0), ("deblend", 2)):
        flux, _, _ = extract_spectra(noisy, variance, bad, spectral_format, 0, 0, bandwidth)
        level[name] = np.nanmedian(flux, axis=1)
    neighbours = np.zeros_like(lit)
    neighbours[1:] |= lit[:-1]
    neighbours[:-1] |= lit[1:]
    neighbours &= ~lit
    crosstalk = {name: np.max(np.abs(values[neighbours])) / np.median(values[lit]) for name, values in level.items()}
    assert crosstalk["deblend"] < 0.01
    # Horne's estimator alone attributes the neighbours' light to each spectrum: about 0.5 % per
    # neighbour in the slicer format, ~7 % for the overlapping lenslet spectra (as OSIRIS shows).
    assert crosstalk["optimal"] > (0.05 if mode == "LENSLET" else 0.003)
    assert crosstalk["deblend"] < crosstalk["optimal"]


def test_cube_outside_the_band_is_a_clear_error_and_writes_nothing(reduced, tmp_path):
    sim = reduced["sim"]
    with pytest.raises(InputFileError, match="outside the band"):
        Spec2Pipeline.call(sim.science, refstore=sim.refstore, output_dir=str(tmp_path), save_results=True,
                           steps={"cube_build": {"wave_range": [2.5, 2.6]}})  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_mode_without_calibration_is_a_clear_error(reduced, tmp_path):
    sim = reduced["sim"]
    with fits.open(sim.science) as hdul:
        hdul[0].header["IFSSCALE"] = 9.0 if reduced["config"].mode == "LENSLET" else 50.0
        hdul.writeto(tmp_path / "other_scale_rate.fits")
    with pytest.raises(ReferenceFileError, match=r"no ifs_trace reference file in .* IFS mode (LENSLET|SLICER) scale="):
        Spec2Pipeline.call(str(tmp_path / "other_scale_rate.fits"), refstore=sim.refstore,
                           output_dir=str(tmp_path / "out"), save_results=True)  # fmt: skip
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_wavelength_solution_that_cannot_converge_is_a_clear_error(reduced, tmp_path):
    sim = reduced["sim"]
    with pytest.raises(InputFileError, match="wavelength solution failed"):
        CreateWavecalPipeline.call(sim.arc, refstore=sim.refstore, lamps=["Ne"], output_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_truth_cube_has_the_sources(reduced):
    """Guard for the checks above: the truth interpolated to the cube grid holds the simulated flux."""
    wave = reduced["cube"].wavelength.astype(float)
    truth = truth_on_grid(reduced["sim"].truth_dir, wave)
    manifest = json.loads((reduced["products"].parent / "sim" / "manifest.json").read_text())
    assert manifest["config"]["mode"] == reduced["config"].mode
    # The end planes may fall a float32 rounding outside the truth grid.
    assert np.nanmax(truth) > 0 and np.isfinite(truth[1:-1]).all()


def test_telluric_correction_from_a_standard_star_cube(tmp_path):
    """Synthetic absorption on science and standard: the standard's transmission restores the truth."""
    config = IFSConfiguration.create("SLICER", spaxels=(6, 8), wave_range_um=(2.15, 2.19), window_size=192)
    scene = IFSScene(telluric_depth=0.4)
    sim = simulate_ifs_observation(tmp_path / "sim", config, scene, seed=4, calibrations=False, standard=True)
    out = tmp_path / "out"
    standard = Spec2Pipeline.call(str(tmp_path / "sim" / "standard_asn.json"), refstore=sim.refstore,
                                  output_dir=str(out), save_results=True, quicklook=False)  # fmt: skip
    standard_path = out / standard.meta.filename
    plain = Spec2Pipeline.call(sim.association, refstore=sim.refstore, quicklook=False)
    corrected = TelluricStep.call(plain.copy(), standard=str(standard_path))
    assert corrected.meta.cal_step.telluric == "COMPLETE" and plain.meta.cal_step.telluric == "SKIPPED"
    wave = corrected.wavelength.astype(float)
    truth = truth_on_grid(sim.truth_dir, wave)
    white_truth = np.nansum(truth, axis=(1, 2))
    absorbed = telluric_transmission(wave, 0.4) < 0.8
    assert absorbed.sum() >= 3
    ratio_plain = np.nansum(plain.data, axis=(1, 2)) / white_truth
    ratio_corrected = np.nansum(corrected.data, axis=(1, 2)) / white_truth
    # Uncorrected, the absorbed planes lose 20-40 %; corrected, they match the unabsorbed ones.
    assert np.median(ratio_plain[absorbed]) < 0.85 * np.median(ratio_plain[~absorbed])
    assert np.median(ratio_corrected[absorbed]) == pytest.approx(np.median(ratio_corrected[~absorbed]), rel=0.03)
