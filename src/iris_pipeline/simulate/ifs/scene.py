"""Truth of an IFS observation: the spectrum of every spaxel, and how it lands on the detector.

A scene is a point source (continuum, Gaussian PSF), an extended source (elliptical Gaussian,
continuum plus emission lines with a velocity gradient) and the sky (continuum plus OH lines),
all in flux density per spaxel, W m-2 um-1 (lines: W m-2). Spectra are seen at the instrument's
resolution: every line is a Gaussian of ``sigma^2 = sigma_intrinsic^2 + (lambda / (2.3548 R))^2``.

Detected signal: ``DN/s = F_lambda * dlambda * A * T(lambda) * t_spaxel(lambda) * lambda / (h c) /
gain`` with ``A`` the collecting area, ``T`` the system throughput (`system_throughput`),
``t_spaxel`` the relative throughput of the spaxel (lenslet or slice transmission) and ``gain``
the nominal gain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numba
import numpy as np
import yaml
from astropy.table import Table
from scipy.special import erf

from ..parameters import Stream, make_rng
from .format import IFSConfiguration

__all__ = [
    "EMISSION_LINES_UM",
    "IFSScene",
    "SpaxelSpectra",
    "arc_line_list",
    "column_signal_dn_s",
    "column_wavelengths",
    "disperse",
    "dn_s_per_flux",
    "oh_line_list",
    "scene_spectra",
    "spaxel_throughputs",
    "system_throughput",
    "telluric_transmission",
]

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
PLANCK_TIMES_C_J_M = 6.62607015e-34 * 2.99792458e8
C_KM_S = 2.99792458e5
IFS_STREAM_KEY = 1000
"""Key that separates the IFS random draws from the imager's within a stream."""

EMISSION_LINES_UM = {
    "Pa_beta": 1.28216,
    "FeII_1.644": 1.64400,
    "H2_1-0_S1": 2.12183,
    "Br_gamma": 2.16612,
    "H2_1-0_S0": 2.22329,
}
"""Rest vacuum wavelengths of the extended source's emission lines (um)."""


@cache
def _lines_file() -> dict:
    return yaml.safe_load(resources.files("iris_pipeline").joinpath("data/ifs_lines.yaml").read_text())


def arc_line_list(lamps=("Ar", "Kr", "Xe", "Ne")) -> np.ndarray:
    """Vacuum wavelengths (um), sorted, of the arc lines of ``lamps``."""
    lines = _lines_file()["arc_lines_um"]
    return np.sort(np.concatenate([np.asarray(lines[lamp], dtype=float) for lamp in lamps]))


def oh_line_list() -> tuple[np.ndarray, np.ndarray]:
    """OH sky lines: vacuum wavelengths (um) and relative intensities."""
    rows = np.asarray(_lines_file()["oh_lines"], dtype=float)
    return rows[:, 0], rows[:, 1]


def system_throughput(wave_um: np.ndarray, config: IFSConfiguration) -> np.ndarray:
    """System throughput (telescope, AO, instrument, QE) at ``wave_um``: 0.3 with a gentle slope."""
    lo, hi = config.wave_range_um
    return 0.3 * (1.0 + 0.2 * (np.asarray(wave_um) - 0.5 * (lo + hi)) / (hi - lo))


def dn_s_per_flux(wave_um: np.ndarray, config: IFSConfiguration) -> np.ndarray:
    """DN/s per um of spectrum per W m-2 um-1, before the spaxel throughput."""
    inst = config.description
    photons = inst.collecting_area_m2 * np.asarray(wave_um) * 1e-6 / PLANCK_TIMES_C_J_M
    return photons * system_throughput(wave_um, config) / inst.detector_defaults["gain_e_per_dn"]


