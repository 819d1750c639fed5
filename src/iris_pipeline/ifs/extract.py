"""Extraction of IFS spectra from a count-rate image (numba, parallel over detector columns).

At every detector column the spectra that cross it are modelled as ``sum_s f_s P_s(y)``, with
``P_s`` the pixel-integrated Gaussian cross-dispersion profile of spaxel ``s`` centred on its
trace (``SpectralFormat``), and the fluxes ``f_s`` are the weighted least-squares solution
(weights: inverse pixel variance; bad pixels weight 0).

- ``bandwidth = 0`` treats every spectrum alone: ``f = sum(w P d) / sum(w P^2)``, the optimal
  extraction of Horne (1986, PASP 98, 609) with a known profile. Light of the neighbours inside
  the profile is attributed to the spectrum: about 1.5 % per neighbour for the nominal slicer
  format, tens of percent for lenslets.
- ``bandwidth = b > 0`` solves jointly for overlapping neighbours: the normal matrix couples each
  spectrum with the ``b`` next ones along the column, a banded symmetric system solved by a banded
  Cholesky factorisation. This is Horne's weighted profile fit generalised to several profiles, and
  the least-squares form of the OSIRIS rectification-matrix deblending (Krabbe et al. 2004; Lyke
  et al. 2017). spec2 uses it for both modes.

The variance of each flux is ``(N^-1)_ss``, the diagonal of the inverse of the normal matrix
``N``: ``1 / N_ss`` for ``bandwidth = 0``; for deblended spectra it includes the noise that the
deconvolution adds (lenslets: about 3 % of the variance, slicer: below 0.1 %). The band of
``N^-1`` comes from the Cholesky factor by selected inversion (Takahashi, Fagan & Chin 1973;
Erisman & Tinney 1975), ``O(m b^2)`` per column like the factorisation. Deblended neighbours are
anticorrelated (``(N^-1)_st < 0``): a sum over neighbouring spectra has less variance than the
sum of theirs, by about 20 % for adjacent lenslets; ``covariance=True`` returns that band.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .format import SpectralFormat

__all__ = ["PROFILE_HALF_WIDTH_SIGMA", "extract_spectra", "model_image"]

PROFILE_HALF_WIDTH_SIGMA = 4.0
"""Rows used on each side of a trace centre, in profile widths."""


@numba.njit(nogil=True, cache=True, inline="always")
def _profile(row, centre, scale):
    return 0.5 * (math.erf((row + 0.5 - centre) * scale) - math.erf((row - 0.5 - centre) * scale))


@numba.njit(parallel=True, nogil=True, cache=True)
def _extract(rate, weight, x_start, x_end, x_ref, trace, sigma, x0, y0, bandwidth, flux, var, valid, covar, partner):
    ny, nx = rate.shape
    nspax = x_start.shape[0]
    for col in numba.prange(nx):
        x = col + x0
        active = np.empty(nspax, dtype=np.int64)
        m = 0
        for s in range(nspax):
            if x_start[s] <= x <= x_end[s]:
                active[m] = s
                m += 1
        if m == 0:
            continue
        centre = np.empty(m)
        scale = np.empty(m)
        first = np.empty(m, dtype=np.int64)
        last = np.empty(m, dtype=np.int64)
        inside = np.ones(m, dtype=np.bool_)
        for j in range(m):
            s = active[j]
            u = x - x_ref[s]
            centre[j] = trace[s, 0] + u * (trace[s, 1] + u * trace[s, 2]) - y0
            scale[j] = 1.0 / (math.sqrt(2.0) * sigma[s])
            half = PROFILE_HALF_WIDTH_SIGMA * sigma[s]
            first[j] = int(math.floor(centre[j] - half))
            last[j] = int(math.ceil(centre[j] + half))
            if first[j] < 0 or last[j] > ny - 1:
                inside[j] = False
                first[j] = max(first[j], 0)
                last[j] = min(last[j], ny - 1)
        # Profiles evaluated once per spectrum and column: CDF at the row edges, differenced.
        width = 0
        for j in range(m):
            width = max(width, last[j] - first[j] + 1)
        profile = np.zeros((m, width))
        for j in range(m):
            lower = math.erf((first[j] - 0.5 - centre[j]) * scale[j])
            for row in range(first[j], last[j] + 1):
                upper = math.erf((row + 0.5 - centre[j]) * scale[j])
                profile[j, row - first[j]] = 0.5 * (upper - lower)
                lower = upper
        normal = np.zeros((m, bandwidth + 1))
        rhs = np.zeros(m)
        for j in range(m):
            for row in range(first[j], last[j] + 1):
                w = weight[row, col]
                if w == 0.0:
                    continue
                pj = profile[j, row - first[j]]
                rhs[j] += w * pj * rate[row, col]
                normal[j, 0] += w * pj * pj
            for d in range(1, bandwidth + 1):
                k = j + d
                if k >= m:
                    break
                total = 0.0
                for row in range(max(first[j], first[k]), min(last[j], last[k]) + 1):
                    total += weight[row, col] * profile[j, row - first[j]] * profile[k, row - first[k]]
                normal[j, d] = total
        good = np.empty(m, dtype=np.bool_)
        for j in range(m):
            # A spectrum that leaves the window or has no usable pixel is not solved for; its
            # neighbours' coupling to it is removed with it.
            good[j] = inside[j] and normal[j, 0] > 0.0
            if not good[j]:
                normal[j, 0] = 1.0
                rhs[j] = 0.0
                for d in range(1, bandwidth + 1):
                    normal[j, d] = 0.0
                    if j - d >= 0:
                        normal[j - d, d] = 0.0
        # Banded Cholesky N = L L^T, L stored as chol[i, d] = L[i, i - d].
        chol = np.zeros((m, bandwidth + 1))
        for i in range(m):
            for d in range(min(bandwidth, i), -1, -1):
                j = i - d
                total = normal[j, d]
                for t in range(max(0, i - bandwidth), j):
                    total -= chol[i, i - t] * chol[j, j - t]
                if d == 0:
                    chol[i, 0] = math.sqrt(total) if total > 0.0 else math.inf
                else:
                    chol[i, d] = total / chol[j, 0]
        z = np.empty(m)
        for i in range(m):
            total = rhs[i]
            for t in range(max(0, i - bandwidth), i):
                total -= chol[i, i - t] * z[t]
            z[i] = total / chol[i, 0]
        for i in range(m - 1, -1, -1):
            total = z[i]
            for t in range(i + 1, min(m - 1, i + bandwidth) + 1):
                total -= chol[t, t - i] * z[t]
            z[i] = total / chol[i, 0]
        # Band of N^-1 (the fluxes' covariance) by selected inversion of the Cholesky factor
        # (Takahashi et al. 1973; Erisman & Tinney 1975): inverse[j, d] = (N^-1)[j, j + d], from the
        # last row up, each entry from entries of the band already computed.
        inverse = np.zeros((m, bandwidth + 1))
        for j in range(m - 1, -1, -1):
            reach = min(m - 1, j + bandwidth)
            for k in range(reach, j, -1):
                total = 0.0
                for t in range(j + 1, reach + 1):
                    total += inverse[min(k, t), abs(k - t)] * chol[t, t - j]
                inverse[j, k - j] = -total / chol[j, 0]
            total = 0.0
            for t in range(j + 1, reach + 1):
                total += chol[t, t - j] * inverse[j, t - j]
            inverse[j, 0] = (1.0 / chol[j, 0] - total) / chol[j, 0]
        for j in range(m):
            s = active[j]
            offset = x - x_start[s]
            # Without deblending 1 / N_ss is the variance, as computed (no rounding of the inversion).
            variance = 1.0 / normal[j, 0] if bandwidth == 0 else inverse[j, 0]
            if good[j] and math.isfinite(z[j]) and variance > 0.0:
                flux[s, offset] = z[j]
                var[s, offset] = variance
                valid[s, offset] = True
                if covar.shape[0] > 0:
                    for d in range(1, min(bandwidth, m - 1 - j) + 1):
                        if good[j + d]:
                            covar[s, offset, d - 1] = inverse[j, d]
                            partner[s, offset, d - 1] = active[j + d]


def extract_spectra(
    rate_dn_s: np.ndarray,
    var_dn2_s2: np.ndarray,
    bad: np.ndarray,
    spectral_format: SpectralFormat,
    x0: int = 0,
    y0: int = 0,
    bandwidth: int = 0,
    covariance: bool = False,
) -> tuple[np.ndarray, ...]:
    """Flux of every spectrum at every detector column it crosses.

    Parameters
    ----------
    rate_dn_s : np.ndarray
        Count rate, DN/s, (ny, nx) window of the detector.
    var_dn2_s2 : np.ndarray
        Variance of each pixel, (DN/s)^2.
    bad : np.ndarray
        True for pixels to ignore.
    spectral_format : SpectralFormat
        Trace and profile of every spaxel (full-frame coordinates).
    x0, y0 : int
        Full-frame 0-based column and row of the window's first pixel (SUBSTRT - 1).
    bandwidth : int
        Neighbours solved jointly on each side (0: optimal extraction of each spectrum alone).
    covariance : bool
        Also return the covariance of every flux with those of its ``bandwidth`` next neighbours
        along the column (the deblended fluxes are anticorrelated).

    Returns
    -------
    flux_dn_s, var, valid : np.ndarray
        (nspax, length) flux per column in DN/s (column ``j`` is detector column ``x_start + j``),
        its variance in (DN/s)^2, and where it was measured.
    covar_dn2_s2, partner : np.ndarray
        With ``covariance``: (nspax, length, bandwidth) covariance, (DN/s)^2, of flux ``[s, j]``
        with the flux of spaxel ``partner[s, j, d]`` at the same detector column, the ``d + 1``-th
        spectrum after ``s`` there; covariance 0 and partner -1 where there is none.
    """
    shape = (spectral_format.nspax, spectral_format.length)
    flux = np.full(shape, np.nan)
    var = np.full(shape, np.nan)
    valid = np.zeros(shape, dtype=bool)
    band_shape = (*shape, bandwidth) if covariance else (0, 0, 0)
    covar = np.zeros(band_shape)
    partner = np.full(band_shape, -1, dtype=np.int64)
    usable = ~bad & np.isfinite(rate_dn_s) & np.isfinite(var_dn2_s2) & (var_dn2_s2 > 0)
    weight = np.where(usable, 1.0 / np.where(usable, var_dn2_s2, 1.0), 0.0)
    rate = np.where(usable, rate_dn_s, 0.0).astype(np.float64)
    _extract(rate, weight, spectral_format.x_start, spectral_format.x_end, spectral_format.x_ref,
             np.ascontiguousarray(spectral_format.trace), spectral_format.sigma, int(x0), int(y0), int(bandwidth),
             flux, var, valid, covar, partner)  # fmt: skip
    return (flux, var, valid, covar, partner) if covariance else (flux, var, valid)


@numba.njit(parallel=True, nogil=True, cache=True)
def _model(image, x_start, x_end, x_ref, trace, sigma, flux, x0, y0):
    ny, nx = image.shape
    for col in numba.prange(nx):
        x = col + x0
        for s in range(x_start.shape[0]):
            if x < x_start[s] or x > x_end[s]:
                continue
            value = flux[s, x - x_start[s]]
            if not math.isfinite(value):
                continue
            u = x - x_ref[s]
            centre = trace[s, 0] + u * (trace[s, 1] + u * trace[s, 2]) - y0
            scale = 1.0 / (math.sqrt(2.0) * sigma[s])
            half = PROFILE_HALF_WIDTH_SIGMA * sigma[s]
            for row in range(max(0, int(math.floor(centre - half))), min(ny - 1, int(math.ceil(centre + half))) + 1):
                image[row, col] += value * _profile(row, centre, scale)


def model_image(shape, spectral_format: SpectralFormat, flux_dn_s: np.ndarray, x0: int = 0, y0: int = 0) -> np.ndarray:
    """Detector image (DN/s) of spectra ``flux_dn_s`` (nspax, length) through the format's profiles."""
    image = np.zeros(shape)
    fmt = spectral_format
    flux = np.ascontiguousarray(flux_dn_s, dtype=float)
    _model(image, fmt.x_start, fmt.x_end, fmt.x_ref, np.ascontiguousarray(fmt.trace), fmt.sigma, flux, int(x0), int(y0))
    return image
