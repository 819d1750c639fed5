"""Reference-pixel correction: per-read bias drifts measured on the light-insensitive border."""

from .reference_pixels import (
    ReferenceOffsets,
    apply_reference_offsets,
    measure_reference_offsets,
    subtract_reference_pixels,
)
from .refpix_step import RefPixStep

__all__ = [
    "RefPixStep",
    "ReferenceOffsets",
    "apply_reference_offsets",
    "measure_reference_offsets",
    "subtract_reference_pixels",
]
