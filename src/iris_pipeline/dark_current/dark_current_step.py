"""DarkCurrentStep: subtract the dark current accumulated by each group."""

from __future__ import annotations

import numpy as np

from ..instruments import read_pattern_times
from ..stpipe import IrisStep
from .dark_current import prepare_dark, subtract_dark

__all__ = ["DarkCurrentStep"]


class DarkCurrentStep(IrisStep):
    """Subtract ``dark rate x group time`` using the DARK reference (DN/s)."""

    class_alias = "dark_current"
    spec = """
    """
    reference_file_types = ["dark"]

    def process(self, step_input):
        ramp = self.open_ramp(step_input)
        dark, dark_dq = self.get_reference_arrays(ramp, "dark", "data", "dq")
        dark = prepare_dark(dark, dark_dq, ramp.pixeldq)
        exposure = ramp.meta.exposure
        times = np.array(read_pattern_times(exposure.ngroups, exposure.nframes, exposure.groupgap, exposure.frame_time))
        for integration in ramp.data:
            subtract_dark(integration, dark, times)
        return ramp
