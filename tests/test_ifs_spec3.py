"""spec3 on synthetic dithered cubes: alignment, sky matching, outliers, drizzle, 1-D extraction.

Cubes are made directly in MJy/sr (no detector): a point source (spaxel-integrated circular
Gaussian, FWHM 2.5 spaxels) with a known spectrum, Gaussian noise of known sigma, four sub-spaxel
dithers whose commanded pointings are off by a known error, a residual background per cube.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from astropy.io import fits

from iris_pipeline import datamodels
from iris_pipeline.ifs.combine import CubeGeometry, blot, drizzle_cubes, linear_combination_variance, output_frame
from iris_pipeline.ifs.cube import spaxel_solid_angle_sr
from iris_pipeline.ifs.point_source import psf_image
from iris_pipeline.ifs.spec3_steps import CubeAlignStep, set_cube_wcs
from iris_pipeline.pipelines.spec3 import Spec3Pipeline

logging.getLogger("stpipe").setLevel(logging.WARNING)

SCALE_MAS = 25.0
SHAPE = (200, 12, 14)
SIGMA_SPAX = 2.5 / 2.3548
NOISE_MJY_SR = 40.0
WAVE = np.linspace(2.0, 2.3, SHAPE[0])
DITHERS = [(0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (0.5, 0.5)]
POINTING_ERRORS = [(0.0, 0.0), (0.15, -0.1), (-0.12, 0.08), (0.1, 0.12)]
SOURCE_XY = (6.3, 5.2)
BACKGROUNDS = [0.0, 30.0, -20.0, 10.0]
OUTLIER_SPAXELS = [(2, 9), (8, 3), (9, 10)]
OUTLIER_PLANES = np.arange(5, SHAPE[0], 7)


def true_flux_jy(wave):
    return 2e-3 * (wave / 2.15) ** -1.0


def _cube(k, rng, outliers=False):
    frame = CubeGeometry(150.0, 2.0, 0.0, SCALE_MAS, SHAPE[2], SHAPE[1])
    dx, dy = DITHERS[k]
    ex, ey = POINTING_ERRORS[k]
    # Commanded pointing: the field centre moved by the dither; actual pointing off by the error.
    commanded = frame.pixel_to_world(0.5 * (SHAPE[2] - 1) + dx, 0.5 * (SHAPE[1] - 1) + dy)
    x, y = SOURCE_XY[0] - dx - ex, SOURCE_XY[1] - dy - ey
    psf = psf_image(SHAPE[1:], x, y, SIGMA_SPAX)
    sb = true_flux_jy(WAVE)[:, None, None] * 1e-6 * psf[None] / spaxel_solid_angle_sr(SCALE_MAS)
    data = sb + BACKGROUNDS[k] + rng.normal(size=SHAPE) * NOISE_MJY_SR
    if outliers:
        # Cosmic-ray residuals and a bad spaxel, off the source's core.
        for row, column in OUTLIER_SPAXELS:
            data[OUTLIER_PLANES, row, column] += 40 * NOISE_MJY_SR
    cube = datamodels.IFUCubeModel(SHAPE)
    cube.data = data.astype(np.float32)
    cube.err = np.full(SHAPE, NOISE_MJY_SR, np.float32)
    cube.dq = np.zeros(SHAPE, np.uint32)
    cube.wavelength = WAVE.astype(np.float32)
    cube.meta.bunit_data = cube.meta.bunit_err = "MJy/sr"
    cube.meta.instrument.name = "IRIS"
    cube.meta.instrument.ifs_mode, cube.meta.instrument.ifs_scale = "LENSLET", SCALE_MAS
    cube.meta.instrument.filter, cube.meta.instrument.resolving_power = "K", 4000
    cube.meta.exposure.effective_exposure_time = 900.0
    cube.meta.filename = f"dither{k}_s3d.fits"
    set_cube_wcs(cube, CubeGeometry(float(commanded[0]), float(commanded[1]), 0.0, SCALE_MAS, SHAPE[2], SHAPE[1]))
    return cube


@pytest.fixture(scope="module")
def dithered(tmp_path_factory):
    rng = np.random.default_rng(7)
    root = tmp_path_factory.mktemp("spec3")
    paths = []
    for k in range(len(DITHERS)):
        paths.append(_cube(k, rng, outliers=(k == 2)).save(root / f"dither{k}_s3d.fits"))
    out = root / "out"
    pipeline = Spec3Pipeline()
    pipeline.output_dir = str(out)
    pipeline.save_results = True
    combined = pipeline.run(paths)
    return {"paths": paths, "out": out, "combined": combined, "spectra": pipeline.spectra,
            "sources": pipeline.sources}  # fmt: skip


def test_products_are_written_and_read_by_specutils(dithered):
    from specutils import Spectrum

    out = dithered["out"]
    assert sorted(p.name for p in out.iterdir()) == ["dither0_cat.ecsv", "dither0_s3d.fits", "dither0_s3d.png",
                                                      "dither0_x1d.fits", "dither0_x1d.png"]  # fmt: skip
    with fits.open(out / "dither0_s3d.fits") as hdul:
        assert hdul[0].header["S_CALIGN"] == "COMPLETE" and hdul[0].header["S_COUTLR"] == "COMPLETE"
        assert {"SCI", "ERR", "DQ", "WMAP", "EXPMAP"} <= {h.name for h in hdul}
    spectrum = Spectrum.read(str(out / "dither0_x1d.fits"))
    assert str(spectrum.flux.unit) == "Jy" and spectrum.uncertainty is not None
    np.testing.assert_allclose(spectrum.spectral_axis.value, WAVE, rtol=1e-6)


def test_alignment_recovers_the_pointing_errors_and_the_centroid(dithered):
    source = dithered["sources"][0]
    # The output grid starts at the first cube (no pointing error); the source is at SOURCE_XY there.
    combined = dithered["combined"]
    frame_origin = CubeGeometry(150.0, 2.0, 0.0, SCALE_MAS, SHAPE[2], SHAPE[1])
    ra, dec = source["ra"], source["dec"]
    x, y = frame_origin.world_to_pixel(ra, dec)
    assert np.hypot(x - SOURCE_XY[0], y - SOURCE_XY[1]) < 0.1
    # Half-spaxel dithers and pointing errors widen the grid by one or two spaxels.
    assert SHAPE[1] + 1 <= combined.data.shape[1] <= SHAPE[1] + 2
    assert SHAPE[2] + 1 <= combined.data.shape[2] <= SHAPE[2] + 2


def test_extracted_spectrum_matches_truth_with_calibrated_errors(dithered):
    table = dithered["spectra"].spec[0].spec_table
    truth = true_flux_jy(WAVE)
    for column in ("FLUX_APERTURE", "FLUX_PSF"):
        flux, error = table[column], table[f"{column}_ERROR"]
        assert np.median(flux / truth) == pytest.approx(1.0, abs=0.02), column
        pull = (flux - truth) / error
        assert np.std(pull) == pytest.approx(1.0, abs=0.1), column


def test_outliers_of_one_exposure_are_absent_from_the_combined_cube(dithered):
    combined = dithered["combined"]
    others = np.setdiff1d(np.arange(SHAPE[0]), OUTLIER_PLANES)
    # Where the injected spaxels land (the third cube: dither (0, 0.5) minus its pointing error).
    for row, column in OUTLIER_SPAXELS:
        for dy in (0, 1):
            for dx in (0, 1):
                y, x = row + 1 + dy, column + dx
                spectrum = combined.data[:, y, x]
                level = np.median(spectrum[others])
                noise = 1.4826 * np.median(np.abs(spectrum[others] - level))
                # Outliers 40 sigma in one of four cubes would stand 10 sigma above the others unflagged.
                assert np.max(np.abs(spectrum[OUTLIER_PLANES] - level)) < 5 * noise


def test_drizzle_conserves_flux_and_its_variance_of_sums_is_exact():
    rng = np.random.default_rng(3)
    shape = (1, 6, 6)
    data = [rng.normal(size=shape) for _ in range(3)]
    variances = [np.full(shape, 1.0) for _ in range(3)]
    goods = [np.ones(shape, bool) for _ in range(3)]
    y, x = np.mgrid[0:6, 0:6].astype(float)
    positions = [(x + 1.0, y + 1.0), (x + 1.5, y + 1.0), (x + 1.25, y + 1.75)]
    out_shape = (1, 9, 9)
    combined, _, coverage, drizzle_map = drizzle_cubes(data, variances, goods, positions, [np.ones(1)] * 3, out_shape)
    # Total coverage is the inputs' area; a constant input stays constant.
    assert coverage.sum() == pytest.approx(3 * 36)
    constant, *_ = drizzle_cubes([np.full(shape, 2.0)] * 3, variances, goods, positions, [np.ones(1)] * 3, out_shape)
    np.testing.assert_allclose(constant[np.isfinite(constant)], 2.0)
    # Variance of a sum over output spaxels, by Monte Carlo on the inputs.
    coefficients = np.where(np.isfinite(combined), 1.0, 0.0)
    exact = linear_combination_variance(coefficients, drizzle_map, variances, goods)[0]
    sums = []
    for _ in range(2000):
        draws = [rng.normal(size=shape) for _ in range(3)]
        values, *_ = drizzle_cubes(draws, variances, goods, positions, [np.ones(1)] * 3, out_shape)
        sums.append(np.nansum(values))
    assert np.var(sums) == pytest.approx(exact, rel=0.1)


def test_an_association_file_gives_the_same_combined_cube_under_its_product_name(dithered, tmp_path):
    from iris_pipeline.associations.io import Association, AssociationMember, AssociationProduct, write_association

    members = [AssociationMember(path, "science") for path in dithered["paths"]]
    association = Association(asn_type="spec3", products=[AssociationProduct("target_k", members)], asn_rule="test")
    asn = write_association(association, tmp_path / "target_k_spec3_asn.json")
    pipeline = Spec3Pipeline()
    pipeline.output_dir = str(tmp_path / "out")
    pipeline.save_results = True
    combined = pipeline.run(str(asn))
    np.testing.assert_array_equal(combined.data, dithered["combined"].data)
    assert {"target_k_s3d.fits", "target_k_x1d.fits", "target_k_cat.ecsv"} <= {
        p.name for p in (tmp_path / "out").iterdir()
    }


def test_blot_compares_the_edge_row_of_a_dithered_cube():
    """A position a fraction of a spaxel beyond the last covered row takes that row's values
    (the outliers of a cube's outermost row were never compared); further out it is NaN."""
    median = np.arange(2 * 4 * 5, dtype=float).reshape(2, 4, 5)
    median[:, 3, :] = np.nan  # the last row has too few exposures
    x = np.array([1.0, 1.5, 2.0, 2.0])
    y = np.array([2.07, 2.0, 2.7, 1.5])
    values = blot(median, x, y)
    np.testing.assert_allclose(values[:, 0], median[:, 2, 1])
    np.testing.assert_allclose(values[:, 1], (median[:, 2, 1] + median[:, 2, 2]) / 2)
    assert np.isnan(values[:, 2]).all(), "mostly beyond the covered rows"
    np.testing.assert_allclose(values[:, 3], (median[:, 1, 2] + median[:, 2, 2]) / 2)


def test_a_mosaic_keeps_the_first_cube_where_it_alone_covers_the_sky():
    """Output spaxels fall on the first cube's (an even number of spaxels put them half a spaxel off):
    where that cube alone covers a mosaic, the combined cube is that cube, not a mean of four neighbours."""
    rng = np.random.default_rng(5)
    shape = (3, *SHAPE[1:])
    reference = CubeGeometry(150.0, 2.0, 0.0, SCALE_MAS, SHAPE[2], SHAPE[1])
    offsets = [(0, 0), (-6, 0), (0, -5), (-6, -5)]
    geometries = []
    for dx, dy in offsets:
        ra, dec = reference.pixel_to_world(0.5 * (SHAPE[2] - 1) + dx, 0.5 * (SHAPE[1] - 1) + dy)
        geometries.append(CubeGeometry(float(ra), float(dec), 0.0, SCALE_MAS, SHAPE[2], SHAPE[1]))
    frame = output_frame(geometries)
    assert (frame.nx, frame.ny) == (SHAPE[2] + 6, SHAPE[1] + 5)
    positions = [geometry.to_frame(frame) for geometry in geometries]
    np.testing.assert_allclose(positions[0][0], np.broadcast_to(np.arange(SHAPE[2]) + 6, SHAPE[1:]), atol=1e-6)
    np.testing.assert_allclose(positions[0][1], np.broadcast_to(np.arange(SHAPE[1])[:, None] + 5, SHAPE[1:]), atol=1e-6)
    cubes = [rng.normal(size=shape) for _ in offsets]
    ones = [np.ones(shape) for _ in offsets]
    goods = [np.ones(shape, bool) for _ in offsets]
    combined, _, coverage, _ = drizzle_cubes(cubes, ones, goods, positions, [np.ones(3)] * 4, (3, frame.ny, frame.nx))
    # The first cube's last 6 columns and 5 rows are beyond the other three fields; on the output grid
    # the first cube starts at column 6, row 5 (to the TAN projection's rounding, 1e-7 spaxel).
    alone_in_first = (slice(None), slice(SHAPE[1] - 5, None), slice(SHAPE[2] - 6, None))
    alone_in_output = (slice(None), slice(SHAPE[1], None), slice(SHAPE[2], None))
    np.testing.assert_allclose(coverage[alone_in_output], 1.0, atol=1e-6)
    np.testing.assert_allclose(combined[alone_in_output], cubes[0][alone_in_first], atol=1e-6)


def _mosaic_cube(offset, error, sources, rng):
    """A cube of a mosaic: field centre moved by ``offset`` (commanded) plus ``error`` (actual), spaxels
    of the first field; ``sources``: (x, y, flux in MJy/sr times spaxels) in the first field's spaxels."""
    reference = CubeGeometry(150.0, 2.0, 0.0, SCALE_MAS, SHAPE[2], SHAPE[1])
    commanded = reference.pixel_to_world(0.5 * (SHAPE[2] - 1) + offset[0], 0.5 * (SHAPE[1] - 1) + offset[1])
    shape = (20, *SHAPE[1:])
    data = rng.normal(size=shape) * NOISE_MJY_SR
    for x, y, flux in sources:
        data += flux * psf_image(SHAPE[1:], x - offset[0] - error[0], y - offset[1] - error[1], SIGMA_SPAX)[None]
    cube = datamodels.IFUCubeModel(shape)
    cube.data = data.astype(np.float32)
    cube.err = np.full(shape, NOISE_MJY_SR, np.float32)
    cube.dq = np.zeros(shape, np.uint32)
    cube.wavelength = WAVE[:20].astype(np.float32)
    cube.meta.bunit_data = cube.meta.bunit_err = "MJy/sr"
    cube.meta.instrument.name = "IRIS"
    cube.meta.instrument.ifs_mode, cube.meta.instrument.ifs_scale = "LENSLET", SCALE_MAS
    cube.meta.instrument.filter, cube.meta.instrument.resolving_power = "K", 4000
    cube.meta.filename = f"mosaic_{offset[0]:+.0f}_{offset[1]:+.0f}_s3d.fits"
    set_cube_wcs(cube, CubeGeometry(float(commanded[0]), float(commanded[1]), 0.0, SCALE_MAS, SHAPE[2], SHAPE[1]))
    return cube


def test_mosaic_cubes_are_aligned_through_the_sources_they_share():
    """Each field's brightest source differs (a bright star in the first field alone, a fainter one
    where the fields overlap, a third seen by the last two): aligning every cube on its brightest
    source gave up on all of them and still recorded COMPLETE."""
    rng = np.random.default_rng(11)
    stars = [(3.2, 5.4, 15000.0), (9.6, 6.3, 4000.0), (16.3, 5.8, 10000.0)]
    offsets = [(0.0, 0.0), (6.0, 0.0), (12.0, 0.0)]
    errors = [(0.0, 0.0), (0.3, -0.2), (-0.25, 0.35)]
    cubes = [_mosaic_cube(offset, error, stars, rng) for offset, error in zip(offsets, errors, strict=True)]
    aligned = CubeAlignStep.call(cubes)
    reference = CubeGeometry(150.0, 2.0, 0.0, SCALE_MAS, SHAPE[2], SHAPE[1])
    for cube, offset, error in zip(aligned, offsets, errors, strict=True):
        x, y = reference.world_to_pixel(cube.meta.pointing.ra_ref, cube.meta.pointing.dec_ref)
        true_x, true_y = 0.5 * (SHAPE[2] - 1) + offset[0] + error[0], 0.5 * (SHAPE[1] - 1) + offset[1] + error[1]
        assert np.hypot(x - true_x, y - true_y) < 0.05, cube.meta.filename
        assert cube.meta.cal_step.cube_align == "COMPLETE"


def test_alignment_without_shared_sources_is_recorded_as_skipped():
    rng = np.random.default_rng(12)
    cubes = [_mosaic_cube((6.0 * k, 0.0), (0.0, 0.0), [], rng) for k in range(3)]
    aligned = CubeAlignStep.call(cubes)
    assert [cube.meta.cal_step.cube_align for cube in aligned] == ["SKIPPED"] * 3
