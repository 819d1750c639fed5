"""The viewer's data logic (no browser): canvas layout, rendering, stretches, regions, cubes, night log."""

from __future__ import annotations

import numpy as np
import pytest
from _viewer_products import four_detector_exposure, gaussian_source, star_field, write_cube, write_image
from astropy.io import fits
from astropy.wcs import WCS

from iris_pipeline.exceptions import InputFileError
from iris_pipeline.instruments import get_instrument
from iris_pipeline.viewer.data import (
    CubeProduct,
    NightLog,
    colourize,
    display_limits,
    exposure_siblings,
    header_report,
    limit_sample,
    oh_lines_um,
    open_canvas,
    pixel_range,
    quick_fwhm,
    region_stats,
)


@pytest.fixture
def exposure(tmp_path):
    return four_detector_exposure(tmp_path)


def test_canvas_places_the_four_windows_across_the_configured_gaps(exposure):
    canvas = open_canvas(exposure_siblings(exposure[2]))
    assert [tile.name for tile in canvas.tiles] == ["IMG1", "IMG2", "IMG3", "IMG4"]
    tiles = {tile.name: tile for tile in canvas.tiles}
    gap = get_instrument("IRIS").imager_gap_pix
    assert tiles["IMG2"].x0 - (tiles["IMG1"].x0 + 64) == gap  # IMG2 right of IMG1, across the gap
    assert tiles["IMG3"].y0 - (tiles["IMG1"].y0 + 64) == gap  # IMG3 above IMG1
    assert tiles["IMG4"].x0 == tiles["IMG2"].x0 and tiles["IMG4"].y0 == tiles["IMG3"].y0
    xmin, xmax, ymin, ymax = canvas.extent
    assert xmax - xmin == 2 * 64 + gap and ymax - ymin == 2 * 64 + gap
    canvas.close()


def test_render_samples_the_visible_region_at_screen_resolution(exposure):
    canvas = open_canvas(exposure)
    img2 = canvas.tiles[1]
    data = fits.getdata(exposure[1], "SCI")
    # full resolution where the screen has room: every pixel of the region, in place
    rendered = canvas.render((img2.x0 - 0.5, img2.x0 + 15.5), (img2.y0 + 9.5, img2.y0 + 19.5), 720, 720)
    assert rendered.values.shape == (10, 16)
    assert np.array_equal(rendered.values, data[10:20, 0:16])
    # zoomed out: at most the screen's pixels, each the data pixel under its centre, NaN over the gap
    xmin, xmax, ymin, ymax = canvas.extent
    small = canvas.render((xmin, xmax), (ymin, ymax), 41, 41)
    assert small.values.shape == (41, 41)
    step = (xmax - xmin) / 41
    centre = xmin + 0.5 * step
    assert (
        small.values[0, 0]
        == fits.getdata(exposure[0], "SCI")[
            int(np.floor(centre + 0.5)) - canvas.tiles[0].y0, int(np.floor(centre + 0.5)) - canvas.tiles[0].x0
        ]
    )
    assert np.isnan(small.values[20, 20])  # the centre of the focal plane is a gap
    canvas.close()


def test_pixel_info_reads_value_dq_and_sky_from_the_file(exposure):
    canvas = open_canvas(exposure)
    img3 = canvas.tiles[2]
    info = canvas.pixel_info(img3.x0 + 7.2, img3.y0 + 40.4)
    with fits.open(exposure[2]) as hdulist:
        assert info["value"] == pytest.approx(float(hdulist["SCI"].data[40, 7]))
        ra, dec = WCS(hdulist["SCI"].header).pixel_to_world_values(7, 40)
    assert (info["tile"], info["x"], info["y"]) == ("IMG3", 7, 40)
    assert info["ra_deg"] == pytest.approx(ra, abs=1e-10) and info["dec_deg"] == pytest.approx(dec, abs=1e-10)
    assert canvas.pixel_info(0.0, 0.0) is None  # the gap
    canvas.close()


def test_stretch_limits_and_colours():
    values = np.arange(1000, dtype=np.float32)
    assert display_limits(values, "minmax") == (0.0, 999.0)
    low, high = display_limits(values, "99%")
    assert low == pytest.approx(np.percentile(values, 0.5)) and high == pytest.approx(np.percentile(values, 99.5))
    with pytest.raises(ValueError, match="unknown stretch"):
        display_limits(values, "log")
    image = np.array([[0.0, 5.0], [10.0, np.nan]], dtype=np.float32)
    dq = np.array([[0, 0], [1, 0]], dtype=np.uint32)
    rgba = colourize(image, (0.0, 10.0), "minmax", "gray", dq, show_dq=True).view(np.uint8).reshape(2, 2, 4)
    assert tuple(rgba[0, 0]) == (0, 0, 0, 255) and tuple(rgba[0, 1][:3]) == (128, 128, 128)
    assert tuple(rgba[1, 0]) == (255, 42, 42, 255)  # DO_NOT_USE in red
    assert tuple(rgba[1, 1]) == (31, 58, 95, 255)  # no data


