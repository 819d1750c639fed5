"""PNG previews of imaging products, IFS cubes and resampled mosaics.

Figures are built with matplotlib's object API on an Agg canvas (no pyplot state), so previews can
be drawn from several threads at once, e.g. in dask workers. Every image is block-averaged to at
most `~iris_pipeline.quicklook.arrays.MAX_PREVIEW_SIDE_PIX` pixels per side before drawing.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.wcs import WCS
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.transforms import Affine2D

from ..exceptions import InputFileError
from ..instruments import INSTRUMENTS
from ..lib.subarray import Window
from .arrays import (
    DO_NOT_USE,
    ReducedImage,
    block_reduce,
    brightest_spaxel,
    display_norm,
    white_light_image,
)
from .files import atomic_output, extension_data, open_product
from .layout import DetectorPlacement, detector_placement

__all__ = [
    "DQ_COLOURS",
    "compass_directions",
    "cube_preview_figure",
    "image_preview_figure",
    "mosaic_preview_figure",
    "write_cube_preview",
    "write_image_preview",
    "write_mosaic_preview",
]

DQ_COLOURS = {"DO_NOT_USE": "#ff2a2a", "SATURATED|JUMP_DET": "#00d9ff"}
"""Overlay colours: bad pixels in red, saturated or jump pixels in cyan."""

RESAMPLED_EXTENSIONS = ("WHT", "CON")
"""Extensions of resampled products: their pixels are not a detector's, so they are drawn alone."""

CATALOG_COLOUR = "#39ff14"
COMPASS_COLOUR = "#ffb000"
IMAGE_CMAP = "gray"
NO_DATA_COLOUR = "#1f3a5f"
DPI = 110
_FIGURE_SIZE_IN = (8.0, 7.2)
_AXES_WIDTH_FRACTION = 0.7


@dataclass(frozen=True)
class _ImagePanel:
    name: str
    header: dict
    bunit: str
    shape: tuple[int, int]
    reduced: ReducedImage
    placement: DetectorPlacement | None


def write_image_preview(paths, output_png, *, stretch="zscale", show_dq=False, title=None, layout=True) -> Path:
    """Write a PNG preview of 2-D products of one exposure (or one detector).

    Imager detectors (``DETECTOR`` ``IMG1``..``IMG4`` of IRIS, ``IMG`` of Liger) are drawn in their
    focal-plane layout, gaps included, each labelled; subarrays at their ``SUBSTRT1/2`` place. Any
    other 2-D product, resampled ones (``*_i2d.fits``, or with a ``WHT`` or ``CON`` extension)
    included, is drawn alone, in pixel coordinates.

    Parameters
    ----------
    paths : path-like or sequence of path-like
        Rate, cal or i2d FITS files (``SCI`` and optional ``DQ`` extensions). Several files must be
        distinct imager detectors of one instrument.
    output_png : path-like
        PNG to write (atomically: temporary name, then rename).
    stretch : {"zscale", "asinh"}
        Display stretch, common to all detectors (see `~iris_pipeline.quicklook.arrays.display_norm`).
    show_dq : bool
        Overlay ``DO_NOT_USE`` pixels in red and ``SATURATED``/``JUMP_DET`` pixels in cyan.
    title : str, optional
        Defaults to the file names, EXP_TYPE and FILTER.
    layout : bool
        Draw imager detectors in their focal-plane layout; False draws one product in its own
        pixel coordinates (a pipeline's preview of one detector window).

    Returns
    -------
    pathlib.Path
        ``output_png``.

    Raises
    ------
    InputFileError
        A file is missing, unreadable, not a 2-D product, or cannot share the mosaic.
    """
    figure = image_preview_figure(paths, stretch=stretch, show_dq=show_dq, title=title, layout=layout)
    return _save(figure, output_png)


