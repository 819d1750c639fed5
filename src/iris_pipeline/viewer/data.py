"""The viewer's data logic, without a browser or a server: products, views, stretches, regions, spectra.

Everything the page shows is computed here from the FITS files, so that it can be tested with numpy
alone. The browser receives only what it draws: the visible region of an image sampled at screen
resolution (`ImageCanvas.render`), already stretched and coloured (`colourize`), a spectrum, a
table row. A 4096 x 4096 detector is never sent whole.

Coordinates: an `ImageCanvas` places each detector array in one pixel grid ("canvas pixels", the
detector pixel scale) at its focal-plane position, gaps included; array pixel ``(ix, iy)`` of a
tile with offset ``(x0, y0)`` has its centre at canvas ``(x0 + ix, y0 + iy)``, edges at +-0.5.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from astropy.io import fits
from astropy.visualization import AsinhStretch, AsymmetricPercentileInterval, ZScaleInterval
from astropy.wcs import WCS
from matplotlib import colormaps

from .. import dqflags
from ..exceptions import InputFileError
from ..instruments import INSTRUMENTS
from ..quicklook.arrays import lit_pixels, white_light_image
from ..quicklook.files import extension_data, open_product

__all__ = [
    "COLOUR_MAPS",
    "STRETCHES",
    "CubeProduct",
    "ImageCanvas",
    "NightLog",
    "RegionStats",
    "Tile",
    "colourize",
    "display_limits",
    "exposure_siblings",
    "header_report",
    "limit_sample",
    "oh_lines_um",
    "open_canvas",
    "pixel_range",
    "quick_fwhm",
    "region_stats",
]

STRETCHES = ("zscale", "asinh", "minmax", "99.5%", "99%", "95%")
"""Display stretches: IRAF zscale, asinh between the 1st and 99.99th percentiles, the full range, and
linear between symmetric percentiles (e.g. ``99%``: the 0.5th to the 99.5th)."""

COLOUR_MAPS = ("gray", "viridis", "inferno", "magma", "cividis")
NO_DATA_RGBA = (31, 58, 95, 255)
DQ_OVERLAY_RGBA = {"DO_NOT_USE": (255, 42, 42, 255), "SATURATED|JUMP_DET": (0, 217, 255, 255)}
_DO_NOT_USE = dqflags.PIXEL["DO_NOT_USE"]
_SATURATED_OR_JUMP = dqflags.PIXEL["SATURATED"] | dqflags.PIXEL["JUMP_DET"]
_LIMIT_SAMPLES = 200_000
_FWHM_BOX_PIX = 11


# ---------------------------------------------------------------------------------------------
# images: tiles in a canvas, rendered at screen resolution


@dataclass
class Tile:
    """One 2-D array placed in the canvas.

    Attributes
    ----------
    name : str
        Label (detector name, or the file name for a product drawn alone).
    path : pathlib.Path
        The file it comes from.
    sci : np.ndarray
        (ny, nx) values (a memory map where the file allows).
    dq : np.ndarray or None
        uint32 DQ flags, same shape.
    x0, y0 : int
        Canvas position of array pixel (0, 0).
    wcs : astropy.wcs.WCS or None
        Celestial FITS WCS of the array (0-based pixels), when the header has one.
    bunit : str
    """

    name: str
    path: Path
    sci: np.ndarray
    dq: np.ndarray | None
    x0: int
    y0: int
    wcs: WCS | None
    bunit: str
    hdulist: fits.HDUList | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.sci.shape


@dataclass
class Rendered:
    """The visible region sampled on a grid of at most the screen's pixels.

    ``values`` (float32, NaN where no tile or no data) and ``dq`` (uint32) have shape (h, w); the
    grid covers canvas ``x`` to ``x + dw`` and ``y`` to ``y + dh`` (pixel edges).
    """

    values: np.ndarray
    dq: np.ndarray
    x: float
    y: float
    dw: float
    dh: float


@dataclass
class ImageCanvas:
    """Arrays of one exposure (or one product) in one pixel grid; see the module docstring."""

    tiles: list[Tile]
    _limits: dict = field(default_factory=dict, repr=False)

    def close(self) -> None:
        """Close the files (memory maps) of the tiles."""
        for tile in self.tiles:
            if tile.hdulist is not None:
                tile.hdulist.close()

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(xmin, xmax, ymin, ymax) in canvas pixels, pixel edges included."""
        return (
            min(t.x0 for t in self.tiles) - 0.5,
            max(t.x0 + t.shape[1] for t in self.tiles) - 0.5,
            min(t.y0 for t in self.tiles) - 0.5,
            max(t.y0 + t.shape[0] for t in self.tiles) - 0.5,
        )

    @property
    def lit_only(self) -> bool:
        """IFS detector frames: display limits from the lit traces."""
        return any(_is_ifs_detector(t.path) for t in self.tiles)

    def render(self, x_range, y_range, width_px: int, height_px: int) -> Rendered:
        """Sample the canvas region ``x_range`` x ``y_range`` (edges, canvas pixels) for display.

        The grid has at most ``width_px`` x ``height_px`` cells and never more than one cell per
        data pixel; each cell takes the pixel under its centre (nearest neighbour), read from the
        arrays row by row, so only the visible rows of a memory map are read.
        """
        xmin, xmax = sorted(float(v) for v in x_range)
        ymin, ymax = sorted(float(v) for v in y_range)
        width = max(1, min(int(width_px), math.ceil(xmax - xmin)))
        height = max(1, min(int(height_px), math.ceil(ymax - ymin)))
        centres_x = xmin + (np.arange(width) + 0.5) * (xmax - xmin) / width
        centres_y = ymin + (np.arange(height) + 0.5) * (ymax - ymin) / height
        columns = np.floor(centres_x + 0.5).astype(np.int64)
        rows = np.floor(centres_y + 0.5).astype(np.int64)
        values = np.full((height, width), np.nan, dtype=np.float32)
        dq = np.zeros((height, width), dtype=np.uint32)
        for tile in self.tiles:
            ny, nx = tile.shape
            ix, iy = columns - tile.x0, rows - tile.y0
            inside_x = np.nonzero((ix >= 0) & (ix < nx))[0]
            inside_y = np.nonzero((iy >= 0) & (iy < ny))[0]
            if inside_x.size == 0 or inside_y.size == 0:
                continue
            # the visible rows, cut to the visible columns, then the columns under the cells
            first, last = int(ix[inside_x[0]]), int(ix[inside_x[-1]])
            key = (iy[inside_y], slice(first, last + 1))
            picked = ix[inside_x] - first
            values[np.ix_(inside_y, inside_x)] = np.asarray(tile.sci[key], dtype=np.float32)[:, picked]
            if tile.dq is not None:
                dq[np.ix_(inside_y, inside_x)] = np.asarray(tile.dq[key], dtype=np.uint32)[:, picked]
        return Rendered(values, dq, xmin, ymin, xmax - xmin, ymax - ymin)

    def limits(self, stretch: str) -> tuple[float, float]:
        """Display limits of the whole canvas for ``stretch`` (cached: panning does not rescale).

        Computed on `limit_sample` of the tiles, except ``minmax``, whose limits are single pixels
        (a star's peak, a hot pixel) that a sample misses: its maximum, and its minimum unless the
        limits come from the lit pixels, are those of every pixel (`pixel_range`).
        """
        if stretch not in self._limits:
            arrays = [tile.sci for tile in self.tiles]
            vmin, vmax = display_limits(limit_sample(arrays), stretch, lit_only=self.lit_only)
            extremes = pixel_range(arrays) if stretch == "minmax" else None
            if extremes is not None and extremes[1] > extremes[0]:
                vmin, vmax = (vmin if self.lit_only else extremes[0]), extremes[1]
            self._limits[stretch] = (vmin, vmax)
        return self._limits[stretch]

    def locate(self, x: float, y: float) -> tuple[Tile, int, int] | None:
        """(tile, ix, iy) of the array pixel under canvas position (x, y); None over a gap."""
        for tile in self.tiles:
            ix, iy = math.floor(x + 0.5) - tile.x0, math.floor(y + 0.5) - tile.y0
            if 0 <= ix < tile.shape[1] and 0 <= iy < tile.shape[0]:
                return tile, ix, iy
        return None

    def pixel_info(self, x: float, y: float) -> dict | None:
        """What lies under canvas (x, y): tile name, array pixel, value, DQ, and RA/Dec (deg) from the WCS."""
        found = self.locate(x, y)
        if found is None:
            return None
        tile, ix, iy = found
        info = {"tile": tile.name, "x": ix, "y": iy, "value": float(tile.sci[iy, ix]), "bunit": tile.bunit}
        info["dq"] = int(tile.dq[iy, ix]) if tile.dq is not None else 0
        if tile.wcs is not None:
            ra, dec = tile.wcs.pixel_to_world_values(ix, iy)
            info["ra_deg"], info["dec_deg"] = float(ra), float(dec)
        return info


