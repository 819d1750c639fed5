"""SuperBiasStep: subtract the bias level of every pixel."""

from __future__ import annotations

from ..stpipe import IrisStep
from .superbias import prepare_superbias, subtract_superbias

__all__ = ["SuperBiasStep"]


class SuperBiasStep(IrisStep):
    """Subtract the SUPERBIAS reference from every group (DN above bias afterwards)."""

    class_alias = "superbias"
    spec = """
    """
    reference_file_types = ["superbias"]

    def process(self, step_input):
        ramp = self.open_ramp(step_input)
        bias, bias_dq = self.get_reference_arrays(ramp, "superbias", "data", "dq")
        bias = prepare_superbias(bias, bias_dq, ramp.pixeldq)
        for integration in ramp.data:
            subtract_superbias(integration, bias)
        return ramp
