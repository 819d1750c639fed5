"""RampFitStep: RampModel -> count-rate image (RateModel) and per-integration cube (RateIntsModel)."""

from __future__ import annotations

import numpy as np

from .. import datamodels, dqflags
from ..streaming import ExposureContext, run_units
from ..streaming.step import Stage1Step
from .noise import prepare_noise_model
from .ols import combine_integrations, fit_block
from .result import RampFitResult
from .stcal_adapter import STCAL_ALGORITHMS, fit_ramps_stcal

__all__ = ["RampFitStep", "RampFitUnit", "fit_with_stcal", "result_model"]

DO_NOT_USE = np.uint8(dqflags.GROUP["DO_NOT_USE"])

RATE_UNITS = "DN/s"


def result_model(model_class, source, result: RampFitResult):
    """A rate model with the metadata of ``source`` and the arrays of ``result``."""
    model = model_class()
    model.update(source)
    model.meta.filename = source.meta.filename
    model.data = result.slope.astype(np.float32, copy=False)
    model.err = result.err.astype(np.float32, copy=False)
    model.var_poisson = result.var_poisson.astype(np.float32, copy=False)
    model.var_rnoise = result.var_rnoise.astype(np.float32, copy=False)
    model.dq = result.dq.astype(np.uint32, copy=False)
    model.meta.bunit_data = RATE_UNITS
    model.meta.bunit_err = RATE_UNITS
    for step_name in source.meta.cal_step._instance or {}:
        setattr(model.meta.cal_step, step_name, getattr(source.meta.cal_step, step_name))
    return model


def fit_with_stcal(step, ramp, read_noise_dn, gain_e_per_dn) -> tuple[RampFitResult, RampFitResult]:
    """Fit a RampModel with the stcal algorithm chosen by ``step.algorithm``."""
    exposure = ramp.meta.exposure
    return fit_ramps_stcal(
        ramp.data, ramp.groupdq, ramp.pixeldq, read_noise_dn, gain_e_per_dn,
        frame_time_s=exposure.frame_time, group_time_s=exposure.group_time, nframes=exposure.nframes,
        groupgap=exposure.groupgap, algorithm=step.algorithm, weighting=step.weighting,
        suppress_one_group=step.suppress_one_group, instrument=ramp.meta.instrument.name,
    )  # fmt: skip


class RampFitUnit:
    """The OLS fit of blocks of corrected groups into per-integration slopes, then their combination.

    A ramp of a single group (``NGROUPS = 1``) has no slope to measure: with ``suppress_one_group``
    its group is flagged ``DO_NOT_USE`` before the fit, so the pixel gets a NaN rate and
    ``DO_NOT_USE`` (stcal's and JWST's behaviour); without it, the rate is the group's value over
    its time since the reset.

    ``dark_dn_s`` (the dark rate subtracted before the fit, when known) adds its shot noise to the
    Poisson variance, as stcal's average dark current does.
    """

    def __init__(
        self, read_noise_dn, gain_e_per_dn, context: ExposureContext, variance, suppress_one_group, dark_dn_s=None
    ):
        self.read_noise_dn = read_noise_dn
        self.dark_dn_s = dark_dn_s
        self.gain_e_per_dn = gain_e_per_dn
        self.context = context
        self.variance = variance
        self.suppress_one_group = suppress_one_group
        self.integrations = None

    def begin(self, shape) -> None:
        """Allocate the per-integration outputs, (nints, ny, nx), NaN until fitted."""
        self.integrations = RampFitResult(
            slope=np.full(shape[:1] + shape[2:], np.nan, np.float32),
            err=np.full(shape[:1] + shape[2:], np.nan, np.float32),
            var_poisson=np.full(shape[:1] + shape[2:], np.nan, np.float32),
            var_rnoise=np.full(shape[:1] + shape[2:], np.nan, np.float32),
            dq=np.zeros(shape[:1] + shape[2:], np.uint32),
        )

    def _integration(self, index: int) -> RampFitResult:
        return RampFitResult(*(getattr(self.integrations, name)[index] for name in RampFitResult.__dataclass_fields__))

    def fit_block(self, block_dn, groupdq, blk, integration: int, jump_options: dict | None) -> int:
        """Fit one block (running the jump detection first when ``jump_options`` are given)."""
        if block_dn.shape[0] == 1 and self.suppress_one_group:
            groupdq |= DO_NOT_USE
        rows = slice(blk.start, blk.stop)
        return fit_block(
            block_dn, groupdq, self.context.read_times_s, self.read_noise_dn[rows], self.gain_e_per_dn[rows],
            self._integration(integration), blk.interior, nframes=self.context.nframes, halo_top=blk.halo_top,
            halo_bottom=blk.halo_bottom, pixeldq_block=self.context.pixeldq[rows], variance=self.variance,
            suppress_one_group=self.suppress_one_group,
            dark_dn_s=None if self.dark_dn_s is None else self.dark_dn_s[rows], **(jump_options or {}),
        )  # fmt: skip

    def results(self) -> tuple[RampFitResult, RampFitResult]:
        """(exposure, per-integration) results; a single integration's are the exposure's."""
        nints = self.integrations.slope.shape[0]
        if nints == 1:
            return self._integration(0), self.integrations
        per_integration = [self._integration(i) for i in range(nints)]
        return combine_integrations(per_integration, variance=self.variance), self.integrations


