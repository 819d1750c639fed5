"""stpipe integration: the package's base Step and Pipeline, which run with no CRDS and no network."""

from .base import IrisPipeline, IrisStep

__all__ = ["IrisPipeline", "IrisStep"]
