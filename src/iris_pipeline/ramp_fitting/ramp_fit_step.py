"""RampFitStep: RampModel -> count-rate image (RateModel) and per-integration cube (RateIntsModel)."""

from __future__ import annotations

import numpy as np

from .. import datamodels
from ..stpipe import IrisStep
from .stcal_adapter import fit_ramps_stcal

__all__ = ["RampFitStep"]

RATE_UNITS = "DN/s"


def _result_model(model_class, source, result):
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


class RampFitStep(IrisStep):
    """Fit the ramps; returns ``(rate, rateints)``, saved as ``_rate`` and ``_rateints``."""

    class_alias = "ramp_fit"
    spec = """
    algorithm = option('OLS_C', 'LIKELY', default='OLS_C')  # stcal algorithm
    weighting = option('optimal', 'unweighted', default='optimal')  # OLS weighting (Fixsen et al. 2000)
    suppress_one_group = boolean(default=True)  # treat ramps with one good group as unusable
    """  # noqa: E501
    reference_file_types = ["readnoise", "gain"]

    def process(self, step_input):
        ramp = self.open_ramp(step_input)
        (read_noise,) = self.get_reference_arrays(ramp, "readnoise", "data")
        (gain,) = self.get_reference_arrays(ramp, "gain", "data")
        exposure = ramp.meta.exposure
        image, integrations = fit_ramps_stcal(
            ramp.data, ramp.groupdq, ramp.pixeldq, read_noise, gain,
            frame_time_s=exposure.frame_time, group_time_s=exposure.group_time,
            nframes=exposure.nframes, groupgap=exposure.groupgap, algorithm=self.algorithm,
            weighting=self.weighting, suppress_one_group=self.suppress_one_group,
            instrument=ramp.meta.instrument.name,
        )  # fmt: skip
        rate = _result_model(datamodels.RateModel, ramp, image)
        rateints = _result_model(datamodels.RateIntsModel, ramp, integrations)
        return rate, rateints

    def save_model(self, model, suffix=None, idx=None, output_file=None, force=False, **components):
        """Name the two products by their kind (``_rate``, ``_rateints``), not by index."""
        if suffix is None:
            suffix = "rateints" if isinstance(model, datamodels.RateIntsModel) else "rate"
        return super().save_model(model, suffix=suffix, idx=None, output_file=output_file, force=force, **components)
