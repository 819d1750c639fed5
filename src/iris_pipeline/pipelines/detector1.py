"""Stage 1: raw ramps -> count-rate image per exposure (``_rate``) and per integration (``_rateints``).

``_rateints`` is saved when the exposure has more than one integration (or ``save_rateints`` is
set): with one integration it would repeat ``_rate``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import datamodels
from ..dark_current import DarkCurrentStep, prepare_dark
from ..dq_init import DQInitStep
from ..exceptions import InputFileError
from ..instruments import get_instrument, read_pattern_frames, read_pattern_times
from ..jump import JumpStep
from ..lib.refcache import prepared_references
from ..lib.subarray import Window
from ..linearity import LinearityStep, prepare_coefficients
from ..ramp_fitting import RampFitStep
from ..ramp_fitting.noise import prepare_noise_model
from ..ramp_fitting.ramp_fit_step import STCAL_ALGORITHMS, fit_with_stcal, result_model
from ..refpix import RefPixStep
from ..saturation import SaturationStep, prepare_saturation
from ..stpipe import IrisPipeline
from ..streaming import Stage1Calibration, Stage1Options, run_stage1
from ..superbias import SuperBiasStep, prepare_superbias

__all__ = ["Detector1Pipeline"]

# Reference types prepared for stage 1: one per skippable step (dq_init, saturation, superbias,
# linearity, dark_current), then the two of the noise model that always runs.
_PREPARED_REFTYPES = ("mask", "saturation", "superbias", "linearity", "dark", "readnoise", "gain")

log = logging.getLogger(__name__)


class Detector1Pipeline(IrisPipeline):
    """Detector-level corrections read by read, then ramp fitting, in one streaming pass.

    Steps, in order: ``dq_init`` -> ``saturation`` -> ``superbias`` -> ``refpix`` ->
    ``linearity`` -> ``dark_current`` -> ``jump`` -> ``ramp_fit``. Each can be skipped or
    configured as usual (``--steps.jump.rejection_threshold=5``); the pipeline applies them block
    by block to the memory-mapped raw reads (`iris_pipeline.streaming.run_stage1`) instead of
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
        calibration = self._calibration(raw, shape)
        options = self._options(raw)
        stcal_fit = self.ramp_fit.algorithm in STCAL_ALGORITHMS
        keep_ramp = self.save_calibrated_ramp or stcal_fit
        corrected = np.empty(shape, np.float32) if keep_ramp else None
        corrected_dq = np.empty(shape, np.uint8) if keep_ramp else None
        detector = get_instrument(raw.meta.instrument.name).detectors[raw.meta.instrument.detector]
        with datamodels.raw_reads(step_input if from_file else raw) as (reads, data_offset):
            result = run_stage1(
                reads,
                read_pattern_times(exposure.ngroups, exposure.nframes, exposure.groupgap, exposure.frame_time),
                calibration,
                options,
                nframes=exposure.nframes,
                data_offset=data_offset,
                first_column=(raw.meta.subarray.xstart or 1) - 1,
                channel_width_pix=detector.output_channel_width_pix,
                corrected_ramp=corrected,
                corrected_groupdq=corrected_dq,
                fit=not stcal_fit,
            )
        ramp = self._ramp_model(raw, corrected, corrected_dq, calibration.pixeldq.copy()) if keep_ramp else None
        if stcal_fit:
            image, integrations = fit_with_stcal(
                self.ramp_fit, ramp, calibration.read_noise_dn, calibration.gain_e_per_dn
            )
            refpix_applied = {"rows": not self.refpix.skip, "columns": not self.refpix.skip}
        else:
            image, integrations, refpix_applied = result.exposure, result.integrations, result.refpix_applied
            log.info("%s: %d jumps flagged", raw.meta.filename, result.n_jumps)
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

    def _calibration(self, raw, shape) -> Stage1Calibration:
        """Prepared reference arrays, from this process's cache when an earlier exposure used the same ones.

        The key holds the SHA-256 of every reference file selected, the detector window and the
        steps that run (`iris_pipeline.lib.refcache`).
        """
        steps = ("dq_init", "saturation", "superbias", "linearity", "dark_current")
        skipped = tuple(getattr(self, name).skip for name in steps)
        reftypes = [reftype for reftype, skip in zip(_PREPARED_REFTYPES, skipped + (False, False), strict=True)
                    if not skip]  # fmt: skip
        selected = []
        for reftype in reftypes:
            path = self.get_reference_file(raw, reftype)
            match = self._reference_files_used[-1][1]
            selected.append((reftype, match.sha256 if match is not None else path))
        window = Window.from_model(raw, shape)
        key = ("detector1", tuple(selected), (window.xstart, window.ystart, window.xsize, window.ysize), skipped)
        return prepared_references.get(key, lambda: self._prepare_calibration(raw, shape))

    def _prepare_calibration(self, raw, shape) -> Stage1Calibration:
        """Reference arrays for the exposure, prepared for the kernels; skipped steps give None."""
        mask = None if self.dq_init.skip else self.get_reference_arrays(raw, "mask", "dq", shape=shape)
        pixeldq = np.zeros(shape[-2:], np.uint32) if mask is None else mask[0].astype(np.uint32)
        calibration = Stage1Calibration(pixeldq=pixeldq, read_noise_dn=None, gain_e_per_dn=None)
        if not self.saturation.skip:
            level, level_dq = self.get_reference_arrays(raw, "saturation", "data", "dq", shape=shape)
            calibration.saturation_dn = prepare_saturation(level, level_dq, pixeldq)
        if not self.superbias.skip:
            bias, bias_dq = self.get_reference_arrays(raw, "superbias", "data", "dq", shape=shape)
            calibration.superbias_dn = prepare_superbias(bias, bias_dq, pixeldq)
        if not self.linearity.skip:
            coeffs, lin_dq = self.get_reference_arrays(raw, "linearity", "coeffs", "dq", shape=shape)
            calibration.linearity_coeffs = prepare_coefficients(coeffs, lin_dq, pixeldq)
        if not self.dark_current.skip:
            dark, dark_dq = self.get_reference_arrays(raw, "dark", "data", "dq", shape=shape)
            calibration.dark_dn_s = prepare_dark(dark, dark_dq, pixeldq)
        (read_noise,) = self.get_reference_arrays(raw, "readnoise", "data", shape=shape)
        (gain,) = self.get_reference_arrays(raw, "gain", "data", shape=shape)
        calibration.read_noise_dn, calibration.gain_e_per_dn = prepare_noise_model(read_noise, gain, pixeldq)
        return calibration

    def _options(self, raw) -> Stage1Options:
        exposure = raw.meta.exposure
        pattern = None
        if exposure.nframes > 1:
            pattern = read_pattern_frames(exposure.ngroups, exposure.nframes, exposure.groupgap, exposure.frame_time)
        refpix = None
        if not self.refpix.skip:
            refpix = {
                "odd_even_columns": self.refpix.odd_even_columns,
                "use_side_ref_pixels": self.refpix.use_side_ref_pixels,
                "side_smoothing_length": self.refpix.side_smoothing_length,
                "side_gain": self.refpix.side_gain,
            }
        return Stage1Options(
            n_pix_grow_sat=self.saturation.n_pix_grow_sat,
            read_pattern=pattern,
            refpix=refpix,
            jump_threshold=None if self.jump.skip else self.jump.rejection_threshold,
            jump_options=self.jump.detection_options(),
            fit_options={"variance": self.ramp_fit.variance, "suppress_one_group": self.ramp_fit.suppress_one_group},
            block_rows=self.block_rows,
        )

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