def test_limit_sample_reads_every_kth_pixel_of_every_kth_row_of_each_array():
    arrays = [np.arange(100 * 100, dtype=np.float32).reshape(100, 100), np.ones((50, 100), np.float32)]
    sample = limit_sample(arrays, n_samples=1500)  # 15 000 pixels: stride 3
    assert np.array_equal(sample, np.concatenate([arrays[0][::3, ::3].ravel(), arrays[1][::3, ::3].ravel()]))
    assert sample.dtype == np.float32 and limit_sample(arrays, n_samples=10**6).size == 15_000


def test_display_limits_from_the_sample_agree_with_every_pixel_on_a_star_field():
    """Four 1024^2 detectors, 160 stars, hot and NaN pixels; the viewer's 200 000-pixel sample (stride 4)."""
    tiles = [star_field(1024, 40, seed) for seed in range(4)]
    every_pixel = np.concatenate([tile.ravel() for tile in tiles])
    sample = limit_sample(tiles)
    for stretch in ("asinh", "99%", "95%"):
        full, sampled = display_limits(every_pixel, stretch), display_limits(sample, stretch)
        assert np.allclose(sampled, full, rtol=0, atol=0.01 * (full[1] - full[0])), stretch
    # zscale is itself a statistic of 1000 samples (astropy, as IRAF and DS9): from the full array it
    # moves by several % of its range between samples of the same image, so it is held to 10 %
    full, sampled = display_limits(every_pixel, "zscale"), display_limits(sample, "zscale")
    assert np.allclose(sampled, full, rtol=0, atol=0.1 * (full[1] - full[0]))


def test_minmax_limits_are_those_of_every_pixel_which_a_sample_misses(tmp_path):
    sci = np.random.default_rng(4).normal(10.0, 1.0, (1024, 1024)).astype(np.float32)
    sci[333, 333], sci[35, 35], sci[0, 1] = 5000.0, -50.0, np.nan  # off the stride-2 grid of the sample
    assert -50.0 < limit_sample([sci]).min() and limit_sample([sci]).max() < 5000.0
    sci_with_inf = sci.copy()
    sci_with_inf[2, 2] = np.inf
    assert pixel_range([sci_with_inf], rows=16) == (-50.0, 5000.0)
    assert pixel_range([np.full((4, 4), np.nan, np.float32)]) is None
    canvas = open_canvas(write_image(tmp_path / "one_rate.fits", sci))
    assert canvas.limits("minmax") == (-50.0, 5000.0)
    canvas.close()


def test_box_and_circle_statistics_match_numpy_and_fwhm_the_injected_star(tmp_path):
    rng = np.random.default_rng(3)
    sigma = 2.0
    sci = rng.normal(5.0, 0.01, (60, 70)) + gaussian_source((60, 70), 31.3, 24.6, sigma, 500.0)
    dq = np.zeros(sci.shape, np.uint32)
    dq[20, 30] = 1  # DO_NOT_USE: left out
    path = write_image(tmp_path / "one_cal.fits", sci, dq, detector="IFS")
    canvas = open_canvas(path)
    stats = region_stats(canvas, "box", (19.6, 42.4, 14.5, 35.2))
    assert (stats.columns, stats.rows) == ((20, 43), (15, 36))
    pixels = fits.getdata(path, "SCI").astype(np.float64)[15:36, 20:43]
    good = np.ones(pixels.shape, bool)
    good[20 - 15, 30 - 20] = False
    expected = pixels[good]
    assert stats.npix == expected.size
    assert stats.mean == pytest.approx(expected.mean()) and stats.median == pytest.approx(np.median(expected))
    assert stats.std == pytest.approx(expected.std()) and stats.sum == pytest.approx(expected.sum())
    assert stats.peak == pytest.approx(expected.max())
    assert stats.fwhm_pix == pytest.approx(2.3548 * sigma, rel=0.05)
    circle = region_stats(canvas, "circle", (31.0, 25.0, 6.0))
    yy, xx = np.mgrid[:60, :70]
    inside = ((xx - 31.0) ** 2 + (yy - 25.0) ** 2 <= 36.0) & (dq == 0)
    assert circle.npix == inside.sum()
    assert circle.sum == pytest.approx(fits.getdata(path, "SCI").astype(np.float64)[inside].sum())
    assert region_stats(canvas, "box", (100, 120, 100, 120)) is None
    canvas.close()


def test_quick_fwhm_refuses_what_it_cannot_fit():
    assert quick_fwhm(np.zeros((3, 3))) is None
    assert quick_fwhm(np.full((9, 9), np.nan)) is None


