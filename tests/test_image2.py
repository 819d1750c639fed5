"""Stage 2 imaging: WCS, flat field, background, photom and image2 against the simulator's truth."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from photutils.aperture import CircularAperture, aperture_photometry

from iris_pipeline import datamodels, dqflags
from iris_pipeline.assign_wcs import DistortionPolynomial, ImagerPointing, imager_wcs, pixel_area_ratio
from iris_pipeline.assign_wcs.imager_wcs import sip_header_cards
from iris_pipeline.associations import Association, write_association
from iris_pipeline.background import self_background, sky_frame_background
from iris_pipeline.exceptions import InputFileError, ReferenceFileError
from iris_pipeline.flat_field import apply_flat
from iris_pipeline.instruments import get_instrument
from iris_pipeline.photom import select_conversion
from iris_pipeline.pipelines import Detector1Pipeline, ProcessImagerL2Pipeline
from iris_pipeline.simulate import Pointing, Stream, make_detector_geometry, make_rng, simulate_observation
from iris_pipeline.simulate.parameters import OpticsParameters
from iris_pipeline.simulate.photometry import psf_fwhm_arcsec
from iris_pipeline.simulate.scene import psf_enclosed_energy

IRIS = get_instrument("IRIS")
DO_NOT_USE = dqflags.PIXEL["DO_NOT_USE"]
NO_FLAT_FIELD = dqflags.PIXEL["NO_FLAT_FIELD"]
CONFIG_DIR = Path(__file__).parents[1] / "src" / "iris_pipeline" / "pipelines" / "config"
BIN = Path(sys.executable).parent


def simulated_polynomial(detector="IMG2", seed=3):
    geometry = make_detector_geometry(IRIS, detector, make_rng(seed, Stream.GEOMETRY, 0))
    table = geometry.to_table()
    polynomial = DistortionPolynomial.from_table(
        table["AXIS"], table["XPOW"], table["YPOW"], table["COEFF"], geometry.nx_full, geometry.ny_full
    )
    return geometry, polynomial


@pytest.mark.parametrize("origin", [(0, 0), (3000, 1200)], ids=["full-frame", "window"])
def test_wcs_reproduces_the_simulated_geometry_and_inverts(origin):
    geometry, polynomial = simulated_polynomial()
    pointing = Pointing(ra_ref_deg=150.1, dec_ref_deg=-30.2, pa_aper_deg=47.0)
    shape = (4096 - origin[1], 4096 - origin[0])
    wcs, inverse_error = imager_wcs(polynomial, ImagerPointing(150.1, -30.2, 47.0), shape, origin)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, shape[1] - 1, 500)
    y = rng.uniform(0, shape[0] - 1, 500)
    ra, dec = wcs(x, y)
    ra_true, dec_true = geometry.pixel_to_sky(x + origin[0], y + origin[1], pointing)
    offset_pix = np.hypot((ra - ra_true) * np.cos(np.radians(dec)), dec - dec_true) * 3600 / 0.004
    assert offset_pix.max() < 1e-6
    x_back, y_back = wcs.invert(ra, dec)
    assert np.hypot(x_back - x, y_back - y).max() < 1e-3
    assert inverse_error < 1e-3


def test_sip_keywords_approximate_the_gwcs_for_astropy_wcs():
    _, polynomial = simulated_polynomial("IMG3")
    wcs, _ = imager_wcs(polynomial, ImagerPointing(10.0, 20.0, 200.0), (4096, 4096))
    header = fits.Header()
    for card in sip_header_cards(wcs, (4096, 4096), max_pix_error=0.01):
        header.append(card)
    assert header["CTYPE1"] == "RA---TAN-SIP"
    x, y = np.meshgrid(np.linspace(0, 4095, 15), np.linspace(0, 4095, 15))
    ra, dec = wcs(x.ravel(), y.ravel())
    x_fits, y_fits = WCS(header).all_world2pix(ra, dec, 0)
    assert np.hypot(x_fits - x.ravel(), y_fits - y.ravel()).max() < 0.01


def test_pixel_area_ratio_is_the_jacobian_over_the_nominal_area():
    _, polynomial = simulated_polynomial("IMG1")
    nominal = 0.004**2
    area = pixel_area_ratio(polynomial, (50, 60), (4000, 10), nominal)
    step = 1e-3
    for row, column in ((0, 0), (49, 59), (20, 33)):
        x, y = column + 4000, row + 10
        xp, yp = polynomial.evaluate([x - step, x + step, x, x], [y, y, y - step, y + step])
        jacobian = np.array([[xp[1] - xp[0], xp[3] - xp[2]], [yp[1] - yp[0], yp[3] - yp[2]]]) / (2 * step)
        np.testing.assert_allclose(area[row, column], abs(np.linalg.det(jacobian)) / nominal, rtol=1e-5)
    assert abs(area.mean() - 1) > 1e-5  # the corner of the field is distorted


def test_distortion_table_errors_name_the_problem():
    with pytest.raises(ValueError, match="AXIS"):
        DistortionPolynomial.from_table(["X", "Z"], [1, 0], [0, 1], [0.004, 0.004], 64, 64)
    with pytest.raises(ValueError, match="no Y terms"):
        DistortionPolynomial.from_table(["X", "X"], [1, 0], [0, 1], [0.004, 0.0], 64, 64)
    with pytest.raises(ValueError, match="twice"):
        DistortionPolynomial.from_table(["X", "X", "Y"], [1, 1, 0], [0, 0, 1], [1.0, 2.0, 1.0], 64, 64)


def test_flat_divides_propagates_variance_and_never_amplifies_bad_flats():
    shape = (4, 5)
    data = np.full(shape, 100.0, np.float32)
    dq = np.zeros(shape, np.uint32)
    var_poisson = np.full(shape, 4.0, np.float32)
    var_rnoise = np.full(shape, 9.0, np.float32)
    var_flat = np.zeros(shape, np.float32)
    err = np.zeros(shape, np.float32)
    flat = np.full(shape, 0.8, np.float32)
    flat_err = np.full(shape, 0.008, np.float32)
    flat_dq = np.zeros(shape, np.uint32)
    flat[0, 0] = 0.0
    flat[0, 1] = np.nan
    flat[0, 2] = 0.01
    flat_dq[0, 3] = DO_NOT_USE
    flat_dq[1, 0] = dqflags.PIXEL["LOW_QE"]
    n_bad = apply_flat(data, dq, var_poisson, var_rnoise, var_flat, err, flat, flat_err, flat_dq, min_flat=0.05)
    assert n_bad == 4
    bad = np.zeros(shape, bool)
    bad[0, :4] = True
    np.testing.assert_array_equal(data[bad], 100.0)
    assert np.all(dq[bad] & (NO_FLAT_FIELD | DO_NOT_USE) == (NO_FLAT_FIELD | DO_NOT_USE))
    np.testing.assert_allclose(data[~bad], 125.0)
    np.testing.assert_allclose(var_poisson[~bad], 4.0 / 0.64)
    np.testing.assert_allclose(var_rnoise[~bad], 9.0 / 0.64)
    np.testing.assert_allclose(var_flat[~bad], 125.0**2 * 0.01**2, rtol=1e-5)
    np.testing.assert_allclose(err, np.sqrt(var_poisson + var_rnoise + var_flat), rtol=1e-6)
    assert dq[1, 0] & dqflags.PIXEL["LOW_QE"] and not dq[1, 0] & DO_NOT_USE


def test_photom_row_selection_and_errors():
    filters = np.array(["Kbb", "H "])
    conversion = select_conversion(filters, [2.0, 3.0], [0.1, 0.2], [25.0, 26.0], "h")
    assert (conversion.photmjsr, conversion.uncertainty) == (3.0, 0.2)
    with pytest.raises(KeyError, match="no row for filter 'J'"):
        select_conversion(filters, [2.0, 3.0], [0.1, 0.2], [25.0, 26.0], "J")
    with pytest.raises(ValueError, match="PHOTMJSR"):
        select_conversion(filters, [0.0, 3.0], [0.1, 0.2], [25.0, 26.0], "Kbb")


def gaussian_sources(shape, positions, flux, sigma_pix):
    y, x = np.indices(shape)
    image = np.zeros(shape)
    for x0, y0 in positions:
        image += flux / (2 * np.pi * sigma_pix**2) * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma_pix**2))
    return image


def test_self_background_follows_a_gradient_under_sources_and_keeps_their_flux():
    shape = (256, 256)
    rng = np.random.default_rng(5)
    y, x = np.indices(shape)
    sky = 50.0 + 0.05 * x + 0.03 * y
    positions = rng.uniform(20, 236, size=(25, 2))
    sources = gaussian_sources(shape, positions, 5000.0, 2.0)
    data = (sky + sources + rng.normal(0, 2.0, shape)).astype(np.float32)
    dq = np.zeros(shape, np.uint32)
    dq[100:104, :] = DO_NOT_USE
    data[100:104, :] = np.nan
    estimate = self_background(data, dq, box_size=32)
    residual = estimate.background - sky
    assert np.abs(np.median(residual)) < 0.05
    assert np.percentile(np.abs(residual), 95) < 0.5
    subtracted = data - estimate.background
    fluxes = aperture_photometry(subtracted, CircularAperture(positions, 8.0), mask=~np.isfinite(subtracted))
    isolated = [
        k for k, p in enumerate(positions) if np.sort(np.hypot(*(positions - p).T))[1] > 20 and not 92 < p[1] < 112
    ]
    ratio = np.asarray(fluxes["aperture_sum"])[isolated] / 5000.0
    assert abs(np.median(ratio) - 1) < 0.01


def test_sky_frames_are_scaled_to_the_science_level():
    shape = (128, 128)
    rng = np.random.default_rng(2)
    pattern = 40.0 * (1 + 0.2 * np.sin(np.indices(shape)[1] / 9.0))
    sources = gaussian_sources(shape, rng.uniform(10, 118, size=(15, 2)), 8000.0, 1.5)
    science = (1.3 * pattern + sources + rng.normal(0, 1.0, shape)).astype(np.float32)
    skies = [(pattern + rng.normal(0, 1.0, shape)).astype(np.float32) for _ in range(3)]
    zeros = np.zeros(shape, np.uint32)
    ones = np.ones(shape, np.float32)
    estimate = sky_frame_background(science, zeros, skies, [zeros] * 3, [ones] * 3, [ones] * 3, method="scale")
    assert abs(estimate.scale - 1.3) < 0.005
    np.testing.assert_allclose(estimate.variance_poisson, estimate.scale**2 / 3, rtol=1e-5)
    with pytest.raises(ValueError, match="method"):
        sky_frame_background(science, zeros, skies, [zeros] * 3, [ones] * 3, [ones] * 3, method="median")


@pytest.fixture(scope="module")
def observation(tmp_path_factory):
    """Two detectors, one dither, a sky exposure, reduced through detector1; and its truth."""
    root = tmp_path_factory.mktemp("image2")
    manifest = simulate_observation(
        root / "sim", instrument="IRIS", detectors=["IMG1", "IMG4"], size=192, ngroups=4, ndithers=1,
        n_stars=90, n_galaxies=2, ndarks=0, nflats=0, nskies=1, seed=21,
    )  # fmt: skip
    rates = root / "rates"
    for path in manifest.science + manifest.skies:
        Detector1Pipeline.call(str(path), output_dir=str(rates), save_results=True,
                               refstore=str(manifest.reference_dir), configure_log=False)  # fmt: skip
    return manifest, rates


def rate_of(rates: Path, raw: Path) -> Path:
    return rates / raw.name.replace("_uncal", "_rate")


def test_image2_calibrates_fluxes_and_positions_against_truth(observation, tmp_path):
    manifest, rates = observation
    positions, catalog = Table.read(manifest.positions), Table.read(manifest.catalog)
    truth = {row["id"]: row for row in catalog}
    optics = OpticsParameters()
    fwhm_pix = psf_fwhm_arcsec(IRIS, "Kbb", optics.airy_fwhm_lambda_over_d) / 0.004
    radius = 2.0 * fwhm_pix
    enclosed = psf_enclosed_energy(radius, fwhm_pix, optics.psf_moffat_beta, optics.psf_stamp_radius_fwhm)
    ratios = []
    for raw in manifest.science:
        ProcessImagerL2Pipeline.call(str(rate_of(rates, raw)), output_dir=str(tmp_path), save_results=True,
                                     refstore=str(manifest.reference_dir), configure_log=False)  # fmt: skip
        cal = tmp_path / raw.name.replace("_uncal", "_cal")
        with datamodels.open(cal) as model:
            assert model.meta.bunit_data == "MJy/sr"
            assert model.meta.background.subtracted and "self" in model.meta.background.method
            for step in ("assign_wcs", "flat_field", "background", "photom"):
                assert getattr(model.meta.cal_step, step) == "COMPLETE"
            assert model.meta.ref_file.distortion.name.startswith("iris_")
            here = positions[positions["file"] == raw.name]
            ra, dec = model.meta.wcs(here["x_pix"], here["y_pix"])
            expected = [(truth[i]["ra_deg"], truth[i]["dec_deg"]) for i in here["id"]]
            ra_true, dec_true = np.array(expected).T
            offset_pix = np.hypot((ra - ra_true) * np.cos(np.radians(dec)), dec - dec_true) * 3600 / 0.004
            assert offset_pix.max() < 1e-4
            bad = (model.dq & DO_NOT_USE) != 0
            ny, nx = model.data.shape
            for row in here:
                x, y = row["x_pix"], row["y_pix"]
                others = np.hypot(here["x_pix"] - x, here["y_pix"] - y)
                star = truth[row["id"]]
                inside = radius < x < nx - radius and radius < y < ny - radius
                if star["kind"] != "star" or star["ab_mag"] > 21.0 or not inside or np.sum(others < 2 * radius) > 1:
                    continue
                phot = aperture_photometry(model.data, CircularAperture((x, y), radius), mask=bad)
                flux_jy = float(phot["aperture_sum"][0]) * model.meta.photometry.pixelarea_steradians * 1e6 / enclosed
                ratios.append(flux_jy / star["flux_jy"])
    assert len(ratios) >= 6
    assert abs(np.median(ratios) - 1) < 0.03


def test_image2_association_subtracts_the_scaled_sky_exposure(observation, tmp_path):
    manifest, rates = observation
    science = next(p for p in manifest.science if "img4" in p.name)
    sky = next(p for p in manifest.skies if "img4" in p.name)
    association = Association.from_files("image2", "field_img4", [rate_of(rates, science)],
                                         background=[rate_of(rates, sky)])  # fmt: skip
    asn = write_association(association, tmp_path / "field_asn.json")
    ProcessImagerL2Pipeline.call(str(asn), output_dir=str(tmp_path), save_results=True,
                                 refstore=str(manifest.reference_dir), configure_log=False)  # fmt: skip
    ProcessImagerL2Pipeline.call(str(rate_of(rates, science)), output_dir=str(tmp_path / "self"), save_results=True,
                                 refstore=str(manifest.reference_dir), configure_log=False)  # fmt: skip
    with (
        datamodels.open(tmp_path / "field_img4_cal.fits") as model,
        datamodels.open(tmp_path / "self" / science.name.replace("_uncal", "_cal")) as alone,
    ):
        assert model.meta.background.method.startswith("sky frames x1")
        good = ((model.dq & DO_NOT_USE) == 0) & (alone.var_poisson > 0)
        # Both subtract the same sky: the scaled sky frame and the frame's own background
        # differ by the sky frame's noise (mean ~0 over the frame) and the two levels' errors.
        gain = IRIS.detector_defaults["gain_e_per_dn"]
        sky_mjy_sr = manifest.truth["sky_e_s"]["IMG4"] / gain * model.meta.photometry.conversion_megajanskys
        difference = model.data[good] - alone.data[good]
        noise_of_mean = np.std(difference) / np.sqrt(difference.size)
        assert abs(np.mean(difference)) < 0.05 * sky_mjy_sr + 3.0 * noise_of_mean
        # The sky exposure's own noise is added: never less variance, and much more where the sky dominates.
        assert np.all(model.var_poisson[good] >= alone.var_poisson[good] * (1 - 1e-5))
        assert 1.15 < np.median(model.var_poisson[good] / alone.var_poisson[good]) < 2.5


def test_image2_products_pass_fits_verification(observation, tmp_path):
    manifest, rates = observation
    rate = rate_of(rates, manifest.science[0])
    ProcessImagerL2Pipeline.call(str(rate), output_dir=str(tmp_path), save_results=True, quicklook=True,
                                 refstore=str(manifest.reference_dir), configure_log=False)  # fmt: skip
    cal = next(tmp_path.glob("*_cal.fits"))
    assert cal.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with fits.open(cal) as hdul:
        hdul.verify("exception")
        assert WCS(hdul["SCI"].header).has_celestial
    if shutil.which("fitsverify") is None:
        pytest.skip("HEASARC fitsverify is not installed (Debian package 'fitsverify'); .ci/run installs it")
    result = subprocess.run(["fitsverify", "-q", "-e", str(cal)], capture_output=True, text=True)
    assert result.returncode == 0 and "verification OK" in result.stdout, result.stdout + result.stderr


def test_image2_bad_inputs_give_one_line_errors(observation, tmp_path):
    manifest, rates = observation
    with pytest.raises(InputFileError, match="needs a rate or calibrated image, not RawRampModel"):
        ProcessImagerL2Pipeline.call(str(manifest.science[0]), refstore=str(manifest.reference_dir))
    asn = tmp_path / "broken_asn.json"
    asn.write_text(json.dumps({"products": [{"name": "x", "members": [{"expname": "gone_rate.fits"}]}]}))
    with pytest.raises(InputFileError, match="member file not found: gone_rate.fits"):
        ProcessImagerL2Pipeline.call(str(asn), refstore=str(manifest.reference_dir))
    no_pointing = tmp_path / "nopointing_rate.fits"
    with datamodels.open(rate_of(rates, manifest.science[0])) as rate:
        rate.meta.pointing.ra_ref = None
        rate.save(no_pointing)
    with pytest.raises(InputFileError, match="no RA_REF keyword"):
        ProcessImagerL2Pipeline.call(str(no_pointing), refstore=str(manifest.reference_dir), output_dir=str(tmp_path),
                                     save_results=True)  # fmt: skip
    unknown_filter = tmp_path / "badfilter_rate.fits"
    with datamodels.open(rate_of(rates, manifest.science[0])) as rate:
        rate.meta.instrument.filter = "Jbb"
        rate.save(unknown_filter)
    with pytest.raises(ReferenceFileError):
        ProcessImagerL2Pipeline.call(str(unknown_filter), refstore=str(manifest.reference_dir))
    with pytest.raises(ReferenceFileError, match="photom needs a PHOTOM reference, not N/A"):
        ProcessImagerL2Pipeline.call(str(rate_of(rates, manifest.science[0])), refstore=str(manifest.reference_dir),
                                     steps={"photom": {"override_photom": "N/A"}})  # fmt: skip
    assert not list(tmp_path.glob("*_cal.fits")) and not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize(
    "target",
    ["image2", str(CONFIG_DIR / "image2.cfg"), "iris_pipeline.pipelines.image2.ProcessImagerL2Pipeline"],
    ids=["alias", "cfg", "class-path"],
)
def test_strun_runs_image2(observation, tmp_path, target):
    manifest, rates = observation
    rate = rate_of(rates, manifest.science[0])
    result = subprocess.run(
        [str(BIN / "strun"), target, str(rate), f"--output_dir={tmp_path}", f"--refstore={manifest.reference_dir}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    with datamodels.open(tmp_path / rate.name.replace("_rate", "_cal")) as model:
        assert model.meta.cal_step.photom == "COMPLETE"
