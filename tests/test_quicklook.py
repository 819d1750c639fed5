"""Quick-look previews and run summaries, on small products written with astropy alone."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import MaskedColumn, Table
from astropy.visualization.wcsaxes import WCSAxes
from astropy.wcs import WCS
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.text import Annotation

from iris_pipeline import dqflags
from iris_pipeline.exceptions import InputFileError, IrisPipelineError
from iris_pipeline.instruments import get_instrument
from iris_pipeline.lib.subarray import Window
from iris_pipeline.quicklook import (
    brightest_spaxel,
    summarize_product,
    white_light_image,
    write_cube_preview,
    write_image_preview,
    write_mosaic_preview,
    write_run_summary,
)
from iris_pipeline.quicklook.arrays import block_reduce, count_dq_flags, display_norm
from iris_pipeline.quicklook.layout import detector_placement
from iris_pipeline.quicklook.previews import (
    DQ_COLOURS,
    cube_preview_figure,
    image_preview_figure,
    mosaic_preview_figure,
)

DNU = dqflags.PIXEL["DO_NOT_USE"]
SAT = dqflags.PIXEL["SATURATED"]
JUMP = dqflags.PIXEL["JUMP_DET"]
HOT = dqflags.PIXEL["HOT"]


def write_image_product(path, sci, dq=None, *, detector="IMG1", xstart=1, ystart=1, bunit="DN/s", **keywords):
    """A 2-D product (rate-like) with IRIS keywords, written with astropy only."""
    ny, nx = sci.shape
    primary = fits.PrimaryHDU()
    primary.header.update(
        DATAMODL="RateModel", TELESCOP="TMT", INSTRUME="IRIS", DETECTOR=detector, EXP_TYPE="IRIS_IMAGE",
        FILTER="Kbb", SUBARRAY=f"SUB{nx}", SUBSTRT1=xstart, SUBSTRT2=ystart, SUBSIZE1=nx, SUBSIZE2=ny,
    )  # fmt: skip
    primary.header.update(keywords)
    hdus = [primary, fits.ImageHDU(np.asarray(sci, dtype=np.float32), name="SCI")]
    hdus[1].header["BUNIT"] = bunit
    if dq is not None:
        hdus.append(fits.ImageHDU(np.asarray(dq, dtype=np.uint32), name="DQ"))
    fits.HDUList(hdus).writeto(path)
    return Path(path)


def files_in(folder):
    return sorted(p.name for p in Path(folder).iterdir())


@pytest.fixture
def four_detectors(tmp_path):
    """Four 48 x 64 subarray windows, one per IRIS imager detector, with a few flagged pixels each."""
    rng = np.random.default_rng(5)
    paths, flagged = [], {"DO_NOT_USE": 0, "SATURATED|JUMP_DET": 0}
    for number, detector in enumerate(["IMG1", "IMG2", "IMG3", "IMG4"], start=1):
        sci = rng.normal(10.0 * number, 1.0, (48, 64))
        dq = np.zeros(sci.shape, np.uint32)
        dq[3, : number + 2] = DNU
        dq[10, :number] = SAT | DNU
        dq[20, 5 : 5 + number] = JUMP
        flagged["DO_NOT_USE"] += number + 2
        flagged["SATURATED|JUMP_DET"] += 2 * number
        paths.append(
            write_image_product(
                tmp_path / f"exp_{detector.lower()}_rate.fits",
                sci,
                dq,
                detector=detector,
                xstart=101 * number,
                ystart=1 + 500 * number,
            )  # fmt: skip
        )
    return paths, flagged


def test_layout_places_iris_detectors_with_configured_gaps():
    iris = get_instrument("IRIS")
    placements = {name: detector_placement(iris, name) for name in iris.imager_detectors}
    for name, placement in placements.items():
        det = iris.detectors[name]
        left, right, bottom, top = placement.detector_extent_arcsec
        assert right - left == pytest.approx(det.shape[1] * det.pixel_scale_arcsec)
        assert top - bottom == pytest.approx(det.shape[0] * det.pixel_scale_arcsec)
        assert placement.centre_arcsec == det.focal_plane_offset_arcsec
        assert placement.rotation_deg == det.rotation_deg
        assert placement.window_extent_arcsec == pytest.approx(placement.detector_extent_arcsec)
    gap_arcsec = iris.imager_gap_pix * iris.detectors["IMG1"].pixel_scale_arcsec
    img1, img2, img3, img4 = (placements[name].detector_extent_arcsec for name in ("IMG1", "IMG2", "IMG3", "IMG4"))
    assert img2[0] - img1[1] == pytest.approx(gap_arcsec)  # IMG2 right of IMG1, across the gap
    assert img2[2:] == pytest.approx(img1[2:])
    assert img3[2] - img1[3] == pytest.approx(gap_arcsec)  # IMG3 above IMG1
    assert img3[:2] == pytest.approx(img1[:2])
    assert img4[0] - img3[1] == pytest.approx(gap_arcsec)
    assert img4[2] - img2[3] == pytest.approx(gap_arcsec)


def test_layout_places_a_subarray_at_its_substrt():
    iris = get_instrument("IRIS")
    scale = iris.detectors["IMG2"].pixel_scale_arcsec
    placement = detector_placement(iris, "IMG2", Window(xstart=101, ystart=31, xsize=64, ysize=48))
    det_left, _, det_bottom, _ = placement.detector_extent_arcsec
    left, right, bottom, top = placement.window_extent_arcsec
    assert left - det_left == pytest.approx(100 * scale)
    assert bottom - det_bottom == pytest.approx(30 * scale)
    assert (right - left, top - bottom) == pytest.approx((64 * scale, 48 * scale))
    with pytest.raises(ValueError, match="not inside"):
        detector_placement(iris, "IMG2", Window(4090, 1, 64, 64))
    with pytest.raises(ValueError, match="not an imager detector"):
        detector_placement(iris, "IFS")


def test_block_reduce_against_explicit_block_means():
    rng = np.random.default_rng(1)
    sci = rng.normal(5.0, 2.0, (37, 50)).astype(">f4")  # big-endian, as FITS stores it
    sci[rng.random(sci.shape) < 0.05] = np.nan
    dq = np.zeros(sci.shape, ">u4")
    dq[rng.random(sci.shape) < 0.1] = DNU
    dq[rng.random(sci.shape) < 0.05] |= SAT
    dq[:8, :8] = DNU  # one block with no good pixel
    reduced = block_reduce(sci, dq, factor=4)
    assert reduced.mean.shape == (10, 13)
    good = np.isfinite(sci) & ((dq & DNU) == 0)
    for i in range(10):
        for j in range(13):
            block = (slice(4 * i, 4 * i + 4), slice(4 * j, 4 * j + 4))
            values = sci[block][good[block]]
            if values.size:
                assert reduced.mean[i, j] == pytest.approx(values.astype(np.float64).mean(), rel=1e-6)
            else:
                assert np.isnan(reduced.mean[i, j])
            assert reduced.saturated_or_jump[i, j] == bool((dq[block] & SAT).any())
            assert reduced.do_not_use[i, j] == bool((((dq[block] & DNU) != 0) & ((dq[block] & SAT) == 0)).any())
    assert reduced.n_saturated_or_jump == np.count_nonzero(dq & SAT)
    assert reduced.n_do_not_use == np.count_nonzero(((dq & DNU) != 0) & ((dq & SAT) == 0))


def test_count_dq_flags_matches_describe_and_injected_counts():
    rng = np.random.default_rng(2)
    dq = rng.integers(0, 2**32, size=(3, 20, 30), dtype=np.uint64).astype(np.uint32)
    dq[rng.random(dq.shape) < 0.5] = 0
    assert count_dq_flags(dq) == dqflags.describe(dq)
    injected = np.zeros((16, 16), np.uint32)
    injected[0, :7] = DNU
    injected[1, :5] = SAT
    injected[1, :2] |= DNU
    injected[2, :3] = HOT | (1 << 31)
    assert count_dq_flags(injected) == {"DO_NOT_USE": 9, "SATURATED": 5, "HOT": 3, "REFERENCE_PIXEL": 3}


def test_display_norm_is_common_and_rejects_unknown_stretch():
    low, high = np.full((8, 8), 1.0), np.full((8, 8), 100.0)
    high[0, 0] = np.nan
    norm = display_norm([low, high], "asinh")
    assert norm.vmin == pytest.approx(1.0) and norm.vmax == pytest.approx(100.0)
    with pytest.raises(ValueError, match="unknown stretch"):
        display_norm([low], "log")


def _image_artists(figure: Figure):
    """(science images, overlay images) drawn on the image axes (the colour bars hold none)."""
    images = [image for ax in figure.axes for image in ax.get_images()]
    return [im for im in images if im.get_array().ndim == 2], [im for im in images if im.get_array().ndim == 3]


def test_subarray_windows_preview_cropped_to_each_window_in_detector_order(four_detectors, tmp_path):
    paths, flagged = four_detectors
    figure = image_preview_figure(paths, show_dq=True)
    science, overlays = _image_artists(figure)
    iris = get_instrument("IRIS")
    positions = {}
    for number, (image, detector) in enumerate(zip(science, ["IMG1", "IMG2", "IMG3", "IMG4"], strict=True), start=1):
        window = detector_placement(iris, detector, Window(101 * number, 1 + 500 * number, 64, 48))
        assert image.get_extent() == pytest.approx(window.window_extent_arcsec)
        ax = image.axes
        # cropped to the window, not the whole focal plane with four specks in it
        assert (*ax.get_xlim(), *ax.get_ylim()) == pytest.approx(window.window_extent_arcsec)
        assert ax.get_title() == detector
        positions[detector] = ax.get_position().bounds
    assert positions["IMG2"][0] > positions["IMG1"][0] and positions["IMG3"][1] > positions["IMG1"][1]
    assert positions["IMG4"][0] > positions["IMG3"][0] and positions["IMG4"][1] > positions["IMG2"][1]
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == [
        f"DO_NOT_USE: {flagged['DO_NOT_USE']} px",
        f"SATURATED / JUMP_DET: {flagged['SATURATED|JUMP_DET']} px",
    ]
    assert figure.axes[-1].get_ylabel() == "DN/s"  # the colour bar
    assert "exp_img1_rate.fits" in figure.get_suptitle() and "IRIS_IMAGE" in figure.get_suptitle()
    assert len(overlays) == 8


def test_ifs_rate_preview_scale_comes_from_the_lit_traces(tmp_path):
    rng = np.random.default_rng(11)
    sci = rng.normal(0.0, 0.5, (200, 200))
    traces = np.zeros(sci.shape, bool)
    traces[:, ::10] = True  # 10 % of the frame lit by spectra
    sci[traces] = rng.uniform(50.0, 500.0, traces.sum())
    path = write_image_product(tmp_path / "lenslet_rate.fits", sci, detector="IFS", EXP_TYPE="IRIS_LENSLET")
    image = _image_artists(image_preview_figure(path, layout=False))[0][0]
    shown = image.norm(sci[traces])
    assert np.mean(shown >= 1.0) < 0.05  # the traces are not saturated white
    assert np.ptp(shown) > 0.5  # and they span the grey scale
    imager = write_image_product(tmp_path / "img_rate.fits", sci, detector="IMG1")
    imager_norm = _image_artists(image_preview_figure(imager, layout=False))[0][0].norm
    assert imager_norm.vmax < 50.0  # imager frames keep the whole-frame scale (below the faintest trace)


def test_single_product_dq_overlay_marks_exactly_the_flagged_pixels(tmp_path):
    dq = np.zeros((40, 60), np.uint32)
    dq[5, 3:12] = DNU
    dq[30, 10:14] = SAT | DNU
    dq[12, 40] = JUMP
    path = write_image_product(tmp_path / "ifs_rate.fits", np.ones((40, 60)), dq, detector="IFS")
    figure = image_preview_figure(path, show_dq=True)
    science, overlays = _image_artists(figure)
    assert science[0].get_extent() == pytest.approx((-0.5, 59.5, -0.5, 39.5))  # drawn alone, in pixels
    drawn = {}
    for overlay in overlays:
        rgba = overlay.get_array()
        opaque = rgba[..., 3] > 0
        name = next(name for name, colour in DQ_COLOURS.items() if np.allclose(rgba[opaque], to_rgba(colour)))
        drawn[name] = set(zip(*np.nonzero(opaque), strict=True))
    assert drawn["DO_NOT_USE"] == {(5, col) for col in range(3, 12)}
    assert drawn["SATURATED|JUMP_DET"] == {(30, col) for col in range(10, 14)} | {(12, 40)}


def test_resampled_product_is_drawn_alone_even_with_an_imager_detector(tmp_path):
    path = write_image_product(tmp_path / "field_i2d.fits", np.ones((30, 20)), detector="IMG1")
    science, _ = _image_artists(image_preview_figure(path))
    assert science[0].get_extent() == pytest.approx((-0.5, 19.5, -0.5, 29.5))
    with pytest.raises(InputFileError, match="field_i2d.fits: not an imager detector frame"):
        image_preview_figure([write_image_product(tmp_path / "a_rate.fits", np.ones((30, 20)), detector="IMG2"), path])


def test_write_image_preview_png_and_no_leftovers(four_detectors, tmp_path):
    paths, _ = four_detectors
    output = tmp_path / "previews" / "exp_preview.png"
    assert write_image_preview(paths, output, stretch="asinh", title="my title") == output
    pixels = imread(output)
    assert pixels.ndim == 3 and pixels.shape[0] > 500
    assert np.ptp(pixels[..., :3]) > 0.5
    assert files_in(output.parent) == ["exp_preview.png"]


def test_preview_of_missing_input_leaves_nothing(four_detectors, tmp_path):
    paths, _ = four_detectors
    output = tmp_path / "out" / "p.png"
    missing = tmp_path / "gone_rate.fits"
    with pytest.raises(InputFileError, match="gone_rate.fits: file not found"):
        write_image_preview([*paths[:2], missing], output)
    assert not output.parent.exists() or files_in(output.parent) == []


def test_preview_write_failure_keeps_old_file_and_leaves_no_temp(four_detectors, tmp_path, monkeypatch):
    paths, _ = four_detectors
    output = tmp_path / "p.png"
    output.write_bytes(b"old preview")

    def failing_savefig(self, name, **kwargs):
        Path(name).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", failing_savefig)
    with pytest.raises(OSError, match="disk full"):
        write_image_preview(paths[0], output)
    assert output.read_bytes() == b"old preview"
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["p.png"]
    assert not list(tmp_path.glob(".*"))


def test_preview_into_unwritable_folder_is_one_line_error(four_detectors, tmp_path):
    paths, _ = four_detectors
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    with pytest.raises(IrisPipelineError, match=r"not_a_folder/p.png: cannot write"):
        write_image_preview(paths[0], blocker / "p.png")


def test_bad_inputs_are_one_line_errors(four_detectors, tmp_path):
    paths, _ = four_detectors
    with pytest.raises(InputFileError, match="detector IMG1 already shown"):
        image_preview_figure([paths[0], paths[0]])
    ifs = write_image_product(tmp_path / "ifs_rate.fits", np.ones((8, 8)), detector="IFS")
    with pytest.raises(InputFileError, match="ifs_rate.fits: not an imager detector frame"):
        image_preview_figure([paths[0], ifs])
    text = tmp_path / "notes_rate.fits"
    text.write_text("not FITS at all")
    with pytest.raises(InputFileError, match="notes_rate.fits: not a readable FITS file"):
        image_preview_figure(text)
    cube = tmp_path / "cube_rate.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((2, 4, 4), np.float32), name="SCI")]).writeto(cube)
    with pytest.raises(InputFileError, match="SCI extension has 3-D data, expected 2-D"):
        image_preview_figure(cube)


def test_previews_from_threads_match_serial(four_detectors, tmp_path):
    paths, _ = four_detectors
    serial = [write_image_preview(path, tmp_path / f"serial_{i}.png", show_dq=True) for i, path in enumerate(paths)]
    threads = [
        threading.Thread(
            target=write_image_preview, args=(path, tmp_path / f"thread_{i}.png"), kwargs={"show_dq": True}
        )
        for i, path in enumerate(paths)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, png in enumerate(serial):
        assert np.array_equal(imread(png), imread(tmp_path / f"thread_{i}.png"))


def _cube(nwave=30, ny=12, nx=9, bright=(7, 2)):
    rng = np.random.default_rng(3)
    wave_um = np.linspace(2.0, 2.4, nwave).astype(np.float32)
    sci = rng.normal(1.0, 0.05, (nwave, ny, nx)).astype(np.float32)
    sci[:, bright[0], bright[1]] += 3.0 + np.arange(nwave)
    dq = np.zeros(sci.shape, np.uint32)
    dq[4:6] = DNU
    sci[4:6] = 1e6  # must not count: flagged planes
    sci[:, 0, 0] = np.nan
    sci[10, 1, 1] = np.nan
    return wave_um, sci, dq


def test_white_light_image_is_mean_of_good_planes():
    _, sci, dq = _cube()
    white = white_light_image(sci, dq)
    good = np.isfinite(sci) & ((dq & DNU) == 0)
    expected = np.full(white.shape, np.nan)
    for y, x in np.ndindex(white.shape):
        if good[:, y, x].any():
            expected[y, x] = sci[good[:, y, x], y, x].astype(np.float64).mean()
    assert white.dtype == np.float32
    assert np.allclose(white, expected, rtol=1e-6, equal_nan=True)
    assert np.isnan(white[0, 0])  # NaN in every plane
    planes = [k for k in range(sci.shape[0]) if k not in (4, 5, 10)]
    assert white[1, 1] == pytest.approx(sci[planes, 1, 1].astype(np.float64).mean(), rel=1e-6)
    assert white_light_image(sci)[2, 2] == pytest.approx(sci[:, 2, 2].astype(np.float64).mean(), rel=1e-6)
    spaxel_dq = np.zeros(sci.shape[1:], np.uint32)
    spaxel_dq[3, 3] = DNU
    assert np.isnan(white_light_image(sci, spaxel_dq)[3, 3])


def test_brightest_spaxel_finds_the_injected_source():
    _, sci, dq = _cube(bright=(7, 2))
    assert brightest_spaxel(white_light_image(sci, dq)) == (7, 2)
    assert brightest_spaxel(np.full((3, 3), np.nan)) is None


def test_cube_preview_marks_brightest_spaxel_and_plots_its_spectrum(tmp_path):
    wave_um, sci, dq = _cube(bright=(7, 2))
    path = tmp_path / "obs_s3d.fits"
    primary = fits.PrimaryHDU()
    primary.header.update(INSTRUME="IRIS", DETECTOR="IFS", EXP_TYPE="IRIS_IFS", FILTER="K")
    hdus = [
        primary,
        fits.ImageHDU(sci, name="SCI"),
        fits.ImageHDU(dq, name="DQ"),
        fits.ImageHDU(wave_um, name="WAVELENGTH"),
    ]
    hdus[1].header["BUNIT"] = "MJy/sr"
    fits.HDUList(hdus).writeto(path)
    figure = cube_preview_figure(path)
    image_ax = figure.axes[0]
    marker = image_ax.get_lines()[0]
    assert (marker.get_xdata()[0], marker.get_ydata()[0]) == (2, 7)
    spectrum_ax = next(ax for ax in figure.axes if ax.get_xlabel() == "wavelength (um)")
    wave, flux = spectrum_ax.get_lines()[0].get_data()
    assert np.allclose(wave, wave_um)
    expected = sci[:, 7, 2].astype(np.float64)
    expected[4:6] = np.nan
    assert np.array_equal(np.isnan(flux), np.isnan(expected))
    assert np.allclose(flux[6:], expected[6:])
    assert "x=2, y=7" in spectrum_ax.get_title()
    output = write_cube_preview(path, tmp_path / "obs_s3d.png")
    assert imread(output).ndim == 3
    summary = summarize_product(path)
    assert summary["dq_counts"] == {"DO_NOT_USE": 2 * 12 * 9}
    good = np.isfinite(sci) & (dq == 0)
    assert summary["median"] == pytest.approx(np.median(sci[good]))
    bad = tmp_path / "bad_s3d.fits"
    hdus[3] = fits.ImageHDU(wave_um[:-1], name="WAVELENGTH")
    fits.HDUList(hdus).writeto(bad)
    with pytest.raises(InputFileError, match="bad_s3d.fits: WAVELENGTH has 29 values for 30 cube planes"):
        write_cube_preview(bad, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


@pytest.fixture
def mosaic(tmp_path):
    """A 120 x 100 i2d with a TAN WCS and the pixel positions of ten sources."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [50.0, 60.0]
    wcs.wcs.cdelt = [-0.004 / 3600, 0.004 / 3600]
    rng = np.random.default_rng(4)
    x, y = rng.uniform(5, 95, 10), rng.uniform(5, 115, 10)
    sci = fits.ImageHDU(rng.normal(0, 1, (120, 100)).astype(np.float32), header=wcs.to_header(), name="SCI")
    sci.header["BUNIT"] = "MJy/sr"
    primary = fits.PrimaryHDU()
    primary.header.update(INSTRUME="IRIS", EXP_TYPE="IRIS_IMAGE", FILTER="Kbb", DATAMODL="ImageModel")
    path = tmp_path / "field_i2d.fits"
    fits.HDUList([primary, sci]).writeto(path)
    return path, wcs, x, y


