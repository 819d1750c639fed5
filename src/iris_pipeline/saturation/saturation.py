"""Saturation flagging on plain arrays (numba, parallel over rows).

The algorithm is JWST's (stcal ``saturation``; JWST calibration documentation, "Saturation
Detection"): a group at or above the pixel's saturation level is flagged ``SATURATED`` with every
later group; groups at or below 0 DN get ``AD_FLOOR`` and ``DO_NOT_USE``; saturated pixels are
grown into a ``(2n+1) x (2n+1)`` box for charge spilling; pixels whose level is unknown (NaN or
``NO_SAT_CHECK``) are never flagged.

When groups average several reads, the mean of a group whose last reads saturated stays below the
threshold. Two further tests catch such groups:

* **Diluted threshold.** A group is also flagged (with every later one) when its mean signal,
  extrapolated along a linear ramp to its last read, reaches the threshold: ``mean - bias >=
  (threshold - bias) * dilution``, with ``dilution = mean(read times) / last read time``.
* **Second group** (stcal 1.20's dedicated pass). A cosmic ray that saturates the pixel during the
  second group's reads raises the second group's mean by only part of the jump, and the third
  group is the first to reach the threshold. With three or more groups, the second group is
  flagged when the third is saturated and it is not, the first group's signal above the bias,
  extrapolated to the third group's last read, stays below the threshold (the pixel was not
  bright enough to saturate by itself), and the step from the first to the second group exceeds
  ``(threshold - group 1) / (reads in group 2)``.

Differences from stcal 1.20, each for a reason:

* stcal flags the groups found by these two tests ``DO_NOT_USE`` only (a stop-gap its own tests
  call provisional); here they are ``SATURATED``, with every later group, as they hold saturated
  reads. The ramp fit excludes both flags alike; the rates are the same.
* The diluted-threshold test applies to every group, the last one included (stcal tests only a
  group followed by a saturated one, and only while the group itself is unflagged), and it is made
  on the signal above the bias when a bias is given, since averaging dilutes the signal, not the
  pedestal (stcal compares the raw value, bias included, with ``threshold * dilution``).
* Saturation found by the diluted-threshold test is grown to the neighbours like any other
  (stcal grows its ``DO_NOT_USE`` flag); the second-group flag is not grown, as in stcal.

The kernels work on one integration or a block of its rows, so that the streaming stage-1 driver
and the standalone step share them.
"""

from __future__ import annotations

import numba
import numpy as np

from .. import dqflags

__all__ = ["ADC_MAX_DN", "flag_saturation", "prepare_saturation"]

ADC_MAX_DN = 65535
"""Largest value of the 16-bit analogue-to-digital converter, DN."""

SATURATED = np.uint8(dqflags.GROUP["SATURATED"])
AD_FLOOR_DNU = np.uint8(dqflags.GROUP["AD_FLOOR"] | dqflags.GROUP["DO_NOT_USE"])
NO_SAT_CHECK = np.uint32(dqflags.PIXEL["NO_SAT_CHECK"])


def prepare_saturation(saturation_dn: np.ndarray, saturation_dq: np.ndarray, pixeldq: np.ndarray) -> np.ndarray:
    """Thresholds to use (unknown levels above the A/D range); the reference's DQ and ``NO_SAT_CHECK`` to the pixel DQ.

    Parameters
    ----------
    saturation_dn : np.ndarray
        Saturation level, raw DN (bias included), (ny, nx). NaN means unknown.
    saturation_dq : np.ndarray
        uint32 DQ of the saturation reference, OR-ed into the pixel DQ (as stcal does).
    pixeldq : np.ndarray
        uint32 pixel DQ of the exposure, updated in place.

    Returns
    -------
    np.ndarray
        float32 thresholds, DN.
    """
    unknown = ~np.isfinite(saturation_dn) | ((saturation_dq & NO_SAT_CHECK) != 0)
    pixeldq |= saturation_dq.astype(np.uint32) | np.where(unknown, NO_SAT_CHECK, np.uint32(0))
    return np.where(unknown, ADC_MAX_DN + 1, saturation_dn).astype(np.float32)