def limit_sample(arrays, n_samples: int = _LIMIT_SAMPLES) -> np.ndarray:
    """About ``n_samples`` values spread evenly over 2-D ``arrays``: every k-th pixel of every k-th row.

    One stride ``k`` for all arrays, so each contributes in proportion to its size; of a memory map
    only every k-th row is read (a 4096^2 detector of four, 200 000 samples: every 18th row). The
    result is float32 and may hold NaN. Display limits from it agree with those from every pixel
    within 1 % of the range for the ``asinh``, ``99%`` and ``95%`` stretches on a star field
    (``tests/test_viewer_data.py``); ``zscale`` is itself a statistic of 1000 of these samples.
    """
    arrays = list(arrays)
    step = max(1, int(math.sqrt(sum(array.size for array in arrays) / n_samples)))
    return np.concatenate([np.asarray(array[::step, ::step], dtype=np.float32).ravel() for array in arrays])


def pixel_range(arrays, rows: int = 256) -> tuple[float, float] | None:
    """(smallest, largest) finite value of every pixel of 2-D ``arrays``; None when none is finite.

    Read ``rows`` rows at a time (memory maps are not loaded whole): about 50 ms for four 4096^2
    float32 detectors in the page cache.
    """
    low, high = math.inf, -math.inf
    for array in arrays:
        for start in range(0, array.shape[0], rows):
            block = np.asarray(array[start : start + rows])
            block_low, block_high = np.fmin.reduce(block, axis=None), np.fmax.reduce(block, axis=None)  # skip NaN
            if not (np.isfinite(block_low) and np.isfinite(block_high)):  # all NaN, or infinities
                block = block[np.isfinite(block)]
                if block.size == 0:
                    continue
                block_low, block_high = block.min(), block.max()
            low, high = min(low, float(block_low)), max(high, float(block_high))
    return (low, high) if low <= high else None


