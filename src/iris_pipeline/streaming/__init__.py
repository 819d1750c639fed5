"""Stage 1 as units: every detector correction prepared once per exposure, applied block by block."""

from .stage1 import ExposureContext, Stage1Result, Stage1Unit, run_units

__all__ = ["ExposureContext", "Stage1Result", "Stage1Unit", "run_units"]
