"""Sky matching of overlapping images (stage 3 imaging)."""

from .match import SKY_METHODS, SkyInput, SkyResult, bin_to_grid, match_sky
from .skymatch_step import SkyMatchStep

__all__ = ["SKY_METHODS", "SkyInput", "SkyMatchStep", "SkyResult", "bin_to_grid", "match_sky"]