def open_canvas(paths) -> ImageCanvas:
    """An `ImageCanvas` of 2-D products (or raw ramps: last read minus first) of one exposure.

    Imager detectors of one instrument are placed at their focal-plane positions (gaps included);
    anything else (one product, a mosaic, an IFS frame) is drawn alone at the origin.

    Raises
    ------
    InputFileError
        A file is missing, unreadable, or has no 2-D (or 4-D raw) SCI.
    """
    paths = [Path(p) for p in ([paths] if isinstance(paths, str | Path) else paths)]
    tiles = [_read_tile(path) for path in paths]
    offsets = [_focal_plane_offset_pix(path, tile.shape) for path, tile in zip(paths, tiles, strict=True)]
    if len(tiles) > 1 and all(offset is not None for offset in offsets):
        for tile, (x0, y0) in zip(tiles, offsets, strict=True):
            tile.x0, tile.y0 = x0, y0
    else:
        for tile in tiles[1:]:
            tile.hdulist.close()
        tiles = tiles[:1]
    return ImageCanvas(tiles)


def _read_tile(path: Path) -> Tile:
    hdulist = _open(path)
    try:
        if "SCI" in hdulist and hdulist["SCI"].header.get("NAXIS") == 4:
            # a raw ramp: the signal of the first integration, last read minus first (two reads only)
            ramp = _image(hdulist, path, "SCI", 4)
            sci = np.asarray(ramp[0, -1], dtype=np.float32) - np.asarray(ramp[0, 0], dtype=np.float32)
            dq = _image(hdulist, path, "PIXELDQ", 2, required=False)
        else:
            sci = _image(hdulist, path, "SCI", 2)
            dq = _image(hdulist, path, "DQ", 2, required=False)
        if dq is not None and dq.shape != sci.shape:
            raise InputFileError(path, f"DQ shape {dq.shape} differs from SCI shape {sci.shape}")
        header = hdulist["SCI"].header
        bunit = str(header.get("BUNIT") or hdulist[0].header.get("BUNIT") or "DN")
        name = str(hdulist[0].header.get("DETECTOR") or path.name)
        return Tile(name, path, sci, dq, 0, 0, _celestial_wcs(header), bunit, hdulist)
    except (OSError, InputFileError) as err:
        hdulist.close()
        if isinstance(err, InputFileError):
            raise
        raise InputFileError(path, f"cannot be read ({' '.join(str(err).split())})") from None