@dataclass(frozen=True)
class IFSScene:
    """Sources and sky of a simulated IFS exposure (positions in spaxels, 0-based cube indices)."""

    point_xy_spax: tuple[float, float] | None = None
    point_fwhm_spax: float = 2.5
    point_flux_w_m2_um: float = 2e-16
    point_spectral_index: float = -1.0
    extended_xy_spax: tuple[float, float] | None = None
    extended_sigma_spax: tuple[float, float] = (2.0, 1.5)
    extended_peak_w_m2_um: float = 1e-17
    extended_spectral_index: float = 0.5
    line_flux_peak_w_m2: float = 4e-21
    line_sigma_km_s: float = 30.0
    velocity_gradient_km_s_per_spax: float = 15.0
    systemic_velocity_km_s: float = 0.0
    sky_continuum_w_m2_um: float = 1e-18
    oh_peak_w_m2: float = 2e-20
    oh_scale: float = 1.0
    telluric_depth: float = 0.0
    line_names: tuple[str, ...] = field(default_factory=lambda: tuple(EMISSION_LINES_UM))

    def positions(self, config: IFSConfiguration) -> tuple[tuple[float, float], tuple[float, float]]:
        """Point-source and extended-source centres; by default a quarter and three quarters across x."""
        cy = 0.5 * (config.nspax_y - 1)
        point = self.point_xy_spax or (0.25 * (config.nspax_x - 1) + 0.23, cy + 0.31)
        extended = self.extended_xy_spax or (0.72 * (config.nspax_x - 1), cy - 0.4)
        return point, extended


@dataclass
class SpaxelSpectra:
    """Analytic spectra of every spaxel (in the trace table's order).

    ``continuum_w_m2_um`` (nspax, ncomponents) amplitudes at the band centre of power laws with
    ``spectral_index`` (ncomponents,); ``line_centre_um``, ``line_flux_w_m2``, ``line_sigma_um``
    (nspax, nlines) Gaussian lines at the instrument resolution.
    """

    centre_um: float
    continuum_w_m2_um: np.ndarray
    spectral_index: np.ndarray
    line_centre_um: np.ndarray
    line_flux_w_m2: np.ndarray
    line_sigma_um: np.ndarray

    def flux_density(self, wave_um: np.ndarray) -> np.ndarray:
        """Flux density (W m-2 um-1) of every spaxel at ``wave_um`` ((nwave,) or (nspax, nwave))."""
        wave = np.broadcast_to(np.asarray(wave_um, dtype=float), (len(self.continuum_w_m2_um), np.shape(wave_um)[-1]))
        total = np.zeros(wave.shape)
        for amplitude, index in zip(self.continuum_w_m2_um.T, self.spectral_index, strict=True):
            total += amplitude[:, None] * (wave / self.centre_um) ** index
        for centre, flux, sigma in zip(self.line_centre_um.T, self.line_flux_w_m2.T, self.line_sigma_um.T, strict=True):
            z = (wave - centre[:, None]) / sigma[:, None]
            total += (flux / (sigma * np.sqrt(2 * np.pi)))[:, None] * np.exp(-0.5 * z * z)
        return total

    def band_flux(self, lo_um: np.ndarray, hi_um: np.ndarray) -> np.ndarray:
        """Flux (W m-2) of every spaxel between ``lo_um`` and ``hi_um`` (nspax, ncol), exact for lines."""
        total = np.zeros(lo_um.shape)
        mid = 0.5 * (lo_um + hi_um)
        for amplitude, index in zip(self.continuum_w_m2_um.T, self.spectral_index, strict=True):
            total += amplitude[:, None] * (mid / self.centre_um) ** index * (hi_um - lo_um)
        for centre, flux, sigma in zip(self.line_centre_um.T, self.line_flux_w_m2.T, self.line_sigma_um.T, strict=True):
            scale = 1.0 / (np.sqrt(2.0) * sigma[:, None])
            total += (
                0.5 * flux[:, None] * (erf((hi_um - centre[:, None]) * scale) - erf((lo_um - centre[:, None]) * scale))
            )
        return total


def _pixel_integrated_gaussian(centres, sigma, edges):
    scale = 1.0 / (np.sqrt(2.0) * sigma)
    return 0.5 * (erf((edges[1:] - centres) * scale) - erf((edges[:-1] - centres) * scale))


