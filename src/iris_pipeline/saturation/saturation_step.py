"""SaturationStep: flag saturated groups from the SATURATION reference file."""

from __future__ import annotations

from ..instruments import read_pattern_frames
from ..stpipe import IrisStep
from .saturation import flag_saturation, prepare_saturation

__all__ = ["SaturationStep"]


class SaturationStep(IrisStep):
    """Flag groups at or above the saturation level, and all later groups of the ramp."""

    class_alias = "saturation"
    spec = """
    n_pix_grow_sat = integer(default=1, min=0)  # neighbours flagged around a saturated pixel (charge spilling)
    """  # noqa: E501
    reference_file_types = ["saturation"]

    def process(self, step_input):
        ramp = self.open_ramp(step_input)
        level, level_dq = self.get_reference_arrays(ramp, "saturation", "data", "dq")
        exposure = ramp.meta.exposure
        pattern = None
        if (exposure.nframes or 1) > 1:
            pattern = read_pattern_frames(exposure.ngroups, exposure.nframes, exposure.groupgap, exposure.frame_time)
        threshold = prepare_saturation(level, level_dq, ramp.pixeldq)
        for integration, groupdq in zip(ramp.data, ramp.groupdq, strict=True):
            flag_saturation(integration, groupdq, threshold, self.n_pix_grow_sat, read_pattern=pattern)
        return ramp
