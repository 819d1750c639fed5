"""Spectral calibrations from lamp exposures (pure arrays): wavelength solution, spectral flat, traces.

- `fit_gaussians`: pixel-integrated Gaussian plus constant fitted to many short profiles at once
  (vectorised Gauss-Newton); used for arc lines along the dispersion and for trace profiles across it.
- `fit_wavelength_solution`: arc lines found near their positions predicted by the nominal
  solution, centred by `fit_gaussians`, and a polynomial ``lambda(x - x_ref)`` fitted per spaxel
  with one 4-sigma clipping pass; residuals are reported in pixels.
- `spectral_flat`: each spaxel's lamp spectrum (per um) over the typical lamp spectrum (clipped
  mean of all spaxels at the same wavelength, smoothed): the relative response of every spaxel at
  every column.
- `measure_traces`: trace centre and profile width of isolated spectra (single-lenslet scans or
  slicer flats) in bins of columns, fitted by a quadratic in ``x - x_ref``.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
from scipy.signal import savgol_filter
from scipy.special import erf

from .extract import extract_spectra, model_image
from .format import SpectralFormat

__all__ = [
    "WavelengthSolution",
    "WavelengthSolutionError",
    "fit_gaussians",
    "fit_wavelength_solution",
    "measure_traces",
    "measure_traces_all_lit",
    "spectral_flat",
]

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
REFERENCE_WINDOW_PIX = 31
"""Columns of the smoothing of the spectral flat's reference (about 15 resolution elements)."""
REFERENCE_CLIP_SIGMA = 5.0
"""Spectra further than this from the median (robust standard deviations) are left out of the flat's reference."""


class WavelengthSolutionError(ValueError):
    """The arc lines do not constrain a wavelength solution (too few lines, or residuals too large)."""


def _integrated(offsets, centre, sigma):
    scale = 1.0 / (np.sqrt(2.0) * sigma)
    return 0.5 * (erf((offsets + 0.5 - centre) * scale) - erf((offsets - 0.5 - centre) * scale))


