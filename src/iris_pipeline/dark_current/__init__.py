"""Dark-current subtraction from the DARK reference file (a dark rate in DN/s)."""

from .dark_current import prepare_dark, subtract_dark
from .dark_current_step import DarkCurrentStep, DarkCurrentUnit

__all__ = ["DarkCurrentStep", "DarkCurrentUnit", "prepare_dark", "subtract_dark"]
