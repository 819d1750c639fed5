"""Stage 3 imaging against injected truth: alignment, sky matching, outliers, drizzle, catalog, pipeline."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from _image3_synthetic import DEC0, PIXEL_SCALE_ARCSEC, RA0, Truth, make_exposure, make_stars
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.modeling import models
from astropy.stats import sigma_clipped_stats
from astropy.table import Table

from iris_pipeline import datamodels, dqflags
from iris_pipeline.exceptions import InputFileError
from iris_pipeline.outlier_detection import OutlierDetectionStep
from iris_pipeline.pipelines.image3 import Image3Pipeline
from iris_pipeline.resample import ResampleStep, TanGrid
from iris_pipeline.skymatch import SkyMatchStep
from iris_pipeline.source_catalog import SourceCatalogStep, make_source_catalog, moffat_enclosed
from iris_pipeline.tweakreg import TweakRegStep

SHAPE = (96, 96)
OFFSETS_ARCSEC = [(0.0, 0.0), (0.05, 0.012), (0.014, 0.047), (0.052, 0.055)]
WCS_ERRORS_ARCSEC = [(0.0, 0.0), (0.012, -0.009), (-0.011, 0.006), (0.007, 0.013)]
WCS_ROTATIONS_DEG = [0.0, 0.04, -0.03, 0.0]
SKY_MJY_SR = [2.0, 5.0, 9.0, 3.5]
COSMIC_RAYS = {1: [(38, 35, 400.0), (56, 35, 150.0)], 2: [(47, 35, 300.0)]}


@pytest.fixture(scope="module")
def truth():
    return Truth(*make_stars(12, seed=3, half_width_arcsec=0.2))


def _exposures(truth, wcs_errors=True, sky=True, cosmic_rays=True):
    images, true_wcs = [], []
    for index, offset in enumerate(OFFSETS_ARCSEC):
        model, wcs = make_exposure(
            SHAPE,
            truth,
            offset,
            WCS_ERRORS_ARCSEC[index] if wcs_errors else (0.0, 0.0),
            WCS_ROTATIONS_DEG[index] if wcs_errors else 0.0,
            sky_mjy_sr=SKY_MJY_SR[index] if sky else 0.0,
            cosmic_rays=COSMIC_RAYS.get(index, []) if cosmic_rays else [],
            seed=index,
            exposure_number=index + 1,
        )
        images.append(model)
        true_wcs.append(wcs)
    return images, true_wcs


def _wcs_error_pix(wcs, true_wcs):
    y, x = np.mgrid[0 : SHAPE[0] : 8, 0 : SHAPE[1] : 8].astype(float)
    ra, dec = wcs(x, y)
    true_ra, true_dec = true_wcs(x, y)
    return (
        SkyCoord(ra, dec, unit="deg").separation(SkyCoord(true_ra, true_dec, unit="deg")).arcsec.max()
        / PIXEL_SCALE_ARCSEC
    )


def test_tweakreg_removes_deliberate_wcs_offsets(truth):
    images, true_wcs = _exposures(truth, sky=False, cosmic_rays=False)
    before = [_wcs_error_pix(image.meta.wcs, wcs) for image, wcs in zip(images, true_wcs, strict=True)]
    assert max(before) > 2.0
    aligned = TweakRegStep.call(images, enforce_user_order=True)
    after = [_wcs_error_pix(image.meta.wcs, wcs) for image, wcs in zip(aligned, true_wcs, strict=True)]
    # The reference (first) keeps its (true) WCS; the others land on it.
    assert max(after) < 0.1, after
    assert all(image.meta.cal_step.tweakreg == "COMPLETE" for image in aligned)


def test_tweakreg_single_exposure_is_skipped(truth):
    images, _ = _exposures(truth, sky=False, cosmic_rays=False)
    [result] = TweakRegStep.call(images[:1])
    assert result.meta.cal_step.tweakreg == "SKIPPED"


def test_skymatch_subtracts_the_sky_of_each_image(truth):
    images, _ = _exposures(truth, wcs_errors=False, cosmic_rays=False)
    matched = SkyMatchStep.call(images)
    for image in matched:
        background = np.median(image.data[5:-5, 5:-5][np.abs(image.data[5:-5, 5:-5]) < 3.0])
        assert abs(background) < 0.05, background
    assert all(image.meta.cal_step.skymatch == "COMPLETE" for image in matched)


def test_skymatch_match_only_keeps_the_lowest_sky(truth):
    images, _ = _exposures(truth, wcs_errors=False, cosmic_rays=False)
    matched = SkyMatchStep.call(images, skymethod="match")
    levels = [sigma_clipped_stats(image.data[5:-5, 5:-5])[1] for image in matched]
    np.testing.assert_allclose(levels, min(SKY_MJY_SR), atol=0.05)


def test_outlier_detection_flags_cosmic_rays_and_spares_stars(truth):
    images, _ = _exposures(truth, wcs_errors=False, sky=False)
    flagged = OutlierDetectionStep.call(images)
    outlier = dqflags.PIXEL["OUTLIER"]
    for index, image in enumerate(flagged):
        mask = (image.dq & outlier) > 0
        injected = {(y, x) for x, y, _ in COSMIC_RAYS.get(index, [])}
        assert injected <= {tuple(p) for p in np.argwhere(mask)}
        # Nothing else: star cores and noise stay unflagged.
        assert np.count_nonzero(mask) <= len(injected) + 2, np.argwhere(mask)
        assert image.meta.cal_step.outlier_detection == "COMPLETE"


def _aperture_flux_jy(mosaic, ra, dec, radius_pix=10.0):
    x, y = mosaic.meta.wcs.invert(ra, dec)
    yy, xx = np.mgrid[0 : mosaic.data.shape[0], 0 : mosaic.data.shape[1]]
    inside = np.hypot(xx - x, yy - y) <= radius_pix
    return np.nansum(mosaic.data[inside]) * mosaic.meta.photometry.pixelarea_steradians * 1e6, inside


def test_resample_single_exposure_conserves_flux_and_writes_valid_fits(tmp_path):
    xi = np.array([-0.09, 0.08, -0.06, 0.07]) / 3600.0
    eta = np.array([-0.08, -0.07, 0.08, 0.09]) / 3600.0
    ra, dec = (models.Pix2Sky_TAN() | models.RotateNative2Celestial(RA0, DEC0, 180.0))(xi, eta)
    truth = Truth(np.asarray(ra), np.asarray(dec), np.array([1e-4, 5e-5, 2e-4, 8e-5]))
    image, _ = make_exposure(SHAPE, truth, noise_mjy_sr=0.05)
    mosaic = ResampleStep.call(image)
    assert isinstance(mosaic, datamodels.MosaicModel)
    assert mosaic.meta.filename == "syn_e001_img1_i2d.fits"
    fluxes = []
    for ra, dec, flux in zip(truth.ra, truth.dec, truth.flux_jy, strict=True):
        measured, inside = _aperture_flux_jy(mosaic, ra, dec)
        if np.all(np.isfinite(mosaic.data[inside])) and np.count_nonzero(inside) > 300:
            fluxes.append(measured / flux)
    assert len(fluxes) == 4
    np.testing.assert_allclose(fluxes, 1.0, atol=0.005)
    path = mosaic.save(tmp_path / mosaic.meta.filename)
    with fits.open(path) as hdul:
        hdul.verify("exception")
        header = hdul["SCI"].header
        assert header["CTYPE1"] == "RA---TAN" and header["BUNIT"] == "MJy/sr"
        # JWST's fiducial point, which Imviz reads to align images by WCS with the mosaic as reference.
        assert (header["RA_REF"], header["DEC_REF"]) == (header["CRVAL1"], header["CRVAL2"])
        assert {"SCI", "ERR", "WHT", "CON", "DQ"} <= {hdu.name for hdu in hdul}
    if shutil.which("fitsverify"):
        report = subprocess.run(["fitsverify", "-q", "-e", str(path)], capture_output=True, text=True)
        assert "0 error" in report.stdout or report.returncode == 0, report.stdout


def test_resample_fits_wcs_matches_gwcs(truth):
    images, _ = _exposures(truth, wcs_errors=False, sky=False, cosmic_rays=False)
    mosaic = ResampleStep.call(images)
    from astropy.wcs import WCS

    header = fits.Header({k.upper(): v for k, v in mosaic.meta.wcsinfo.instance.items()})
    fits_wcs = WCS(header)
    x, y = np.array([0.0, 50.0, 300.0]), np.array([3.0, 70.0, -40.0])
    np.testing.assert_allclose(
        fits_wcs.pixel_to_world_values(x, y), mosaic.meta.wcs(x, y, with_bounding_box=False), atol=1e-10
    )
    assert mosaic.meta.resample.pointings == 4
    assert mosaic.con.shape[0] == 1 and np.any(mosaic.con[0] == 0b1111)


def _match(catalog, truth, radius_pix=1.0):
    found = SkyCoord(catalog["ra"], catalog["dec"], unit="deg")
    index, separation, _ = found.match_to_catalog_sky(SkyCoord(truth.ra, truth.dec, unit="deg"))
    matched = separation.arcsec < radius_pix * PIXEL_SCALE_ARCSEC
    return index[matched], separation.arcsec[matched] / PIXEL_SCALE_ARCSEC, matched


def test_image3_pipeline_against_truth(truth, tmp_path):
    images, _ = _exposures(truth)
    paths = [image.save(tmp_path / image.meta.filename) for image in images]
    association = {
        "asn_type": "image3",
        "products": [{"name": "syn_product", "members": [{"expname": p, "exptype": "science"} for p in paths]}],
    }
    asn_path = tmp_path / "syn_asn.json"
    asn_path.write_text(json.dumps(association))
    output = tmp_path / "out"
    # Relative alignment ties everything to the reference exposure: make it the one with the true WCS.
    steps = {"tweakreg": {"enforce_user_order": True}}
    Image3Pipeline.call(str(asn_path), output_dir=str(output), save_results=True, save_crf=True, steps=steps)
    with datamodels.open(output / "syn_product_i2d.fits") as mosaic:
        assert isinstance(mosaic, datamodels.MosaicModel)
        for step in ("tweakreg", "skymatch", "outlier_detection", "resample"):
            assert getattr(mosaic.meta.cal_step, step) == "COMPLETE", step
        # Cosmic rays are gone: no mosaic pixel is far above what the stars and noise allow.
        for index, crs in COSMIC_RAYS.items():
            for x, y, _ in crs:
                ra, dec = images[index].meta.wcs(x, y)
                mx, my = mosaic.meta.wcs.invert(ra, dec)
                value = mosaic.data[int(round(my)), int(round(mx))]
                assert value < 20.0, (index, x, y, value)
    catalog = Table.read(output / "syn_product_cat.ecsv")
    index, separation_pix, matched = _match(catalog, truth)
    clean = catalog["flags"][matched] == 0
    assert np.count_nonzero(clean) >= 3
    assert np.sqrt(np.mean(separation_pix[clean] ** 2)) < 0.1
    ratio = np.asarray(catalog["aper_total_flux"][matched][clean]) / truth.flux_jy[index[clean]]
    assert abs(np.median(ratio) - 1.0) < 0.01, ratio
    assert (output / "syn_product_i2d.png").stat().st_size > 0
    crf = sorted(output.glob("*_crf.fits"))
    assert len(crf) == 4
    with datamodels.open(crf[1]) as flagged:
        assert flagged.dq[35, 38] & dqflags.PIXEL["OUTLIER"]


def test_source_catalog_aperture_correction_recovers_total_flux_of_moffat_stars():
    grid = TanGrid((RA0, DEC0), (128.5, 128.5), PIXEL_SCALE_ARCSEC, 0.0, (256, 256))
    fwhm, beta = 4.0, 2.5
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    rng = np.random.default_rng(7)
    centres = [(40.3 + 58 * i, 40.7 + 58 * j) for i in range(4) for j in range(4)]
    fluxes_jy = rng.uniform(5e-5, 2e-4, len(centres))
    pixel_area_sr = grid.pixel_area_steradians()
    yy, xx = np.mgrid[0:256, 0:256]
    image = np.zeros((256, 256))
    for (x0, y0), flux in zip(centres, fluxes_jy, strict=True):
        profile = (1.0 + ((xx - x0) ** 2 + (yy - y0) ** 2) / alpha**2) ** -beta
        # Normalised over the whole plane: integral of the Moffat is pi alpha^2 / (beta - 1).
        image += flux / (pixel_area_sr * 1e6) * profile * (beta - 1.0) / (np.pi * alpha**2)
    image += rng.normal(0.0, 0.2, image.shape)
    catalog, measured_fwhm = make_source_catalog(
        image, np.full(image.shape, 0.2), grid.to_gwcs(), pixel_area_sr, annulus_fwhm=(6.0, 8.0)
    )
    assert abs(measured_fwhm - fwhm) < 0.3
    assert len(catalog) == len(centres)
    expected_correction = 1.0 / moffat_enclosed(2.0 * measured_fwhm, alpha, beta)
    assert catalog.meta["aperture_correction"] == pytest.approx(expected_correction, rel=0.005)
    order = [int(np.argmin(np.hypot(catalog["xcentroid"] - x0, catalog["ycentroid"] - y0))) for x0, y0 in centres]
    ratio = np.asarray(catalog["aper_total_flux"])[order] / fluxes_jy
    np.testing.assert_allclose(ratio, 1.0, atol=0.01)
    assert abs(np.median(ratio) - 1.0) < 0.005


def test_source_catalog_needs_a_mosaic(truth):
    images, _ = _exposures(truth, sky=False, cosmic_rays=False)
    with pytest.raises(InputFileError, match="MosaicModel"):
        SourceCatalogStep.call(images[0])


def test_image3_rejects_uncalibrated_input(tmp_path):
    rate = datamodels.RateModel((8, 8))
    path = rate.save(tmp_path / "x_rate.fits")
    with pytest.raises(InputFileError, match="x_rate.fits: stage-3 imaging needs calibrated images"):
        Image3Pipeline.call([path])
