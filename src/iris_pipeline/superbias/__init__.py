"""Superbias subtraction: the bias level of every pixel, from the SUPERBIAS reference file."""

from .superbias import prepare_superbias, subtract_superbias
from .superbias_step import SuperBiasStep, SuperBiasUnit

__all__ = ["SuperBiasStep", "SuperBiasUnit", "prepare_superbias", "subtract_superbias"]
