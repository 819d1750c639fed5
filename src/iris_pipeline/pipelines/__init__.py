"""Pipelines: each is the order of its steps and nothing more."""

from .detector1 import Detector1Pipeline
from .image2 import ProcessImagerL2Pipeline

__all__ = ["Detector1Pipeline", "ProcessImagerL2Pipeline"]