def _markers(figure):
    collection = next(c for c in figure.axes[0].collections if isinstance(c, PathCollection))
    return collection.get_offsets()


def test_mosaic_preview_places_catalog_markers(mosaic, tmp_path):
    path, wcs, x, y = mosaic
    pixel_catalog = Table({"xcentroid": x * u.pix, "ycentroid": y * u.pix})  # photutils style, with units
    assert np.allclose(_markers(mosaic_preview_figure(path, catalog=pixel_catalog)), np.column_stack([x, y]))
    masked = Table({"xcentroid": MaskedColumn(x, mask=np.arange(10) == 3), "ycentroid": y})
    masked_figure = mosaic_preview_figure(path, catalog=masked)
    assert np.allclose(_markers(masked_figure), np.delete(np.column_stack([x, y]), 3, axis=0))
    assert masked_figure.axes[0].get_legend().get_texts()[0].get_text() == "catalog: 9 of 10 sources"
    ra, dec = wcs.pixel_to_world_values(x, y)
    catalog_path = tmp_path / "field_cat.ecsv"
    Table({"ra": ra * u.deg, "dec": np.radians(dec) * u.rad}).write(catalog_path)
    sky_figure = mosaic_preview_figure(path, catalog=catalog_path)
    assert np.allclose(_markers(sky_figure), np.column_stack([x, y]), atol=1e-6)
    sky_centroid = Table({"sky_centroid": SkyCoord(ra, dec, unit="deg")})
    assert np.allclose(_markers(mosaic_preview_figure(path, catalog=sky_centroid)), np.column_stack([x, y]), atol=1e-6)
    output = write_mosaic_preview(path, tmp_path / "field.png", catalog=catalog_path)
    assert imread(output).ndim == 3
    assert summarize_product(path)["dq_counts"] == {}


