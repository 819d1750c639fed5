"""Model parameters of the simulator and the validation of user choices.

The instrument facts (detector shapes, pixel scales, read times, filters, noise defaults) come
from `iris_pipeline.instruments`; this module holds only the knobs of the *simulation model*
(scatter of the per-pixel maps, bad-pixel fractions, source distributions...), each a named
dataclass field with its unit in the name, and the derivation of the random generators.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from iris_pipeline.instruments import InstrumentDescription, get_instrument

__all__ = [
    "DetectorParameters",
    "OpticsParameters",
    "SceneParameters",
    "Stream",
    "make_rng",
    "resolve_filter",
    "resolve_imager_detector",
    "resolve_instrument",
    "validate_seed",
]


@dataclass(frozen=True)
class DetectorParameters:
    """Per-pixel detector model around the instrument's detector defaults.

    Fractions are fractional (1-sigma) scatters unless named ``*_fraction`` of pixels.

    Attributes
    ----------
    gain_scatter : float
        Pixel-to-pixel scatter of the gain (e-/DN) around ``gain_e_per_dn``.
    read_noise_scatter : float
        Log-normal scatter of the single-read noise around ``read_noise_e``.
    bias_channel_sigma_dn : float
        Scatter of the static bias level between output channels, DN.
    bias_pixel_sigma_dn : float
        Pixel-to-pixel scatter of the static bias, DN.
    drift_common_sigma_dn : float
        Per-read bias drift common to the whole read, DN.
    drift_channel_sigma_dn : float
        Per-read bias drift of each output channel on top of the common drift, DN.
    dark_scatter : float
        Log-normal scatter of the dark current around ``dark_current_e_per_s``.
    qe_pixel_scatter : float
        Pixel-to-pixel scatter of the quantum efficiency (the small-scale flat).
    response_pattern_amplitude : float
        Largest fractional deviation of the low-order (illumination) part of the flat.
    nonlinearity_at_onset : float
        Fractional signal deficit at ``nonlinearity_onset_e``: measured = true - alpha * true^2
        with alpha * true = this value at the onset.
    nonlinearity_scatter : float
        Pixel-to-pixel scatter of alpha.
    full_well_scatter : float
        Pixel-to-pixel scatter of the full well around ``saturation_e``.
    saturation_margin_sigma : float
        The SATURATION level sits this many noise sigmas (read noise and bias drifts) below the
        noiseless full-well level, so that every read of a saturated pixel clips to it.
    dead_pixel_fraction, hot_pixel_fraction, low_qe_pixel_fraction : float
        Fractions of light-sensitive pixels that are dead (QE 0), hot, or of low QE.
    hot_pixel_dark_e_s : tuple of float
        Range (log-uniform) of the dark current of hot pixels, e-/s.
    low_qe_range : tuple of float
        Range of the relative QE of low-QE pixels.
    cosmic_ray_charge_median_e : float
        Median charge deposited by a cosmic ray, e-.
    cosmic_ray_charge_sigma_ln : float
        Log-normal width of the cosmic-ray charge distribution (natural log).
    cosmic_ray_neighbour_fraction : float
        Fraction of a cosmic ray's charge that lands in each of the 4 adjacent pixels.
    """

    gain_scatter: float = 0.02
    read_noise_scatter: float = 0.10
    bias_channel_sigma_dn: float = 150.0
    bias_pixel_sigma_dn: float = 20.0
    drift_common_sigma_dn: float = 4.0
    drift_channel_sigma_dn: float = 1.5
    dark_scatter: float = 0.3
    qe_pixel_scatter: float = 0.015
    response_pattern_amplitude: float = 0.02
    nonlinearity_at_onset: float = 0.03
    nonlinearity_scatter: float = 0.05
    full_well_scatter: float = 0.03
    saturation_margin_sigma: float = 6.0
    dead_pixel_fraction: float = 2e-4
    hot_pixel_fraction: float = 2e-4
    low_qe_pixel_fraction: float = 5e-4
    hot_pixel_dark_e_s: tuple[float, float] = (0.5, 20.0)
    low_qe_range: tuple[float, float] = (0.2, 0.7)
    cosmic_ray_charge_median_e: float = 1500.0
    cosmic_ray_charge_sigma_ln: float = 0.7
    cosmic_ray_neighbour_fraction: float = 0.05


@dataclass(frozen=True)
class OpticsParameters:
    """Telescope, instrument optics and PSF model.

    Attributes
    ----------
    throughput : float
        Total system throughput (atmosphere, telescope, AO, instrument, detector QE) that
        converts a source's photon rate at the top of the atmosphere into detected electrons.
    airy_fwhm_lambda_over_d : float
        FWHM of the diffraction-limited core in units of lambda/D (1.028 for an Airy disk).
    psf_moffat_beta : float
        Moffat index of the PSF (wings of an AO-corrected PSF).
    psf_stamp_radius_fwhm : float
        Radius at which the PSF is truncated, in FWHM; the truncated PSF is normalised to 1.
    psf_oversample : int
        Sub-pixel samples per pixel and axis used to integrate the PSF over a pixel.
    galaxy_oversample : int
        Sub-pixel samples per pixel and axis used to integrate galaxy profiles.
    galaxy_light_fraction : float
        Galaxy profiles are truncated at the elliptical radius enclosing this fraction of the
        untruncated Sersic light, then normalised to the catalogue flux.
    field_distortion_corner_pix : float
        Radial (cubic) optical distortion at the corner of the instrument field, pixels.
    detector_distortion_corner_pix : float
        Largest quadratic distortion of one detector (mounting tilt) at its corners, pixels.
    """

    throughput: float = 0.3
    airy_fwhm_lambda_over_d: float = 1.028
    psf_moffat_beta: float = 2.5
    psf_stamp_radius_fwhm: float = 8.0
    psf_oversample: int = 5
    galaxy_oversample: int = 3
    galaxy_light_fraction: float = 0.98
    field_distortion_corner_pix: float = 2.0
    detector_distortion_corner_pix: float = 0.3


@dataclass(frozen=True)
class SceneParameters:
    """Distributions of the simulated stars and galaxies (all uniform within the ranges).

    Attributes
    ----------
    star_ab_mag_range : tuple of float
        AB magnitudes of the stars in the observed filter.
    galaxy_ab_mag_range : tuple of float
        Total AB magnitudes of the galaxies.
    galaxy_r_eff_arcsec_range : tuple of float
        Half-light radius along the major axis, arcsec.
    galaxy_sersic_n_range : tuple of float
        Sersic index (1: exponential disk, 4: de Vaucouleurs).
    galaxy_axis_ratio_range : tuple of float
        Minor-to-major axis ratio.
    """

    star_ab_mag_range: tuple[float, float] = (17.0, 24.0)
    galaxy_ab_mag_range: tuple[float, float] = (19.0, 24.0)
    galaxy_r_eff_arcsec_range: tuple[float, float] = (0.02, 0.12)
    galaxy_sersic_n_range: tuple[float, float] = (0.8, 4.0)
    galaxy_axis_ratio_range: tuple[float, float] = (0.3, 1.0)


class Stream(enum.IntEnum):
    """Independent random streams; a generator is seeded by (seed, stream, keys...)."""

    DETECTOR = 1
    GEOMETRY = 2
    SCENE = 3
    EXPOSURE = 4
    LAMP = 5


def make_rng(seed: int, stream: Stream, *keys: int) -> np.random.Generator:
    """Random generator for one stream of one simulation.

    Parameters
    ----------
    seed : int
        Non-negative simulation seed.
    stream : Stream
        What the generator is for.
    *keys : int
        Further non-negative integers (detector index, exposure index...) that make
        generators of different detectors or exposures independent.

    Returns
    -------
    numpy.random.Generator
    """
    return np.random.default_rng(np.random.SeedSequence([validate_seed(seed), int(stream), *keys]))


def validate_seed(seed) -> int:
    """Return ``seed`` as an int; raise ValueError unless it is a non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def resolve_instrument(name: str) -> InstrumentDescription:
    """Instrument description, raising ValueError (not KeyError) for an unknown name."""
    try:
        return get_instrument(str(name))
    except KeyError as err:
        raise ValueError(err.args[0]) from None


def resolve_filter(instrument: InstrumentDescription, filter_name: str) -> str:
    """Check that ``filter_name`` is an imager filter of ``instrument``; return it."""
    if filter_name not in instrument.filters:
        raise ValueError(
            f"{instrument.name} has no filter {filter_name!r}; known filters: {', '.join(instrument.filters)}"
        )
    return filter_name


def resolve_imager_detector(instrument: InstrumentDescription, detector: str) -> str:
    """Check that ``detector`` is an imager detector of ``instrument``; return its name."""
    name = str(detector).upper()
    if name not in instrument.imager_detectors:
        raise ValueError(
            f"{instrument.name} has no imager detector {detector!r}; "
            f"imager detectors: {', '.join(instrument.imager_detectors)}"
        )
    return name