def image_preview_figure(paths, *, stretch="zscale", show_dq=False, title=None, layout=True) -> Figure:
    """The figure of `write_image_preview`, not saved.

    Full-frame imager detectors share one focal-plane axes. Subarray windows, which would be specks
    in the whole focal plane, get one axes each, cropped to the window and arranged as their
    detectors are. IFS detector frames take their display limits from the lit pixels (the traces).
    """
    paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not paths:
        raise ValueError("write_image_preview needs at least one product")
    panels = [_read_image_panel(path) for path in paths]
    _check_mosaic(panels, paths)
    lit_only = any(_is_ifs_frame(panel.header) for panel in panels)
    norm = display_norm([panel.reduced.mean for panel in panels], stretch, lit_only=lit_only)
    mosaic = layout and panels[0].placement is not None
    if not mosaic and len(panels) > 1:
        raise ValueError("several products can only be drawn in their focal-plane layout")
    windowed = mosaic and any(panel.placement.window_extent_arcsec != panel.placement.detector_extent_arcsec
                              for panel in panels)  # fmt: skip
    if windowed:
        figure, axes = _window_grid(panels)
    else:
        figure, ax = _new_figure()
        axes = [ax] * len(panels)
    spans = [panel.placement.detector_extent_arcsec for panel in panels] if mosaic and not windowed else None
    for panel, ax in zip(panels, axes, strict=True):
        if mosaic:
            extent = panel.placement.window_extent_arcsec
            transform = Affine2D().rotate_deg_around(*panel.placement.centre_arcsec, panel.placement.rotation_deg)
            transform = transform + ax.transData
        else:
            extent = (-0.5, panel.shape[1] - 0.5, -0.5, panel.shape[0] - 0.5)
            transform = ax.transData
        image = ax.imshow(
            panel.reduced.mean, origin="lower", extent=extent, cmap=_image_cmap(), norm=norm,
            interpolation="nearest", transform=transform,
        )  # fmt: skip
        if show_dq:
            _draw_dq_overlay(ax, panel.reduced, extent, transform, _display_pixels(extent, spans))
        if windowed:
            ax.set_xlim(extent[0], extent[1])
            ax.set_ylim(extent[2], extent[3])
            ax.set_title(panel.placement.detector, fontsize="small")
        elif mosaic:
            _draw_detector_frame(ax, panel.placement, transform)
    main_ax = axes[0]
    if mosaic and not windowed:
        corners = np.array([_rotated_corners(panel.placement) for panel in panels]).reshape(-1, 2)
        margin = 0.03 * np.ptp(corners, axis=0).max()
        main_ax.set_xlim(corners[:, 0].min() - margin, corners[:, 0].max() + margin)
        main_ax.set_ylim(corners[:, 1].min() - margin, corners[:, 1].max() + margin)
    if mosaic:
        for ax in set(axes):
            ax.set_xlabel("focal-plane x (arcsec)")
            ax.set_ylabel("focal-plane y (arcsec)")
    else:
        main_ax.set_xlabel("x (pixel)")
        main_ax.set_ylabel("y (pixel)")
    figure.colorbar(image, ax=list(dict.fromkeys(axes)), shrink=0.85, label=panels[0].bunit)
    if show_dq:
        counts = {
            "DO_NOT_USE": sum(panel.reduced.n_do_not_use for panel in panels),
            "SATURATED|JUMP_DET": sum(panel.reduced.n_saturated_or_jump for panel in panels),
        }
        _dq_legend(figure if windowed else main_ax, counts)
    factor = max(panel.reduced.factor for panel in panels)
    scale = f"{stretch} stretch" + (" of the lit pixels" if lit_only else "")
    _caption(figure, f"{scale}; {factor} x {factor} block mean" if factor > 1 else scale)
    heading = title if title is not None else _default_title([panel.name for panel in panels], panels[0].header)
    if windowed:
        figure.suptitle(heading)
    else:
        main_ax.set_title(heading)
    return figure


