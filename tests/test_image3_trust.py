"""Stage 3 imaging that cannot be silently wrong: unbiased weights, alignment failures, detection
significance, memory guard, absolute astrometry, catalogue metadata."""

from __future__ import annotations

import time

import numpy as np
import pytest
from _image3_synthetic import DEC0, PIXEL_SCALE_ARCSEC, RA0, Truth, make_exposure, make_stars
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.modeling import models
from astropy.table import Table

from iris_pipeline.exceptions import InputFileError
from iris_pipeline.pipelines.image3 import Image3Pipeline
from iris_pipeline.resample import ResampleStep, TanGrid
from iris_pipeline.resample.grid import OutputGridTooLargeError, check_grid_memory
from iris_pipeline.resample.inputs import exposure_group_id
from iris_pipeline.source_catalog import make_source_catalog
from iris_pipeline.tweakreg import SkyCorrection, TweakRegStep, apply_sky_correction
from iris_pipeline.tweakreg.tweakreg_step import AlignmentFailedError

SHAPE = (96, 96)


def _stars(xi_arcsec, eta_arcsec, flux_jy):
    ra, dec = (models.Pix2Sky_TAN() | models.RotateNative2Celestial(RA0, DEC0, 180.0))(
        np.asarray(xi_arcsec) / 3600.0, np.asarray(eta_arcsec) / 3600.0
    )
    return Truth(np.asarray(ra), np.asarray(dec), np.asarray(flux_jy, dtype=float))


def _aperture_flux_jy(mosaic, ra, dec, radius_pix=10.0):
    x, y = mosaic.meta.wcs.invert(ra, dec)
    yy, xx = np.mgrid[0 : mosaic.data.shape[0], 0 : mosaic.data.shape[1]]
    inside = np.hypot(xx - x, yy - y) <= radius_pix
    return np.nansum(mosaic.data[inside]) * mosaic.meta.photometry.pixelarea_steradians * 1e6


def test_ivm_weights_do_not_bias_fluxes_when_the_read_noise_variance_grows_with_signal():
    # A bright (peak ~50000 MJy/sr) and a faint (~500) star; VAR_RNOISE grows with the signal as an
    # optimally weighted ramp fit's does, so per-pixel 1/VAR_RNOISE weights would make them ~1 % low.
    truth = _stars([-0.07, 0.08], [-0.06, 0.07], [2e-4, 2e-6])
    images = []
    for number, offset in enumerate([(0.0, 0.0), (0.0062, 0.0021), (0.0018, 0.0071)], start=1):
        image, _ = make_exposure(SHAPE, truth, offset, noise_mjy_sr=0.0, exposure_number=number, seed=number)
        image.var_rnoise = (0.25 * (1.0 + np.abs(image.data) / 100.0)).astype(np.float32)
        images.append(image)
    mosaic = ResampleStep.call(images)
    assert mosaic.meta.resample.weight_type == "ivm"
    for ra, dec, flux in zip(truth.ra, truth.dec, truth.flux_jy, strict=True):
        assert _aperture_flux_jy(mosaic, ra, dec) / flux == pytest.approx(1.0, abs=0.002)
    exptime = ResampleStep.call(images, weight_type="exptime")
    np.testing.assert_allclose(mosaic.data, exptime.data, rtol=1e-5, atol=1e-3, equal_nan=True)


def _field(n_exposures=2, offset_step_arcsec=0.006, **kwargs):
    truth = _stars([-0.07, 0.08, 0.05], [-0.06, 0.07, -0.05], [2e-4, 5e-5, 1e-4])
    images = []
    for number in range(1, n_exposures + 1):
        offset = (offset_step_arcsec * (number - 1), 0.3 * offset_step_arcsec * (number - 1))
        image, _ = make_exposure(SHAPE, truth, offset, exposure_number=number, seed=number, **kwargs)
        images.append(image)
    return truth, images


def test_an_off_field_sky_member_makes_a_huge_grid_that_fails_at_once(tmp_path):
    _, images = _field()
    # A member 2 arcmin away (a sky exposure mislabelled as science): a ~30000^2 grid.
    far, _ = make_exposure(SHAPE, _stars([], [], []), (120.0, 120.0), exposure_number=3)
    paths = [str(image.save(tmp_path / image.meta.filename)) for image in [*images, far]]
    started = time.perf_counter()
    with pytest.raises(OutputGridTooLargeError, match=r"image3: the output grid of \d+ x \d+ pixels") as error:
        Image3Pipeline.call(paths)
    assert time.perf_counter() - started < 1.0 + 5.0  # opening the files dominates; the check itself is instant
    assert "\n" not in str(error.value)
    with pytest.raises(OutputGridTooLargeError, match="resample: the output grid"):
        ResampleStep.call(paths, allowed_memory=0.01)


