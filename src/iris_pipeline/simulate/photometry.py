"""Photometric model: source flux densities to detected electrons, zero points, sky, PSF size.

A source of constant flux density ``F_nu`` (Jy) across a filter ``[lambda_min, lambda_max]``
delivers the photon rate ``A * T * F_nu * ln(lambda_max / lambda_min) / h`` (photons/s) to the
detector, with ``A`` the collecting area and ``T`` the system throughput; each detected photon is
one electron. This defines the simulator's photometric system, and the PHOTOM reference file is
derived from the same numbers so that a flux-calibrated image gives the truth catalogue back:

- ``flux_e_s = electrons_per_s_per_jy * flux_jy`` (truth catalogue);
- a pixel's flat-fielded count rate ``r`` (DN/s) is ``r * gain / electrons_per_s_per_jy`` Jy,
  hence ``PHOTMJSR = gain / (electrons_per_s_per_jy * 1e6 * pixel_solid_angle_sr)`` MJy/sr per
  DN/s, with the nominal gain and pixel scale of the instrument description;
- ``ZEROPOINT_AB = -2.5 log10(gain / electrons_per_s_per_jy / 3631)``, the AB magnitude of a
  source that gives 1 DN/s in total.
"""

from __future__ import annotations

import math

import numpy as np
from astropy import constants
from astropy import units as u

from iris_pipeline.instruments import InstrumentDescription

from .geometry import ARCSEC_PER_RADIAN

__all__ = [
    "AB_ZERO_POINT_JY",
    "SKY_AB_MAG_PER_ARCSEC2",
    "ab_mag_to_jy",
    "default_sky_e_s",
    "electrons_per_s_per_jy",
    "jy_to_ab_mag",
    "photmjsr",
    "psf_fwhm_arcsec",
    "zeropoint_ab",
]

AB_ZERO_POINT_JY = 3631.0
JANSKY_SI = (1.0 * u.Jy).to_value(u.W / u.m**2 / u.Hz)
PLANCK_SI = constants.h.to_value(u.J * u.s)
JY_PER_MJY = 1e6
# Near-infrared sky brightness at Maunakea, continuum and OH lines with the thermal emission of
# the telescope and AO system, in AB mag/arcsec^2 at the centre wavelength in um (default).
SKY_AB_MAG_PER_ARCSEC2 = ((0.90, 18.4), (1.04, 17.4), (1.25, 16.9), (1.63, 15.3), (2.19, 15.2))


def electrons_per_s_per_jy(instrument: InstrumentDescription, filter_name: str, throughput: float) -> float:
    """Detected electrons per second from a 1 Jy source (flat in F_nu) in ``filter_name``."""
    wave_min_um, _, wave_max_um = instrument.filter_wavelengths_um(filter_name)
    return float(
        instrument.collecting_area_m2 * throughput * JANSKY_SI * math.log(wave_max_um / wave_min_um) / PLANCK_SI
    )


def jy_to_ab_mag(flux_jy):
    """AB magnitude of a flux density in Jy."""
    return -2.5 * np.log10(np.asarray(flux_jy, dtype=float) / AB_ZERO_POINT_JY)


def ab_mag_to_jy(ab_mag):
    """Flux density in Jy of an AB magnitude."""
    return AB_ZERO_POINT_JY * 10.0 ** (-0.4 * np.asarray(ab_mag, dtype=float))


def pixel_solid_angle_sr(pixel_scale_arcsec: float) -> float:
    """Solid angle of a square pixel of side ``pixel_scale_arcsec``, steradian."""
    return (pixel_scale_arcsec / ARCSEC_PER_RADIAN) ** 2


def photmjsr(
    instrument: InstrumentDescription,
    filter_name: str,
    throughput: float,
    gain_e_per_dn: float,
    pixel_scale_arcsec: float,
) -> float:
    """Surface brightness (MJy/sr) of a flat-fielded pixel count rate of 1 DN/s."""
    jy_per_dn_s = gain_e_per_dn / electrons_per_s_per_jy(instrument, filter_name, throughput)
    return jy_per_dn_s / (JY_PER_MJY * pixel_solid_angle_sr(pixel_scale_arcsec))


def zeropoint_ab(instrument: InstrumentDescription, filter_name: str, throughput: float, gain_e_per_dn: float) -> float:
    """AB magnitude of a source giving 1 DN/s in total (flat-fielded)."""
    jy_per_dn_s = gain_e_per_dn / electrons_per_s_per_jy(instrument, filter_name, throughput)
    return float(jy_to_ab_mag(jy_per_dn_s))


def default_sky_e_s(
    instrument: InstrumentDescription,
    filter_name: str,
    throughput: float,
    pixel_scale_arcsec: float,
) -> float:
    """Default sky background in ``filter_name``, detected e-/s per pixel.

    The sky surface brightness is interpolated in `SKY_AB_MAG_PER_ARCSEC2` at the filter
    centre.
    """
    _, wave_um, _ = instrument.filter_wavelengths_um(filter_name)
    waves_um, mags = zip(*SKY_AB_MAG_PER_ARCSEC2, strict=True)
    mag = float(np.interp(wave_um, waves_um, mags))
    flux_jy_per_pixel = float(ab_mag_to_jy(mag)) * pixel_scale_arcsec**2
    return flux_jy_per_pixel * electrons_per_s_per_jy(instrument, filter_name, throughput)


def psf_fwhm_arcsec(instrument: InstrumentDescription, filter_name: str, airy_fwhm_lambda_over_d: float) -> float:
    """FWHM of the diffraction-limited PSF core at the filter centre, arcsec."""
    _, wave_um, _ = instrument.filter_wavelengths_um(filter_name)
    wave_m = (wave_um * u.um).to_value(u.m)
    return airy_fwhm_lambda_over_d * wave_m / instrument.telescope_diameter_m * ARCSEC_PER_RADIAN
