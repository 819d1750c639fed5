"""The viewer's page: a Bokeh document per browser tab, drawn from `iris_pipeline.viewer.data`.

Bokeh runs the page's widgets in the browser and keeps their state in sync with this Python code
over a websocket; images arrive as RGBA arrays of at most `FRAME_PX` x `FRAME_PX` pixels, rendered
server-side for the visible range after every pan or zoom (`RangesUpdate`).
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

import numpy as np
from bokeh.events import MouseMove, RangesUpdate, SelectionGeometry, Tap
from bokeh.layouts import column, row
from bokeh.models import (
    Checkbox,
    ColumnDataSource,
    DataTable,
    Div,
    RadioButtonGroup,
    Select,
    Slider,
    Spinner,
    TableColumn,
    TabPanel,
    Tabs,
)
from bokeh.plotting import figure

from ..exceptions import IrisPipelineError
from .data import (
    COLOUR_MAPS,
    NIGHT_COLUMNS,
    STRETCHES,
    CubeProduct,
    ImageCanvas,
    NightLog,
    colourize,
    display_limits,
    exposure_siblings,
    header_report,
    oh_lines_um,
    open_canvas,
    region_stats,
)

__all__ = ["FRAME_PX", "ViewerPage"]

log = logging.getLogger(__name__)

FRAME_PX = 720
"""Side of the image frames in screen pixels: the most pixels an image update sends per side."""
REFRESH_MS = 1000
WHEEL_SETTLE_MS = 50
"""A wheel zoom counts as finished (and the region is re-rendered) this long after its last step
(Bokeh's default, 500 ms, would be most of the update time)."""
TOOLS = "pan,wheel_zoom,box_zoom,box_select,tap,reset,save"
LEVELS = ("uncal", "rate", "cal", "i2d")
"""Product levels offered for one exposure: raw (last read minus first), rate, cal, and the mosaic."""


class ViewerPage:
    """The widgets and callbacks of one browser tab on the products under ``folder``."""

    def __init__(self, doc, folder: Path):
        self.doc = doc
        self.folder = Path(folder).resolve()
        self.night = NightLog(self.folder)
        self.canvas: ImageCanvas | None = None
        self.cube: CubeProduct | None = None
        self.current: Path | None = None
        self._build_night()
        self._build_image()
        self._build_cube()
        self._build_header()
        self.tabs = Tabs(tabs=[
            TabPanel(child=self.night_panel, title="Night"),
            TabPanel(child=self.image_panel, title="Image"),
            TabPanel(child=self.cube_panel, title="Cube"),
            TabPanel(child=self.header_panel, title="Header"),
        ], name="tabs")  # fmt: skip
        doc.add_root(self.tabs)
        doc.title = f"iris-pipeline view: {self.folder.name}"
        doc.on_session_destroyed(lambda _context: self._close())
        self.refresh_night()
        doc.add_periodic_callback(self.refresh_night, REFRESH_MS)

    # -----------------------------------------------------------------------------------------
    # night view

    def _build_night(self):
        self.night_source = ColumnDataSource({name: [] for name in NIGHT_COLUMNS}, name="night_source")
        widths = {"file": 320, "status": 200}
        columns = [TableColumn(field=name, title=name.replace("_", " "), width=widths.get(name, 90))
                   for name in NIGHT_COLUMNS]  # fmt: skip
        self.night_table = DataTable(source=self.night_source, columns=columns, width=1200, height=600,
                                     selectable=True, index_position=None, name="night_table")  # fmt: skip
        self.night_source.selected.on_change("indices", self._on_night_select)
        self.night_status = Div(text="", name="night_status")
        self.night_panel = column(Div(text=f"<b>{html.escape(str(self.folder))}</b>: products as they are written; "
                                           "select one to open it."),
                                  self.night_table, self.night_status)  # fmt: skip

    def refresh_night(self):
        if not self.night.refresh():
            return
        rows = self.night.rows()
        selected = [self.night_source.data["file"][i] for i in self.night_source.selected.indices
                    if i < len(self.night_source.data["file"])]  # fmt: skip
        self.night_source.data = {name: [r[name] for r in rows] for name in NIGHT_COLUMNS}
        files = [r["file"] for r in rows]
        self.night_source.selected.indices = [files.index(f) for f in selected if f in files]
        self.night_status.text = f"{len(rows)} products"

    def _on_night_select(self, _attr, _old, new):
        if new:
            self.open_product(self.folder / self.night_source.data["file"][new[0]])

    def open_product(self, path: Path):
        """Show ``path`` in the image or the cube view, and its headers."""
        try:
            self._open(Path(path))
        except (IrisPipelineError, OSError, ValueError) as err:
            self.night_status.text = f"<span style='color:#b00'>{html.escape(str(err))}</span>"

    def _open(self, path: Path):
        self.current = path
        self._show_header(path)
        if path.name.endswith("_s3d.fits"):
            self._show_cube(path)
            self.tabs.active = 2
        else:
            self._show_image(path)
            self.tabs.active = 1

    # -----------------------------------------------------------------------------------------
    # image view

    def _build_image(self):
        self.image_source = ColumnDataSource({"image": [], "x": [], "y": [], "dw": [], "dh": []}, name="image_source")
        self.marker_source = ColumnDataSource({"x": [], "y": []}, name="marker_source")
        self.label_source = ColumnDataSource({"x": [], "y": [], "text": []})
        plot = figure(frame_width=FRAME_PX, frame_height=FRAME_PX, tools=TOOLS, x_range=(0, 1), y_range=(0, 1),
                      active_scroll="wheel_zoom", name="image_plot", x_axis_label="canvas x (pixel)",
                      y_axis_label="canvas y (pixel)", output_backend="canvas", lod_interval=WHEEL_SETTLE_MS,
                      lod_timeout=WHEEL_SETTLE_MS)  # fmt: skip
        plot.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=self.image_source)
        plot.scatter("x", "y", source=self.marker_source, size=14, marker="circle", fill_alpha=0,
                     line_color="#39ff14", line_width=1.5)  # fmt: skip
        plot.text(
            "x",
            "y",
            text="text",
            source=self.label_source,
            text_color="#ffb000",
            text_font_size="11pt",
            text_baseline="top",
            x_offset=3,
            y_offset=3,
        )
        self.region_source = ColumnDataSource({"x": [], "y": [], "width": [], "height": [], "radius": []})
        plot.rect("x", "y", "width", "height", source=self.region_source, fill_alpha=0, line_color="#ffb000")
        plot.circle("x", "y", radius="radius", source=self.region_source, fill_alpha=0, line_color="#ffb000")
        plot.on_event(RangesUpdate, self._on_ranges)
        plot.on_event(MouseMove, self._on_mouse)
        plot.on_event(SelectionGeometry, self._on_box)
        plot.on_event(Tap, self._on_tap)
        self.image_plot = plot
        self.level = RadioButtonGroup(labels=list(LEVELS), active=None, name="level")
        self.level.on_change("active", self._on_level)
        self.stretch = Select(title="stretch", value="zscale", options=list(STRETCHES), name="stretch")
        self.cmap = Select(title="colour map", value="gray", options=list(COLOUR_MAPS), name="cmap")
        self.show_dq = Checkbox(label="DQ overlay (red: DO_NOT_USE, cyan: saturated/jump)", name="show_dq")
        for widget in (self.stretch, self.cmap):
            widget.on_change("value", lambda _attr, _old, _new: self.redraw())
        self.show_dq.on_change("active", lambda _attr, _old, _new: self.redraw())
        self.region_shape = RadioButtonGroup(labels=["box", "circle"], active=0, name="region_shape")
        self.radius = Spinner(title="circle radius (pixel)", value=5, low=1, step=1, width=140, name="radius")
        self.cursor = Div(text="move the cursor over the image", width=420, name="cursor_info")
        self.stats = Div(text="box: drag with the box-select tool; circle: tap", width=420, name="region_stats")
        self.image_title = Div(text="select a product in the Night tab", name="image_title")
        self.download = Div(text="", name="download")
        controls = column(self.level, self.stretch, self.cmap, self.show_dq, Div(text="<b>region</b>"),
                          self.region_shape, self.radius, self.stats, Div(text="<b>under the cursor</b>"),
                          self.cursor, self.download, width=440)  # fmt: skip
        self.image_panel = column(self.image_title, row(plot, controls))

    def _show_image(self, path: Path):
        canvas = open_canvas(exposure_siblings(path) if not path.name.endswith("_i2d.fits") else [path])
        if self.canvas is not None:
            self.canvas.close()
        self.canvas = canvas
        names = ", ".join(tile.path.name for tile in canvas.tiles)
        self.image_title.text = f"<b>{html.escape(names)}</b>"
        level = path.stem.rsplit("_", 1)[-1]
        self.level.active = LEVELS.index(level) if level in LEVELS else None
        xmin, xmax, ymin, ymax = canvas.extent
        side = max(xmax - xmin, ymax - ymin)
        self.image_plot.x_range.start, self.image_plot.x_range.end = xmin, xmin + side
        self.image_plot.y_range.start, self.image_plot.y_range.end = ymin, ymin + side
        self.label_source.data = {
            "x": [t.x0 for t in canvas.tiles] if len(canvas.tiles) > 1 else [],
            "y": [t.y0 + t.shape[0] for t in canvas.tiles] if len(canvas.tiles) > 1 else [],
            "text": [t.name for t in canvas.tiles] if len(canvas.tiles) > 1 else [],
        }
        self.marker_source.data = _catalogue_markers(path) if path.name.endswith("_i2d.fits") else {"x": [], "y": []}
        self.region_source.data = {"x": [], "y": [], "width": [], "height": [], "radius": []}
        self.download.text = _download_links(self.folder, [t.path for t in canvas.tiles])
        self.view = (xmin, xmin + side, ymin, ymin + side)
        self.redraw()

    def _on_level(self, _attr, _old, new):
        if new is None or self.current is None:
            return
        stem = self.current.stem.rsplit("_", 1)[0]
        candidate = self.current.with_name(f"{stem}_{LEVELS[new]}.fits")
        if candidate.is_file() and candidate != self.current:
            self.open_product(candidate)
        elif not candidate.is_file():
            self.image_title.text += f" (no {LEVELS[new]} product for this exposure)"

    def _on_ranges(self, event):
        if None in (event.x0, event.x1, event.y0, event.y1):
            return
        self.view = (event.x0, event.x1, event.y0, event.y1)
        self.redraw()

    def redraw(self):
        """Render the visible range of the current image at screen resolution and send it."""
        if self.canvas is None:
            return
        x0, x1, y0, y1 = self.view
        rendered = self.canvas.render((x0, x1), (y0, y1), FRAME_PX, FRAME_PX)
        limits = self.canvas.limits(self.stretch.value)
        rgba = colourize(rendered.values, limits, self.stretch.value, self.cmap.value, rendered.dq,
                         show_dq=self.show_dq.active)  # fmt: skip
        self.image_source.data = {"image": [rgba], "x": [rendered.x], "y": [rendered.y], "dw": [rendered.dw],
                                  "dh": [rendered.dh]}  # fmt: skip

    def _on_mouse(self, event):
        if self.canvas is None or event.x is None:
            return
        info = self.canvas.pixel_info(event.x, event.y)
        if info is None:
            self.cursor.text = "gap: no detector here"
            return
        sky = ""
        if "ra_deg" in info:
            sky = (
                f"<br>RA <span class='ra'>{info['ra_deg']:.7f}</span> "
                f"Dec <span class='dec'>{info['dec_deg']:.7f}</span> deg"
            )
        self.cursor.text = (
            f"{html.escape(info['tile'])} pixel x=<span class='px'>{info['x']}</span> "
            f"y=<span class='py'>{info['y']}</span><br>value <span class='value'>{info['value']:.7g}</span> "
            f"{html.escape(info['bunit'])} DQ {info['dq']}{sky}"
        )

    def _on_box(self, event):
        geometry = event.geometry
        if self.canvas is None or geometry.get("type") != "rect":
            return
        box = (geometry["x0"], geometry["x1"], geometry["y0"], geometry["y1"])
        self.region_source.data = {"x": [(box[0] + box[1]) / 2], "y": [(box[2] + box[3]) / 2],
                                   "width": [abs(box[1] - box[0])], "height": [abs(box[3] - box[2])],
                                   "radius": [0]}  # fmt: skip
        self._show_stats(region_stats(self.canvas, "box", box))

    def _on_tap(self, event):
        if self.canvas is None or self.region_shape.active != 1:
            return
        radius = float(self.radius.value)
        self.region_source.data = {"x": [event.x], "y": [event.y], "width": [0], "height": [0], "radius": [radius]}
        self._show_stats(region_stats(self.canvas, "circle", (event.x, event.y, radius)))

    def _show_stats(self, stats):
        if stats is None:
            self.stats.text = "no good pixel in the region"
            return
        fwhm = "n/a" if stats.fwhm_pix is None else f"{stats.fwhm_pix:.2f} pix"
        self.stats.text = (
            f"<table class='stats' data-tile='{html.escape(stats.tile)}' data-columns='{stats.columns[0]},"
            f"{stats.columns[1]}' data-rows='{stats.rows[0]},{stats.rows[1]}'>"
            f"<tr><td>{html.escape(stats.tile)}</td><td>x {stats.columns[0]}:{stats.columns[1]}, "
            f"y {stats.rows[0]}:{stats.rows[1]}</td></tr>"
            f"<tr><td>pixels</td><td class='npix'>{stats.npix}</td></tr>"
            f"<tr><td>mean</td><td class='mean'>{stats.mean:.9g}</td></tr>"
            f"<tr><td>median</td><td class='median'>{stats.median:.9g}</td></tr>"
            f"<tr><td>std</td><td class='std'>{stats.std:.9g}</td></tr>"
            f"<tr><td>sum</td><td class='sum'>{stats.sum:.9g}</td></tr>"
            f"<tr><td>peak</td><td class='peak'>{stats.peak:.9g}</td></tr>"
            f"<tr><td>FWHM (brightest)</td><td class='fwhm'>{fwhm}</td></tr></table>"
        )

    # -----------------------------------------------------------------------------------------
    # cube view

    def _build_cube(self):
        self.cube_image_source = ColumnDataSource({"image": [], "x": [], "y": [], "dw": [], "dh": []},
                                                  name="cube_image_source")  # fmt: skip
        plot = figure(frame_width=480, frame_height=480, tools="pan,wheel_zoom,tap,box_select,reset,save",
                      x_range=(0, 1), y_range=(0, 1), name="cube_plot", x_axis_label="x (spaxel)",
                      y_axis_label="y (spaxel)")  # fmt: skip
        plot.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=self.cube_image_source)
        self.spaxel_source = ColumnDataSource({"x": [], "y": []})
        plot.scatter("x", "y", source=self.spaxel_source, marker="square", size=12, fill_alpha=0, line_color="#ff2a2a")
        plot.on_event(Tap, self._on_spaxel)
        plot.on_event(SelectionGeometry, self._on_spaxel_box)
        self.cube_plot = plot
        self.wave_slider = Slider(start=0, end=1, value=0, step=1, title="wavelength (um)", format="0.00000",
                                  width=480, name="wave_slider", disabled=True)  # fmt: skip
        self.wave_slider.on_change("value_throttled", lambda _attr, _old, _new: self._draw_plane())
        self.wave_slider.on_change("value", lambda _attr, _old, _new: self._draw_plane())
        self.white = Checkbox(label="white-light image", active=False, name="white")
        self.white.on_change("active", lambda _attr, _old, _new: self._draw_plane())
        self.plane_info = Div(text="", name="plane_info")
        self.spectrum_source = ColumnDataSource({"wave_um": [], "flux": [], "lower": [], "upper": []},
                                                name="spectrum_source")  # fmt: skip
        self.lines_source = ColumnDataSource({"x": []}, name="oh_lines")
        self.wave_marker = ColumnDataSource({"x": []})
        spectrum = figure(frame_width=620, frame_height=380, tools="pan,wheel_zoom,box_zoom,reset,save",
                          x_axis_label="wavelength (um)", name="spectrum_plot")  # fmt: skip
        spectrum.varea("wave_um", "lower", "upper", source=self.spectrum_source, fill_color="#1f77b4", fill_alpha=0.25)
        spectrum.line("wave_um", "flux", source=self.spectrum_source, line_color="#1f77b4")
        spectrum.vspan("x", source=self.lines_source, line_color="#999999", line_dash="dashed", line_width=1)
        spectrum.vspan("x", source=self.wave_marker, line_color="#ff2a2a", line_width=1)
        self.spectrum_plot = spectrum
        self.spectrum_info = Div(
            text="tap a spaxel, or draw a box, for a spectrum (grey: OH sky lines)", name="spectrum_info"
        )
        self.cube_download = Div(text="", name="cube_download")
        self.cube_panel = column(Div(text="", name="cube_title"),
                                 row(column(plot, self.wave_slider, self.white, self.plane_info),
                                     column(spectrum, self.spectrum_info, self.cube_download)))  # fmt: skip
        self.cube_title = self.cube_panel.children[0]

    def _show_cube(self, path: Path):
        self.cube = CubeProduct.open(path)
        wave = self.cube.wave_um
        self.cube_title.text = f"<b>{html.escape(path.name)}</b>"
        step = float(np.median(np.diff(wave))) if wave.size > 1 else 1.0
        self.wave_slider.update(start=float(wave[0]), end=float(wave[-1]), step=step, value=float(wave[wave.size // 2]),
                                disabled=False)  # fmt: skip
        ny, nx = self.cube.white.shape
        self.cube_plot.x_range.start, self.cube_plot.x_range.end = -0.5, max(nx, ny) - 0.5
        self.cube_plot.y_range.start, self.cube_plot.y_range.end = -0.5, max(nx, ny) - 0.5
        self.lines_source.data = {"x": list(oh_lines_um((wave.min(), wave.max())))}
        self.spectrum_plot.yaxis.axis_label = self.cube.bunit
        self.cube_download.text = _download_links(self.folder, [path])
        self._draw_plane()
        y, x = np.unravel_index(np.nanargmax(np.nan_to_num(self.cube.white, nan=-np.inf)), self.cube.white.shape)
        self.show_spectrum((int(x), int(x) + 1), (int(y), int(y) + 1))

    def _draw_plane(self):
        if self.cube is None:
            return
        if self.white.active:
            image, label = self.cube.white, "white-light image"
        else:
            index = self.cube.plane(self.wave_slider.value)
            image = self.cube.slice_image(index)
            wave_um = self.cube.wave_um[index]
            label = f"plane <span class='plane'>{index}</span> at <span class='wave'>{wave_um:.5f}</span> um"
            self.wave_marker.data = {"x": [float(self.cube.wave_um[index])]}
        finite = image[np.isfinite(image)]
        limits = display_limits(finite, "zscale") if finite.size else (0.0, 1.0)
        ny, nx = image.shape
        self.cube_image_source.data = {"image": [colourize(image, limits)], "x": [-0.5], "y": [-0.5], "dw": [nx],
                                       "dh": [ny]}  # fmt: skip
        self.plane_info.text = label

    def _on_spaxel(self, event):
        if self.cube is None or event.x is None:
            return
        x, y = int(np.floor(event.x + 0.5)), int(np.floor(event.y + 0.5))
        ny, nx = self.cube.white.shape
        if 0 <= x < nx and 0 <= y < ny:
            self.show_spectrum((x, x + 1), (y, y + 1))

    def _on_spaxel_box(self, event):
        """Mean spectrum of the spaxels whose centres lie in a box drawn with the box-select tool."""
        geometry = event.geometry
        if self.cube is None or geometry.get("type") != "rect":
            return
        ny, nx = self.cube.white.shape
        x0, x1 = sorted((geometry["x0"], geometry["x1"]))
        y0, y1 = sorted((geometry["y0"], geometry["y1"]))
        columns = (max(0, int(np.ceil(x0))), min(nx, int(np.floor(x1)) + 1))
        rows = (max(0, int(np.ceil(y0))), min(ny, int(np.floor(y1)) + 1))
        if columns[1] > columns[0] and rows[1] > rows[0]:
            self.show_spectrum(columns, rows)

    def show_spectrum(self, columns, rows):
        """Plot the mean spectrum (with its error band) of spaxels ``rows`` x ``columns`` (half-open)."""
        flux, error = self.cube.spectrum(columns, rows)
        error = np.zeros_like(flux) if error is None else error
        xs, ys = np.meshgrid(np.arange(*columns), np.arange(*rows))
        self.spaxel_source.data = {"x": xs.ravel(), "y": ys.ravel()}
        self.spectrum_source.data = {"wave_um": self.cube.wave_um, "flux": flux, "lower": flux - error,
                                     "upper": flux + error}  # fmt: skip
        if columns[1] - columns[0] == 1 and rows[1] - rows[0] == 1:
            where = f"spaxel x=<span class='sx'>{columns[0]}</span> y=<span class='sy'>{rows[0]}</span>"
        else:
            where = f"mean of spaxels x {columns[0]}:{columns[1]}, y {rows[0]}:{rows[1]}"
        self.spectrum_info.text = f"{where} (band: +-1 sigma)"

    # -----------------------------------------------------------------------------------------
    # header and provenance

    def _build_header(self):
        self.header_div = Div(text="select a product in the Night tab", width=1200, name="header_view")
        self.header_panel = column(self.header_div)

    def _show_header(self, path: Path):
        report = header_report(path)
        steps = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                        for k, v in report["steps"].items())  # fmt: skip
        steps = steps or "<tr><td colspan=2>no step recorded</td></tr>"
        refs = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(f)}</td><td>{html.escape(h or '')}</td></tr>"
                       for k, (f, h) in report["references"].items()) or "<tr><td colspan=3>none</td></tr>"  # fmt: skip
        headers = "".join(f"<details><summary>{html.escape(name)}</summary><pre>{html.escape(text)}</pre></details>"
                          for name, text in report["headers"])  # fmt: skip
        self.header_div.text = (
            f"<h3>{html.escape(path.name)}</h3>{_download_links(self.folder, [path])}"
            f"<h4>steps</h4><table class='steps'>{steps}</table>"
            f"<h4>reference files</h4><table class='refs'>{refs}</table><h4>headers</h4>{headers}"
        )

    def _close(self):
        if self.canvas is not None:
            self.canvas.close()


def _download_links(folder: Path, paths) -> str:
    links = " ".join(f"<a href='/files/{html.escape(str(Path(p).resolve().relative_to(folder)))}' download>"
                     f"{html.escape(Path(p).name)}</a>" for p in paths)  # fmt: skip
    return f"download: {links}; PNG of the view: the toolbar's save tool"


def _catalogue_markers(i2d_path: Path) -> dict:
    """Pixel positions of the sources of the mosaic's catalogue (``<product>_cat.ecsv``), if there is one."""
    from astropy.table import Table

    catalog = i2d_path.with_name(i2d_path.name.removesuffix("_i2d.fits") + "_cat.ecsv")
    if not catalog.is_file():
        return {"x": [], "y": []}
    table = Table.read(catalog, format="ascii.ecsv")
    if not {"xcentroid", "ycentroid"} <= set(table.colnames):
        return {"x": [], "y": []}
    return {"x": np.asarray(table["xcentroid"], dtype=float), "y": np.asarray(table["ycentroid"], dtype=float)}
