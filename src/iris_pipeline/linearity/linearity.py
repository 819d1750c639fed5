"""Classical linearity correction on plain arrays (numba, parallel over rows).

The corrected signal is ``sum_k c_k S^k`` of the measured signal ``S`` in DN above the bias, the
convention of the LINEARITY reference file and of JWST (stcal ``linearity``; WFC3 Data Handbook,
"Detector Nonlinearity"). Saturated groups are left uncorrected; pixels whose coefficients are
unusable (any of them NaN, a zero linear term -- all-zero coefficients would zero the data -- or
``NO_LIN_CORR`` in the reference) are left uncorrected and flagged ``NO_LIN_CORR``. The reference's
DQ is OR-ed into the pixel DQ. All as stcal 1.20 does.
"""

from __future__ import annotations

import numba
import numpy as np

from .. import dqflags

__all__ = ["apply_linearity", "linearity_tables", "prepare_coefficients"]

NO_LIN_CORR = np.uint32(dqflags.PIXEL["NO_LIN_CORR"])
SATURATED = np.uint8(dqflags.GROUP["SATURATED"])


def prepare_coefficients(coeffs: np.ndarray, lin_dq: np.ndarray, pixeldq: np.ndarray) -> np.ndarray:
    """Coefficients to apply, with the identity polynomial where the correction is unknown.

    Parameters
    ----------
    coeffs : np.ndarray
        Polynomial coefficients, (ncoeffs, ny, nx), lowest order first.
    lin_dq : np.ndarray
        uint32 DQ of the linearity reference, OR-ed into the pixel DQ.
    pixeldq : np.ndarray
        uint32 pixel DQ of the exposure, updated in place; ``NO_LIN_CORR`` is added where the
        coefficients are unusable (any NaN, a zero linear term, or flagged so in the reference).

    Returns
    -------
    np.ndarray
        float32 coefficients (ncoeffs, ny, nx).
    """
    prepared, pixel_flags = linearity_tables(coeffs, lin_dq)
    pixeldq |= pixel_flags
    return prepared


def linearity_tables(coeffs: np.ndarray, lin_dq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What `prepare_coefficients` makes of a reference, alone: the same for every exposure.

    Returns
    -------
    prepared : np.ndarray
        float32 coefficients (ncoeffs, ny, nx), the identity polynomial where unusable.
    pixel_flags : np.ndarray
        uint32 flags to OR into an exposure's pixel DQ: the reference's DQ and ``NO_LIN_CORR``
        where the coefficients are unusable.
    """
    if coeffs.ndim != 3 or coeffs.shape[0] < 2:
        raise ValueError(f"linearity coefficients must be (ncoeffs >= 2, ny, nx), got {coeffs.shape}")
    unusable = ~np.all(np.isfinite(coeffs), axis=0) | (coeffs[1] == 0) | ((lin_dq & NO_LIN_CORR) != 0)
    prepared = np.array(coeffs, dtype=np.float32)
    prepared[:, unusable] = 0.0
    prepared[1, unusable] = 1.0
    return prepared, lin_dq.astype(np.uint32) | np.where(unusable, NO_LIN_CORR, np.uint32(0))


@numba.njit(parallel=True, nogil=True, cache=True)
def apply_linearity(ramp_dn, groupdq, coeffs):
    """Linearise every unsaturated group, in place.

    Parameters
    ----------
    ramp_dn : np.ndarray
        float32 groups of one integration, DN above the bias, (ngroups, nrows, nx).
    groupdq : np.ndarray
        uint8 group DQ, same shape; ``SATURATED`` groups are not corrected.
    coeffs : np.ndarray
        float32 coefficients for the same rows, (ncoeffs, nrows, nx), from `prepare_coefficients`.
    """
    ngroups, nrows, nx = ramp_dn.shape
    ncoeffs = coeffs.shape[0]
    for row in numba.prange(nrows):
        for group in range(ngroups):
            for col in range(nx):
                if groupdq[group, row, col] & SATURATED:
                    continue
                signal = ramp_dn[group, row, col]
                corrected = coeffs[ncoeffs - 1, row, col]
                for k in range(ncoeffs - 2, -1, -1):
                    corrected = corrected * signal + coeffs[k, row, col]
                ramp_dn[group, row, col] = corrected
