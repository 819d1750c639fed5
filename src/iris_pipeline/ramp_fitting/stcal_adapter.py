"""Ramp fitting by stcal (JWST's OLS_C and LIKELY algorithms) on plain arrays."""

from __future__ import annotations

import math

import numpy as np
from stcal.ramp_fitting.ramp_fit import ramp_fit_data
from stcal.ramp_fitting.ramp_fit_class import RampData

from .. import dqflags
from .result import RampFitResult

__all__ = ["STCAL_ALGORITHMS", "fit_ramps_stcal"]

STCAL_ALGORITHMS = ("OLS_C", "LIKELY")


def _unusable_exposure(groupdq: np.ndarray, pixeldq: np.ndarray) -> tuple[dict, dict]:
    """NaN slopes flagged DO_NOT_USE (and SATURATED where every group is), as stcal would."""
    saturated = np.uint32(dqflags.PIXEL["SATURATED"])
    all_saturated = np.all(groupdq & np.uint8(saturated), axis=1)
    dq_ints = pixeldq | np.uint32(dqflags.PIXEL["DO_NOT_USE"]) | np.where(all_saturated, saturated, 0)
    dq_ints = dq_ints.astype(np.uint32)

    def info(dq):
        nan = np.full(dq.shape, np.nan, dtype=np.float32)
        return {"slope": nan, "err": nan, "var_poisson": nan, "var_rnoise": nan, "dq": dq}

    return info(np.bitwise_or.reduce(dq_ints, axis=0)), info(dq_ints)


def fit_ramps_stcal(
    data_dn: np.ndarray,
    groupdq: np.ndarray,
    pixeldq: np.ndarray,
    read_noise_dn: np.ndarray,
    gain_e_per_dn: np.ndarray,
    frame_time_s: float,
    group_time_s: float,
    nframes: int,
    groupgap: int,
    algorithm: str = "OLS_C",
    weighting: str = "optimal",
    suppress_one_group: bool = True,
    instrument: str = "IRIS",
) -> tuple[RampFitResult, RampFitResult]:
    """Fit all ramps of an exposure with stcal.

    Parameters
    ----------
    data_dn : np.ndarray
        float32 ramp, DN, (nints, ngroups, ny, nx).
    groupdq, pixeldq : np.ndarray
        uint8 group DQ (same shape) and uint32 pixel DQ (ny, nx).
    read_noise_dn : np.ndarray
        Noise of a **single read**, DN, (ny, nx). stcal expects the CDS noise
        (sqrt(2) times larger) and modifies it in place; this function handles both.
    gain_e_per_dn : np.ndarray
        Gain, e-/DN, (ny, nx).
    frame_time_s, group_time_s : float
        Read time and group time, s.
    nframes, groupgap : int
        Reads averaged per group and reads dropped between groups.
    algorithm : {'OLS_C', 'LIKELY'}
        stcal algorithm.
    weighting : {'optimal', 'unweighted'}
        OLS weighting (Fixsen et al. 2000 optimal weights, or none).
    suppress_one_group : bool
        Treat ramps with a single good group as having none.
    instrument : str
        Instrument name passed to stcal.

    Returns
    -------
    exposure, integrations : RampFitResult
        Slopes of the exposure (ny, nx) and of each integration (nints, ny, nx).
    """
    if algorithm not in STCAL_ALGORITHMS:
        raise ValueError(f"unknown stcal algorithm {algorithm!r}; choose one of {STCAL_ALGORITHMS}")
    # stcal's C extension accepts only these exact types (anything else crashes the process).
    data_dn = np.ascontiguousarray(data_dn, dtype=np.float32)
    groupdq = np.ascontiguousarray(groupdq, dtype=np.uint8)
    pixeldq = np.ascontiguousarray(pixeldq, dtype=np.uint32)
    ramp = RampData()
    ramp.set_arrays(data_dn, groupdq, pixeldq, np.zeros(pixeldq.shape, dtype=np.float32))
    ramp.set_meta(
        name=instrument,
        frame_time=frame_time_s,
        group_time=group_time_s,
        groupgap=groupgap,
        nframes=nframes,
    )
    ramp.algorithm = algorithm
    ramp.set_dqflags(dqflags.PIXEL)
    ramp.start_row = 0
    ramp.num_rows = data_dn.shape[2]
    ramp.suppress_one_group_ramps = suppress_one_group and data_dn.shape[1] > 1
    cds_noise = np.asarray(read_noise_dn, dtype=np.float32) * np.float32(math.sqrt(2.0))
    gain = np.array(gain_e_per_dn, dtype=np.float32)
    image_info, integ_info, _ = ramp_fit_data(ramp, False, cds_noise, gain, algorithm, weighting, "none")
    if image_info is None:  # stcal found no usable group anywhere
        image_info, integ_info = _unusable_exposure(groupdq, pixeldq)
    return RampFitResult.from_stcal(image_info), RampFitResult.from_stcal(integ_info)