def test_grid_memory_check_is_immediate_and_obeys_the_environment(monkeypatch):
    grid = TanGrid((RA0, DEC0), (15000.5, 15000.5), PIXEL_SCALE_ARCSEC, 0.0, (30000, 30000))
    started = time.perf_counter()
    with pytest.raises(OutputGridTooLargeError, match="30000 x 30000 pixels"):
        check_grid_memory(grid, 4)
    assert time.perf_counter() - started < 1.0
    small = TanGrid((RA0, DEC0), (50.5, 50.5), PIXEL_SCALE_ARCSEC, 0.0, (100, 100))
    check_grid_memory(small, 4)
    monkeypatch.setenv("DMODEL_ALLOWED_MEMORY", "1e-12")
    with pytest.raises(OutputGridTooLargeError, match="100 x 100 pixels"):
        check_grid_memory(small, 4)


def test_sky_exposures_are_left_out_of_the_mosaic_with_a_warning(caplog):
    _, images = _field(3)
    images[2].meta.exposure.type = "IRIS_IMAGE_SKY"
    mosaic = ResampleStep.call(images)
    assert mosaic.meta.resample.ninputs == 2
    assert any("IRIS_IMAGE_SKY" in r.message and r.levelname == "WARNING" for r in caplog.records)
    for image in images:
        image.meta.exposure.type = "IRIS_IMAGE_SKY"
    with pytest.raises(InputFileError, match="no science exposure"):
        ResampleStep.call(images)


DETECTOR_STEP_ARCSEC = 0.40  # two 96-pixel detectors side by side with a small gap
DITHERS_ARCSEC = [(0.0, 0.0), (0.052, 0.021), (0.017, 0.061), (0.071, 0.049)]
POINTING_ERRORS_ARCSEC = [(0.011, -0.008), (-0.013, 0.006), (0.006, 0.014), (-0.009, -0.012)]


def _two_detector_exposures(truth):
    """Four exposures of two detectors each, with minimal headers: no ids, no EXPSTART, only DATE-OBS and pointing."""
    images, true_wcs = [], []
    for number, (dither, error) in enumerate(zip(DITHERS_ARCSEC, POINTING_ERRORS_ARCSEC, strict=True), start=1):
        for detector, dx in (("IMG1", -DETECTOR_STEP_ARCSEC / 2), ("IMG2", DETECTOR_STEP_ARCSEC / 2)):
            offset = (dither[0] + dx, dither[1])
            image, wcs = make_exposure(SHAPE, truth, offset, error, exposure_number=number, seed=10 * number + len(images),
                                       detector=detector)  # fmt: skip
            for name in ("program", "observation_number", "visit_number", "exposure_number"):
                setattr(image.meta.observation, name, None)
            image.meta.exposure.start_time = image.meta.exposure.mid_time = image.meta.exposure.end_time = None
            image.meta.observation.date_obs = f"2030-01-01T00:0{number}:00.000"
            image.meta.pointing.ra_ref = RA0 + dither[0] / 3600.0
            image.meta.pointing.dec_ref = DEC0 + dither[1] / 3600.0
            image.meta.pointing.pa_aper = 0.0
            images.append(image)
            true_wcs.append(wcs)
    return images, true_wcs


def _wcs_error_pix(wcs, true_wcs):
    y, x = np.mgrid[0 : SHAPE[0] : 8, 0 : SHAPE[1] : 8].astype(float)
    ra, dec = wcs(x, y)
    true_ra, true_dec = true_wcs(x, y)
    separation = SkyCoord(ra, dec, unit="deg").separation(SkyCoord(true_ra, true_dec, unit="deg")).arcsec
    return separation.max() / PIXEL_SCALE_ARCSEC


@pytest.fixture(scope="module")
def wide_truth():
    return Truth(*make_stars(40, seed=5, half_width_arcsec=0.45))