def fit_gaussians(samples: np.ndarray, positions: np.ndarray, centre: np.ndarray, sigma: np.ndarray,
                  iterations: int = 15) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Fit ``b + a * G(position; c, s)`` (G pixel-integrated, unit area) to each row of ``samples``.

    Parameters
    ----------
    samples : np.ndarray
        (n, k) values; NaN are ignored.
    positions : np.ndarray
        (n, k) integer pixel coordinates of the samples.
    centre, sigma : np.ndarray
        (n,) first guesses.

    Returns
    -------
    centre, sigma, amplitude, ok : np.ndarray
        Fitted values and whether the fit converged inside the window with a positive amplitude.
    """
    n = samples.shape[0]
    use = np.isfinite(samples)
    y = np.where(use, samples, 0.0)
    weight = use.astype(float)
    c = centre.astype(float).copy()
    s = sigma.astype(float).copy()
    background = np.nanmin(np.where(use, samples, np.inf), axis=1)
    background = np.where(np.isfinite(background), background, 0.0)
    a = np.sum(y - background[:, None] * weight, axis=1)
    for _ in range(iterations):
        g = _integrated(positions, c[:, None], s[:, None])
        step = 1e-4
        dg_dc = (_integrated(positions, c[:, None] + step, s[:, None]) - g) / step
        dg_ds = (_integrated(positions, c[:, None], s[:, None] + step) - g) / step
        residual = (y - background[:, None] - a[:, None] * g) * weight
        jac = np.stack([g, a[:, None] * dg_dc, a[:, None] * dg_ds, np.ones_like(g)], axis=2) * weight[:, :, None]
        normal = np.einsum("nki,nkj->nij", jac, jac) + 1e-12 * np.eye(4)[None]
        rhs = np.einsum("nki,nk->ni", jac, residual)
        try:
            delta = np.linalg.solve(normal, rhs[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            delta = np.zeros((n, 4))
        a += delta[:, 0]
        c += np.clip(delta[:, 1], -1.0, 1.0)
        s = np.clip(s + np.clip(delta[:, 2], -0.3, 0.3), 0.2, 10.0)
        background += delta[:, 3]
    lo = np.min(positions, axis=1)
    hi = np.max(positions, axis=1)
    ok = np.isfinite(c) & (a > 0) & (c > lo) & (c < hi) & (s > 0.2) & (s < 10.0)
    return c, s, a, ok


class WavelengthSolution:
    """Per-spaxel wavelength solution and its arc-line residuals.

    Attributes
    ----------
    coeffs : np.ndarray
        (nspax, 4) coefficients of ``lambda(u)``, u = x - x_ref, um.
    x_ref : np.ndarray
        (nspax,) origin of u.
    nlines : np.ndarray
        Lines used per spaxel.
    rms_pix : np.ndarray
        RMS residual per spaxel, pixels.
    residuals_pix : np.ndarray
        Residual of every line used (all spaxels), pixels.
    """

    def __init__(self, coeffs, x_ref, nlines, rms_pix, residuals_pix):
        self.coeffs, self.x_ref, self.nlines, self.rms_pix, self.residuals_pix = (
            coeffs, x_ref, nlines, rms_pix, residuals_pix)  # fmt: skip

    @property
    def total_rms_pix(self) -> float:
        """RMS of all residuals, pixels."""
        return float(np.sqrt(np.mean(self.residuals_pix**2))) if self.residuals_pix.size else float("nan")


def fit_wavelength_solution(flux, valid, spectral_format: SpectralFormat, line_list_um, resolving_power,
                            degree: int = 3, search_pix: float = 6.0, min_separation_resel: float = 3.0,
                            max_rms_pix: float = 0.2) -> WavelengthSolution:  # fmt: skip
    """Fit the wavelength solution of every spaxel to an arc exposure's extracted spectra.

    Parameters
    ----------
    flux, valid : np.ndarray
        (nspax, length) extracted arc spectra on the columns of ``spectral_format``.
    spectral_format : SpectralFormat
        The nominal format: its wavelengths predict where each line falls.
    line_list_um : np.ndarray
        Vacuum wavelengths of the lamp lines.
    resolving_power : float
        R, for the line width and blend rejection.
    degree : int
        Polynomial degree (at most 3).
    search_pix : float
        Largest offset of a line from its predicted column.
    min_separation_resel : float
        Lines closer than this many resolution elements to another list line are not used.
    max_rms_pix : float
        Largest acceptable RMS residual of all lines.

    Raises
    ------
    WavelengthSolutionError
        A spaxel with fewer than ``degree + 2`` usable lines, or residuals above ``max_rms_pix``.
    """
    x, inside = spectral_format.columns()
    nominal = spectral_format.wavelength_um(x)
    lines = np.sort(np.asarray(line_list_um, dtype=float))
    resel = lines / resolving_power
    gaps = np.diff(lines)
    isolated = np.ones(lines.size, dtype=bool)
    isolated[1:] &= gaps > min_separation_resel * resel[1:]
    isolated[:-1] &= gaps > min_separation_resel * resel[:-1]
    lines = lines[isolated]
    half = int(np.ceil(search_pix)) + 3
    spaxel_of, line_of, predicted = [], [], []
    for s in range(spectral_format.nspax):
        good = inside[s] & valid[s]
        if good.sum() < 2:
            continue
        lo, hi = nominal[s][good].min(), nominal[s][good].max()
        here = lines[(lines > lo) & (lines < hi)]
        columns = np.interp(here, nominal[s][inside[s]], x[s][inside[s]])
        keep = (columns - half > x[s, 0]) & (columns + half < spectral_format.x_end[s])
        spaxel_of += [s] * int(keep.sum())
        line_of += list(here[keep])
        predicted += list(columns[keep])
    spaxel_of = np.asarray(spaxel_of, dtype=int)
    wanted = np.asarray(line_of)
    predicted = np.asarray(predicted)
    # Peak within the search window, then a Gaussian fit on the 9 columns around it.
    offsets = np.arange(-half, half + 1)
    cols = np.rint(predicted).astype(int)[:, None] + offsets[None, :]
    index = cols - spectral_format.x_start[spaxel_of][:, None]
    values = np.where(valid[spaxel_of[:, None], index], flux[spaxel_of[:, None], index], np.nan)
    near = np.abs(offsets)[None, :] <= search_pix
    peak = np.nanargmax(np.where(near & np.isfinite(values), values, -np.inf), axis=1)
    centres = cols[np.arange(cols.shape[0]), peak]
    window = centres[:, None] + np.arange(-4, 5)[None, :]
    window_index = window - spectral_format.x_start[spaxel_of][:, None]
    samples = np.where(valid[spaxel_of[:, None], window_index], flux[spaxel_of[:, None], window_index], np.nan)
    sigma0 = np.full(centres.size, 2.0 / FWHM_PER_SIGMA)
    centre, _, _, ok = fit_gaussians(samples, window, centres.astype(float), sigma0)
    nspax = spectral_format.nspax
    coeffs = np.zeros((nspax, 4))
    nlines = np.zeros(nspax, dtype=int)
    rms = np.full(nspax, np.nan)
    residuals = []
    for s in range(nspax):
        mine = (spaxel_of == s) & ok
        if mine.sum() < degree + 2:
            raise WavelengthSolutionError(
                f"spaxel {s} (x={spectral_format.spax_x[s]}, y={spectral_format.spax_y[s]}): {int(mine.sum())} arc "
                f"lines found, a degree-{degree} solution needs {degree + 2}"
            )
        u = centre[mine] - spectral_format.x_ref[s]
        target = wanted[mine]
        use = np.ones(u.size, dtype=bool)
        for _ in range(2):
            poly = np.polynomial.polynomial.polyfit(u[use], target[use], degree)
            dispersion = np.polynomial.polynomial.polyval(u, np.polynomial.polynomial.polyder(poly))
            resid = (np.polynomial.polynomial.polyval(u, poly) - target) / dispersion
            spread = 1.4826 * np.median(np.abs(resid[use] - np.median(resid[use])))
            clip = np.abs(resid) <= max(4.0 * spread, 0.02)
            if clip.sum() < degree + 2 or np.array_equal(clip, use):
                break
            use = clip
        coeffs[s, : degree + 1] = poly
        nlines[s] = int(use.sum())
        rms[s] = float(np.sqrt(np.mean(resid[use] ** 2)))
        residuals.append(resid[use])
    solution = WavelengthSolution(coeffs, spectral_format.x_ref.copy(), nlines, rms, np.concatenate(residuals))
    if not solution.total_rms_pix <= max_rms_pix:
        raise WavelengthSolutionError(
            f"arc-line residuals of {solution.total_rms_pix:.3f} pixel RMS exceed {max_rms_pix} pixel: no convergence"
        )
    return solution


def spectral_flat(flux, valid, wave_um, dispersion_um_per_pix, min_fraction: float = 0.2,
                  reference_window_pix: int = REFERENCE_WINDOW_PIX):  # fmt: skip
    """Relative response of every spaxel at every column from a continuum-lamp exposure.

    The reference, the typical lamp spectrum, divides every spaxel: its noise is common to all of
    them (the same error at one wavelength in every spaxel, which no per-spaxel error describes and
    which a sum over spaxels does not average down), so it is made as quiet as the lamp allows. It
    is the mean over spaxels, at each wavelength, of the spectra within ``REFERENCE_CLIP_SIGMA``
    robust standard deviations of their median (the median itself is noisier: with spaxel
    throughputs a few percent apart, its noise is that of a few spaxels, not of all), smoothed
    along the spectrum by a quadratic Savitzky-Golay filter of ``reference_window_pix`` columns.
    Lamp and throughput are smooth on that scale; structure finer than that which every spaxel
    shares goes into every response alike, as instrument response.

    Parameters
    ----------
    flux, valid : np.ndarray
        (nspax, length) extracted lamp spectra (DN/s per column) and validity.
    wave_um, dispersion_um_per_pix : np.ndarray
        Wavelength and dispersion of every column.
    min_fraction : float
        Responses below this fraction of the median are flagged as unusable (returned NaN).
    reference_window_pix : int
        Length of the reference's smoothing filter, columns (odd; 1 leaves it unsmoothed).

    Returns
    -------
    response : np.ndarray
        (nspax, length), median 1; NaN where undefined.
    """
    density = np.where(valid, flux / np.abs(dispersion_um_per_pix), np.nan)
    good = valid & np.isfinite(density)
    lo = np.max(np.where(good, wave_um, np.inf).min(axis=1))
    hi = np.min(np.where(good, wave_um, -np.inf).max(axis=1))
    step = np.nanmedian(np.abs(dispersion_um_per_pix))
    grid = np.arange(min(lo, hi), max(lo, hi) + step, step)
    resampled = np.full((flux.shape[0], grid.size), np.nan)
    for s in range(flux.shape[0]):
        if good[s].sum() >= 2:
            resampled[s] = np.interp(grid, wave_um[s][good[s]], density[s][good[s]], left=np.nan, right=np.nan)
    with warnings.catch_warnings():
        # Grid points that no spectrum covers stay NaN.
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        median = np.nanmedian(resampled, axis=0)
        spread = 1.4826 * np.nanmedian(np.abs(resampled - median), axis=0)
        typical = np.where(np.abs(resampled - median) <= REFERENCE_CLIP_SIGMA * spread, resampled, np.nan)
        lamp = np.nanmean(typical, axis=0)
    covered = np.isfinite(lamp)
    window = min(int(reference_window_pix) | 1, int(covered.sum()) - (1 - int(covered.sum()) % 2))
    if window > 3:
        filled = np.interp(grid, grid[covered], lamp[covered])
        lamp = np.where(covered, savgol_filter(filled, window, 2, mode="interp"), np.nan)
    reference = np.interp(wave_um, grid, lamp)
    response = density / reference
    response /= np.nanmedian(response)
    return np.where(good & (response > min_fraction), response, np.nan)


def measure_traces(rate_dn_s, spectral_format: SpectralFormat, lit: np.ndarray, x0: int = 0, y0: int = 0,
                   bin_columns: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Trace centre polynomial and profile width of the lit spectra of an exposure.

    Parameters
    ----------
    rate_dn_s : np.ndarray
        (ny, nx) count rate of a lamp exposure in which the spectra ``lit`` are isolated.
    spectral_format : SpectralFormat
        Nominal format (first guesses and the column range of each spectrum).
    lit : np.ndarray
        (nspax,) True for the spectra to measure.
    x0, y0 : int
        Full-frame position of the array's first pixel.
    bin_columns : int
        Columns summed per measurement.

    Returns
    -------
    trace : np.ndarray
        (nspax, 3) quadratic coefficients of the centre row in ``x - x_ref`` (NaN where not lit).
    sigma : np.ndarray
        (nspax,) median profile width, pixels.
    rms_pix : np.ndarray
        (nspax,) RMS of the binned centres about the fitted quadratic.
    """
    ny, nx = rate_dn_s.shape
    trace = np.full((spectral_format.nspax, 3), np.nan)
    sigma = np.full(spectral_format.nspax, np.nan)
    rms = np.full(spectral_format.nspax, np.nan)
    for s in np.flatnonzero(lit):
        starts = np.arange(spectral_format.x_start[s], spectral_format.x_end[s] - bin_columns + 2, bin_columns)
        centres_x = starts + 0.5 * (bin_columns - 1)
        guess = spectral_format.trace_row(np.broadcast_to(centres_x, (spectral_format.nspax, centres_x.size)))[s]
        half = int(np.ceil(4 * spectral_format.sigma[s]))
        rows = np.rint(guess).astype(int)[:, None] + np.arange(-half, half + 1)[None, :]
        inside = (rows - y0 >= 0).all(axis=1) & (rows - y0 < ny).all(axis=1)
        inside &= (starts - x0 >= 0) & (starts + bin_columns - x0 <= nx)
        if inside.sum() < 4:
            continue
        rows, starts_in, centres_in = rows[inside], starts[inside], centres_x[inside]
        samples = np.stack([rate_dn_s[r - y0][:, c - x0 : c - x0 + bin_columns].sum(axis=1)
                            for r, c in zip(rows, starts_in, strict=True)])  # fmt: skip
        fitted, width, _, ok = fit_gaussians(samples, rows.astype(float), guess[inside], np.full(rows.shape[0],
                                             spectral_format.sigma[s]))  # fmt: skip
        if ok.sum() < 4:
            continue
        u = centres_in[ok] - spectral_format.x_ref[s]
        trace[s] = np.polynomial.polynomial.polyfit(u, fitted[ok], 2)
        rms[s] = float(np.sqrt(np.mean((np.polynomial.polynomial.polyval(u, trace[s]) - fitted[ok]) ** 2)))
        sigma[s] = float(np.median(width[ok]))
    return trace, sigma, rms


