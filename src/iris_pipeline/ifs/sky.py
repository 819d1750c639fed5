"""Sky subtraction of extracted IFS spectra with OH-line scaling.

The sky exposure's spectra (extracted through the same format, so column by column the same
wavelengths) are split into a smooth continuum (block medians along the spectrum) and OH lines
(the rest). OH lines vary in brightness between exposures (Davies 2007, MNRAS 375, 1099); the
science spectra get ``science - sky_continuum - alpha * sky_lines``, with one ``alpha`` for the
exposure: the median over spaxels of the least-squares ratio of the science line residuals
(science minus its own continuum) to the sky lines, on the columns within two resolution
sigmas of a catalogued OH line. The median over spaxels makes ``alpha`` insensitive to source
emission lines that fall on an OH line in a few spaxels. Davies scales each vibrational band
separately; one factor is the first step of that method.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["oh_line_mask", "oh_scale_factor", "running_median", "subtract_sky"]

CONTINUUM_WINDOW_PIX = 21
"""Length of the running median that separates continuum and lines (pixels; > 10 resolution elements)."""


def running_median(flux: np.ndarray, valid: np.ndarray, window_pix: int = CONTINUUM_WINDOW_PIX) -> np.ndarray:
    """Smooth continuum of each spectrum: medians of consecutive blocks of ``window_pix`` columns,
    interpolated linearly between block centres (invalid pixels filled by the spectrum's median first).

    Block medians cost a fraction of a sliding median and are as insensitive to lines a few
    pixels wide.
    """
    with warnings.catch_warnings():
        # A spectrum without a valid pixel is filled with zeros.
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        fill = np.nanmedian(np.where(valid, flux, np.nan), axis=1)
    filled = np.where(valid, flux, np.nan_to_num(fill)[:, None])
    nspax, length = filled.shape
    nblocks = max(1, -(-length // window_pix))
    padded = np.pad(filled, ((0, 0), (0, nblocks * window_pix - length)), mode="edge")
    medians = np.median(padded.reshape(nspax, nblocks, window_pix), axis=2)
    if nblocks == 1:
        return np.repeat(medians, length, axis=1)
    position = np.clip((np.arange(length) - 0.5 * (window_pix - 1)) / window_pix, 0.0, nblocks - 1.0)
    left = np.minimum(np.floor(position).astype(int), nblocks - 2)
    weight = position - left
    return (1.0 - weight) * medians[:, left] + weight * medians[:, left + 1]


def oh_line_mask(wave_um: np.ndarray, oh_wave_um: np.ndarray, resolving_power: float, width_sigma: float = 2.0):
    """True on columns within ``width_sigma`` resolution sigmas of an OH line."""
    sigma = wave_um / (2.3548 * resolving_power)
    mask = np.zeros(wave_um.shape, dtype=bool)
    for line in oh_wave_um:
        mask |= np.abs(wave_um - line) < width_sigma * sigma
    return mask


def oh_scale_factor(science, sky_lines, line_mask, valid) -> float:
    """OH brightness of the science exposure relative to the sky exposure (median over spaxels)."""
    science_lines = science - running_median(science, valid)
    use = line_mask & valid
    numerator = np.sum(np.where(use, science_lines * sky_lines, 0.0), axis=1)
    denominator = np.sum(np.where(use, sky_lines * sky_lines, 0.0), axis=1)
    ratios = numerator[denominator > 0] / denominator[denominator > 0]
    if ratios.size == 0:
        return 1.0
    return float(np.median(ratios))


def subtract_sky(science, science_var, science_valid, sky, sky_var, sky_valid, wave_um, oh_wave_um,
                 resolving_power, scale_oh: bool = True):  # fmt: skip
    """Subtract the sky spectra, scaling its OH lines to the science exposure.

    Parameters
    ----------
    science, science_var, science_valid, sky, sky_var, sky_valid : np.ndarray
        (nspax, length) extracted spectra (same format and columns) and variances.
    wave_um : np.ndarray
        (nspax, length) wavelength of each column.
    oh_wave_um : np.ndarray
        Catalogued OH line wavelengths.
    resolving_power : float
        R, for the width of the line windows.
    scale_oh : bool
        False subtracts the sky unscaled.

    Returns
    -------
    flux, var, valid : np.ndarray
        Sky-subtracted spectra.
    alpha : float
        OH scale factor applied.
    """
    valid = science_valid & sky_valid
    sky_continuum = running_median(sky, sky_valid)
    sky_lines = np.where(sky_valid, sky - sky_continuum, 0.0)
    alpha = 1.0
    if scale_oh:
        mask = oh_line_mask(wave_um, oh_wave_um, resolving_power)
        alpha = oh_scale_factor(np.where(valid, science, 0.0), sky_lines, mask, valid)
    flux = science - sky_continuum - alpha * sky_lines
    var = science_var + sky_var * np.where(np.abs(sky_lines) > 0, alpha**2, 1.0)
    return np.where(valid, flux, np.nan), np.where(valid, var, np.nan), valid, alpha
