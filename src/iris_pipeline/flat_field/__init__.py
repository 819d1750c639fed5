"""Pixel flat-field correction."""

from .flat_field import apply_flat
from .flat_field_step import FlatFieldStep

__all__ = ["FlatFieldStep", "apply_flat"]
