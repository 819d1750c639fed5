"""Data-quality initialisation: the bad-pixel mask becomes the pixel DQ of the ramp."""

from .dq_init import initialize_dq
from .dq_init_step import DQInitStep

__all__ = ["DQInitStep", "initialize_dq"]