class ScaledRows:
    """Lazy view of a FITS image stored scaled (``BZERO``/``BSCALE``, e.g. uint32 DQ as int32).

    astropy converts such an array whole on first access (a 64 MB pass per 4096^2 DQ); this reads
    the stored values of the requested rows from the memory map and scales only those.
    """

    def __init__(self, raw: np.ndarray, bzero: float, bscale: float, dtype):
        self.raw, self.bzero, self.bscale, self.dtype = raw, bzero, bscale, np.dtype(dtype)

    shape = property(lambda self: self.raw.shape)
    ndim = property(lambda self: self.raw.ndim)
    size = property(lambda self: self.raw.size)

    def __getitem__(self, key):
        stored = np.asarray(self.raw[key])
        if self.dtype.kind in "iu":
            return (stored.astype(np.int64) * int(self.bscale) + int(self.bzero)).astype(self.dtype)
        return (stored * self.bscale + self.bzero).astype(self.dtype)


def _image(hdulist, path, name, ndim, required=True):
    """Extension data like `extension_data`, scaled ones wrapped in `ScaledRows` (the file is opened unscaled)."""
    data = extension_data(hdulist, path, name, ndim, required)
    if data is None:
        return None
    header = hdulist[name].header
    bzero, bscale = header.get("BZERO", 0), header.get("BSCALE", 1)
    if bzero == 0 and bscale == 1:
        return data
    if bscale == 1 and float(bzero).is_integer() and data.dtype.kind == "i":
        dtype = np.uint32 if data.dtype.itemsize == 4 and bzero == 2**31 else np.int64
        dtype = np.uint16 if data.dtype.itemsize == 2 and bzero == 2**15 else dtype
    else:
        dtype = np.float32
    return ScaledRows(data, bzero, bscale, dtype)


def _open(path: Path) -> fits.HDUList:
    if not path.is_file():
        raise InputFileError(path, "file not found")
    try:
        return fits.open(path, mode="readonly", do_not_scale_image_data=True)
    except (OSError, ValueError) as err:
        raise InputFileError(path, f"not a readable FITS file ({' '.join(str(err).split())})") from None


def _celestial_wcs(header) -> WCS | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wcs = WCS(header, fix=False)
    except (ValueError, KeyError, MemoryError):
        return None
    return wcs.celestial if wcs.has_celestial else None


def _primary(path) -> fits.Header:
    return fits.getheader(path, 0)


def _is_ifs_detector(path) -> bool:
    header = _primary(path)
    instrument = INSTRUMENTS.get(str(header.get("INSTRUME", "")).upper())
    detector = instrument.detectors.get(str(header.get("DETECTOR", "")).upper()) if instrument else None
    return detector is not None and detector.kind == "ifs"


def _focal_plane_offset_pix(path: Path, shape) -> tuple[int, int] | None:
    """Canvas position of array pixel (0, 0) of an imager detector (window), in detector pixels."""
    if path.name.endswith("_i2d.fits"):
        return None
    header = _primary(path)
    instrument = INSTRUMENTS.get(str(header.get("INSTRUME", "")).upper())
    detector = instrument.detectors.get(str(header.get("DETECTOR", "")).upper()) if instrument else None
    if detector is None or detector.kind != "imager" or detector.focal_plane_offset_arcsec is None:
        return None
    ny, nx = detector.shape
    ox, oy = (offset / detector.pixel_scale_arcsec for offset in detector.focal_plane_offset_arcsec)
    return (
        round(ox - (nx - 1) / 2) + int(header.get("SUBSTRT1", 1)) - 1,
        round(oy - (ny - 1) / 2) + int(header.get("SUBSTRT2", 1)) - 1,
    )