def scene_spectra(config: IFSConfiguration, trace: Table, scene: IFSScene, include_sky: bool = True,
                  include_sources: bool = True) -> SpaxelSpectra:  # fmt: skip
    """Spectra of every spaxel of ``trace`` for ``scene``.

    Sources are integrated over the spaxel (pixel-integrated Gaussians); lines of the extended
    source are shifted by its velocity field ``v = v_sys + gradient * (x - x_centre)``.
    """
    lo, hi = config.wave_range_um
    centre = 0.5 * (lo + hi)
    sx = np.asarray(trace["SPAX_X"], dtype=float)
    sy = np.asarray(trace["SPAX_Y"], dtype=float)
    (px, py), (ex, ey) = scene.positions(config)
    on = 1.0 if include_sources else 0.0
    psf_sigma = scene.point_fwhm_spax / FWHM_PER_SIGMA
    point_weight = _spaxel_fraction(sx, px, psf_sigma) * _spaxel_fraction(sy, py, psf_sigma)
    ext_weight = np.exp(
        -0.5 * (((sx - ex) / scene.extended_sigma_spax[0]) ** 2 + ((sy - ey) / scene.extended_sigma_spax[1]) ** 2)
    )
    sky = 1.0 if include_sky else 0.0
    continuum = np.stack([on * scene.point_flux_w_m2_um * point_weight, on * scene.extended_peak_w_m2_um * ext_weight,
                          np.full(len(sx), sky * scene.sky_continuum_w_m2_um)], axis=1)  # fmt: skip
    index = np.array([scene.point_spectral_index, scene.extended_spectral_index, 0.0])
    rest = np.array([EMISSION_LINES_UM[name] for name in scene.line_names])
    velocity = scene.systemic_velocity_km_s + scene.velocity_gradient_km_s_per_spax * (sx - ex)
    emission_centre = rest[None, :] * (1.0 + velocity[:, None] / C_KM_S)
    emission_flux = on * scene.line_flux_peak_w_m2 * ext_weight[:, None] * np.ones_like(rest)[None, :]
    emission_sigma = np.sqrt(
        (rest * scene.line_sigma_km_s / C_KM_S) ** 2 + (rest / (FWHM_PER_SIGMA * config.resolving_power)) ** 2
    )
    oh_wave, oh_strength = oh_line_list()
    oh_sigma = oh_wave / (FWHM_PER_SIGMA * config.resolving_power)
    n = len(sx)
    return SpaxelSpectra(
        centre_um=centre,
        continuum_w_m2_um=continuum,
        spectral_index=index,
        line_centre_um=np.concatenate([emission_centre, np.broadcast_to(oh_wave, (n, len(oh_wave)))], axis=1),
        line_flux_w_m2=np.concatenate(
            [
                emission_flux,
                np.broadcast_to(sky * scene.oh_scale * scene.oh_peak_w_m2 * oh_strength, (n, len(oh_wave))),
            ],
            axis=1,
        ),
        line_sigma_um=np.concatenate(
            [np.broadcast_to(emission_sigma, (n, len(rest))), np.broadcast_to(oh_sigma, (n, len(oh_wave)))], axis=1
        ),  # fmt: skip
    )


def _spaxel_fraction(index, centre, sigma):
    scale = 1.0 / (np.sqrt(2.0) * sigma)
    return 0.5 * (erf((index + 0.5 - centre) * scale) - erf((index - 0.5 - centre) * scale))


