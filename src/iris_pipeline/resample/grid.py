"""Distortion-free TAN output grids: construction from input footprints, gwcs and FITS WCS.

All functions are pure (no I/O). Angles are degrees unless named ``_arcsec``; pixel coordinates
are 0-based array coordinates ``(x, y)`` as in gwcs, and FITS ``CRPIX`` is 1-based.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psutil
from astropy import coordinates
from astropy import units as u
from astropy.modeling import models
from gwcs import WCS
from gwcs import coordinate_frames as cf

from ..exceptions import IrisPipelineError

__all__ = [
    "OutputGridTooLargeError",
    "TanGrid",
    "check_grid_memory",
    "footprint_points",
    "grid_memory_bytes",
    "mosaic_grid",
    "pixel_scale_arcsec",
    "sky_to_tangent_plane",
    "tangent_plane_to_sky",
]

EDGE_SAMPLES = 16


def sky_to_tangent_plane(ra_deg, dec_deg, crval_deg: Sequence[float]):
    """Gnomonic (TAN) standard coordinates ``(xi, eta)`` in degrees about ``crval_deg``.

    ``xi`` grows to the East and ``eta`` to the North.
    """
    transform = models.RotateCelestial2Native(crval_deg[0], crval_deg[1], 180.0) | models.Sky2Pix_TAN()
    return transform(ra_deg, dec_deg)


def tangent_plane_to_sky(xi_deg, eta_deg, crval_deg: Sequence[float]):
    """Inverse of `sky_to_tangent_plane`: ``(ra, dec)`` in degrees, RA wrapped to [0, 360)."""
    transform = models.Pix2Sky_TAN() | models.RotateNative2Celestial(crval_deg[0], crval_deg[1], 180.0)
    ra, dec = transform(xi_deg, eta_deg)
    return np.mod(ra, 360.0), dec


@dataclass(frozen=True)
class TanGrid:
    """A north-oriented (or rotated) TAN pixel grid without distortion.

    Attributes
    ----------
    crval_deg : tuple of float
        Sky position (RA, Dec) of the reference pixel.
    crpix : tuple of float
        Reference pixel, 1-based FITS convention ``(x, y)``.
    pixel_scale_arcsec : float
        Side of an output pixel.
    rotation_deg : float
        Position angle of the grid's +y axis, degrees East of North (0: North up, East left).
    shape : tuple of int
        Array shape ``(ny, nx)``.
    """

    crval_deg: tuple[float, float]
    crpix: tuple[float, float]
    pixel_scale_arcsec: float
    rotation_deg: float
    shape: tuple[int, int]

    def cd_matrix(self) -> np.ndarray:
        """FITS CD matrix (degrees per pixel); East to the left when the rotation is 0."""
        scale = self.pixel_scale_arcsec / 3600.0
        cos, sin = math.cos(math.radians(self.rotation_deg)), math.sin(math.radians(self.rotation_deg))
        return scale * np.array([[-cos, sin], [sin, cos]])

    def to_gwcs(self) -> WCS:
        """The grid as a `gwcs.WCS` from frame ``detector`` (0-based pixels) to ``world`` (ICRS)."""
        forward = (
            models.Shift(-(self.crpix[0] - 1.0)) & models.Shift(-(self.crpix[1] - 1.0))
            | models.AffineTransformation2D(matrix=self.cd_matrix(), translation=[0.0, 0.0])
            | models.Pix2Sky_TAN()
            | models.RotateNative2Celestial(self.crval_deg[0], self.crval_deg[1], 180.0)
        )
        detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
        world = cf.CelestialFrame(reference_frame=coordinates.ICRS(), name="world", unit=(u.deg, u.deg))
        wcs = WCS([(detector, forward), (world, None)])
        ny, nx = self.shape
        wcs.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
        wcs.pixel_shape = (nx, ny)
        wcs.array_shape = (ny, nx)
        return wcs

    def fits_keywords(self) -> dict:
        """Exact FITS WCS of the grid, keyed by ``meta.wcsinfo`` attribute names."""
        cd = self.cd_matrix()
        return {
            "wcsaxes": 2,
            "ctype1": "RA---TAN",
            "ctype2": "DEC--TAN",
            "cunit1": "deg",
            "cunit2": "deg",
            "crpix1": float(self.crpix[0]),
            "crpix2": float(self.crpix[1]),
            "crval1": float(self.crval_deg[0]),
            "crval2": float(self.crval_deg[1]),
            "cd1_1": float(cd[0, 0]),
            "cd1_2": float(cd[0, 1]),
            "cd2_1": float(cd[1, 0]),
            "cd2_2": float(cd[1, 1]),
            "radesys": "ICRS",
        }

    def pixel_area_steradians(self) -> float:
        """Area of one output pixel at the reference point."""
        return (math.radians(self.pixel_scale_arcsec / 3600.0)) ** 2


def footprint_points(wcs, shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec (degrees) of points along the outer edges of an image of ``shape`` (ny, nx)."""
    ny, nx = shape
    along_x = np.linspace(-0.5, nx - 0.5, EDGE_SAMPLES)
    along_y = np.linspace(-0.5, ny - 0.5, EDGE_SAMPLES)
    x = np.concatenate([along_x, np.full(EDGE_SAMPLES, nx - 0.5), along_x[::-1], np.full(EDGE_SAMPLES, -0.5)])
    y = np.concatenate([np.full(EDGE_SAMPLES, -0.5), along_y, np.full(EDGE_SAMPLES, ny - 0.5), along_y[::-1]])
    ra, dec = wcs(x, y, with_bounding_box=False)
    return np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)