def test_cube_planes_spectra_and_lines(tmp_path):
    path = write_cube(tmp_path / "ifu_s3d.fits")
    cube = CubeProduct.open(path)
    with fits.open(path) as hdulist:
        sci, err, wave = hdulist["SCI"].data, hdulist["ERR"].data, hdulist["WAVELENGTH"].data
    assert cube.plane(wave[17] + 1e-5) == 17
    assert np.array_equal(cube.slice_image(17), sci[17])
    assert np.isnan(cube.slice_image(3)[2, 2])  # DO_NOT_USE spaxel of plane 3
    flux, error = cube.spectrum((3, 4), (7, 8))
    assert np.allclose(flux, sci[:, 7, 3]) and np.allclose(error, err[:, 7, 3])
    flux, error = cube.spectrum((1, 3), (1, 3))  # 2 x 2 spaxels, one bad in plane 3
    assert flux[3] == pytest.approx(np.mean([sci[3, 1, 1], sci[3, 1, 2], sci[3, 2, 1]]))
    assert error[0] == pytest.approx(np.sqrt((err[0, 1:3, 1:3] ** 2).sum()) / 4)
    lines = oh_lines_um((1.55, 1.65))
    assert lines.size > 0 and lines.min() >= 1.55 and lines.max() <= 1.65


def test_night_log_sees_new_products_and_skips_partial_files(tmp_path):
    night = NightLog(tmp_path)
    assert not night.refresh() and night.rows() == []
    write_image(tmp_path / "a_img1_rate.fits", np.ones((8, 8)), np.ones((8, 8)))
    (tmp_path / ".b_img1_rate.fits.partial.fits").write_bytes(b"half written")
    assert night.refresh()
    [row] = night.rows()
    assert row["file"] == "a_img1_rate.fits" and row["product"] == "rate" and row["exp_type"] == "IRIS_IMAGE"
    assert row["status"] == "FLAT SKIPPED" and row["filter"] == "Kbb" and row["background"] == "1.5"
    assert row["dq_bad"] == 64 and row["time"] == "2026-12-05T01:02:03"
    assert not night.refresh()
    (tmp_path / "notes.fits").write_text("not FITS")
    assert not night.refresh() and len(night.rows()) == 1
    (tmp_path / "sub").mkdir()
    write_cube(tmp_path / "sub" / "ifu_s3d.fits")
    assert night.refresh() and [r["file"] for r in night.rows()][-1] == "sub/ifu_s3d.fits"


def test_header_report_and_bad_files(tmp_path):
    path = write_image(tmp_path / "a_rate.fits", np.ones((4, 4)))
    report = header_report(path)
    assert [name for name, _ in report["headers"]] == ["PRIMARY", "SCI"]
    assert report["steps"] == {"S_DQINIT": "COMPLETE", "S_FLAT": "SKIPPED"}
    assert report["references"] == {"R_DARK": ("iris_dark_0001.fits", "0123456789abcdef")}
    (tmp_path / "junk_rate.fits").write_text("not FITS")
    with pytest.raises(InputFileError, match="junk_rate.fits: not a readable FITS file"):
        open_canvas(tmp_path / "junk_rate.fits")


def test_view_command_refuses_a_missing_folder_in_one_line(tmp_path, capsys):
    from iris_pipeline.cli import main

    assert main(["view", str(tmp_path / "nowhere")]) == 1
    assert capsys.readouterr().err.strip() == f"iris-pipeline: error: {tmp_path / 'nowhere'}: not a folder"


def test_raw_ramp_shows_last_read_minus_first(tmp_path):
    ramp = np.random.default_rng(8).integers(1000, 3000, (1, 5, 16, 20)).astype(np.uint16)
    primary = fits.PrimaryHDU()
    primary.header.update(INSTRUME="IRIS", DETECTOR="IMG1", EXP_TYPE="IRIS_IMAGE", SUBSTRT1=1, SUBSTRT2=1)
    path = tmp_path / "exp_img1_uncal.fits"
    fits.HDUList([primary, fits.ImageHDU(ramp, name="SCI")]).writeto(path)  # stored as int16 + BZERO
    canvas = open_canvas(path)
    expected = ramp[0, -1].astype(np.float32) - ramp[0, 0].astype(np.float32)
    assert np.array_equal(canvas.tiles[0].sci, expected)
    canvas.close()


def test_mosaic_catalogue_markers_come_from_the_products_catalogue(tmp_path):
    from astropy.table import Table

    from iris_pipeline.viewer.app import _catalogue_markers

    mosaic = write_image(tmp_path / "field_i2d.fits", np.zeros((20, 20)))
    assert list(_catalogue_markers(mosaic)["x"]) == []
    Table({"xcentroid": [3.5, 12.0], "ycentroid": [4.0, 15.25]}).write(tmp_path / "field_cat.ecsv")
    markers = _catalogue_markers(mosaic)
    assert list(markers["x"]) == [3.5, 12.0] and list(markers["y"]) == [4.0, 15.25]