@pytest.mark.parametrize("rotation_deg", [0.0, 30.0])
def test_mosaic_preview_has_sky_axes_and_a_compass(mosaic, tmp_path, rotation_deg):
    path, wcs, _, _ = mosaic
    theta = np.radians(rotation_deg)
    with fits.open(path, mode="update") as hdulist:
        header = hdulist["SCI"].header
        header["PC1_1"], header["PC1_2"] = np.cos(theta), -np.sin(theta)
        header["PC2_1"], header["PC2_2"] = np.sin(theta), np.cos(theta)
    figure = mosaic_preview_figure(path)
    ax = figure.axes[0]
    assert isinstance(ax, WCSAxes)
    assert ax.coords[0].get_axislabel() == "RA" and ax.coords[1].get_axislabel() == "Dec"
    assert ax.coords[0].coord_type == "longitude" and ax.coords[1].coord_type == "latitude"
    arrows = [text for text in ax.texts if isinstance(text, Annotation)]
    labels = {text.get_text(): np.array(text.get_position()) for text in ax.texts if text.get_text() in ("N", "E")}
    assert len(arrows) == 2 and set(labels) == {"N", "E"}
    tail = np.array(arrows[0].xyann)
    # PC rotates pixel offsets by theta: north (+Dec) lies along (sin, cos), east (+RA, CDELT1 < 0) along (-cos, sin)
    expected = {"N": np.array([np.sin(theta), np.cos(theta)]), "E": np.array([-np.cos(theta), np.sin(theta)])}
    for name, position in labels.items():
        direction = (position - tail) / np.hypot(*(position - tail))
        assert direction == pytest.approx(expected[name], abs=1e-3)