def exposure_siblings(path) -> list[Path]:
    """The files of the same exposure and product type on the other detectors (and ``path``), sorted.

    Files of one exposure differ only by the detector name in their file name (``..._img2_rate.fits``).
    """
    path = Path(path)
    detector = str(_primary(path).get("DETECTOR", "")).lower()
    token = f"_{detector}_"
    if not detector or token not in path.name:
        return [path]
    siblings = []
    for candidate in sorted(path.parent.glob(path.name.replace(token, "_*_", 1))):
        if re.fullmatch(re.escape(path.name).replace(re.escape(token), "_[a-z0-9]+_", 1), candidate.name):
            siblings.append(candidate)
    return siblings or [path]


# ---------------------------------------------------------------------------------------------
# stretch and colour


def display_limits(values, stretch: str, lit_only: bool = False) -> tuple[float, float]:
    """(vmin, vmax) of ``stretch`` (one of `STRETCHES`) over the finite ``values``.

    ``lit_only`` computes them on the lit pixels (IFS traces; `iris_pipeline.quicklook.arrays.lit_pixels`).
    """
    if stretch not in STRETCHES:
        raise ValueError(f"unknown stretch {stretch!r}; use one of {', '.join(STRETCHES)}")
    values = np.asarray(values, dtype=np.float32).ravel()
    values = values[np.isfinite(values)]
    if lit_only:
        values = lit_pixels(values)
    if values.size == 0:
        return 0.0, 1.0
    if stretch == "zscale":
        vmin, vmax = ZScaleInterval().get_limits(values)
    elif stretch == "asinh":
        vmin, vmax = AsymmetricPercentileInterval(1.0, 99.99).get_limits(values)
    elif stretch == "minmax":
        vmin, vmax = float(values.min()), float(values.max())
    else:
        kept = float(stretch.rstrip("%"))
        vmin, vmax = AsymmetricPercentileInterval((100 - kept) / 2, 100 - (100 - kept) / 2).get_limits(values)
    if not vmax > vmin:
        vmin, vmax = vmin - 0.5, vmin + 0.5
    return float(vmin), float(vmax)


def colourize(values, limits, stretch: str = "zscale", cmap: str = "gray", dq=None, show_dq=False) -> np.ndarray:
    """RGBA image (uint32, one packed little-endian RGBA value per pixel, as Bokeh's ``image_rgba`` takes).

    Values are scaled linearly between ``limits`` (through asinh for the ``asinh`` stretch), clipped
    and looked up in the matplotlib colour map ``cmap``; NaN shows as dark blue. With ``show_dq``
    pixels flagged ``DO_NOT_USE`` are red and ``SATURATED``/``JUMP_DET`` cyan.
    """
    if cmap not in COLOUR_MAPS:
        raise ValueError(f"unknown colour map {cmap!r}; use one of {', '.join(COLOUR_MAPS)}")
    values = np.asarray(values, dtype=np.float32)
    vmin, vmax = limits
    scaled = np.clip((values - vmin) / (vmax - vmin), 0.0, 1.0)
    if stretch == "asinh":
        scaled = AsinhStretch()(scaled, clip=True)
    lut = (colormaps[cmap](np.linspace(0.0, 1.0, 256)) * 255).round().astype(np.uint8)
    index = np.rint(np.nan_to_num(scaled * 255, nan=0.0)).astype(np.uint8)
    rgba = lut[index]
    rgba[~np.isfinite(values)] = NO_DATA_RGBA
    if show_dq and dq is not None:
        dq = np.asarray(dq, dtype=np.uint32)
        rgba[(dq & _DO_NOT_USE) != 0] = DQ_OVERLAY_RGBA["DO_NOT_USE"]
        rgba[(dq & _SATURATED_OR_JUMP) != 0] = DQ_OVERLAY_RGBA["SATURATED|JUMP_DET"]
    return np.ascontiguousarray(rgba).view(np.uint32).reshape(values.shape)


# ---------------------------------------------------------------------------------------------
# regions


