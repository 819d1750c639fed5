"""DarkCurrentStep: subtract the dark current accumulated by each group."""

from __future__ import annotations

from ..streaming import ExposureContext, Stage1Unit
from ..streaming.step import Stage1Step
from .dark_current import prepare_dark, subtract_dark

__all__ = ["DarkCurrentStep", "DarkCurrentUnit"]


class DarkCurrentUnit(Stage1Unit):
    """Subtracts ``dark rate x group time`` from blocks of groups."""

    def __init__(self, dark_dn_s, read_times_s):
        self.dark_dn_s = dark_dn_s
        self.read_times_s = read_times_s

    def apply_block(self, block_dn, groupdq, rows):
        subtract_dark(block_dn, self.dark_dn_s[rows], self.read_times_s)


class DarkCurrentStep(Stage1Step):
    """Subtract ``dark rate x group time`` using the DARK reference (DN/s)."""

    class_alias = "dark_current"
    spec = """
    """
    reference_file_types = ["dark"]

    def stage1_unit(self, model, context: ExposureContext) -> DarkCurrentUnit:
        dark, dark_dq = self.get_reference_arrays(model, "dark", "data", "dq", shape=context.shape)
        return DarkCurrentUnit(prepare_dark(dark, dark_dq, context.pixeldq), context.read_times_s)

    def report(self, ramp, unit: DarkCurrentUnit) -> None:
        """Keep the subtracted rate with the ramp: its shot noise belongs in the fit's Poisson variance."""
        ramp.average_dark_current = unit.dark_dn_s
