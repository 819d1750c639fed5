"""RampFitStep: RampModel -> count-rate image (RateModel) and per-integration cube (RateIntsModel)."""

from __future__ import annotations

import numpy as np

from .. import datamodels
from ..instruments import read_pattern_times
from ..stpipe import IrisStep
from .noise import prepare_noise_model
from .ols import combine_integrations, fit_ramps
from .result import RampFitResult
from .stcal_adapter import STCAL_ALGORITHMS, fit_ramps_stcal

__all__ = ["RampFitStep", "fit_with_stcal", "result_model"]

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


class RampFitStep(IrisStep):
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

    def process(self, step_input):
        ramp = self.open_ramp(step_input)
        (read_noise,) = self.get_reference_arrays(ramp, "readnoise", "data")
        (gain,) = self.get_reference_arrays(ramp, "gain", "data")
        read_noise, gain = prepare_noise_model(read_noise, gain, ramp.pixeldq)
        if self.algorithm in STCAL_ALGORITHMS:
            image, integrations = fit_with_stcal(self, ramp, read_noise, gain)
        else:
            exposure = ramp.meta.exposure
            times = read_pattern_times(exposure.ngroups, exposure.nframes, exposure.groupgap, exposure.frame_time)
            per_integration = [
                fit_ramps(
                    data,
                    times,
                    read_noise,
                    gain,
                    groupdq=groupdq,
                    pixeldq=ramp.pixeldq,
                    nframes=exposure.nframes,
                    suppress_one_group=self.suppress_one_group,
                    variance=self.variance,
                )  # fmt: skip
                for data, groupdq in zip(ramp.data, ramp.groupdq, strict=True)
            ]
            image = combine_integrations(per_integration, variance=self.variance)
            integrations = RampFitResult(
                *(np.stack([getattr(r, name) for r in per_integration]) for name in RampFitResult.__dataclass_fields__)
            )
        return result_model(datamodels.RateModel, ramp, image), result_model(
            datamodels.RateIntsModel, ramp, integrations
        )

    def save_model(self, model, suffix=None, idx=None, output_file=None, force=False, **components):
        """Name the two products by their kind (``_rate``, ``_rateints``), not by index."""
        if suffix is None:
            suffix = "rateints" if isinstance(model, datamodels.RateIntsModel) else "rate"
        return super().save_model(model, suffix=suffix, idx=None, output_file=output_file, force=force, **components)
