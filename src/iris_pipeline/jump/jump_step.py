"""JumpStep: flag cosmic-ray jumps by two-point differences."""

from __future__ import annotations

import logging

import numpy as np

from ..instruments import read_pattern_times
from ..ramp_fitting.noise import prepare_noise_model
from ..stpipe import IrisStep
from .detect import detect_jumps

__all__ = ["JumpStep"]

log = logging.getLogger(__name__)


class JumpStep(IrisStep):
    """Flag the group after each jump ``JUMP_DET`` (and its 4 neighbours for large jumps)."""

    class_alias = "jump"
    spec = """
    rejection_threshold = float(default=4.0, min=0)  # sigma above which a group difference is a jump
    flag_4_neighbors = boolean(default=True)  # also flag the 4 adjacent pixels of a jump
    max_jump_to_flag_neighbors = float(default=200.0, min=0)  # sigma: above this, neighbours are not flagged
    min_jump_to_flag_neighbors = float(default=10.0, min=0)  # sigma: below this, neighbours are not flagged
    """  # noqa: E501
    reference_file_types = ["readnoise", "gain"]

    def detection_options(self) -> dict:
        """Neighbour-flagging parameters, as keyword arguments of the detection kernels."""
        return {
            "flag_4_neighbors": self.flag_4_neighbors,
            "max_jump_to_flag_neighbors": self.max_jump_to_flag_neighbors,
            "min_jump_to_flag_neighbors": self.min_jump_to_flag_neighbors,
        }

    def process(self, step_input):
        ramp = self.open_ramp(step_input)
        (read_noise,) = self.get_reference_arrays(ramp, "readnoise", "data")
        (gain,) = self.get_reference_arrays(ramp, "gain", "data")
        read_noise, gain = prepare_noise_model(read_noise, gain, ramp.pixeldq)
        exposure = ramp.meta.exposure
        times = np.array(read_pattern_times(exposure.ngroups, exposure.nframes, exposure.groupgap, exposure.frame_time))
        # The whole exposure at once: 2-group integrations are searched together.
        _, total = detect_jumps(
            ramp.data, ramp.groupdq, read_noise, gain, times, nframes=exposure.nframes,
            rejection_threshold=self.rejection_threshold, **self.detection_options(),
        )  # fmt: skip
        log.info("%s: %d jumps flagged", ramp.meta.filename, total)
        return ramp
