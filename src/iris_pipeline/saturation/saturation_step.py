"""SaturationStep: flag saturated groups from the SATURATION reference file."""

from __future__ import annotations

from .. import datamodels
from ..instruments import read_pattern_frames
from ..lib.subarray import Window, reference_cutout
from ..stpipe import IrisStep
from .saturation import flag_saturation

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
        sat_path = self.get_reference_file(ramp, "saturation")
        with datamodels.SaturationModel(sat_path) as sat:
            window = Window.from_model(ramp, ramp.data.shape)
            ref_window = Window.from_model(sat, sat.data.shape)
            level = reference_cutout(sat.data, ref_window, window, sat.meta.filename)
            level_dq = reference_cutout(sat.dq, ref_window, window, sat.meta.filename)
            exposure = ramp.meta.exposure
            pattern = None
            if (exposure.nframes or 1) > 1:
                pattern = read_pattern_frames(
                    exposure.ngroups, exposure.nframes, exposure.groupgap, exposure.frame_time
                )
            flag_saturation(
                ramp.data, ramp.groupdq, ramp.pixeldq, level, level_dq,
                n_pix_grow_sat=self.n_pix_grow_sat, read_pattern=pattern,
            )  # fmt: skip
        return ramp
