"""Pixel flat-field correction of a count-rate image, in place.

Each good pixel is divided by the flat; its Poisson and read-noise variances by the flat
squared; the flat's own error adds ``VAR_FLAT = (data / flat)^2 (flat_err / flat)^2`` (the
propagation JWST's flat_field uses). A pixel whose flat is unusable (DO_NOT_USE in the flat's DQ,
not finite, or below ``min_flat``) is not divided, so that noise is never amplified by a dead or
near-dead flat value; it is flagged ``NO_FLAT_FIELD | DO_NOT_USE``. Every other flat DQ flag is
carried to the image's DQ.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..dqflags import PIXEL

__all__ = ["apply_flat"]

_DO_NOT_USE = np.uint32(PIXEL["DO_NOT_USE"])
_NO_FLAT_FIELD = np.uint32(PIXEL["NO_FLAT_FIELD"])


@numba.njit(parallel=True, nogil=True, cache=True)
def _apply_flat(data, dq, var_poisson, var_rnoise, var_flat, err, flat, flat_err, flat_dq, min_flat, do_not_use,
                no_flat):  # fmt: skip
    ny, nx = data.shape
    n_unusable = np.zeros(ny, np.int64)
    for row in numba.prange(ny):
        for column in range(nx):
            value = flat[row, column]
            bad = (flat_dq[row, column] & do_not_use) != 0 or not math.isfinite(value) or value < min_flat
            dq[row, column] |= flat_dq[row, column]
            if bad:
                dq[row, column] |= no_flat | do_not_use
                var_flat[row, column] = 0.0
                n_unusable[row] += 1
            else:
                corrected = data[row, column] / value
                data[row, column] = corrected
                inverse_sq = 1.0 / (value * value)
                var_poisson[row, column] *= inverse_sq
                var_rnoise[row, column] *= inverse_sq
                relative = flat_err[row, column] / value
                var_flat[row, column] = corrected * corrected * relative * relative
            err[row, column] = math.sqrt(var_poisson[row, column] + var_rnoise[row, column] + var_flat[row, column])
    return n_unusable.sum()


def apply_flat(
    data_dn_s: np.ndarray,
    dq: np.ndarray,
    var_poisson: np.ndarray,
    var_rnoise: np.ndarray,
    var_flat: np.ndarray,
    err: np.ndarray,
    flat: np.ndarray,
    flat_err: np.ndarray | None = None,
    flat_dq: np.ndarray | None = None,
    min_flat: float = 0.05,
) -> int:
    """Divide an image by a pixel flat, in place, with variance and DQ propagation.

    Parameters
    ----------
    data_dn_s : numpy.ndarray
        Count rate (any unit; the flat is dimensionless), float32 (ny, nx); modified.
    dq : numpy.ndarray
        uint32 DQ (ny, nx); flat DQ flags and NO_FLAT_FIELD are added.
    var_poisson, var_rnoise, var_flat, err : numpy.ndarray
        float32 (ny, nx) variances (unit of ``data``, squared) and total error; ``var_flat`` and
        ``err`` are overwritten.
    flat : numpy.ndarray
        Flat normalised to 1 (ny, nx).
    flat_err : numpy.ndarray, optional
        Error of the flat (default: zero).
    flat_dq : numpy.ndarray, optional
        DQ of the flat (default: all good).
    min_flat : float
        Flat values below this are unusable.

    Returns
    -------
    int
        Number of pixels whose flat was unusable.
    """
    shape = data_dn_s.shape
    for name, array in (("dq", dq), ("var_poisson", var_poisson), ("var_rnoise", var_rnoise),
                        ("var_flat", var_flat), ("err", err), ("flat", flat)):  # fmt: skip
        if array.shape != shape:
            raise ValueError(f"{name} has shape {array.shape}, the image {shape}")
    flat_err = np.zeros(shape, np.float32) if flat_err is None else flat_err
    flat_dq = np.zeros(shape, np.uint32) if flat_dq is None else flat_dq
    return int(
        _apply_flat(
            data_dn_s,
            dq,
            var_poisson,
            var_rnoise,
            var_flat,
            err,
            np.asarray(flat, np.float32),
            np.asarray(flat_err, np.float32),
            np.asarray(flat_dq, np.uint32),
            np.float32(min_flat),
            _DO_NOT_USE,
            _NO_FLAT_FIELD,
        )  # fmt: skip
    )
