"""Division of extracted spectra by the spectral flat, with the flat's error propagated.

A spectral flat made from a lamp exposure carries the lamp's photon noise, column by column (a
90 s lamp exposure gives about 0.8 % per column and spaxel). That noise multiplies every
spectrum divided by the flat, so it grows with the source: negligible for faint sources, it
dominates the error of bright ones (without it, the std of (cube - truth) / ERR of a point source
reached 1.5 at S/N 400 per plane). As the imager's ``flat_field`` (and JWST), the flat's relative
variance is propagated as ``VAR_FLAT = (data / flat)^2 (flat_err / flat)^2`` and added to ERR.

``VAR_FLAT`` is kept apart from the rest of the variance because the flat's error is common to
every exposure divided by the same flat: the sky subtraction (science and sky share the flat, so
the flat's error multiplies their difference, not each) and the combination of dithered cubes
(an input spaxel's flat error is the same in every exposure) treat it as correlated.
"""

from __future__ import annotations

import numpy as np

__all__ = ["divide_by_flat", "flat_relative_variance"]


def divide_by_flat(flux, var, response, response_err, bad):
    """Flat-fielded spectra, their total variance and its part from the flat.

    Parameters
    ----------
    flux, var : np.ndarray
        (nspax, length) extracted spectra and their variance (no flat error yet).
    response, response_err : np.ndarray
        (nspax, length) relative response and its error (same columns).
    bad : np.ndarray
        True where the response is unusable; those values become NaN.

    Returns
    -------
    flux, var, var_flat : np.ndarray
        ``flux / response``; ``var / response^2 + var_flat``; ``var_flat = (flux / response)^2
        (response_err / response)^2``.
    """
    safe = np.where(bad, 1.0, response)
    corrected = flux / safe
    relative_err = np.where(bad | ~np.isfinite(response_err), 0.0, response_err) / safe
    var_flat = np.square(corrected * relative_err)
    total = var / np.square(safe) + var_flat
    return tuple(np.where(bad, np.nan, array) for array in (corrected, total, var_flat))


def flat_relative_variance(flux, var_flat):
    """``(flat_err / flat)^2`` recovered from flat-fielded spectra and their ``VAR_FLAT`` (0 where flux is 0)."""
    flux = np.asarray(flux, dtype=float)
    out = np.zeros(flux.shape)
    np.divide(var_flat, np.square(flux), out=out, where=np.isfinite(flux) & (flux != 0) & np.isfinite(var_flat))
    return out
