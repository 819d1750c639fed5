"""Ramp simulation shared by the ramp-fit and jump tests: Poisson (gain) plus read-noise groups.

Constants are the tests' detector: 1.47 s frames, 6 DN read noise, 2.3 e-/DN.
"""

from __future__ import annotations

import numpy as np

FRAME_TIME_S = 1.47
READ_NOISE_DN = 6.0
GAIN = 2.3


def read_times(ngroups, nframes=1, groupgap=0, frame_time_s=FRAME_TIME_S):
    """Mean time of each group of ``nframes`` reads, ``groupgap`` reads dropped between groups, s."""
    return ((nframes + 1) / 2.0 + np.arange(ngroups) * (nframes + groupgap)) * frame_time_s


def simulate(flux_dn_s, ngroups, rng, nframes=1, groupgap=0, read_noise=READ_NOISE_DN, gain=GAIN, bias=1000.0):
    """Groups averaging ``nframes`` reads of Poisson (gain) and read-noise ramps; float64 (ngroups, *shape).

    ``flux_dn_s`` is the total rate (source plus dark current), DN/s.
    """
    flux = np.asarray(flux_dn_s, dtype=np.float64)
    nreads = ngroups * (nframes + groupgap)
    electrons = rng.poisson(np.maximum(flux, 0) * FRAME_TIME_S * gain, (nreads,) + flux.shape).cumsum(axis=0)
    reads = bias + electrons / gain + rng.normal(0.0, read_noise, (nreads,) + flux.shape)
    reads = reads.reshape((ngroups, nframes + groupgap) + flux.shape)[:, :nframes]
    return reads.mean(axis=1)


def z_scores(result, truth_dn_s):
    """(slope - truth) / err of a ramp-fit result."""
    return (result.slope.astype(np.float64) - truth_dn_s) / result.err