def measure_traces_all_lit(rate_dn_s, var_dn2_s2, spectral_format: SpectralFormat, x0: int = 0, y0: int = 0,
                           interleave: int = 3, iterations: int = 10, bandwidth: int = 2,
                           damping: float = 0.5) -> SpectralFormat:  # fmt: skip
    """Trace centres and widths measured on a lamp exposure in which every spectrum is lit (a flat).

    The spectra are split into ``interleave`` groups of every ``interleave``-th spectrum along the
    detector; for each group, the model of all other spectra (deblended fluxes through the current
    format, `model_image`) is subtracted, which leaves that group's spectra isolated, and
    `measure_traces` measures them. Repeated ``iterations`` times, each moving the format by
    ``damping`` times the measured change (an undamped update overshoots: the neighbours' models
    carry the previous widths).

    Returns
    -------
    SpectralFormat
        The format with measured trace coefficients and profile widths (unmeasured spectra keep
        their input values).
    """
    bad = np.zeros(rate_dn_s.shape, dtype=bool)
    current = spectral_format
    order = np.arange(current.nspax)
    for _ in range(iterations):
        flux, _, valid = extract_spectra(rate_dn_s, var_dn2_s2, bad, current, x0, y0, bandwidth)
        flux = np.where(valid, flux, 0.0)
        trace, sigma = current.trace.copy(), current.sigma.copy()
        for group in range(interleave):
            members = (order % interleave) == group
            others = model_image(rate_dn_s.shape, current, np.where(members[:, None], 0.0, flux), x0, y0)
            centres, widths, _ = measure_traces(rate_dn_s - others, current, members, x0, y0)
            done = members & np.isfinite(widths)
            trace[done] += damping * (centres[done] - trace[done])
            sigma[done] += damping * (widths[done] - sigma[done])
        current = replace(current, trace=trace, sigma=sigma)
    return current