@dataclass(frozen=True)
class RegionStats:
    """Statistics of the good pixels (finite, not ``DO_NOT_USE``) of a region of one tile.

    ``rows``/``columns`` are the array slices (of ``tile``) that bound the region; ``npix`` the
    number of good pixels used; ``fwhm_pix`` the quick FWHM of the brightest source (None when the
    fit fails or the region is too small).
    """

    tile: str
    columns: tuple[int, int]
    rows: tuple[int, int]
    npix: int
    mean: float
    median: float
    std: float
    sum: float
    peak: float
    fwhm_pix: float | None


def region_stats(canvas: ImageCanvas, shape: str, params) -> RegionStats | None:
    """Statistics of a box ``(x0, x1, y0, y1)`` or circle ``(xc, yc, r)`` in canvas pixels.

    A pixel belongs to the region when its centre does. The region is cut to the tile under its
    centre; None when that is a gap or no good pixel is inside.
    """
    if shape == "box":
        x0, x1 = sorted(params[:2])
        y0, y1 = sorted(params[2:])
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    elif shape == "circle":
        xc, yc, radius = params
        x0, x1, y0, y1 = xc - radius, xc + radius, yc - radius, yc + radius
        centre = (xc, yc)
    else:
        raise ValueError(f"unknown region shape {shape!r}; use 'box' or 'circle'")
    found = canvas.locate(*centre)
    if found is None:
        return None
    tile = found[0]
    ny, nx = tile.shape
    cx0, cx1 = max(0, math.ceil(x0 - tile.x0)), min(nx, math.floor(x1 - tile.x0) + 1)
    cy0, cy1 = max(0, math.ceil(y0 - tile.y0)), min(ny, math.floor(y1 - tile.y0) + 1)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    values = np.asarray(tile.sci[cy0:cy1, cx0:cx1], dtype=np.float64)
    good = np.isfinite(values)
    if tile.dq is not None:
        good &= (np.asarray(tile.dq[cy0:cy1, cx0:cx1]) & _DO_NOT_USE) == 0
    if shape == "circle":
        yy, xx = np.mgrid[cy0:cy1, cx0:cx1]
        good &= (xx + tile.x0 - xc) ** 2 + (yy + tile.y0 - yc) ** 2 <= radius**2
    if not good.any():
        return None
    used = values[good]
    return RegionStats(
        tile=tile.name, columns=(cx0, cx1), rows=(cy0, cy1), npix=int(used.size), mean=float(used.mean()),
        median=float(np.median(used)), std=float(used.std()), sum=float(used.sum()), peak=float(used.max()),
        fwhm_pix=quick_fwhm(np.where(good, values, np.nan)),
    )  # fmt: skip


def quick_fwhm(image) -> float | None:
    """FWHM (pixels) of the brightest source of ``image``: a circular Gaussian fit around its peak.

    The region's median is taken as background; the fit (`photutils.psf.fit_fwhm`) uses an 11 x 11
    box (smaller when the image is). NaN pixels are masked. None when the image is smaller than
    5 x 5, has no positive peak, or the fit does not converge.
    """
    image = np.asarray(image, dtype=np.float64)
    if min(image.shape) < 5 or not np.isfinite(image).any():
        return None
    from photutils.psf import fit_fwhm

    data = image - np.nanmedian(image)
    bad = ~np.isfinite(data)
    data[bad] = 0.0
    peak_y, peak_x = np.unravel_index(np.argmax(np.where(bad, -np.inf, data)), data.shape)
    if not data[peak_y, peak_x] > 0:
        return None
    box = min(_FWHM_BOX_PIX, *(side - 1 + side % 2 for side in data.shape))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fwhm = fit_fwhm(data, xypos=(peak_x, peak_y), fit_shape=box, fwhm=3.0, mask=bad)
    except (Warning, ValueError, RuntimeError):
        return None
    value = float(np.atleast_1d(fwhm)[0])
    return value if np.isfinite(value) and 0 < value < 2 * box else None


# ---------------------------------------------------------------------------------------------
# cubes


