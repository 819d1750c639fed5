"""Pure-array algorithms of the calibration pipelines (``create_dark``, ``create_flat``,
``create_mask``): numpy in, numpy out, no I/O and no stpipe."""

from .combine import CombinedImage, sigma_clipped_combine
from .darks import channel_drift, find_hot_pixels, read_noise_from_differences, subtract_channel_drift
from .flats import find_bad_response, fit_smooth_surface, normalize_flat
from .masks import MASK_FLAGS, combine_masks, reference_pixel_flags

__all__ = [
    "MASK_FLAGS",
    "CombinedImage",
    "channel_drift",
    "combine_masks",
    "find_bad_response",
    "find_hot_pixels",
    "fit_smooth_surface",
    "normalize_flat",
    "read_noise_from_differences",
    "reference_pixel_flags",
    "sigma_clipped_combine",
    "subtract_channel_drift",
]
