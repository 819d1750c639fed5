"""Pipelines: each is the order of its steps and nothing more."""

from .detector1 import Detector1Pipeline

__all__ = ["Detector1Pipeline"]
