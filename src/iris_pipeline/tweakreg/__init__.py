"""Relative alignment of exposures (stage 3 imaging): source catalogs and WCS corrections."""

from .align import (
    AlignmentError,
    ExposureSources,
    SkyCorrection,
    apply_sky_correction,
    detect_point_sources,
    relative_align,
)
from .tweakreg_step import TweakRegStep

__all__ = [
    "AlignmentError",
    "ExposureSources",
    "SkyCorrection",
    "TweakRegStep",
    "apply_sky_correction",
    "detect_point_sources",
    "relative_align",
]
