"""Checks on the detector noise model (gain and read noise) before ramp fitting."""

from __future__ import annotations

import numpy as np

from .. import dqflags

__all__ = ["prepare_noise_model"]

NO_GAIN = np.uint32(dqflags.PIXEL["NO_GAIN_VALUE"] | dqflags.PIXEL["DO_NOT_USE"])
NO_READ_NOISE = np.uint32(dqflags.PIXEL["DO_NOT_USE"])


def prepare_noise_model(read_noise_dn: np.ndarray, gain_e_per_dn: np.ndarray, pixeldq: np.ndarray):
    """Usable read noise and gain: unusable values flagged in the pixel DQ (in place) and replaced.

    A gain that is not finite or not positive gets ``NO_GAIN_VALUE`` and ``DO_NOT_USE`` (as in
    JWST); a read noise that is not finite or negative gets ``DO_NOT_USE``. The replacements (gain
    1, read noise 0) only keep the arithmetic finite for pixels that are not used.

    Returns
    -------
    read_noise_dn, gain_e_per_dn : np.ndarray
        float32 copies.
    """
    bad_gain = ~np.isfinite(gain_e_per_dn) | (gain_e_per_dn <= 0)
    bad_noise = ~np.isfinite(read_noise_dn) | (read_noise_dn < 0)
    pixeldq |= np.where(bad_gain, NO_GAIN, np.uint32(0)) | np.where(bad_noise, NO_READ_NOISE, np.uint32(0))
    gain = np.where(bad_gain, 1.0, gain_e_per_dn).astype(np.float32)
    read_noise = np.where(bad_noise, 0.0, read_noise_dn).astype(np.float32)
    return read_noise, gain
