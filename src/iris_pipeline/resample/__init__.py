"""Drizzle resampling onto distortion-free TAN grids (stage 3 mosaics; optional in stage 2)."""

from .drizzle import DEFAULT_GOOD_BITS, DrizzleInput, DrizzleResult, drizzle_images, pixel_map
from .grid import TanGrid, footprint_points, mosaic_grid, pixel_scale_arcsec, sky_to_tangent_plane
from .resample_step import ResampleStep, make_mosaic_model

__all__ = [
    "DEFAULT_GOOD_BITS",
    "DrizzleInput",
    "DrizzleResult",
    "ResampleStep",
    "TanGrid",
    "drizzle_images",
    "footprint_points",
    "make_mosaic_model",
    "mosaic_grid",
    "pixel_map",
    "pixel_scale_arcsec",
    "sky_to_tangent_plane",
]