def test_mosaic_preview_catalog_errors(mosaic, tmp_path):
    path, _, x, y = mosaic
    with pytest.raises(InputFileError, match="needs xcentroid/ycentroid, sky_centroid or ra/dec columns"):
        mosaic_preview_figure(path, catalog=Table({"flux": x}))
    with pytest.raises(InputFileError, match="nowhere.ecsv: file not found"):
        mosaic_preview_figure(path, catalog=tmp_path / "nowhere.ecsv")
    no_wcs = write_image_product(tmp_path / "plain_i2d.fits", np.zeros((10, 10)), detector="IMG1")
    with pytest.raises(InputFileError, match="plain_i2d.fits: SCI header has no celestial FITS WCS"):
        mosaic_preview_figure(no_wcs, catalog=Table({"ra": [150.0], "dec": [2.0]}))


def test_summarize_product_counts_flags_and_reads_provenance(tmp_path):
    rng = np.random.default_rng(6)
    sci = rng.normal(3.0, 1.0, (30, 40))
    dq = np.zeros(sci.shape, np.uint32)
    dq[0, :7] = DNU
    dq[1, :5] = SAT
    dq[1, :2] |= DNU
    dq[2, :3] = HOT
    sci[0, :7] = 1e9  # flagged: excluded from the median
    sci[5, 5] = np.nan
    sha = "0123456789abcdef" * 4
    path = write_image_product(
        tmp_path / "x_cal.fits", sci, dq, detector="IMG3", bunit="MJy/sr", DATAMODL="ImageModel",
        S_DQINIT="COMPLETE", S_FLAT="SKIPPED", R_DARK="iris_dark.fits", H_DARK=sha, R_FLAT="N/A", BKGLEVEL=0.25,
    )  # fmt: skip
    summary = summarize_product(path)
    good = np.isfinite(sci) & ((dq & DNU) == 0)
    assert summary["file"] == "x_cal.fits"
    assert (summary["datamodl"], summary["exp_type"], summary["detector"], summary["filter"]) == (
        "ImageModel", "IRIS_IMAGE", "IMG3", "Kbb",
    )  # fmt: skip
    assert summary["steps"] == {"S_DQINIT": "COMPLETE", "S_FLAT": "SKIPPED"}
    assert summary["references"] == {
        "R_DARK": {"file": "iris_dark.fits", "sha256": sha[:12]},
        "R_FLAT": {"file": "N/A", "sha256": None},
    }
    assert summary["bkglevel"] == 0.25
    assert summary["bunit"] == "MJy/sr"
    assert summary["median"] == pytest.approx(np.median(sci[good]))
    assert summary["dq_counts"] == {"DO_NOT_USE": 9, "SATURATED": 5, "HOT": 3}
    with pytest.raises(InputFileError, match="absent_cal.fits: file not found"):
        summarize_product(tmp_path / "absent_cal.fits")


