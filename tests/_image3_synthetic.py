"""Synthetic calibrated exposures with known truth for the stage-3 tests (no simulator, no files)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy import coordinates
from astropy import units as u
from astropy.modeling import models
from gwcs import WCS
from gwcs import coordinate_frames as cf

from iris_pipeline import dqflags
from iris_pipeline.datamodels import ImageModel
from iris_pipeline.resample.grid import sky_to_tangent_plane

PIXEL_SCALE_ARCSEC = 0.004
FWHM_PIX = 3.0
SIGMA_PIX = FWHM_PIX / (2.0 * math.sqrt(2.0 * math.log(2.0)))
RA0, DEC0 = 150.0, 2.0
MJY_SR_PER_JY_ARCSEC2 = 1e-6 / (math.radians(1.0 / 3600.0) ** 2)
DISTORTION_X = {"c2_0": 2e-5, "c0_2": -1e-5}
DISTORTION_Y = {"c1_1": 1.5e-5, "c2_0": 1e-5}


def detector_wcs(shape, ra_ref, dec_ref, pa_deg=0.0, distortion=True):
    """gwcs of a synthetic detector: centred shifts, small quadratic distortion, TAN about (ra_ref, dec_ref)."""
    ny, nx = shape
    cx, cy = (nx - 1) / 2.0, (ny - 1) / 2.0
    poly_x = models.Polynomial2D(2, c1_0=1.0, **(DISTORTION_X if distortion else {}))
    poly_y = models.Polynomial2D(2, c0_1=1.0, **(DISTORTION_Y if distortion else {}))
    scale = PIXEL_SCALE_ARCSEC / 3600.0
    cos, sin = math.cos(math.radians(pa_deg)), math.sin(math.radians(pa_deg))
    cd = scale * np.array([[-cos, sin], [sin, cos]])
    forward = (
        models.Shift(-cx) & models.Shift(-cy)
        | models.Mapping((0, 1, 0, 1))
        | poly_x & poly_y
        | models.AffineTransformation2D(matrix=cd, translation=[0.0, 0.0])
        | models.Pix2Sky_TAN()
        | models.RotateNative2Celestial(ra_ref, dec_ref, 180.0)
    )
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    world = cf.CelestialFrame(reference_frame=coordinates.ICRS(), name="world", unit=(u.deg, u.deg))
    wcs = WCS([(detector, forward), (world, None)])
    wcs.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    return wcs


def make_stars(n, seed, half_width_arcsec, flux_range_jy=(2e-5, 2e-4)):
    """Random stars around (RA0, DEC0): arrays ra, dec (deg), flux_jy."""
    rng = np.random.default_rng(seed)
    xi = rng.uniform(-half_width_arcsec, half_width_arcsec, n) / 3600.0
    eta = rng.uniform(-half_width_arcsec, half_width_arcsec, n) / 3600.0
    transform = models.Pix2Sky_TAN() | models.RotateNative2Celestial(RA0, DEC0, 180.0)
    ra, dec = transform(xi, eta)
    flux = np.exp(rng.uniform(*np.log(flux_range_jy), n))
    return np.asarray(ra), np.asarray(dec), flux


def render(wcs, shape, ra, dec, flux_jy):
    """Surface brightness (MJy/sr) of Gaussian stars, evaluated at pixel centres of a true WCS."""
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx].astype(float)
    pra, pdec = wcs(x, y, with_bounding_box=False)
    image = np.zeros(shape)
    sigma_arcsec = SIGMA_PIX * PIXEL_SCALE_ARCSEC
    for sra, sdec, sflux in zip(ra, dec, flux_jy, strict=True):
        xi, eta = sky_to_tangent_plane(pra, pdec, (sra, sdec))
        r2 = (np.asarray(xi) ** 2 + np.asarray(eta) ** 2) * 3600.0**2
        near = r2 < (8 * sigma_arcsec) ** 2
        image[near] += sflux * np.exp(-0.5 * r2[near] / sigma_arcsec**2) / (2 * math.pi * sigma_arcsec**2)
    return image * MJY_SR_PER_JY_ARCSEC2


@dataclass
class Truth:
    ra: np.ndarray
    dec: np.ndarray
    flux_jy: np.ndarray


def make_exposure(
    shape,
    stars: Truth,
    offset_arcsec=(0.0, 0.0),
    wcs_error_arcsec=(0.0, 0.0),
    wcs_error_rotation_deg=0.0,
    sky_mjy_sr=0.0,
    noise_mjy_sr=0.5,
    cosmic_rays=(),
    seed=0,
    exposure_number=1,
    detector="IMG1",
):
    """An ImageModel and its true WCS: pointing offset by ``offset_arcsec``, stored WCS deliberately wrong.

    The stored WCS differs from the true one by ``wcs_error_arcsec`` (xi, eta) and a rotation about
    the pointing; ``cosmic_rays`` is a list of (x, y, value MJy/sr) added to single pixels.
    """
    ra_ref, dec_ref = (models.Pix2Sky_TAN() | models.RotateNative2Celestial(RA0, DEC0, 180.0))(
        offset_arcsec[0] / 3600.0, offset_arcsec[1] / 3600.0
    )
    true_wcs = detector_wcs(shape, float(ra_ref), float(dec_ref))
    image = render(true_wcs, shape, stars.ra, stars.dec, stars.flux_jy)
    rng = np.random.default_rng(seed)
    image += sky_mjy_sr + rng.normal(0.0, noise_mjy_sr, shape)
    for x, y, value in cosmic_rays:
        image[y, x] += value
    ra_err, dec_err = (models.Pix2Sky_TAN() | models.RotateNative2Celestial(float(ra_ref), float(dec_ref), 180.0))(
        wcs_error_arcsec[0] / 3600.0, wcs_error_arcsec[1] / 3600.0
    )
    stored_wcs = detector_wcs(shape, float(ra_err), float(dec_err), pa_deg=wcs_error_rotation_deg)
    model = ImageModel(shape)
    model.data = image.astype(np.float32)
    model.err = np.full(shape, noise_mjy_sr, np.float32)
    model.var_rnoise = np.full(shape, noise_mjy_sr**2, np.float32)
    model.var_poisson = np.zeros(shape, np.float32)
    model.var_flat = np.zeros(shape, np.float32)
    model.dq = np.zeros(shape, np.uint32)
    model.dq[0, :] = dqflags.PIXEL["DO_NOT_USE"] | dqflags.PIXEL["NON_SCIENCE"]
    model.meta.wcs = stored_wcs
    model.meta.bunit_data = "MJy/sr"
    model.meta.bunit_err = "MJy/sr"
    model.meta.instrument.name = "IRIS"
    model.meta.instrument.detector = detector
    model.meta.instrument.filter = "Kbb"
    model.meta.exposure.type = "IRIS_IMAGE"
    model.meta.exposure.effective_exposure_time = 100.0
    model.meta.exposure.start_time = 60000.0 + exposure_number * 0.01
    model.meta.exposure.mid_time = 60000.0 + exposure_number * 0.01 + 0.0005
    model.meta.exposure.end_time = 60000.0 + exposure_number * 0.01 + 0.001
    model.meta.observation.exposure_number = exposure_number
    model.meta.observation.program = "001"
    model.meta.observation.observation_number = "001"
    model.meta.observation.visit_number = "001"
    model.meta.photometry.pixelarea_steradians = math.radians(PIXEL_SCALE_ARCSEC / 3600.0) ** 2
    model.meta.photometry.pixelarea_arcsecsq = PIXEL_SCALE_ARCSEC**2
    model.meta.filename = f"syn_e{exposure_number:03d}_{detector.lower()}_cal.fits"
    return model, true_wcs