def _window_grid(panels):
    """A figure with one axes per subarray window, in rows and columns ordered as the detectors lie."""
    columns = sorted({panel.placement.centre_arcsec[0] for panel in panels})
    rows = sorted({panel.placement.centre_arcsec[1] for panel in panels}, reverse=True)
    figure = Figure(figsize=_FIGURE_SIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(len(rows), len(columns))
    axes = []
    for panel in panels:
        x, y = panel.placement.centre_arcsec
        ax = figure.add_subplot(grid[rows.index(y), columns.index(x)])
        ax.set_facecolor("white")
        ax.set_aspect("equal")
        axes.append(ax)
    return figure, axes


def _is_ifs_frame(header: dict) -> bool:
    instrument = INSTRUMENTS.get(str(header.get("INSTRUME", "")).upper())
    detector = instrument.detectors.get(str(header.get("DETECTOR", "")).upper()) if instrument else None
    return detector is not None and detector.kind == "ifs"


def write_cube_preview(cube_path, output_png, *, stretch="zscale") -> Path:
    """Write a PNG of an IFS cube: its white-light image beside the spectrum of its brightest spaxel.

    Parameters
    ----------
    cube_path : path-like
        ``*_s3d.fits``: ``SCI`` (nwave, ny, nx), ``WAVELENGTH`` (nwave) in um, optional ``DQ``.
    output_png : path-like
        PNG to write (atomically).
    stretch : {"zscale", "asinh"}
        Display stretch of the white-light image.

    Returns
    -------
    pathlib.Path
        ``output_png``.
    """
    return _save(cube_preview_figure(cube_path, stretch=stretch), output_png)


def cube_preview_figure(cube_path, *, stretch="zscale") -> Figure:
    """The figure of `write_cube_preview`, not saved: axes 0 the image, axes 2 the spectrum."""
    with open_product(cube_path) as hdulist:
        sci = extension_data(hdulist, cube_path, "SCI", 3)
        wave_um = np.asarray(extension_data(hdulist, cube_path, "WAVELENGTH", 1), dtype=np.float64)
        dq = extension_data(hdulist, cube_path, "DQ", (2, 3), required=False)
        if wave_um.size != sci.shape[0]:
            raise InputFileError(cube_path, f"WAVELENGTH has {wave_um.size} values for {sci.shape[0]} cube planes")
        if dq is not None and dq.shape not in (sci.shape, sci.shape[1:]):
            raise InputFileError(cube_path, f"DQ shape {dq.shape} does not match SCI shape {sci.shape}")
        white = white_light_image(sci, dq)
        spaxel = brightest_spaxel(white)
        spectrum = None
        if spaxel is not None:
            y, x = spaxel
            spectrum = np.array(sci[:, y, x], dtype=np.float64)
            if dq is not None:
                bad = (np.asarray(dq[:, y, x] if dq.ndim == 3 else dq[y, x]) & DO_NOT_USE) != 0
                spectrum[np.broadcast_to(bad, spectrum.shape)] = np.nan
        header = dict(hdulist[0].header)
        bunit = _bunit(hdulist)
    figure = Figure(figsize=(11.0, 4.8), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    image_ax, spectrum_ax = figure.subplots(1, 2, width_ratios=(1.0, 1.3))
    image = image_ax.imshow(
        white, origin="lower", cmap=_image_cmap(), norm=display_norm([white], stretch), interpolation="nearest"
    )
    figure.colorbar(image, ax=image_ax, shrink=0.85, label=bunit)
    image_ax.set_title("white-light image")
    image_ax.set_xlabel("x (spaxel)")
    image_ax.set_ylabel("y (spaxel)")
    spectrum_ax.set_xlabel("wavelength (um)")
    spectrum_ax.set_ylabel(bunit)
    if spaxel is None:
        spectrum_ax.set_title("no good spaxel")
    else:
        y, x = spaxel
        image_ax.plot([x], [y], marker="s", markersize=10, markerfacecolor="none", markeredgecolor="#ff2a2a")
        spectrum_ax.plot(wave_um, spectrum, color="#1f77b4", linewidth=0.8)
        spectrum_ax.set_title(f"brightest spaxel (x={x}, y={y})")
    figure.suptitle(_default_title([Path(cube_path).name], header))
    return figure


def write_mosaic_preview(i2d_path, output_png, *, catalog=None, stretch="asinh") -> Path:
    """Write a PNG of a resampled mosaic, with optional catalog markers.

    Parameters
    ----------
    i2d_path : path-like
        ``*_i2d.fits``: ``SCI`` (2-D) with a FITS WCS in its header, optional ``DQ``.
    output_png : path-like
        PNG to write (atomically).
    catalog : astropy.table.Table or path-like, optional
        Sources to mark: an ECSV file or table with ``xcentroid``, ``ycentroid`` (0-based mosaic
        pixels), or else ``sky_centroid`` (SkyCoord) or ``ra``, ``dec`` (degrees), placed with
        the mosaic's FITS WCS.
    stretch : {"asinh", "zscale"}
        Display stretch.

    Returns
    -------
    pathlib.Path
        ``output_png``.
    """
    return _save(mosaic_preview_figure(i2d_path, catalog=catalog, stretch=stretch), output_png)


def mosaic_preview_figure(i2d_path, *, catalog=None, stretch="asinh") -> Figure:
    """The figure of `write_mosaic_preview`, not saved."""
    with open_product(i2d_path) as hdulist:
        sci = extension_data(hdulist, i2d_path, "SCI", 2)
        dq = extension_data(hdulist, i2d_path, "DQ", 2, required=False)
        if dq is not None and dq.shape != sci.shape:
            raise InputFileError(i2d_path, f"DQ shape {dq.shape} differs from SCI shape {sci.shape}")
        reduced = block_reduce(sci, dq)
        header = dict(hdulist[0].header)
        sci_header = hdulist["SCI"].header.copy()
        bunit = _bunit(hdulist)
    ny, nx = sci.shape
    positions = None if catalog is None else _catalog_pixels(catalog, sci_header, i2d_path)
    sky_wcs = _optional_celestial_wcs(sci_header)
    figure, ax = _new_figure(projection=sky_wcs)
    image = ax.imshow(
        reduced.mean, origin="lower", extent=(-0.5, nx - 0.5, -0.5, ny - 0.5), cmap=_image_cmap(),
        norm=display_norm([reduced.mean], stretch), interpolation="nearest",
    )  # fmt: skip
    figure.colorbar(image, ax=ax, shrink=0.85, label=bunit)
    if positions is not None:
        x, y = positions
        inside = np.isfinite(x) & np.isfinite(y) & (x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5)
        ax.scatter(
            x[inside], y[inside], s=60, facecolors="none", edgecolors=CATALOG_COLOUR, linewidths=0.8,
            label=f"catalog: {int(inside.sum())} of {x.size} sources",
        )  # fmt: skip
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), frameon=False, fontsize="small")
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(-0.5, ny - 0.5)
    if sky_wcs is None:
        ax.set_xlabel("x (pixel)")
        ax.set_ylabel("y (pixel)")
    else:
        ax.coords[0].set_axislabel("RA")
        ax.coords[1].set_axislabel("Dec")
        _draw_compass(ax, sky_wcs, (nx, ny))
    factor = reduced.factor
    _caption(figure, f"{stretch} stretch; {factor} x {factor} block mean" if factor > 1 else f"{stretch} stretch")
    ax.set_title(_default_title([Path(i2d_path).name], header))
    return figure


