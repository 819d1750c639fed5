"""Quick-look viewer speed in headless Chromium: first image of a full-frame 4-detector exposure, and a zoom.

    .venv/bin/python benchmarks/bench_viewer.py [--side 4096] [--repeat 3] [--uncached]

Writes four IRIS imager rate products (``side`` x ``side`` float32 SCI with a TAN WCS, uint32 DQ)
in a temporary folder, starts `iris_pipeline.viewer.ViewerServer` on it and Debian's headless
Chromium (selenium), then measures in the browser's own clock (``performance.now()``):

- **first image**: from selecting the exposure in the night table to the first frame painted after
  the image data arrived (files opened, display limits computed, visible range rendered, RGBA sent);
  the first open in a fresh page session is "cold" (files not yet mapped by the server), later
  opens of another product and back are not measured;
- **zoom update**: from a mouse-wheel zoom on the image to the frame painted with the re-rendered
  region, ``--repeat`` times at successive zoom levels.

With ``--uncached`` the four files are dropped from the operating system's page cache
(``posix_fadvise(DONTNEED)``, these files only) just before the exposure is selected, so that the
first image reads them from disk, as the morning after; without it they are in the cache, as
during the night when the pipeline has just written them.

After the browser, the server side of the first image is timed step by step in this process
(`iris_pipeline.viewer.data`, files in the cache): opening the four files, rendering the whole
focal plane at 720 x 720, the zscale limits, colouring with the DQ overlay, and the bytes sent.

The reference printed beside them is the static PNG preview of the same four files
(`iris_pipeline.quicklook.write_image_preview`, DQ overlay on), timed in the same run; the target
is 1 s for each viewer figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _viewer_products import tan_wcs, write_image  # noqa: E402

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
)  # fmt: skip

HOOK = """
const model = (name) => Bokeh.documents[0].get_model_by_name(name);
window.__painted = null;
const source = model('image_source');
if (!window.__hooked) {
    source.connect(source.change, () => requestAnimationFrame(() => requestAnimationFrame(() => {
        window.__painted = performance.now(); })));
    window.__hooked = true;
}
"""


def write_exposure(folder: Path, side: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for number, detector in enumerate(("IMG1", "IMG2", "IMG3", "IMG4"), start=1):
        sci = rng.normal(10.0, 1.0, (side, side)).astype(np.float32)
        dq = np.zeros((side, side), np.uint32)
        dq[::97, ::89] = 1
        paths.append(write_image(folder / f"bench_{detector.lower()}_rate.fits", sci, dq, detector=detector,
                                 wcs=tan_wcs([150.0 + 0.01 * number, 2.0], [side / 2, side / 2])))  # fmt: skip
    return paths


def drop_from_page_cache(paths) -> None:
    """Make the next read of ``paths`` come from disk (the kernel keeps pages still mapped)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def server_steps(paths) -> dict:
    """Milliseconds of each server-side step of the first image (what `ViewerPage.redraw` does)."""
    from iris_pipeline.viewer.app import FRAME_PX
    from iris_pipeline.viewer.data import colourize, open_canvas

    steps = {}
    start = time.perf_counter()

    def lap(name):
        nonlocal start
        now = time.perf_counter()
        steps[name] = 1000 * (now - start)
        start = now

    canvas = open_canvas(paths)
    lap("open the four files (memory maps, WCS)")
    xmin, xmax, ymin, ymax = canvas.extent
    side = max(xmax - xmin, ymax - ymin)
    rendered = canvas.render((xmin, xmin + side), (ymin, ymin + side), FRAME_PX, FRAME_PX)
    lap(f"render the focal plane at {FRAME_PX} x {FRAME_PX}")
    limits = canvas.limits("zscale")
    lap("zscale limits (sample)")
    rgba = colourize(rendered.values, limits, "zscale", "gray", rendered.dq, show_dq=True)
    lap("colour and DQ overlay (RGBA)")
    canvas.close()
    return {"steps_ms": steps, "rgba_bytes": rgba.nbytes}


