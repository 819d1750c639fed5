"""Source catalog against analytic truth: total fluxes of PSFs that are not Moffat profiles,
positions at the edge of a mosaic's coverage, Kron and isophotal fluxes of galaxies, and the
outcome recorded when the aperture correction cannot be measured."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from _image3_synthetic import DEC0, PIXEL_SCALE_ARCSEC, RA0
from photutils.aperture import EllipticalAperture
from scipy import special

from iris_pipeline import datamodels
from iris_pipeline.exceptions import InputFileError
from iris_pipeline.resample import TanGrid
from iris_pipeline.source_catalog import SourceCatalogStep, make_source_catalog
from iris_pipeline.source_catalog.catalog import combine_corrections

SIZE = 256
OVERSAMPLE = 5


def _pixel_integrated(profile, x0, y0, shape, x_limits=None):
    """Mean of ``profile(dx, dy)`` over each pixel (sub-sampled); with ``x_limits`` only over the
    part of each pixel inside ``[x_min, x_max)``, as a drizzled pixel that is partly covered holds."""
    sub = (np.arange(OVERSAMPLE) + 0.5) / OVERSAMPLE - 0.5
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    total = np.zeros(shape)
    weight = np.zeros(shape)
    for sy in sub:
        for sx in sub:
            x = xx + sx
            inside = np.ones(shape, bool) if x_limits is None else (x >= x_limits[0]) & (x < x_limits[1])
            total += np.where(inside, profile(x - x0, yy + sy - y0), 0.0)
            weight += inside
    with np.errstate(invalid="ignore"):
        return np.where(weight > 0, total / np.maximum(weight, 1), np.nan)


def _ao_psf(fwhm_core_pix, halo_fraction, halo_fwhm_pix, halo_beta):
    """An AO-like PSF, unit integral: a Gaussian core on a Moffat halo, which no single Moffat fits."""
    sigma = fwhm_core_pix / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    alpha = halo_fwhm_pix / (2.0 * np.sqrt(2.0 ** (1.0 / halo_beta) - 1.0))

    def profile(dx, dy):
        r2 = dx**2 + dy**2
        core = np.exp(-0.5 * r2 / sigma**2) / (2.0 * np.pi * sigma**2)
        halo = (halo_beta - 1.0) / (np.pi * alpha**2) * (1.0 + r2 / alpha**2) ** -halo_beta
        return (1.0 - halo_fraction) * core + halo_fraction * halo

    return profile


def _grid():
    return TanGrid((RA0, DEC0), (SIZE / 2 + 0.5, SIZE / 2 + 0.5), PIXEL_SCALE_ARCSEC, 0.0, (SIZE, SIZE))


def test_total_fluxes_of_a_psf_with_an_ao_core_and_halo_are_unbiased():
    grid = _grid()
    pixel_area_sr = grid.pixel_area_steradians()
    psf = _ao_psf(fwhm_core_pix=3.5, halo_fraction=0.3, halo_fwhm_pix=6.0, halo_beta=2.5)
    rng = np.random.default_rng(11)
    centres = [(45.3 + 55 * i, 44.6 + 55 * j) for i in range(4) for j in range(4)]
    fluxes_jy = rng.uniform(5e-5, 2e-4, len(centres))
    image = np.zeros((SIZE, SIZE))
    for (x0, y0), flux in zip(centres, fluxes_jy, strict=True):
        window = np.s_[int(y0) - 40 : int(y0) + 41, int(x0) - 40 : int(x0) + 41]
        stamp = _pixel_integrated(psf, x0 - window[1].start, y0 - window[0].start, (81, 81))
        image[window] += flux / (pixel_area_sr * 1e6) * stamp
    noise = 0.05
    image += rng.normal(0.0, noise, image.shape)
    catalog, _ = make_source_catalog(
        image, np.full(image.shape, noise), grid.to_gwcs(), pixel_area_sr, annulus_fwhm=(7.0, 9.0)
    )
    assert len(catalog) == len(centres)
    order = [int(np.argmin(np.hypot(catalog["xcentroid"] - x0, catalog["ycentroid"] - y0))) for x0, y0 in centres]
    ratio = np.asarray(catalog["aper_total_flux"])[order] / fluxes_jy
    # The halo has light beyond any aperture that stays clear of the background annulus: the
    # flux beyond 6 FWHM is extrapolated, so the target is the 0.3 % of issue 11.
    assert abs(np.median(ratio) - 1.0) < 0.003, ratio
    assert catalog.meta["aperture_correction_stars"] >= 3


def test_positions_of_stars_cut_by_the_edge_of_the_coverage_are_not_pulled_outward():
    """The edge column of a drizzled mosaic holds the mean of only the covered part of its pixels."""
    grid = _grid()
    pixel_area_sr = grid.pixel_area_steradians()
    psf = _ao_psf(fwhm_core_pix=4.0, halo_fraction=0.2, halo_fwhm_pix=7.0, halo_beta=2.5)
    edge_x = 20.4
    centres = [(edge_x + 3.1, 60.2), (edge_x + 4.7, 140.5), (edge_x + 6.3, 200.8), (150.3, 120.4)]
    image = np.zeros((SIZE, SIZE))
    for x0, y0 in centres:
        image += 2e-4 / (pixel_area_sr * 1e6) * _pixel_integrated(psf, x0, y0, (SIZE, SIZE), (edge_x, np.inf))
    noise = 0.02
    image += np.random.default_rng(2).normal(0.0, noise, image.shape)
    catalog, _ = make_source_catalog(image, np.full(image.shape, noise), grid.to_gwcs(), pixel_area_sr)
    errors = [float(np.min(np.hypot(catalog["xcentroid"] - x0, catalog["ycentroid"] - y0))) for x0, y0 in centres]
    assert max(errors) < 0.03, errors


def test_positions_of_stars_on_a_galaxy_are_not_pulled_up_its_gradient():
    """Stars 10-14 pixels from the centres of exponential discs ten times brighter than they are:
    the disc's gradient across the centroid box is fitted as a plane, on a box centred on the
    star (measured 0.012-0.025 pixel; a constant background left 0.27-0.48 here)."""
    grid = _grid()
    pixel_area_sr = grid.pixel_area_steradians()
    psf = _ao_psf(fwhm_core_pix=4.0, halo_fraction=0.2, halo_fwhm_pix=7.0, halo_beta=2.5)
    pairs = [((70.2, 68.7), (82.4, 66.1)), ((180.6, 75.3), (171.8, 84.9)), ((72.9, 185.2), (70.1, 171.4)),
             ((182.3, 181.6), (194.0, 188.8))]  # fmt: skip
    noiseless = np.zeros((SIZE, SIZE))
    for (gx, gy), (sx, sy) in pairs:
        noiseless += 2e-5 / (pixel_area_sr * 1e6) * _pixel_integrated(_sersic(1.0, 10.0, 0.8, 0.4), gx, gy, (SIZE, SIZE))
        noiseless += 2e-6 / (pixel_area_sr * 1e6) * _pixel_integrated(psf, sx, sy, (SIZE, SIZE))
    noise = 0.02
    image = noiseless + np.random.default_rng(8).normal(0.0, noise, noiseless.shape)
    catalog, _ = make_source_catalog(image, np.full(image.shape, noise), grid.to_gwcs(), pixel_area_sr, fwhm_pix=4.0)
    errors = [float(np.min(np.hypot(catalog["xcentroid"] - sx, catalog["ycentroid"] - sy))) for _, (sx, sy) in pairs]
    assert max(errors) < 0.04, errors


def _sersic(n, r_eff_pix, axis_ratio, angle_rad):
    """Sersic profile of unit integral (elliptical, major-axis effective radius ``r_eff_pix``)."""
    b_n = special.gammaincinv(2.0 * n, 0.5)
    norm = 2.0 * np.pi * n * r_eff_pix**2 * axis_ratio * np.exp(b_n) / b_n ** (2.0 * n) * special.gamma(2.0 * n)
    cos, sin = np.cos(angle_rad), np.sin(angle_rad)

    def profile(dx, dy):
        major = dx * cos + dy * sin
        minor = -dx * sin + dy * cos
        radius = np.hypot(major, minor / axis_ratio)
        return np.exp(-b_n * ((radius / r_eff_pix) ** (1.0 / n) - 1.0)) / norm

    return profile


def test_kron_and_isophotal_fluxes_of_galaxies_are_the_light_in_their_apertures():
    """Kron fluxes of exponential discs (Sersic n = 1) equal the light in the Kron ellipse that
    the catalogue describes (its columns), less the background, and that ellipse holds close to
    the 96 % of the light that 2.5 Kron radii hold for an ideal disc (Graham & Driver 2005,
    PASA 22, 118). Isophotal fluxes hold less, and more of a bright galaxy than of a faint one."""
    grid = _grid()
    pixel_area_sr = grid.pixel_area_steradians()
    galaxies = [(64.2, 64.7, 3e-4, 0.6, 0.3), (190.5, 70.1, 3e-4, 0.8, 1.2), (70.4, 190.3, 1e-4, 0.7, 2.0),
                (185.8, 188.2, 3e-5, 0.9, 0.7)]  # fmt: skip
    noiseless = np.zeros((SIZE, SIZE))
    for x0, y0, flux, axis_ratio, angle in galaxies:
        profile = _sersic(1.0, 8.0, axis_ratio, angle)
        noiseless += flux / (pixel_area_sr * 1e6) * _pixel_integrated(profile, x0, y0, (SIZE, SIZE))
    noise = 0.02
    image = noiseless + np.random.default_rng(5).normal(0.0, noise, noiseless.shape)
    truth = np.array([g[2] for g in galaxies])
    catalog, _ = make_source_catalog(image, np.full(image.shape, noise), grid.to_gwcs(), pixel_area_sr, fwhm_pix=4.0)
    order = [int(np.argmin(np.hypot(catalog["xcentroid"] - g[0], catalog["ycentroid"] - g[1]))) for g in galaxies]
    rows = catalog[order]
    ellipses = [
        EllipticalAperture((float(x), float(y)), 2.5 * kron_radius * a, 2.5 * kron_radius * b, theta=np.radians(theta))
        for x, y, kron_radius, a, b, theta in zip(
            *(
                np.asarray(rows[name])
                for name in ("xcentroid", "ycentroid", "kron_radius", "semimajor_axis", "semiminor_axis", "orientation")
            ),
            strict=True,
        )
    ]
    in_ellipse = np.array([float(e.do_photometry(noiseless)[0][0]) for e in ellipses]) * pixel_area_sr * 1e6
    kron = np.asarray(rows["kron_flux"])
    np.testing.assert_allclose(kron[:3], in_ellipse[:3], rtol=0.02)
    np.testing.assert_allclose(kron[:3] / truth[:3], 0.96, atol=0.03)
    isophotal = np.asarray(rows["isophotal_flux"]) / truth
    assert isophotal[0] > isophotal[3] > 0.5
    np.testing.assert_allclose(np.asarray(rows["ellipticity"])[:3], [1 - g[3] for g in galaxies[:3]], atol=0.06)


def test_galaxies_among_the_bright_isolated_sources_do_not_set_the_aperture_correction():
    """More compact galaxies than stars are bright and isolated: the curve of growth is measured
    on the stars alone (the galaxies' shallower curves would lower the correction), and a field
    with fewer than three stars left says the correction is not measured."""
    grid = _grid()
    pixel_area_sr = grid.pixel_area_steradians()
    psf = _ao_psf(fwhm_core_pix=4.0, halo_fraction=1.0, halo_fwhm_pix=4.0, halo_beta=2.5)  # a Moffat
    places = [(40.3 + 58 * i, 41.7 + 58 * j) for i in range(4) for j in range(4)]
    star_places, galaxy_places = places[::4], [p for k, p in enumerate(places) if k % 4]
    rng = np.random.default_rng(3)
    star_fluxes = rng.uniform(1e-4, 2e-4, len(star_places))
    noiseless = np.zeros((SIZE, SIZE))
    for (x0, y0), flux in zip(star_places, star_fluxes, strict=True):
        noiseless += flux / (pixel_area_sr * 1e6) * _pixel_integrated(psf, x0, y0, (SIZE, SIZE))
    for x0, y0 in galaxy_places:
        disc = _sersic(1.0, rng.uniform(4.0, 6.0), rng.uniform(0.6, 1.0), rng.uniform(0, np.pi))
        noiseless += 4e-4 / (pixel_area_sr * 1e6) * _pixel_integrated(disc, x0, y0, (SIZE, SIZE))
    noise = 0.05
    image = noiseless + rng.normal(0.0, noise, noiseless.shape)
    catalog, _ = make_source_catalog(image, np.full(image.shape, noise), grid.to_gwcs(), pixel_area_sr,
                                        fwhm_pix=4.0, annulus_fwhm=(7.0, 9.0))  # fmt: skip
    order = [int(np.argmin(np.hypot(catalog["xcentroid"] - x0, catalog["ycentroid"] - y0))) for x0, y0 in star_places]
    ratio = np.asarray(catalog["aper_total_flux"])[order] / star_fluxes
    assert abs(np.median(ratio) - 1.0) < 0.003, ratio
    assert catalog.meta["aperture_correction_measured"]
    assert catalog.meta["aperture_correction_stars"] == len(star_places)

    two_stars_fewer = image - sum(
        flux / (pixel_area_sr * 1e6) * _pixel_integrated(psf, x0, y0, (SIZE, SIZE))
        for (x0, y0), flux in zip(star_places[:2], star_fluxes[:2], strict=True)
    )
    catalog, _ = make_source_catalog(two_stars_fewer, np.full(image.shape, noise), grid.to_gwcs(), pixel_area_sr,
                                     fwhm_pix=4.0, annulus_fwhm=(7.0, 9.0))  # fmt: skip
    assert catalog.meta["aperture_correction_stars"] == 2
    assert not catalog.meta["aperture_correction_measured"]


def test_faint_stars_do_not_outvote_a_bright_one_in_the_aperture_correction():
    """A mosaic of the image3 truth check (seed 11): one bright star (error 0.00014) and two faint
    ones that agree with each other 3 sigma below it. Clipped about the median, the bright star
    was left out and the correction fell by 3.5 %; clipped about the inverse-variance weighted
    median, all three are kept and the bright one sets the result. A star far from several that agree is
    still left out."""
    correction, kept = combine_corrections([1.0525, 1.0153, 1.0215], np.square([0.00014, 0.011, 0.011]))
    assert kept == 3
    assert correction == pytest.approx(1.0525, abs=0.0005)
    correction, kept = combine_corrections([1.050, 1.051, 1.049, 1.0505, 1.10], np.full(5, 0.001**2))
    assert kept == 4
    assert correction == pytest.approx(1.0501, abs=0.0005)


def _faint_star_mosaic(tmp_path):
    grid = _grid()
    pixel_area_sr = grid.pixel_area_steradians()
    psf = _ao_psf(fwhm_core_pix=4.0, halo_fraction=0.2, halo_fwhm_pix=7.0, halo_beta=2.5)
    image = np.zeros((SIZE, SIZE))
    for x0, y0 in [(60.3, 70.2), (180.6, 150.1), (90.2, 200.7)]:
        image += 4e-9 / (pixel_area_sr * 1e6) * _pixel_integrated(psf, x0, y0, (SIZE, SIZE))
    noise = 0.05
    image += np.random.default_rng(9).normal(0.0, noise, image.shape)
    mosaic = datamodels.MosaicModel(image.shape)
    mosaic.data = image.astype(np.float32)
    mosaic.err = np.full(image.shape, noise, np.float32)
    mosaic.wht = np.ones(image.shape, np.float32)
    mosaic.meta.wcs = grid.to_gwcs()
    mosaic.meta.photometry.pixelarea_steradians = pixel_area_sr
    mosaic.meta.filename = "faint_i2d.fits"
    return mosaic


def test_a_catalogue_without_stars_to_measure_the_aperture_correction_says_so(tmp_path, caplog):
    mosaic = _faint_star_mosaic(tmp_path)
    with caplog.at_level(logging.WARNING):
        catalog = SourceCatalogStep.call(mosaic)
    snr = np.asarray(catalog["aper2fwhm_flux"]) / np.asarray(catalog["aper2fwhm_flux_err"])
    assert len(catalog) == 3 and np.all(snr < 50), snr
    assert catalog.meta["aperture_correction_stars"] == 0
    assert catalog.meta["S_SRCCAT"] == "INCOMPLETE"
    assert mosaic.meta.cal_step.source_catalog == "INCOMPLETE"
    assert any("aperture correction not measured" in r.getMessage() for r in caplog.records)
    with pytest.raises(InputFileError, match="faint_i2d.fits: source_catalog: aperture correction not measured"):
        SourceCatalogStep.call(mosaic, fail_on_incomplete=True)
