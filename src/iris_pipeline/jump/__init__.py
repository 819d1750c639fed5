"""Jump (cosmic-ray) detection by two-point differences, as stcal does it, in numba.

:func:`detect_jumps` runs on one integration, a block of rows at a time; the same kernels run fused
with the ramp fit in :func:`iris_pipeline.ramp_fitting.ols.fit_block`. The algorithm and its
differences from stcal are described in :mod:`iris_pipeline.lib.twopoint` and :func:`detect_jumps`.
"""

from .detect import detect_jumps
from .jump_step import JumpStep

__all__ = ["JumpStep", "detect_jumps"]