def test_run_summary_html_and_text(four_detectors, tmp_path):
    paths, _ = four_detectors
    preview = write_image_preview(paths, tmp_path / "png" / "exp_preview.png")
    records = [summarize_product(path) for path in paths]
    records[0].update(preview=str(preview), wall_s=12.5, timings_s={"dq_init": 0.42, "ramp_fit": 3.1})
    html_path = tmp_path / "report" / "run.html"
    text_path = tmp_path / "report" / "run.txt"
    assert write_run_summary(records, html_path, output_text=text_path, title="night 1") == html_path
    page = html_path.read_text()
    for path in paths:
        assert path.name in page
    assert 'src="../png/exp_preview.png"' in page and 'href="../png/exp_preview.png"' in page
    assert "<style>" in page and "night 1" in page and "ramp_fit" in page
    text = text_path.read_text()
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("file"))
    for path, record in zip(paths, records, strict=True):
        row = next(line for line in lines if line.startswith(path.name))
        assert row.split()[2:5] == ["IRIS_IMAGE", record["detector"], "Kbb"]
        assert row.split()[-2] == str(record["dq_counts"]["DO_NOT_USE"])
    assert "DO_NOT_USE" in header
    assert files_in(tmp_path / "report") == ["run.html", "run.txt"]


def test_run_summary_failure_leaves_no_file(tmp_path):
    blocker = tmp_path / "report"
    blocker.write_text("a file, not a folder")
    with pytest.raises(IrisPipelineError, match="cannot write"):
        write_run_summary([], blocker / "run.html")
    assert files_in(tmp_path) == ["report"]