def _read_image_panel(path) -> _ImagePanel:
    with open_product(path) as hdulist:
        sci = extension_data(hdulist, path, "SCI", 2)
        dq = extension_data(hdulist, path, "DQ", 2, required=False)
        if dq is not None and dq.shape != sci.shape:
            raise InputFileError(path, f"DQ shape {dq.shape} differs from SCI shape {sci.shape}")
        header = dict(hdulist[0].header)
        reduced = block_reduce(sci, dq)
        bunit = _bunit(hdulist)
        resampled = Path(path).name.endswith("_i2d.fits") or any(name in hdulist for name in RESAMPLED_EXTENSIONS)
    placement = None if resampled else _placement(header, sci.shape)
    return _ImagePanel(Path(path).name, header, bunit, sci.shape, reduced, placement)


def _placement(header: dict, shape) -> DetectorPlacement | None:
    """Focal-plane placement of an imager detector's data; None for anything else."""
    instrument = INSTRUMENTS.get(str(header.get("INSTRUME", "")).upper())
    if instrument is None:
        return None
    window = Window(int(header.get("SUBSTRT1", 1)), int(header.get("SUBSTRT2", 1)), shape[1], shape[0])
    try:
        return detector_placement(instrument, str(header.get("DETECTOR", "")).upper(), window)
    except ValueError:
        return None


def _check_mosaic(panels, paths) -> None:
    if len(panels) == 1:
        return
    seen = {}
    for panel, path in zip(panels, paths, strict=True):
        if panel.placement is None:
            raise InputFileError(
                path, "not an imager detector frame (DETECTOR, SUBSTRT1/2, shape): cannot join a mosaic preview"
            )
        key = (str(panel.header.get("INSTRUME", "")).upper(), panel.placement.detector)
        instruments = {instrument for instrument, _ in seen}
        if instruments and key[0] not in instruments:
            raise InputFileError(path, f"instrument {key[0]} differs from {', '.join(sorted(instruments))}")
        if key in seen:
            raise InputFileError(path, f"detector {key[1]} already shown from {seen[key]}")
        seen[key] = panel.name