def pixel_scale_arcsec(wcs, shape: Sequence[int]) -> float:
    """Side of a square with the area of the central pixel of an image of ``shape`` (ny, nx)."""
    ny, nx = shape
    xc, yc = (nx - 1) / 2.0, (ny - 1) / 2.0
    ra, dec = wcs([xc, xc + 1.0, xc], [yc, yc, yc + 1.0], with_bounding_box=False)
    xi, eta = sky_to_tangent_plane(np.asarray(ra), np.asarray(dec), (ra[0], dec[0]))
    area_deg2 = abs((xi[1] - xi[0]) * (eta[2] - eta[0]) - (xi[2] - xi[0]) * (eta[1] - eta[0]))
    return math.sqrt(area_deg2) * 3600.0


def _mean_direction(ra_deg: np.ndarray, dec_deg: np.ndarray) -> tuple[float, float]:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    vector = np.array([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)]).sum(axis=1)
    vector /= np.linalg.norm(vector)
    return float(np.degrees(np.arctan2(vector[1], vector[0])) % 360.0), float(np.degrees(np.arcsin(vector[2])))


def mosaic_grid(
    wcs_list: Sequence,
    shapes: Sequence[Sequence[int]],
    pixel_scale_arcsec: float,
    rotation_deg: float = 0.0,
    crval_deg: Sequence[float] | None = None,
    shape: Sequence[int] | None = None,
) -> TanGrid:
    """The smallest `TanGrid` of the given scale and orientation that covers every input image.

    Parameters
    ----------
    wcs_list : sequence of gwcs.WCS
        Input WCSs (detector pixels -> ICRS degrees).
    shapes : sequence of tuple
        Array shapes ``(ny, nx)`` of the inputs.
    pixel_scale_arcsec : float
        Output pixel side.
    rotation_deg : float
        Position angle of the output +y axis (degrees East of North).
    crval_deg : sequence of float, optional
        Tangent point; default the mean direction of the inputs' footprints.
    shape : sequence of int, optional
        Output shape ``(ny, nx)`` centred on the tangent point, instead of the smallest shape
        that covers every input (to cut a region out of a sparse mosaic).
    """
    if not wcs_list:
        raise ValueError("no input images to define an output grid")
    points = [footprint_points(wcs, shape) for wcs, shape in zip(wcs_list, shapes, strict=True)]
    ra = np.concatenate([p[0] for p in points])
    dec = np.concatenate([p[1] for p in points])
    if crval_deg is None:
        crval_deg = _mean_direction(ra, dec)
    crval_deg = (float(crval_deg[0]), float(crval_deg[1]))
    if shape is not None:
        ny, nx = (int(n) for n in shape)
        return TanGrid(
            crval_deg, ((nx + 1) / 2.0, (ny + 1) / 2.0), float(pixel_scale_arcsec), float(rotation_deg), (ny, nx)
        )
    unrotated = TanGrid(crval_deg, (1.0, 1.0), pixel_scale_arcsec, rotation_deg, (1, 1))
    xi, eta = sky_to_tangent_plane(ra, dec, crval_deg)
    # Pixel offsets from the tangent point along the grid axes (inverse CD applied to standard coordinates).
    offsets = np.linalg.solve(unrotated.cd_matrix(), np.vstack([xi, eta]))
    low = np.floor(offsets.min(axis=1)) - 1.0
    high = np.ceil(offsets.max(axis=1)) + 1.0
    nx, ny = (high - low + 1).astype(int)
    crpix = (float(1.0 - low[0]), float(1.0 - low[1]))
    return TanGrid(crval_deg, crpix, float(pixel_scale_arcsec), float(rotation_deg), (int(ny), int(nx)))