@dataclass
class CubeProduct:
    """An IFS cube: ``sci``, ``err`` (or None), ``dq`` (or None), all (nwave, ny, nx); ``wave_um`` (nwave)."""

    path: Path
    sci: np.ndarray
    err: np.ndarray | None
    dq: np.ndarray | None
    wave_um: np.ndarray
    bunit: str
    white: np.ndarray

    @classmethod
    def open(cls, path) -> CubeProduct:
        path = Path(path)
        if not path.is_file():
            raise InputFileError(path, "file not found")
        with open_product(path) as hdulist:
            return cls._read(path, hdulist)

    @classmethod
    def _read(cls, path, hdulist) -> CubeProduct:
        sci = extension_data(hdulist, path, "SCI", 3)
        wave_um = np.asarray(extension_data(hdulist, path, "WAVELENGTH", 1), dtype=np.float64)
        if wave_um.size != sci.shape[0]:
            raise InputFileError(path, f"WAVELENGTH has {wave_um.size} values for {sci.shape[0]} cube planes")
        err = extension_data(hdulist, path, "ERR", 3, required=False)
        dq = extension_data(hdulist, path, "DQ", 3, required=False)
        white = extension_data(hdulist, path, "WHITE", 2, required=False)
        white = white_light_image(sci, dq) if white is None else np.asarray(white, dtype=np.float32)
        bunit = str(hdulist["SCI"].header.get("BUNIT") or hdulist[0].header.get("BUNIT") or "")
        # cubes are small (tens of MB): read into memory so that the file can be closed
        return cls(path, np.array(sci), None if err is None else np.array(err), None if dq is None else np.array(dq),
                   wave_um, bunit, white)  # fmt: skip

    def plane(self, wavelength_um: float) -> int:
        """Index of the plane nearest ``wavelength_um``."""
        return int(np.argmin(np.abs(self.wave_um - wavelength_um)))

    def slice_image(self, index: int) -> np.ndarray:
        """Plane ``index`` (float32), NaN where ``DO_NOT_USE``."""
        image = np.array(self.sci[index], dtype=np.float32)
        if self.dq is not None:
            image[(np.asarray(self.dq[index]) & _DO_NOT_USE) != 0] = np.nan
        return image

    def spectrum(self, columns, rows) -> tuple[np.ndarray, np.ndarray | None]:
        """Mean spectrum of the spaxels ``rows[0]:rows[1]`` x ``columns[0]:columns[1]``, and its error.

        Bad values (NaN, ``DO_NOT_USE``) are left out of each plane's mean; the error is
        ``sqrt(sum err**2) / n`` over the same spaxels (None without an ERR extension). Planes with
        no good spaxel are NaN.
        """
        region = (slice(None), slice(*rows), slice(*columns))
        flux = np.asarray(self.sci[region], dtype=np.float64)
        good = np.isfinite(flux)
        if self.dq is not None:
            good &= (np.asarray(self.dq[region]) & _DO_NOT_USE) == 0
        count = good.sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(good, flux, 0.0).sum(axis=(1, 2)) / count
            error = None
            if self.err is not None:
                variance = np.where(good, np.asarray(self.err[region], dtype=np.float64) ** 2, 0.0)
                error = np.sqrt(variance.sum(axis=(1, 2))) / count
        return mean, error


def oh_lines_um(wave_range_um=None) -> np.ndarray:
    """Vacuum wavelengths (um) of the OH sky lines of ``data/ifs_lines.yaml``, optionally within a range."""
    lines = yaml.safe_load((Path(__file__).parent.parent / "data" / "ifs_lines.yaml").read_text())["oh_lines"]
    wave_um = np.array([line[0] for line in lines], dtype=np.float64)
    if wave_range_um is not None:
        wave_um = wave_um[(wave_um >= min(wave_range_um)) & (wave_um <= max(wave_range_um))]
    return wave_um


# ---------------------------------------------------------------------------------------------
# headers and provenance


def header_report(path) -> dict:
    """Headers of every extension and the provenance (steps run, reference files) of a product.

    Returns
    -------
    dict
        ``headers``: ``[(extension name, header text)]``; ``steps``: ``{S_* keyword: status}``;
        ``references``: ``{R_* keyword: (file, H_* checksum or None)}``.
    """
    with open_product(path) as hdulist:
        headers = [(hdu.name or "PRIMARY", hdu.header.tostring(sep="\n", endcard=False).rstrip()) for hdu in hdulist]
        primary = hdulist[0].header
        steps = {key: str(primary[key]) for key in primary if key.startswith("S_")}
        references = {
            key: (str(primary[key]), None if primary.get("H_" + key[2:]) is None else str(primary["H_" + key[2:]]))
            for key in primary
            if key.startswith("R_")
        }
    return {"headers": headers, "steps": steps, "references": references}