@pytest.fixture(scope="module")
def four_exposures(wide_truth):
    return _two_detector_exposures(wide_truth)


def test_tweakreg_groups_detectors_by_pointing_and_start_and_aligns_in_any_order(four_exposures):
    images, true_wcs = four_exposures
    assert len({exposure_group_id(image) for image in images}) == 4
    aligned = TweakRegStep.call([image.copy() for image in images])
    reversed_aligned = TweakRegStep.call([image.copy() for image in images[::-1]])[::-1]
    # All exposures move onto a common frame: the relative errors vanish (the reference's own
    # pointing error remains, common to all).
    errors = np.array([_offset_arcsec(image.meta.wcs, wcs) for image, wcs in zip(aligned, true_wcs, strict=True)])
    relative = errors - errors[0]
    assert np.abs(relative).max() / PIXEL_SCALE_ARCSEC < 0.1, relative / PIXEL_SCALE_ARCSEC
    assert all(image.meta.cal_step.tweakreg == "COMPLETE" for image in aligned)
    for a, b in zip(aligned, reversed_aligned, strict=True):
        assert _wcs_error_pix(a.meta.wcs, b.meta.wcs) < 1e-6


def _offset_arcsec(wcs, true_wcs):
    ra, dec = wcs(47.5, 47.5)
    true_ra, true_dec = true_wcs(47.5, 47.5)
    return np.array([(ra - true_ra) * np.cos(np.radians(dec)), dec - true_dec]) * 3600.0


def test_tweakreg_reports_exposures_it_cannot_align(four_exposures, caplog):
    images = [image.copy() for image in four_exposures[0]]
    # Exposure 3's pointing is 3 arcsec off: far beyond the search radius, nothing can match.
    gross_error = SkyCorrection((RA0, DEC0), np.eye(2), np.array([3.0, 0.0]))
    for image in images[4:6]:
        image.meta.wcs = apply_sky_correction(image.meta.wcs, gross_error)
    aligned = TweakRegStep.call([image.copy() for image in images])
    assert all(image.meta.cal_step.tweakreg == "INCOMPLETE" for image in aligned)
    warnings = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert any("NOT ALIGNED" in message and "syn_e003_img1_cal.fits" in message for message in warnings), warnings
    assert any("1 of 4 exposures could not be aligned" in message for message in warnings), warnings
    with pytest.raises(AlignmentFailedError, match="1 of 4 exposures could not be aligned"):
        TweakRegStep.call([image.copy() for image in images], fail_on_unaligned=True)