def _new_figure(projection=None):
    figure = Figure(figsize=_FIGURE_SIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot(projection=projection)
    ax.set_facecolor("white")
    ax.set_aspect("equal")
    return figure, ax


def _image_cmap():
    return colormaps[IMAGE_CMAP].with_extremes(bad=NO_DATA_COLOUR)


def _display_pixels(extent, spans) -> int:
    """Approximate number of screen pixels across the wider side of ``extent`` in the figure."""
    width_px = _FIGURE_SIZE_IN[0] * DPI * _AXES_WIDTH_FRACTION
    side = max(abs(extent[1] - extent[0]), abs(extent[3] - extent[2]))
    if spans:
        spans = np.array(spans)
        total = max(spans[:, 1].max() - spans[:, 0].min(), spans[:, 3].max() - spans[:, 2].min())
    else:
        total = side
    return max(1, int(width_px * side / total))


def _draw_dq_overlay(ax, reduced: ReducedImage, extent, transform, display_px: int) -> None:
    """Draw the two DQ layers; blocks smaller than a screen pixel are merged (any flag wins) first."""
    pool = max(1, -(-max(reduced.mean.shape) // display_px))
    layers = (
        (_any_pool(reduced.do_not_use & ~reduced.saturated_or_jump, pool), DQ_COLOURS["DO_NOT_USE"]),
        (_any_pool(reduced.saturated_or_jump, pool), DQ_COLOURS["SATURATED|JUMP_DET"]),
    )
    for mask, colour in layers:
        if not mask.any():
            continue
        rgba = np.zeros(mask.shape + (4,), dtype=np.float32)
        rgba[mask] = to_rgba(colour)
        ax.imshow(rgba, origin="lower", extent=extent, interpolation="nearest", transform=transform)


def _any_pool(mask: np.ndarray, pool: int) -> np.ndarray:
    if pool == 1:
        return mask
    ny, nx = mask.shape
    padded = np.zeros((-(-ny // pool) * pool, -(-nx // pool) * pool), dtype=bool)
    padded[:ny, :nx] = mask
    return padded.reshape(padded.shape[0] // pool, pool, padded.shape[1] // pool, pool).any(axis=(1, 3))


def _dq_legend(ax, counts: dict[str, int]) -> None:
    """Legend of the DQ layers below ``ax`` (an axes, or a figure for a grid of windows)."""
    handles = [
        Patch(facecolor=DQ_COLOURS[name], label=f"{name.replace('|', ' / ')}: {count} px")
        for name, count in counts.items()
    ]
    if isinstance(ax, Figure):
        ax.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False, fontsize="small")
        return
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncols=2, frameon=False, fontsize="small"
    )


def _draw_detector_frame(ax, placement: DetectorPlacement, transform) -> None:
    left, right, bottom, top = placement.detector_extent_arcsec
    ax.add_patch(
        Rectangle((left, bottom), right - left, top - bottom, fill=False, edgecolor="#888888", linewidth=0.8,
                  transform=transform)
    )  # fmt: skip
    inset = 0.03 * (right - left)
    ax.text(
        left + inset, top - inset, placement.detector, transform=transform, ha="left", va="top", fontsize="small",
        color="black", bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5},
    )  # fmt: skip


def _rotated_corners(placement: DetectorPlacement) -> np.ndarray:
    left, right, bottom, top = placement.detector_extent_arcsec
    corners = np.array([[left, bottom], [right, bottom], [right, top], [left, top]])
    return Affine2D().rotate_deg_around(*placement.centre_arcsec, placement.rotation_deg).transform(corners)


def _caption(figure, text: str) -> None:
    figure.text(0.99, 0.01, text, ha="right", va="bottom", fontsize="x-small", color="#555555")


def _default_title(names, header: dict) -> str:
    parts = [", ".join(names)]
    for key in ("EXP_TYPE", "FILTER"):
        if header.get(key):
            parts.append(str(header[key]))
    return textwrap.fill(" | ".join(parts), width=80)


def _bunit(hdulist) -> str:
    unit = hdulist["SCI"].header.get("BUNIT") or hdulist[0].header.get("BUNIT")
    return str(unit) if unit else "(no BUNIT)"


def _catalog_pixels(catalog, sci_header, i2d_path):
    """0-based mosaic pixel positions (x, y) of the catalog sources, as float arrays."""
    if isinstance(catalog, str | os.PathLike):
        catalog_path = Path(catalog)
        if not catalog_path.is_file():
            raise InputFileError(catalog_path, "file not found")
        try:
            table = Table.read(catalog_path, format="ascii.ecsv")
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InputFileError(catalog_path, f"not a readable ECSV catalog ({' '.join(str(err).split())})") from None
    else:
        catalog_path, table = "catalog table", catalog
    columns = set(table.colnames)
    if {"xcentroid", "ycentroid"} <= columns:
        return _float_column(table["xcentroid"]), _float_column(table["ycentroid"])
    if "sky_centroid" in columns:
        coords = table["sky_centroid"]
    elif {"ra", "dec"} <= columns:
        coords = SkyCoord(_float_column(table["ra"], u.deg), _float_column(table["dec"], u.deg), unit="deg")
    else:
        raise InputFileError(catalog_path, "needs xcentroid/ycentroid, sky_centroid or ra/dec columns")
    wcs = _celestial_wcs(sci_header, i2d_path)
    x, y = wcs.world_to_pixel(coords)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _float_column(column, unit=None) -> np.ndarray:
    """Column values as floats (NaN where masked), converted to ``unit`` when the column has a unit."""
    if unit is not None and getattr(column, "unit", None) is not None:
        values = np.array(u.Quantity(column).to_value(unit), dtype=np.float64)
    else:
        values = np.array(getattr(column, "value", column), dtype=np.float64)
    if hasattr(column, "mask"):
        values[np.ma.getmaskarray(column)] = np.nan
    return values


def _optional_celestial_wcs(sci_header) -> WCS | None:
    """The celestial part of the header's FITS WCS; None when it has none (the preview keeps pixel axes)."""
    try:
        wcs = WCS(sci_header, fix=False)
    except (ValueError, KeyError, MemoryError):
        return None
    return wcs.celestial if wcs.has_celestial else None


def compass_directions(wcs: WCS, shape_xy) -> dict[str, np.ndarray]:
    """Unit vectors, in pixel (x, y), towards north and east at the centre of an image.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        Celestial WCS of the image.
    shape_xy : tuple of int
        (nx, ny) of the image.

    Returns
    -------
    dict
        ``{"N": array([dx, dy]), "E": array([dx, dy])}``, each of unit length.
    """
    centre = np.array([(shape_xy[0] - 1) / 2, (shape_xy[1] - 1) / 2])
    sky = wcs.pixel_to_world(*centre)
    step = 1.0 * u.arcsec
    directions = {}
    for name, position_angle in (("N", 0.0 * u.deg), ("E", 90.0 * u.deg)):
        moved = sky.directional_offset_by(position_angle, step)
        vector = np.array(wcs.world_to_pixel(moved), dtype=np.float64) - centre
        directions[name] = vector / np.hypot(*vector)
    return directions


def _draw_compass(ax, wcs: WCS, shape_xy) -> None:
    """N and E arrows in the lower-left corner, each a tenth of the image's smaller side long."""
    length = 0.1 * min(shape_xy)
    tail = np.array([0.15 * shape_xy[0], 0.15 * shape_xy[1]])
    for name, direction in compass_directions(wcs, shape_xy).items():
        head = tail + length * direction
        ax.annotate(
            "", xy=tuple(head), xytext=tuple(tail), xycoords="data", textcoords="data",
            arrowprops={"arrowstyle": "->", "color": COMPASS_COLOUR, "linewidth": 1.2},
        )  # fmt: skip
        label = tail + 1.3 * length * direction
        ax.text(*label, name, color=COMPASS_COLOUR, ha="center", va="center", fontsize="small", fontweight="bold")


def _celestial_wcs(sci_header, i2d_path) -> WCS:
    try:
        wcs = WCS(sci_header, fix=False)
    except (ValueError, KeyError, MemoryError) as err:
        raise InputFileError(i2d_path, f"SCI header has no usable FITS WCS ({' '.join(str(err).split())})") from None
    if not wcs.has_celestial:
        raise InputFileError(i2d_path, "SCI header has no celestial FITS WCS to place catalog sky positions")
    return wcs.celestial


def _save(figure: Figure, output_png) -> Path:
    output_png = Path(output_png)
    with atomic_output(output_png) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)
    return output_png
