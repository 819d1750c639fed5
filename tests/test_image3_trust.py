"""Stage 3 imaging that cannot be silently wrong: unbiased weights, alignment failures, detection
significance, memory guard, absolute astrometry, catalogue metadata."""

from __future__ import annotations

import time

import numpy as np
import pytest
from _image3_synthetic import DEC0, PIXEL_SCALE_ARCSEC, RA0, Truth, make_exposure
from astropy.modeling import models

from iris_pipeline.exceptions import InputFileError
from iris_pipeline.pipelines.image3 import Image3Pipeline
from iris_pipeline.resample import ResampleStep, TanGrid
from iris_pipeline.resample.grid import OutputGridTooLargeError, check_grid_memory

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
