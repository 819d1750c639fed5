"""The calibration assertions shared by the transit tests: pulls of depth and mid-time over realisations."""

from __future__ import annotations

import numpy as np


def assert_transit_pulls_calibrated(depth_pulls, time_pulls) -> None:
    """Depth and mid-time within 2 sigma of truth for most realisations and errors calibrated.

    Pulls are (fit - truth) / error over realisations: no pull beyond 3.5, at least 85 % (depth)
    and 80 % (mid-time) within 2, the depth pulls' std within 30 % of 1 and mean below 0.6, the
    mid-time pulls' std within 50 % of 1 (mid-time errors are small at low S/N, docs/steps/tso3.md).
    """
    depth_pulls, time_pulls = np.asarray(depth_pulls), np.asarray(time_pulls)
    assert np.all(np.abs(depth_pulls) < 3.5) and np.all(np.abs(time_pulls) < 3.5)
    assert np.mean(np.abs(depth_pulls) < 2) >= 0.85
    assert np.mean(np.abs(time_pulls) < 2) >= 0.80
    assert 0.7 <= depth_pulls.std(ddof=1) <= 1.3
    assert abs(depth_pulls.mean()) < 0.6
    assert 0.5 <= time_pulls.std(ddof=1) <= 1.5
