"""The viewer driven in headless Chromium (Debian's chromium and chromium-driver, through selenium).

Each test acts as a user does (selects a row, moves the mouse, drags a box, moves the slider, clicks
a spaxel) and checks what the page then shows against the files, read with astropy. A screenshot
of each view is saved in ``$IRIS_VIEWER_SCREENSHOTS`` (default: a folder in pytest's temporary
directory, printed with ``-rA``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from _viewer_products import four_detector_exposure, write_cube, write_image
from astropy.io import fits
from astropy.wcs import WCS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
)  # fmt: skip
TIMEOUT_S = 30.0

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip("headless browser tests need Debian's chromium and chromium-driver (apt-get install chromium "
                "chromium-driver)", allow_module_level=True)  # fmt: skip

from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402
from selenium.webdriver.common.actions.mouse_button import MouseButton  # noqa: E402

from iris_pipeline.viewer import ViewerServer  # noqa: E402
from iris_pipeline.viewer.data import CubeProduct, colourize, display_limits  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    folder = tmp_path_factory.mktemp("night")
    four_detector_exposure(folder)
    write_cube(folder / "ifu_s3d.fits")
    return folder


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    folder = Path(os.environ.get("IRIS_VIEWER_SCREENSHOTS") or tmp_path_factory.mktemp("viewer_screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"viewer screenshots in {folder}")
    return folder


@pytest.fixture(scope="module")
def server(products):
    viewer = ViewerServer(products, port=_free_port()).start()
    yield viewer
    viewer.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium_profile')}")
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, server):
    """A freshly loaded page (a new Bokeh session) whose night table has been filled."""
    browser.get(server.url)
    wait_for(lambda: (js(browser, "return model('night_source').data.file.length") or 0) > 0)
    return browser


HELPERS = """
const model = (name) => Bokeh.documents[0].get_model_by_name(name);
const screen_xy = (plot_name, x, y) => {
    const view = Bokeh.index.find_one(model(plot_name));
    const box = view.canvas_view.el.getBoundingClientRect();
    return [box.left + view.frame.x_scale.compute(x), box.top + view.frame.y_scale.compute(y)];
};
"""


def js(driver, body, *args):
    """Run ``body`` in the page with the helpers above; None while Bokeh is not ready."""
    try:
        return driver.execute_script(HELPERS + body, *args)
    except Exception as err:  # the document is still loading
        if "Bokeh" in str(err) or "null" in str(err) or "undefined" in str(err):
            return None
        raise


def wait_for(condition, timeout_s=TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"page did not reach the expected state within {timeout_s} s")


def open_row(driver, name):
    files = js(driver, "return model('night_source').data.file")
    js(driver, "model('night_source').selected.indices = [arguments[0]]", files.index(name))


def move_mouse(driver, plot, x, y):
    sx, sy = js(driver, "return screen_xy(arguments[0], arguments[1], arguments[2])", plot, x, y)
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(round(sx)), int(round(sy)))
    actions.perform()


def drag_box(driver, plot, corner, opposite):
    """Drag the box-select tool of ``plot`` from data position ``corner`` to ``opposite``."""
    js(driver, "model(arguments[0]).toolbar.tools.find((t) => t.tool_name == 'Box Select').active = true", plot)
    start, end = js(
        driver, "const p = arguments[0]; return [screen_xy(p, ...arguments[1]), screen_xy(p, ...arguments[2])]",
        plot, list(corner), list(opposite),
    )  # fmt: skip
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(start[0]), int(start[1]))
    actions.pointer_action.pointer_down(MouseButton.LEFT)
    for fraction in (0.25, 0.5, 0.75, 1.0):
        actions.pointer_action.move_to_location(int(start[0] + fraction * (end[0] - start[0])),
                                                int(start[1] + fraction * (end[1] - start[1])))  # fmt: skip
    actions.pointer_action.pointer_up(MouseButton.LEFT)
    actions.perform()


def span(text, name):
    return re.search(rf"class='{name}'>([^<]+)<", text).group(1)


def test_night_view_lists_a_product_written_after_the_page_opened(page, products, screenshots):
    before = js(page, "return model('night_source').data.file")
    assert "exp1_img1_rate.fits" in before and "exp2_img1_cal.fits" not in before
    write_image(products / "exp2_img1_cal.fits", np.full((16, 16), 3.0), detector="IMG1", EXP_TYPE="IRIS_IMAGE")
    wait_for(lambda: "exp2_img1_cal.fits" in js(page, "return model('night_source').data.file"))
    data = js(page, "return model('night_source').data")
    row = data["file"].index("exp2_img1_cal.fits")
    assert (data["product"][row], data["status"][row], data["exp_type"][row]) == ("cal", "FLAT SKIPPED", "IRIS_IMAGE")
    assert data["file"][-1] == "exp2_img1_cal.fits"  # listed in the order written
    page.save_screenshot(str(screenshots / "night.png"))


def test_image_view_shows_four_detectors_and_the_file_values_under_the_cursor(page, products, screenshots):
    open_row(page, "exp1_img1_rate.fits")
    wait_for(lambda: js(page, "return model('image_source').data.image.length == 1 && model('tabs').active == 1"))
    assert all(f"exp1_img{n}_rate.fits" in js(page, "return model('image_title').text") for n in range(1, 5))
    image = js(page, "const d = model('image_source').data; return [d.dw[0], d.dh[0]]")
    assert image[0] == pytest.approx(2 * 64 + 200) and image[1] == pytest.approx(2 * 64 + 200)  # windows and gaps
    page.save_screenshot(str(screenshots / "image.png"))
    # IMG3 (upper left) window: canvas x from -164, y from 100 (see test_viewer_data for the layout)
    x_pixel, y_pixel = 7, 40
    move_mouse(page, "image_plot", -164 + x_pixel, 100 + y_pixel)
    text = wait_for(lambda: (t := js(page, "return model('cursor_info').text")) and "class='px'" in t and t)
    assert text.startswith("IMG3") and (int(span(text, "px")), int(span(text, "py"))) == (x_pixel, y_pixel)
    with fits.open(products / "exp1_img3_rate.fits") as hdulist:
        value = float(hdulist["SCI"].data[y_pixel, x_pixel])
        ra, dec = WCS(hdulist["SCI"].header).pixel_to_world_values(x_pixel, y_pixel)
    assert float(span(text, "value")) == pytest.approx(value, rel=1e-6)
    assert float(span(text, "ra")) == pytest.approx(ra, abs=1e-7)
    assert float(span(text, "dec")) == pytest.approx(dec, abs=1e-7)


def test_box_region_statistics_match_numpy_on_the_same_pixels(page, products, screenshots):
    open_row(page, "exp1_img2_rate.fits")
    wait_for(lambda: js(page, "return model('image_source').data.image.length == 1 && model('tabs').active == 1"))
    # a box around the star of IMG2 (lower right: canvas x from 100, y from -164; star at pixel (20, 30))
    drag_box(page, "image_plot", (111.3, -143.6), (131.8, -122.2))
    text = wait_for(lambda: (t := js(page, "return model('region_stats').text")) and "data-columns" in t and t)
    columns = [int(v) for v in re.search(r"data-columns='(\d+),(\d+)'", text).groups()]
    rows = [int(v) for v in re.search(r"data-rows='(\d+),(\d+)'", text).groups()]
    assert "IMG2" in text and 9 <= columns[0] <= 13 and 29 <= columns[1] <= 34
    with fits.open(products / "exp1_img2_rate.fits") as hdulist:
        pixels = hdulist["SCI"].data[rows[0] : rows[1], columns[0] : columns[1]].astype(np.float64)
        good = (hdulist["DQ"].data[rows[0] : rows[1], columns[0] : columns[1]] & 1) == 0
    values = pixels[good]
    assert int(span(text, "npix")) == values.size
    for name, expected in (("mean", values.mean()), ("median", np.median(values)), ("std", values.std()),
                           ("sum", values.sum()), ("peak", values.max())):  # fmt: skip
        assert float(span(text, name)) == pytest.approx(expected, rel=1e-7), name
    assert float(span(text, "fwhm").split()[0]) == pytest.approx(2.3548 * 1.5, rel=0.1)
    page.save_screenshot(str(screenshots / "region.png"))


def test_cube_slider_shows_the_plane_of_the_chosen_wavelength(page, products, screenshots):
    open_row(page, "ifu_s3d.fits")
    wait_for(lambda: js(page, "return model('tabs').active == 2 && !model('wave_slider').disabled"))
    cube = CubeProduct.open(products / "ifu_s3d.fits")
    chosen_um = float(cube.wave_um[29]) + 0.0004
    js(page, "model('wave_slider').value = arguments[0]", chosen_um)
    info = wait_for(lambda: (t := js(page, "return model('plane_info').text")) and "class='plane'>29<" in t and t)
    assert float(span(info, "wave")) == pytest.approx(cube.wave_um[29], abs=1e-5)
    shown = np.array(js(page, "return Array.from(model('cube_image_source').data.image[0])"), dtype=np.uint32)
    plane = cube.slice_image(29)
    expected = colourize(plane, display_limits(plane[np.isfinite(plane)], "zscale"))
    assert np.array_equal(shown, expected.ravel())
    page.save_screenshot(str(screenshots / "cube.png"))


def test_spectrum_of_a_clicked_spaxel_and_of_a_box_match_the_cube(page, products, screenshots):
    open_row(page, "ifu_s3d.fits")
    wait_for(lambda: js(page, "return model('tabs').active == 2 && model('spectrum_source').data.flux.length > 0"))
    sx, sy = js(page, "return screen_xy('cube_plot', 6, 2)")
    actions = ActionBuilder(page)
    actions.pointer_action.move_to_location(int(round(sx)), int(round(sy)))
    actions.pointer_action.click()
    actions.perform()
    wait_for(lambda: "class='sx'>6<" in (js(page, "return model('spectrum_info').text") or ""))
    data = js(page, "const d = model('spectrum_source').data; "
                    "return [Array.from(d.wave_um), Array.from(d.flux), Array.from(d.upper)]")  # fmt: skip
    with fits.open(products / "ifu_s3d.fits") as hdulist:
        assert np.allclose(data[0], hdulist["WAVELENGTH"].data)
        assert np.allclose(data[1], hdulist["SCI"].data[:, 2, 6], rtol=1e-6)
        assert np.allclose(np.array(data[2]) - np.array(data[1]), hdulist["ERR"].data[:, 2, 6], rtol=1e-5)
    drag_box(page, "cube_plot", (4.6, 0.7), (7.4, 2.3))  # spaxels x 5..7, y 1..2
    wait_for(lambda: "x 5:8, y 1:3" in (js(page, "return model('spectrum_info').text") or ""))
    flux = js(page, "return Array.from(model('spectrum_source').data.flux)")
    with fits.open(products / "ifu_s3d.fits") as hdulist:
        sci, dq = hdulist["SCI"].data[:, 1:3, 5:8], hdulist["DQ"].data[:, 1:3, 5:8]
    assert np.allclose(flux, np.nanmean(np.where(dq & 1, np.nan, sci), axis=(1, 2)), rtol=1e-6)
    lines = js(page, "return Array.from(model('oh_lines').data.x)")
    assert lines and all(1.55 <= line <= 1.65 for line in lines)
    page.save_screenshot(str(screenshots / "spectrum.png"))


def test_header_view_and_download(page, products, server, screenshots):
    open_row(page, "exp1_img4_rate.fits")
    wait_for(lambda: "S_FLAT" in (js(page, "return model('header_view').text") or ""))
    js(page, "model('tabs').active = 3")
    text = js(page, "return model('header_view').text")
    assert "iris_dark_0001.fits" in text and "SUBSTRT1" in text
    with urllib.request.urlopen(server.url + "files/exp1_img4_rate.fits") as response:
        assert response.read() == (products / "exp1_img4_rate.fits").read_bytes()
    time.sleep(0.3)
    page.save_screenshot(str(screenshots / "header.png"))