def column_wavelengths(trace: Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detector column, and wavelengths of its left and right edges, of every spectrum pixel.

    Returns (x, lo_um, hi_um), each (nspax, length) with the longest spectrum's length; columns
    beyond a shorter spectrum's end repeat its last one with zero width.
    """
    length = int(np.max(trace["X_END"] - trace["X_START"])) + 1
    offset = np.arange(length)[None, :]
    x = np.minimum(np.asarray(trace["X_START"])[:, None] + offset, np.asarray(trace["X_END"])[:, None])
    coeffs = [np.asarray(trace[f"WAVE_C{k}"])[:, None] for k in range(4)]

    def wave(column):
        u = column - np.asarray(trace["X_REF"])[:, None]
        return coeffs[0] + u * (coeffs[1] + u * (coeffs[2] + u * coeffs[3]))

    valid = (np.asarray(trace["X_START"])[:, None] + offset) <= np.asarray(trace["X_END"])[:, None]
    lo = wave(x - 0.5)
    hi = np.where(valid, wave(x + 0.5), lo)
    return x, lo, hi


TELLURIC_FEATURE_SPACING_UM = 0.0173
TELLURIC_FEATURE_SIGMA_UM = 0.0015


def telluric_transmission(wave_um: np.ndarray, depth: float) -> np.ndarray:
    """Synthetic atmospheric transmission: Gaussian absorption features every 17.3 nm (no atmospheric
    model; features of alternating depth ``depth`` and ``depth / 2``, 1.5 nm sigma, from 0.80 um)."""
    wave = np.asarray(wave_um, dtype=float)
    if depth == 0.0:
        return np.ones(wave.shape)
    index = np.arange(int((2.5 - 0.8) / TELLURIC_FEATURE_SPACING_UM) + 1)
    centres = 0.8 + TELLURIC_FEATURE_SPACING_UM * index
    strength = np.where(index % 2 == 0, depth, 0.5 * depth)
    absorption = np.zeros(wave.shape)
    for centre, amount in zip(centres, strength, strict=True):
        absorption = np.maximum(absorption, amount * np.exp(-0.5 * ((wave - centre) / TELLURIC_FEATURE_SIGMA_UM) ** 2))
    return 1.0 - absorption


def column_signal_dn_s(config: IFSConfiguration, trace: Table, spectra: SpaxelSpectra,
                       spaxel_throughput: np.ndarray, transmission=np.ones_like) -> np.ndarray:  # fmt: skip
    """Signal of every spectrum pixel column, DN/s, (nspax, length) (see `column_wavelengths`).

    ``transmission(wave_um)`` is the atmosphere's (default: none), evaluated at each column's centre.
    """
    _, lo, hi = column_wavelengths(trace)
    flux = spectra.band_flux(lo, hi)
    return flux * dn_s_per_flux(0.5 * (lo + hi), config) * spaxel_throughput * transmission(0.5 * (lo + hi))


@numba.njit(parallel=True, nogil=True, cache=True)
def _disperse(image, x_start, x_end, x_ref, trace_coeffs, sigma, signal, x0, y0):
    ny, nx = image.shape
    nspax = x_start.shape[0]
    for col in numba.prange(nx):
        x = col + x0
        for s in range(nspax):
            if x < x_start[s] or x > x_end[s]:
                continue
            u = x - x_ref[s]
            yc = trace_coeffs[s, 0] + u * (trace_coeffs[s, 1] + u * trace_coeffs[s, 2]) - y0
            value = signal[s, x - x_start[s]]
            half = 6.0 * sigma[s]
            scale = 1.0 / (np.sqrt(2.0) * sigma[s])
            first = max(0, int(np.floor(yc - half)))
            last = min(ny - 1, int(np.ceil(yc + half)))
            for row in range(first, last + 1):
                weight = 0.5 * (math.erf((row + 0.5 - yc) * scale) - math.erf((row - 0.5 - yc) * scale))
                image[row, col] += value * weight


def disperse(config: IFSConfiguration, trace: Table, signal_dn_s: np.ndarray) -> np.ndarray:
    """Detector image (window of ``config``), DN/s, of the spectra ``signal_dn_s`` (nspax, length).

    Each column's signal is spread across rows by the pixel-integrated Gaussian profile centred
    on the trace.
    """
    window = config.window
    image = np.zeros(window.shape, dtype=np.float64)
    coeffs = np.stack([np.asarray(trace[f"TRACE_C{k}"], dtype=float) for k in range(3)], axis=1)
    _disperse(image, np.asarray(trace["X_START"], dtype=np.int64), np.asarray(trace["X_END"], dtype=np.int64),
              np.asarray(trace["X_REF"], dtype=float), coeffs, np.asarray(trace["SIGMA"], dtype=float),
              np.ascontiguousarray(signal_dn_s, dtype=float), window.substrt1 - 1, window.substrt2 - 1)  # fmt: skip
    return image


def spaxel_throughputs(config: IFSConfiguration, trace: Table, seed: int) -> np.ndarray:
    """Relative throughput of every spaxel at every column of its spectrum (median near 1)."""
    rng = make_rng(seed, Stream.LAMP, IFS_STREAM_KEY)
    n = len(trace)
    level = rng.lognormal(0.0, 0.04, n)
    tilt = rng.normal(0.0, 0.03, n)
    x, _, _ = column_wavelengths(trace)
    position = (x - np.asarray(trace["X_REF"])[:, None]) / np.maximum(1, np.asarray(trace["X_END"] - trace["X_START"]))[
        :, None
    ]
    return level[:, None] * (1.0 + tilt[:, None] * position)