def wait(driver, script, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = driver.execute_script(script)
        except Exception:  # the page is still loading
            value = None
        if value:
            return value
        time.sleep(0.01)
    raise TimeoutError(script)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=4096, help="detector side in pixels (default 4096)")
    parser.add_argument("--repeat", type=int, default=3, help="zoom updates to time (default 3)")
    parser.add_argument("--uncached", action="store_true", help="first image with the files read from disk")
    args = parser.parse_args(argv)

    from selenium import webdriver
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

    from iris_pipeline.quicklook import write_image_preview
    from iris_pipeline.viewer import ViewerServer

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        print("needs Debian's chromium and chromium-driver", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "night"
        folder.mkdir()
        paths = write_exposure(folder, args.side)
        write_image_preview(paths[0], Path(tmp) / "warm.png")  # numba cache loading is not part of the reference
        start = time.perf_counter()
        write_image_preview(paths, Path(tmp) / "static.png", show_dq=True)
        static_s = time.perf_counter() - start

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = ViewerServer(folder, port=port).start()
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={Path(tmp) / 'profile'}")
        driver = webdriver.Chrome(service=webdriver.ChromeService(driver_path), options=options)
        try:
            start = time.perf_counter()
            driver.get(server.url)
            wait(driver, "return Bokeh.documents[0].get_model_by_name('night_source').data.file.length == 4")
            page_s = time.perf_counter() - start
            driver.execute_script(HOOK)
            if args.uncached:
                drop_from_page_cache(paths)
            first_ms = driver.execute_script(
                HOOK
                + """
                window.__start = performance.now();
                const s = model('night_source'); s.selected.indices = [s.data.file.indexOf('bench_img1_rate.fits')];
                return 0;"""
            )
            first_ms = wait(driver, "return window.__painted && window.__painted - window.__start")
            zoom_ms = []
            for _ in range(args.repeat):
                box = driver.execute_script(
                    HOOK
                    + """
                    const view = Bokeh.index.find_one(model('image_plot'));
                    const r = view.canvas_view.el.getBoundingClientRect();
                    return [r.left + view.frame.bbox.hcenter, r.top + view.frame.bbox.vcenter];"""
                )
                driver.execute_script("window.__start = null; document.addEventListener('wheel', "
                                      "() => { if (window.__start === null) window.__start = performance.now(); },"
                                      " {capture: true, once: true});")  # fmt: skip
                origin = ScrollOrigin.from_viewport(int(box[0]), int(box[1]))
                webdriver.ActionChains(driver).scroll_from_origin(origin, 0, -400).perform()
                zoom_ms.append(
                    wait(
                        driver,
                        "return window.__painted && window.__start !== null && "
                        "window.__painted > window.__start && window.__painted - window.__start",
                    )
                )
                time.sleep(0.3)
            extent = driver.execute_script("const d = Bokeh.documents[0].get_model_by_name('image_source').data;"
                                           "return [d.image[0].length, d.dw[0], d.dh[0]]")  # fmt: skip
        finally:
            driver.quit()
            server.stop()
        server_side = server_steps(paths)
    side = args.side
    print(f"viewer on four {side} x {side} detectors (float32 SCI + uint32 DQ), headless Chromium, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"  page load (night table filled)     {page_s:8.3f} s")
    cache = "read from disk" if args.uncached else "in the page cache"
    print(f"  first image of the exposure        {first_ms / 1000:8.3f} s   ({first_ms / 1000:.2f} x the 1 s target; "
          f"files {cache})")  # fmt: skip
    print(
        f"  zoom update, median of {len(zoom_ms)}         {statistics.median(zoom_ms) / 1000:8.3f} s   "
        f"(max {max(zoom_ms) / 1000:.3f} s; {statistics.median(zoom_ms) / 1000:.2f} x the 1 s target)"
    )
    print(f"  last view: {extent[0]} pixels sent for a {extent[1]:.0f} x {extent[2]:.0f} pixel region")
    print("  server side of the first image (files in the page cache):")
    for name, ms in server_side["steps_ms"].items():
        print(f"    {name:40s} {ms:7.1f} ms")
    print(f"    {'sent: one RGBA image':40s} {server_side['rgba_bytes'] / 1e6:7.2f} MB")
    print(
        f"  reference: static PNG preview of the same files {static_s:8.3f} s "
        f"(viewer first image / static = {first_ms / 1000 / static_s:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