def test_an_alignment_without_any_tie_still_writes_valid_products(four_exposures, tmp_path):
    """No exposure matches the reference: INCOMPLETE, and no NaN RMS in the header (FITS refuses it)."""
    images = [image.copy() for image in four_exposures[0]]
    for number, image in enumerate(images):
        error = SkyCorrection((RA0, DEC0), np.eye(2), np.array([3.0 * (number // 2), 0.0]))
        image.meta.wcs = apply_sky_correction(image.meta.wcs, error)
    aligned = TweakRegStep.call(images)
    assert {image.meta.cal_step.tweakreg for image in aligned} == {"INCOMPLETE"}
    path = aligned[0].save(tmp_path / "unaligned_cal.fits")
    assert "ALNRMS" not in fits.getheader(path)


def test_tweakreg_aligns_to_a_reference_catalog_file(wide_truth, four_exposures, tmp_path):
    images, true_wcs = four_exposures
    refcat = tmp_path / "gaia.ecsv"
    Table({"ra": wide_truth.ra * u.deg, "dec": wide_truth.dec * u.deg}).write(refcat)
    aligned = TweakRegStep.call([image.copy() for image in images], abs_refcat=str(refcat))
    errors = [_wcs_error_pix(image.meta.wcs, wcs) for image, wcs in zip(aligned, true_wcs, strict=True)]
    assert max(errors) < 0.1, errors
    assert all(image.meta.cal_step.tweakreg == "COMPLETE" for image in aligned)
    # The residuals against the catalogue are recorded in each image and in the mosaic's header.
    alignment = aligned[0].meta.alignment
    assert alignment.refcat == "gaia.ecsv" and alignment.refcat_matches >= 10
    assert 0 < alignment.refcat_rms_arcsec < 0.1 * PIXEL_SCALE_ARCSEC
    mosaic_path = ResampleStep.call(aligned).save(tmp_path / "field_i2d.fits")
    header = fits.getheader(mosaic_path)
    assert (header["ALNCAT"], header["ALNCATN"]) == ("gaia.ecsv", alignment.refcat_matches)
    assert header["ALNCATRM"] == pytest.approx(alignment.refcat_rms_arcsec)
    assert header["ALNRMS"] == pytest.approx(alignment.relative_rms_arcsec)
    with pytest.raises(InputFileError, match="reference catalog without RA/Dec"):
        Table({"x": [1.0]}).write(tmp_path / "bad.ecsv")
        TweakRegStep.call(images, abs_refcat=str(tmp_path / "bad.ecsv"))


def test_a_jwst_asn_from_list_association_gives_the_same_mosaic_through_process_and_strun(four_exposures, tmp_path):
    """The doors users use: ``iris-pipeline process x_asn.json`` and ``strun image3 x_asn.json``."""
    from stpipe import _cmdline
    from test_reliability import jwst_level3_association

    from iris_pipeline.cli import main

    images, _ = four_exposures
    names = []
    for number, image in enumerate(images, start=1):
        names.append(f"e{number}_cal.fits")
        image.save(tmp_path / names[-1])
    asn = jwst_level3_association(tmp_path, names, "field")
    assert main(["process", str(asn), "-o", str(tmp_path / "process"), "--workers", "0"]) == 0
    _cmdline.step_from_cmdline(["iris-pipeline::image3", str(asn), f"--output_dir={tmp_path / 'strun'}"])
    with (
        fits.open(tmp_path / "process" / "field_i2d.fits") as processed,
        fits.open(tmp_path / "strun" / "field_i2d.fits") as direct,
    ):
        assert processed["SCI"].data.shape == direct["SCI"].data.shape
        assert np.isfinite(processed["SCI"].data).mean() > 0.5
        for extension in ("SCI", "ERR", "DQ", "WHT", "CON"):
            np.testing.assert_array_equal(processed[extension].data, direct[extension].data, err_msg=extension)
        assert processed[0].header["S_TWKREG"] == direct[0].header["S_TWKREG"] == "COMPLETE"
    assert Table.read(tmp_path / "process" / "field_cat.ecsv").pformat() == Table.read(
        tmp_path / "strun" / "field_cat.ecsv"
    ).pformat()


def _completeness_check():
    """benchmarks/check_catalog_completeness.py, whose star field and matching the test reuses."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "check_catalog_completeness.py"
    spec = importlib.util.spec_from_file_location("check_catalog_completeness", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_catalogue_completeness_and_false_sources_at_the_stated_significance():
    """>= 90 % of stars of aperture S/N 10-20 and >= 98 % above 20 found; < 1 false source per 1000^2
    noise pixels; and the 50 % point where a 5-sigma matched filter puts it (aperture S/N ~2.1)."""
    check = _completeness_check()
    size, fwhm = 512, 3.0
    grid = TanGrid((RA0, DEC0), (size / 2, size / 2), 0.004, 0.0, (size, size))
    err = np.full((size, size), check.NOISE_MJY_SR)
    snr, found = [], []
    for seed in (0, 1):
        image, x0, y0, field_snr = check.star_field(size, fwhm, seed)
        catalog, _ = make_source_catalog(image, err, grid.to_gwcs(), grid.pixel_area_steradians())
        snr.append(field_snr)
        found.append(check.found_fraction(catalog, x0, y0))
    snr, found = np.concatenate(snr), np.concatenate(found)
    assert found[(snr >= 10) & (snr < 20)].mean() >= 0.90
    assert found[snr >= 20].mean() >= 0.98
    assert found[snr < 1.5].mean() < 0.1, "a 5-sigma threshold does not find stars at aperture S/N ~1"
    assert 0.2 < found[(snr >= 2) & (snr < 3)].mean() < 0.8
    noise = np.random.default_rng(99).normal(0.0, check.NOISE_MJY_SR, (1000, 1000))
    wide = TanGrid((RA0, DEC0), (500, 500), 0.004, 0.0, (1000, 1000))
    false_sources, _ = make_source_catalog(noise, np.full(noise.shape, check.NOISE_MJY_SR), wide.to_gwcs(),
                                           wide.pixel_area_steradians(), fwhm_pix=fwhm)  # fmt: skip
    assert len(false_sources) < 1