# ---------------------------------------------------------------------------------------------
# the night: products as they appear


NIGHT_COLUMNS = ("file", "product", "status", "exp_type", "filter", "time", "background", "dq_bad", "bunit")
"""Fields of a night-log row (`NightLog.rows`)."""


@dataclass
class NightLog:
    """The FITS products under ``folder`` (searched recursively), summarised once per file version.

    Hidden files (the temporary names of products being written) are ignored; a file without an
    image ``SCI`` (a table, a corrupt file) is not listed, and read again only when it changes.
    """

    folder: Path
    _rows: dict = field(default_factory=dict, repr=False)

    def refresh(self) -> bool:
        """Scan the folder; True when a product appeared, changed or went away."""
        changed = False
        present = set()
        for path in sorted(self.folder.rglob("*.fits")):
            if any(part.startswith(".") for part in path.relative_to(self.folder).parts):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            present.add(path)
            version = (stat.st_mtime_ns, stat.st_size)
            if path in self._rows and self._rows[path][0] == version:
                continue
            try:
                row = night_row(path, self.folder)
            except InputFileError:  # not an image product (a table, a corrupt file): not listed
                row = None
            changed |= row is not None or (path in self._rows and self._rows[path][1] is not None)
            self._rows[path] = (version, row)
        for gone in set(self._rows) - present:
            changed |= self._rows.pop(gone)[1] is not None
        return changed

    def rows(self) -> list[dict]:
        """One dict per product (keys `NIGHT_COLUMNS`), in the order they were written (file time)."""
        listed = [item for item in self._rows.values() if item[1] is not None]
        return [row for _, row in sorted(listed, key=lambda item: (item[0][0], item[1]["file"]))]


def night_row(path, folder) -> dict:
    """The night-log row of one product: its type, step status, EXP_TYPE, filter, time, background, DQ.

    Headers and one pass over the DQ (counted in strips of rows); the SCI values are not read.
    """
    path = Path(path)
    with _open(path) as hdulist:
        sci = extension_data(hdulist, path, "SCI", (1, 2, 3, 4))
        dq = _image(hdulist, path, "DQ", (1, 2, 3, 4), required=False)
        if dq is None and "PIXELDQ" in hdulist:
            dq = _image(hdulist, path, "PIXELDQ", 2)
        primary, sci_header = hdulist[0].header, hdulist["SCI"].header
        do_not_use = 0
        if dq is not None:
            rows = dq.shape[0]
            for start in range(0, rows, 256):
                do_not_use += int(np.count_nonzero(np.asarray(dq[start : start + 256]) & _DO_NOT_USE))
        steps = {key: str(primary[key]) for key in primary if key.startswith("S_")}
        bkglevel = primary.get("BKGLEVEL", sci_header.get("BKGLEVEL"))
        bunit = sci_header.get("BUNIT", primary.get("BUNIT")) or ""
        del sci
    not_complete = [f"{key[2:]} {value}" for key, value in steps.items() if value != "COMPLETE"]
    status = ("; ".join(not_complete) if not_complete else "COMPLETE") if steps else "raw"
    date, time_of_day = primary.get("DATE-OBS"), primary.get("TIME-OBS")
    when = f"{date}T{time_of_day}" if date and time_of_day else str(date or "")
    return {
        "file": str(path.relative_to(folder)),
        "product": path.stem.rsplit("_", 1)[-1],
        "status": status,
        "exp_type": str(primary.get("EXP_TYPE") or ""),
        "filter": " ".join(str(v) for v in (primary.get("FILTER"), primary.get("IFSMODE")) if v),
        "time": when,
        "background": f"{bkglevel:.4g}" if isinstance(bkglevel, int | float) else "",
        "dq_bad": do_not_use,
        "bunit": str(bunit),
    }
