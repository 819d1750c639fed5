"""Background (sky) subtraction for imager exposures."""

from .background import BackgroundEstimate, combine_sky_frames, self_background, sky_frame_background, source_mask
from .background_step import BackgroundStep

__all__ = [
    "BackgroundEstimate",
    "BackgroundStep",
    "combine_sky_frames",
    "self_background",
    "sky_frame_background",
    "source_mask",
]
