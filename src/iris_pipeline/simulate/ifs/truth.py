"""Comparison of IFS products with the simulator's truth (for tests and ``benchmarks/check_ifs_truth.py``).

Every function reads products with ``astropy.io.fits`` and truth files written by
`simulate_ifs_observation`; none uses the pipeline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from scipy.optimize import least_squares
from scipy.special import erf

from .scene import FWHM_PER_SIGMA

__all__ = ["flux_ratio", "line_centroid_errors", "point_source_centroid", "truth_on_grid"]


def _cube(path):
    with fits.open(path) as hdul:
        return (hdul["SCI"].data.astype(float), hdul["ERR"].data.astype(float),
                hdul["WAVELENGTH"].data.astype(float))  # fmt: skip


def truth_on_grid(truth_dir, wave_um: np.ndarray) -> np.ndarray:
    """Truth cube (MJy/sr, sources only) interpolated to the wavelengths ``wave_um``."""
    with fits.open(Path(truth_dir) / "truth_cube.fits") as hdul:
        cube = hdul["SCI"].data.astype(float)
        wave = hdul["WAVELENGTH"].data.astype(float)
    flat = cube.reshape(cube.shape[0], -1)
    out = np.array([np.interp(wave_um, wave, flat[:, k], left=np.nan, right=np.nan) for k in range(flat.shape[1])])
    return out.T.reshape((wave_um.size,) + cube.shape[1:])


def flux_ratio(cube_path, truth_dir, min_snr: float = 20.0) -> tuple[float, int, np.ndarray]:
    """Median over spaxels with S/N > ``min_snr`` of (cube flux / truth flux), summed over wavelength.

    Returns the median ratio, the number of spaxels used, and the ratio map.
    """
    sci, err, wave = _cube(cube_path)
    truth = truth_on_grid(truth_dir, wave)
    use = np.isfinite(sci) & np.isfinite(truth)
    flux = np.where(use, sci, 0.0).sum(axis=0)
    noise = np.sqrt(np.where(use, err**2, 0.0).sum(axis=0))
    truth_flux = np.where(use, truth, 0.0).sum(axis=0)
    ratio = np.full(flux.shape, np.nan)
    np.divide(flux, truth_flux, out=ratio, where=truth_flux > 0)
    snr = flux / np.where(noise > 0, noise, np.inf)
    good = (snr > min_snr) & np.isfinite(ratio)
    return float(np.median(ratio[good])) if good.any() else float("nan"), int(good.sum()), ratio


def _gaussian_2d(params, x, y):
    amplitude, x0, y0, sigma, background, slope_x, slope_y = params
    scale = 1.0 / (np.sqrt(2.0) * sigma)
    gx = 0.5 * (erf((x + 0.5 - x0) * scale) - erf((x - 0.5 - x0) * scale))
    gy = 0.5 * (erf((y + 0.5 - y0) * scale) - erf((y - 0.5 - y0) * scale))
    return amplitude * gx * gy + background + slope_x * (x - x0) + slope_y * (y - y0)


def point_source_centroid(image: np.ndarray, guess_xy: tuple[float, float], half_box: int = 2) -> tuple[float, float]:
    """Centre of a point source: spaxel-integrated Gaussian plus a plane fitted in a box."""
    gx, gy = int(round(guess_xy[0])), int(round(guess_xy[1]))
    y0, y1 = max(gy - half_box, 0), min(gy + half_box + 1, image.shape[0])
    x0, x1 = max(gx - half_box, 0), min(gx + half_box + 1, image.shape[1])
    y, x = np.mgrid[y0:y1, x0:x1]
    # Normalised: flux densities of ~1e-17 would be below the solver's tolerances.
    data = image[y0:y1, x0:x1] / np.nanmax(np.abs(image[y0:y1, x0:x1]))
    use = np.isfinite(data)
    start = [np.nansum(data), guess_xy[0], guess_xy[1], 1.0, 0.0, 0.0, 0.0]
    fit = least_squares(lambda p: _gaussian_2d(p, x[use], y[use]) - data[use], start)
    return float(fit.x[1]), float(fit.x[2])


def _gaussian_residual(params, wave, values):
    return params[0] * np.exp(-0.5 * ((wave - params[1]) / params[2]) ** 2) - values


def line_centroid_errors(cube_path, truth_dir, line_name: str, resolving_power: float, min_snr: float = 30.0):
    """Line centre measured in every spaxel (Gaussian fit) minus the truth, in resolution elements.

    Spaxels with a line flux S/N below ``min_snr`` are left out.
    """
    sci, err, wave = _cube(cube_path)
    lines = Table.read(Path(truth_dir) / "lines.ecsv")
    errors = []
    for row in lines:
        centre = float(row[f"{line_name}_um"])
        if not wave[0] < centre < wave[-1]:
            continue
        spectrum = sci[:, int(row["SPAX_Y"]), int(row["SPAX_X"])]
        noise = err[:, int(row["SPAX_Y"]), int(row["SPAX_X"])]
        sigma = centre / (FWHM_PER_SIGMA * resolving_power)
        near = np.abs(wave - centre) < 5 * sigma
        side = (np.abs(wave - centre) > 6 * sigma) & (np.abs(wave - centre) < 14 * sigma)
        if near.sum() < 5 or side.sum() < 4 or not np.all(np.isfinite(spectrum[near | side])):
            continue
        continuum = np.polyval(np.polyfit(wave[side] - centre, spectrum[side], 1), wave[near] - centre)
        line = spectrum[near] - continuum
        step = wave[1] - wave[0]
        if line.sum() * step < min_snr * np.sqrt(np.sum(noise[near] ** 2)) * step:
            continue
        # Normalised amplitude and wavelength offsets in resolution sigmas keep the solver's tolerances meaningful.
        scaled = line / np.max(np.abs(line))
        fit = least_squares(_gaussian_residual, [1.0, 0.0, 1.0], args=((wave[near] - centre) / sigma, scaled))
        fitted_centre = centre + fit.x[1] * sigma
        errors.append((fitted_centre - centre) / (centre / resolving_power))
    return np.asarray(errors)