ALLOWED_MEMORY_ENV = "DMODEL_ALLOWED_MEMORY"
DEFAULT_ALLOWED_MEMORY = 0.5
# Output arrays (SCI, WHT, ERR, three variances, DQ: 28 bytes), stcal's float64 variance
# accumulators and weight maps (~72 bytes), and one float32 plane per input for the outlier
# median and the context.
GRID_BYTES_PER_PIXEL = 100
GRID_BYTES_PER_PIXEL_PER_INPUT = 4


class OutputGridTooLargeError(IrisPipelineError, MemoryError):
    """The output grid would need more memory than allowed."""


def grid_memory_bytes(shape: Sequence[int], n_inputs: int) -> int:
    """Estimated peak memory of drizzling ``n_inputs`` images onto a grid of ``shape`` (ny, nx)."""
    ny, nx = (int(n) for n in shape)
    return ny * nx * (GRID_BYTES_PER_PIXEL + GRID_BYTES_PER_PIXEL_PER_INPUT * max(int(n_inputs), 1))


def check_grid_memory(grid: TanGrid, n_inputs: int, allowed_memory: float | None = None, what: str = "resample"):
    """Raise `OutputGridTooLargeError` when drizzling onto ``grid`` would exceed the allowed memory.

    Parameters
    ----------
    grid : TanGrid
        The output grid.
    n_inputs : int
        Number of input images.
    allowed_memory : float, optional
        Fraction of the available memory the grid may use (JWST's ``allowed_memory``); by default
        the ``DMODEL_ALLOWED_MEMORY`` environment variable, else 0.5.
    what : str
        The step, for the message.
    """
    if allowed_memory is None:
        text = os.environ.get(ALLOWED_MEMORY_ENV)
        try:
            allowed_memory = float(text) if text else DEFAULT_ALLOWED_MEMORY
        except ValueError:
            raise OutputGridTooLargeError(f"{ALLOWED_MEMORY_ENV}={text!r} is not a number") from None
    needed = grid_memory_bytes(grid.shape, n_inputs)
    allowed = allowed_memory * psutil.virtual_memory().available
    if needed > allowed:
        ny, nx = grid.shape
        raise OutputGridTooLargeError(
            f"{what}: the output grid of {nx} x {ny} pixels ({nx * grid.pixel_scale_arcsec:.1f}\" x "
            f"{ny * grid.pixel_scale_arcsec:.1f}\") needs ~{needed / 2**30:.1f} GiB, more than the allowed "
            f"{allowed / 2**30:.1f} GiB ({allowed_memory:g} of the available memory): are all members of the "
            f"same field? (raise allowed_memory or {ALLOWED_MEMORY_ENV} to go ahead)"
        )