@numba.njit(parallel=True, nogil=True, cache=True)
def _flag_forward(ramp_dn, groupdq, threshold_dn):
    ngroups, nrows, nx = ramp_dn.shape
    for row in numba.prange(nrows):
        for col in range(nx):
            saturated = False
            for group in range(ngroups):
                value = ramp_dn[group, row, col]
                if value >= threshold_dn[row, col]:
                    saturated = True
                if saturated:
                    groupdq[group, row, col] |= SATURATED
                if value <= 0.0:
                    groupdq[group, row, col] |= AD_FLOOR_DNU


@numba.njit(parallel=True, nogil=True, cache=True)
def _flag_diluted(ramp_dn, groupdq, threshold_dn, bias_dn, dilution):
    ngroups, nrows, nx = ramp_dn.shape
    for row in numba.prange(nrows):
        for col in range(nx):
            bias = bias_dn[row, col]
            for group in range(ngroups):
                if dilution[group] >= 1.0 or groupdq[group, row, col] & SATURATED:
                    continue
                if ramp_dn[group, row, col] - bias >= (threshold_dn[row, col] - bias) * dilution[group]:
                    for later in range(group, ngroups):
                        groupdq[later, row, col] |= SATURATED
                    break


@numba.njit(parallel=True, nogil=True, cache=True)
def _flag_second_group(ramp_dn, groupdq, threshold_dn, bias_dn, first_to_third, reads_in_second):
    _, nrows, nx = ramp_dn.shape
    for row in numba.prange(nrows):
        for col in range(nx):
            if not groupdq[2, row, col] & SATURATED or groupdq[1, row, col] & SATURATED:
                continue
            threshold = threshold_dn[row, col]
            bias = bias_dn[row, col]
            first = ramp_dn[0, row, col]
            if (first - bias) * first_to_third + bias >= threshold:
                continue
            if ramp_dn[1, row, col] - first > (threshold - first) / reads_in_second:
                groupdq[1, row, col] |= SATURATED


@numba.njit(parallel=True, nogil=True, cache=True)
def _grow(groupdq, saturated_before, n_pix):
    ngroups, nrows, nx = groupdq.shape
    for group in range(ngroups):
        for row in numba.prange(nrows):
            for col in range(nx):
                if not saturated_before[group, row, col]:
                    continue
                for r in range(max(0, row - n_pix), min(nrows, row + n_pix + 1)):
                    for c in range(max(0, col - n_pix), min(nx, col + n_pix + 1)):
                        groupdq[group, r, c] |= SATURATED


def flag_saturation(
    ramp_dn: np.ndarray,
    groupdq: np.ndarray,
    threshold_dn: np.ndarray,
    n_pix_grow_sat: int = 1,
    read_pattern: list[list[float]] | None = None,
    bias_dn: np.ndarray | None = None,
) -> None:
    """Flag saturated and A/D-floor groups of one integration (or a block of its rows), in place.

    Parameters
    ----------
    ramp_dn : np.ndarray
        float32 raw groups, DN (bias included), (ngroups, nrows, nx).
    groupdq : np.ndarray
        uint8 group DQ, same shape, updated in place.
    threshold_dn : np.ndarray
        float32 thresholds from `prepare_saturation`, (nrows, nx).
    n_pix_grow_sat : int
        Neighbours on each side also flagged (a block needs this many halo rows for its interior
        to be exact).
    read_pattern : list of list of float, optional
        Read times (or indices, from 1) averaged into each group; enables the tests for saturation
        hidden by on-board averaging.
    bias_dn : np.ndarray, optional
        Bias of each pixel, DN, for those tests (0 when not given).
    """
    _flag_forward(ramp_dn, groupdq, threshold_dn)
    averaged = read_pattern is not None and any(len(frames) > 1 for frames in read_pattern)
    if averaged:
        dilution = np.array([np.mean(frames) / frames[-1] for frames in read_pattern], dtype=np.float64)
        bias = np.zeros_like(threshold_dn) if bias_dn is None else np.ascontiguousarray(bias_dn, dtype=np.float32)
        _flag_diluted(ramp_dn, groupdq, threshold_dn, bias, dilution)
    if n_pix_grow_sat > 0:
        saturated_before = (groupdq & SATURATED) != 0
        _grow(groupdq, saturated_before, n_pix_grow_sat)
    if averaged and ramp_dn.shape[0] > 2:
        first_to_third = float(read_pattern[2][-1] / np.mean(read_pattern[0]))
        _flag_second_group(ramp_dn, groupdq, threshold_dn, bias, first_to_third, float(len(read_pattern[1])))
