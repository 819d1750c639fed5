"""Time-series photometry (stage 3, tso3): per-integration aperture photometry, transit fit, times.

The algorithms are pure numpy/scipy/astropy functions without I/O (`measure_time_series`,
`fit_transit`, `integration_mid_times_mjd`, `mjd_utc_to_bjd_tdb`, `white_light_flux`); the steps
that run them on ``_calints`` files are in `tso_photometry_step`, on the ``_x1dints`` spectra of an
IFS time series in `white_light`. See ``docs/steps/tso3.md``.
"""

from .photometry import (
    ApertureSettings,
    PhotometryResult,
    aperture_weights,
    gaussian_fwhm_from_moment,
    measure_time_series,
)
from .times import integration_mid_times_mjd, mjd_utc_to_bjd_tdb
from .transit import TransitFit, fit_transit, relative_flux, trapezoid_shape
from .tso_photometry_step import TsoPhotometryStep, find_comparisons, fit_light_curve, open_integrations
from .white_light import WhiteLightStep, white_light_flux

__all__ = [
    "ApertureSettings",
    "PhotometryResult",
    "TransitFit",
    "TsoPhotometryStep",
    "WhiteLightStep",
    "aperture_weights",
    "find_comparisons",
    "fit_light_curve",
    "fit_transit",
    "gaussian_fwhm_from_moment",
    "integration_mid_times_mjd",
    "measure_time_series",
    "mjd_utc_to_bjd_tdb",
    "open_integrations",
    "relative_flux",
    "trapezoid_shape",
    "white_light_flux",
]
