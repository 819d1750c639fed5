"""Reference-pixel correction: per-read bias drifts measured on the light-insensitive border."""

from .reference_pixels import subtract_reference_pixels
from .refpix_step import RefPixStep

__all__ = ["RefPixStep", "subtract_reference_pixels"]
