"""Saturation flagging on plain arrays, by stcal's JWST algorithm."""

from __future__ import annotations

import numpy as np
from stcal.saturation.saturation import flag_saturated_pixels

from .. import dqflags

__all__ = ["ADC_MAX_DN", "flag_saturation"]

ADC_MAX_DN = 65535
"""Largest value of the 16-bit analogue-to-digital converter, DN."""


def flag_saturation(
    data_dn: np.ndarray,
    groupdq: np.ndarray,
    pixeldq: np.ndarray,
    saturation_dn: np.ndarray,
    saturation_dq: np.ndarray,
    n_pix_grow_sat: int = 1,
    read_pattern: list[list[float]] | None = None,
):
    """Flag saturated groups (and every later group) and A/D-floor groups.

    Parameters
    ----------
    data_dn : np.ndarray
        Ramp, DN, shape (nints, ngroups, ny, nx).
    groupdq : np.ndarray
        uint8 group DQ, same shape, updated in place.
    pixeldq : np.ndarray
        uint32 pixel DQ (ny, nx), updated in place.
    saturation_dn : np.ndarray
        Saturation level, raw DN (bias included), (ny, nx). NaN means unknown: such pixels are
        flagged ``NO_SAT_CHECK`` and never flagged saturated. Not modified.
    saturation_dq : np.ndarray
        uint32 DQ of the saturation reference (``NO_SAT_CHECK`` honoured). Not modified.
    n_pix_grow_sat : int
        Neighbours on each side also flagged, for charge spilling out of a saturated pixel.
    read_pattern : list of list of float, optional
        Frame times (or indices) averaged into each group, to catch saturation hidden by
        on-board averaging (NFRAMES > 1).

    Returns
    -------
    groupdq, pixeldq : np.ndarray
        The updated arrays.
    """
    threshold = np.array(saturation_dn, dtype=np.float32)
    sat_dq = np.array(saturation_dq, dtype=np.uint32)
    flagged_groupdq, flagged_pixeldq, _ = flag_saturated_pixels(
        data_dn,
        groupdq.copy(),
        pixeldq.copy(),
        threshold,
        sat_dq,
        ADC_MAX_DN,
        dqflags.PIXEL,
        n_pix_grow_sat=n_pix_grow_sat,
        read_pattern=read_pattern,
    )
    groupdq[...] = flagged_groupdq
    pixeldq[...] = flagged_pixeldq | (sat_dq & np.uint32(dqflags.PIXEL["NO_SAT_CHECK"]))
    return groupdq, pixeldq