class RampFitStep(Stage1Step):
    """Fit the ramps; returns ``(rate, rateints)``, saved as ``_rate`` and ``_rateints``.

    ``algorithm = 'OLS'`` is the package's streaming numba fitter (optimal-weighted least squares
    as stcal's OLS_C, far faster); ``'OLS_C'`` and ``'LIKELY'`` hand the same data to stcal.
    """

    class_alias = "ramp_fit"
    spec = """
    algorithm = option('OLS', 'OLS_C', 'LIKELY', default='OLS')  # OLS: this package's fitter; OLS_C, LIKELY: stcal's
    variance = option('exact', 'stcal', default='exact')  # OLS: variances of the computed slope, or stcal's formulas
    weighting = option('optimal', 'unweighted', default='optimal')  # stcal OLS_C weighting (Fixsen et al. 2000)
    suppress_one_group = boolean(default=True)  # stcal: treat ramps with one good group as unusable
    """  # noqa: E501
    reference_file_types = ["readnoise", "gain"]

    def noise_model(self, model, context: ExposureContext):
        """Read noise (DN) and gain (e-/DN) prepared for the fit; bad values flagged in ``context.pixeldq``."""
        (read_noise,) = self.get_reference_arrays(model, "readnoise", "data", shape=context.shape)
        (gain,) = self.get_reference_arrays(model, "gain", "data", shape=context.shape)
        return prepare_noise_model(read_noise, gain, context.pixeldq)

    def fit_unit(self, model, context: ExposureContext, dark_dn_s=None) -> RampFitUnit:
        """The OLS fit prepared for the exposure (the streaming driver's ``fit``)."""
        read_noise, gain = self.noise_model(model, context)
        return RampFitUnit(read_noise, gain, context, self.variance, self.suppress_one_group, dark_dn_s)

    def process(self, step_input):
        ramp, context = self.open_stage1_input(step_input)
        if self.algorithm in STCAL_ALGORITHMS:
            image, integrations = fit_with_stcal(self, ramp, *self.noise_model(ramp, context))
        else:
            dark_dn_s = ramp.average_dark_current if "average_dark_current" in ramp.instance else None
            fit = self.fit_unit(ramp, context, dark_dn_s=dark_dn_s)
            result = run_units(ramp.data, context, [], fit, groupdq=ramp.groupdq)
            image, integrations = result.exposure, result.integrations
        return result_model(datamodels.RateModel, ramp, image), result_model(
            datamodels.RateIntsModel, ramp, integrations
        )

    def save_model(self, model, suffix=None, idx=None, output_file=None, force=False, **components):
        """Name the two products by their kind (``_rate``, ``_rateints``), not by index."""
        if suffix is None:
            suffix = "rateints" if isinstance(model, datamodels.RateIntsModel) else "rate"
        return super().save_model(model, suffix=suffix, idx=None, output_file=output_file, force=force, **components)
