"""Adapters that run this package's ramp fit and jump detection under stcal's test entry points.

The tests in ``test_stcal_ramp_fitting.py`` and ``test_stcal_twopoint.py`` are stcal's own
(spacetelescope/stcal, BSD-3-Clause), with their inputs and expected values unchanged; only the
function under test is replaced by these adapters, which take stcal's arguments and return stcal's
result layout.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from iris_pipeline.jump import detect_jumps
from iris_pipeline.ramp_fitting.ols import combine_integrations, fit_ramps

STCAL_COMMIT = "bb256db3076ed18bb41934d44aa41e7e94cbe6bb"
"""The stcal commit the tests were ported from."""

_KEYS = ("slope", "dq", "var_poisson", "var_rnoise", "err")


def _as_dict(result) -> dict:
    return {key: np.asarray(getattr(result, key)) for key in _KEYS}


def group_times(ramp_data, ngroups: int) -> np.ndarray:
    """Mean time of each group, s, from stcal's frame time, group time and frames per group."""
    first = ramp_data.frame_time * (ramp_data.nframes + 1) / 2.0
    return first + np.arange(ngroups) * ramp_data.group_time


def ramp_fit_data(ramp_data, save_opt, readnoise_2d, gain_2d, algorithm, weighting, max_cores):
    """stcal's ``ramp_fit_data`` signature, fitted by :func:`fit_ramps` with ``variance='stcal'``.

    stcal's read noise is the CDS noise, sqrt(2) times the noise of one read. Returns
    ``(image_info, integ_info, None)`` as dicts of stcal's keys; no optional results.
    """
    if algorithm != "OLS_C":
        pytest.skip(f"{algorithm} is stcal's own fitter: the ramp_fit step hands that algorithm to stcal")
    if ramp_data.zeroframe is not None:
        pytest.skip("no ZEROFRAME in this package (IRIS and Liger do not produce one)")
    if ramp_data.orig_gdq is not None:
        pytest.skip("no CHARGELOSS read-noise recomputation in this package (not used by IRIS or Liger)")
    nints, ngroups, nrows, ncols = ramp_data.data.shape
    times = group_times(ramp_data, ngroups)
    read_noise = np.asarray(readnoise_2d, np.float64) / math.sqrt(2.0)
    dark = ramp_data.average_dark_current
    per_integration = [
        fit_ramps(
            ramp_data.data[i], times, read_noise, gain_2d, np.ascontiguousarray(ramp_data.groupdq[i], np.uint8),
            ramp_data.pixeldq.astype(np.uint32), nframes=ramp_data.nframes, variance="stcal",
            suppress_one_group=bool(ramp_data.suppress_one_group_ramps), dark_dn_s=dark,
        )  # fmt: skip
        for i in range(nints)
    ]
    image = combine_integrations(per_integration, variance="stcal")
    cube = {key: np.stack([getattr(r, key) for r in per_integration]) for key in _KEYS}
    return _as_dict(image), cube, None


def find_crs(data, group_dq, read_noise, twopt_p):
    """stcal's ``twopoint_difference.find_crs`` signature, run by :func:`detect_jumps`.

    stcal's data are in electrons (gain 1 here) and its read noise is the CDS noise. Neighbour flags
    are set in the returned group DQ itself, so the rows above and below are empty.
    """
    nints, ngroups, nrows, ncols = data.shape
    steps = np.broadcast_to(np.asarray(twopt_p.dt_group, np.float64), (ngroups - 1,))
    times = np.concatenate([[0.0], np.cumsum(steps)])
    groupdq = np.ascontiguousarray(group_dq, dtype=np.uint8)
    _, total = detect_jumps(
        np.asarray(data, np.float32), groupdq, np.asarray(read_noise, np.float64) / math.sqrt(2.0), 1.0, times,
        nframes=twopt_p.nframes, rejection_threshold=twopt_p.normal_rej_thresh,
        three_group_rejection_threshold=twopt_p.two_diff_rej_thresh,
        four_group_rejection_threshold=twopt_p.three_diff_rej_thresh,
        flag_4_neighbors=twopt_p.flag_4_neighbors, max_jump_to_flag_neighbors=twopt_p.max_jump_to_flag_neighbors,
        min_jump_to_flag_neighbors=twopt_p.min_jump_to_flag_neighbors,
    )  # fmt: skip
    empty = np.zeros((nints, ngroups, ncols), np.uint8)
    return groupdq.astype(np.asarray(group_dq).dtype), empty, empty.copy(), total
