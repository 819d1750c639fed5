"""Streaming stage 1: every detector correction and the ramp fit in one pass over blocks of rows."""

from .stage1 import Stage1Calibration, Stage1Options, Stage1Result, run_stage1

__all__ = ["Stage1Calibration", "Stage1Options", "Stage1Result", "run_stage1"]
