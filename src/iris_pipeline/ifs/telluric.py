"""Telluric correction of IFS cubes from a standard-star cube (pure arrays).

The standard's spectrum is the sum of its brightest spaxels (white light above ``aperture_fraction``
of the peak). Its intrinsic spectrum is taken as smooth: a low-order polynomial in wavelength fitted
with asymmetric clipping (points far below the fit are absorption and are rejected, points above are
kept), so that the ratio observed / fit is the atmosphere's transmission. This is the first step of
Vacca, Cushing & Rayner (2003, PASP 115, 389), who divide by a Vega model of the A0V star instead
of a polynomial; stellar lines of the standard are not modelled here.
"""

from __future__ import annotations

import numpy as np

__all__ = ["correct_telluric", "standard_spectrum", "telluric_transmission"]


def standard_spectrum(cube: np.ndarray, aperture_fraction: float = 0.05) -> np.ndarray:
    """Spectrum of the star of a standard cube (nwave, ny, nx): sum over its bright spaxels."""
    white = np.nanmedian(cube, axis=0)
    aperture = np.isfinite(white) & (white > aperture_fraction * np.nanmax(white))
    return np.nansum(cube[:, aperture], axis=1)


def telluric_transmission(wave_um: np.ndarray, spectrum: np.ndarray, degree: int = 3, clip_low: float = 1.5,
                          clip_high: float = 4.0, iterations: int = 10) -> np.ndarray:  # fmt: skip
    """Transmission = spectrum / its smooth continuum (polynomial of ``degree`` in wavelength).

    Raises
    ------
    ValueError
        When fewer than ``4 (degree + 1)`` wavelengths have a finite, positive standard spectrum.
    """
    good = np.isfinite(spectrum) & (spectrum > 0)
    if good.sum() < 4 * (degree + 1):
        raise ValueError(f"the standard spectrum has {int(good.sum())} usable wavelengths")
    x = (wave_um - wave_um.mean()) / np.ptp(wave_um)
    use = good.copy()
    for _ in range(iterations):
        coeffs = np.polynomial.polynomial.polyfit(x[use], spectrum[use], degree)
        fit = np.polynomial.polynomial.polyval(x, coeffs)
        residual = spectrum - fit
        spread = 1.4826 * np.median(np.abs(residual[use] - np.median(residual[use])))
        keep = good & (residual > -clip_low * spread) & (residual < clip_high * spread)
        if np.array_equal(keep, use):
            break
        use = keep
    return np.where(good, spectrum / fit, np.nan)


def correct_telluric(cube, err, transmission, min_transmission: float = 0.2):
    """Divide a cube by the transmission; planes below ``min_transmission`` become NaN (returned mask)."""
    bad = ~np.isfinite(transmission) | (transmission < min_transmission)
    safe = np.where(bad, 1.0, transmission)[:, None, None]
    corrected = np.where(bad[:, None, None], np.nan, cube / safe)
    corrected_err = np.where(bad[:, None, None], np.nan, err / safe)
    return corrected, corrected_err, bad