@pytest.mark.slow
def test_four_full_frame_detectors_preview_in_seconds(tmp_path):
    import time

    rng = np.random.default_rng(7)
    paths = []
    for detector in ("IMG1", "IMG2", "IMG3", "IMG4"):
        sci = rng.normal(10.0, 1.0, (4096, 4096)).astype(np.float32)
        dq = np.zeros(sci.shape, np.uint32)
        dq[::97, ::89] = DNU
        paths.append(write_image_product(tmp_path / f"{detector}_rate.fits", sci, dq, detector=detector))
    write_image_preview(paths[0], tmp_path / "warm.png")  # numba compilation is not part of the budget
    start = time.perf_counter()
    write_image_preview(paths, tmp_path / "full.png", show_dq=True)
    assert time.perf_counter() - start < 5.0


def test_progress_bar_writes_nothing_into_a_redirected_log(capsys):
    from iris_pipeline.execution.runner import _run_in_process

    _run_in_process([], {}, progress=True)  # stderr is captured: not a terminal
    assert "\r" not in capsys.readouterr().err


def test_summarize_product_of_a_spectrum_table(tmp_path):
    """An _x1d (binary table, no SCI image) is summarised by its headers: spec3's products in a run summary."""
    primary = fits.PrimaryHDU()
    primary.header.update(DATAMODL="MultiSpecModel", EXP_TYPE="IRIS_LENSLET", S_EXTR1D="COMPLETE")
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name="WAVELENGTH", format="D", array=np.linspace(2.0, 2.2, 5)),
         fits.Column(name="FLUX", format="D", array=np.ones(5))], name="EXTRACT1D",
    )  # fmt: skip
    path = tmp_path / "field_x1d.fits"
    fits.HDUList([primary, table]).writeto(path)
    summary = summarize_product(path)
    assert (summary["datamodl"], summary["steps"]) == ("MultiSpecModel", {"S_EXTR1D": "COMPLETE"})
    assert summary["median"] is None and summary["dq_counts"] == {}
    fits.HDUList([fits.PrimaryHDU()]).writeto(tmp_path / "empty_cal.fits")
    with pytest.raises(InputFileError, match="empty_cal.fits: no SCI"):
        summarize_product(tmp_path / "empty_cal.fits")
