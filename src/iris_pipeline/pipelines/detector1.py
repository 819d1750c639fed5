"""Stage 1: raw ramps -> count-rate image per exposure (``_rate``) and per integration (``_rateints``)."""

from __future__ import annotations

from ..dq_init import DQInitStep
from ..ramp_fitting import RampFitStep
from ..refpix import RefPixStep
from ..saturation import SaturationStep
from ..stpipe import IrisPipeline

__all__ = ["Detector1Pipeline"]


class Detector1Pipeline(IrisPipeline):
    """Detector-level corrections read by read, then ramp fitting.

    Steps: ``dq_init`` -> ``saturation`` -> ``refpix`` -> ``ramp_fit``.
    """

    class_alias = "detector1"
    spec = """
    save_calibrated_ramp = boolean(default=False)  # also save the corrected ramp (_ramp)
    """
    step_defs = {
        "dq_init": DQInitStep,
        "saturation": SaturationStep,
        "refpix": RefPixStep,
        "ramp_fit": RampFitStep,
    }

    def process(self, step_input):
        ramp = self.dq_init.run(step_input)
        ramp = self.saturation.run(ramp)
        ramp = self.refpix.run(ramp)
        if self.save_calibrated_ramp:
            self.save_model(ramp, suffix="ramp")
        rate, rateints = self.ramp_fit.run(ramp)
        self.save_model(rateints, suffix="rateints")
        self.suffix = "rate"
        return rate
