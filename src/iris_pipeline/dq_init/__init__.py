"""Data-quality initialisation: the bad-pixel mask becomes the pixel DQ of the ramp."""

from .dq_init_step import DQInitStep, DQInitUnit

__all__ = ["DQInitStep", "DQInitUnit"]
