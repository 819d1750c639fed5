"""JumpStep: flag cosmic-ray jumps by two-point differences."""

from __future__ import annotations

import logging

from ..ramp_fitting.noise import prepare_noise_model
from ..streaming import ExposureContext, Stage1Unit
from ..streaming.step import Stage1Step
from .detect import detect_jumps

__all__ = ["JumpStep", "JumpUnit"]

log = logging.getLogger(__name__)


class JumpUnit(Stage1Unit):
    """Two-point jump detection on blocks of corrected groups.

    The ramp fit can run the same detection kernels in its own pass (`fit_options`); ``detector1``
    uses that to read each block once.
    """

    def __init__(self, read_noise_dn, gain_e_per_dn, context: ExposureContext, rejection_threshold, options):
        self.read_noise_dn = read_noise_dn
        self.gain_e_per_dn = gain_e_per_dn
        self.read_times_s = context.read_times_s
        self.nframes = context.nframes
        self.rejection_threshold = rejection_threshold
        self.options = options
        self.halo_rows = 1 if options["flag_4_neighbors"] else 0
        self.n_jumps = 0

    def apply_block(self, block_dn, groupdq, rows):
        _, found = detect_jumps(
            block_dn, groupdq, self.read_noise_dn[rows], self.gain_e_per_dn[rows], self.read_times_s,
            nframes=self.nframes, rejection_threshold=self.rejection_threshold, **self.options,
        )  # fmt: skip
        self.n_jumps += found

    def apply_exposure(self, ramp_dn, groupdq) -> None:
        """Search the whole exposure at once (2-group integrations are judged together)."""
        _, self.n_jumps = detect_jumps(
            ramp_dn, groupdq, self.read_noise_dn, self.gain_e_per_dn, self.read_times_s,
            nframes=self.nframes, rejection_threshold=self.rejection_threshold, **self.options,
        )  # fmt: skip

    def fit_options(self) -> dict:
        return {"jump_threshold": self.rejection_threshold, **self.options}


class JumpStep(Stage1Step):
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

    def stage1_unit(self, model, context: ExposureContext) -> JumpUnit:
        (read_noise,) = self.get_reference_arrays(model, "readnoise", "data", shape=context.shape)
        (gain,) = self.get_reference_arrays(model, "gain", "data", shape=context.shape)
        read_noise, gain = prepare_noise_model(read_noise, gain, context.pixeldq)
        return JumpUnit(read_noise, gain, context, self.rejection_threshold, self.detection_options())

    def report(self, ramp, unit: JumpUnit) -> None:
        log.info("%s: %d jumps flagged", ramp.meta.filename, unit.n_jumps)

    def process(self, step_input):
        ramp, context = self.open_stage1_input(step_input)
        nints, ngroups = context.shape[:2]
        if ngroups != 2 or nints == 1:
            return super().process(ramp)
        # A 2-group integration has one difference, too few to judge alone: the whole exposure's
        # differences of a pixel are searched together.
        unit = self.stage1_unit(ramp, context)
        unit.apply_exposure(ramp.data, ramp.groupdq)
        self.report(ramp, unit)
        return ramp
