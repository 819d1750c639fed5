"""Imager world coordinates: gWCS from the distortion reference and the pointing keywords."""

from .assign_wcs_step import AssignWcsStep
from .imager_wcs import DistortionPolynomial, ImagerPointing, imager_wcs, pixel_area_ratio, sip_header_cards

__all__ = [
    "AssignWcsStep",
    "DistortionPolynomial",
    "ImagerPointing",
    "imager_wcs",
    "pixel_area_ratio",
    "sip_header_cards",
]
