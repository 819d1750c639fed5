"""Stage 1: raw ramps -> count-rate image per exposure (``_rate``) and per integration (``_rateints``).

``_rateints`` is saved when the exposure has more than one integration (or ``save_rateints`` is
set): with one integration it would repeat ``_rate``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import datamodels
from ..dark_current import DarkCurrentStep
from ..dq_init import DQInitStep
from ..exceptions import InputFileError
from ..jump import JumpStep
from ..linearity import LinearityStep
from ..ramp_fitting import RampFitStep
from ..ramp_fitting.ramp_fit_step import STCAL_ALGORITHMS, fit_with_stcal, result_model
from ..refpix import RefPixStep
from ..saturation import SaturationStep
from ..stpipe import IrisPipeline
from ..streaming import ExposureContext, run_units
from ..superbias import SuperBiasStep

__all__ = ["Detector1Pipeline"]

log = logging.getLogger(__name__)


class Detector1Pipeline(IrisPipeline):
    """Detector-level corrections read by read, then ramp fitting, in one streaming pass.

    Steps, in order: ``dq_init`` -> ``saturation`` -> ``superbias`` -> ``refpix`` ->
    ``linearity`` -> ``dark_current`` -> ``jump`` -> ``ramp_fit``. Each can be skipped or
    configured as usual (``--steps.jump.rejection_threshold=5``). The pipeline asks each step that
    is not skipped for its unit (`iris_pipeline.streaming`), the very code the step runs when run
    alone, and applies the units in order block by block to the memory-mapped raw reads instead of
    materialising the ramp between steps, so memory does not grow with the number of reads.
    """

    class_alias = "detector1"
    spec = """
    save_calibrated_ramp = boolean(default=False)  # also save the corrected ramp (_ramp); costs its memory
    block_rows = integer(default=None, min=1)  # rows per streaming block (default: ~48 MB buffers)
    save_rateints = boolean(default=False)  # save _rateints also for one integration (then it equals _rate)
    """  # noqa: E501
    step_defs = {
        "dq_init": DQInitStep,
        "saturation": SaturationStep,
        "superbias": SuperBiasStep,
        "refpix": RefPixStep,
        "linearity": LinearityStep,
        "dark_current": DarkCurrentStep,
        "jump": JumpStep,
        "ramp_fit": RampFitStep,
    }

    def process(self, step_input):
        from_file = isinstance(step_input, str | Path)
        raw = datamodels.open(step_input, read_data=False) if from_file else datamodels.open(step_input)
        if not isinstance(raw, datamodels.RawRampModel):
            raise InputFileError(raw.meta.filename, f"detector1 needs a raw ramp, not {raw.meta.model_type}")
        exposure = raw.meta.exposure
        shape = (exposure.nints, exposure.ngroups, raw.meta.subarray.ysize, raw.meta.subarray.xsize)
        context = ExposureContext.from_model(raw, shape, np.zeros(shape[-2:], np.uint32))
        steps = [getattr(self, name) for name in self.step_defs]
        for step in steps:
            step._reference_files_used = []
        units = {step.class_alias: step.stage1_unit(raw, context) for step in steps[:-1] if not step.skip}
        stcal_fit = self.ramp_fit.algorithm in STCAL_ALGORITHMS
        fit = None
        if stcal_fit:
            noise_model = self.ramp_fit.noise_model(raw, context)
        else:
            dark = units.get("dark_current")
            fit = self.ramp_fit.fit_unit(raw, context, dark_dn_s=None if dark is None else dark.dark_dn_s)
        # A 2-group integration has one difference, too few to judge alone: the jumps of a
        # multi-integration CDS exposure are searched over the whole corrected ramp, then fitted.
        whole_exposure_jumps = "jump" in units and shape[1] == 2 and shape[0] > 1
        keep_ramp = self.save_calibrated_ramp or stcal_fit or whole_exposure_jumps
        corrected = np.empty(shape, np.float32) if keep_ramp else None
        corrected_dq = np.empty(shape, np.uint8) if keep_ramp else None
        streamed = [unit for name, unit in units.items() if not (whole_exposure_jumps and name == "jump")]
        with datamodels.raw_reads(step_input if from_file else raw) as (reads, data_offset):
            result = run_units(
                reads, context, streamed, None if whole_exposure_jumps else fit, data_offset=data_offset,
                corrected_ramp=corrected, corrected_groupdq=corrected_dq, block_rows=self.block_rows,
            )  # fmt: skip
        if whole_exposure_jumps:
            units["jump"].apply_exposure(corrected, corrected_dq)
            if fit is not None:
                result = run_units(corrected, context, [], fit, groupdq=corrected_dq, block_rows=self.block_rows)
                result.n_jumps = units["jump"].n_jumps
        refpix_applied = units["refpix"].applied if "refpix" in units else {"rows": False, "columns": False}
        if "refpix" in units:
            self.refpix.report(raw, units["refpix"])
        ramp = self._ramp_model(raw, corrected, corrected_dq, context.pixeldq) if keep_ramp else None
        if ramp is not None and "dark_current" in units:
            ramp.average_dark_current = units["dark_current"].dark_dn_s
        if stcal_fit:
            image, integrations = fit_with_stcal(self.ramp_fit, ramp, *noise_model)
        else:
            image, integrations = result.exposure, result.integrations
            log.info("%s: %d jumps flagged", raw.meta.filename, result.n_jumps)
        for step in steps:
            self._reference_files_used.extend(step._reference_files_used)
        if self.save_calibrated_ramp:
            self._record_steps(ramp, refpix_applied)
            self.save_model(ramp, suffix="ramp")
        rate = result_model(datamodels.RateModel, raw, image)
        self._record_steps(rate, refpix_applied)
        if exposure.nints > 1 or self.save_rateints:
            rateints = result_model(datamodels.RateIntsModel, raw, integrations)
            self._record_steps(rateints, refpix_applied)
            self.finalize_result(rateints, self._reference_files_used)
            self.save_model(rateints, suffix="rateints")
        self.suffix = "rate"
        return rate

    @staticmethod
    def _ramp_model(raw, data, groupdq, pixeldq):
        ramp = datamodels.RampModel()
        ramp.update(raw)
        ramp.meta.filename = raw.meta.filename
        ramp.data, ramp.groupdq, ramp.pixeldq = data, groupdq, pixeldq
        ramp.err = np.zeros(data.shape, np.float32)
        return ramp

    def _record_steps(self, model, refpix_applied):
        for name in self.step_defs:
            done = not getattr(self, name).skip and (name != "refpix" or any(refpix_applied.values()))
            setattr(model.meta.cal_step, name, "COMPLETE" if done else "SKIPPED")
