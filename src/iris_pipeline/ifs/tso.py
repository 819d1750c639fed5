"""IFS time series, stage 2: the target's spectrum in every integration (``_x1dints``).

A time series (``TSOVISIT = T``) reaches spec2 as ``_rateints``: the count rate of every
integration. Running the whole step chain on each integration would repeat the reference look-ups
and model copies of six steps per integration, so spec2 runs its steps once, on the mean of the
integrations (the *template*), and applies to every integration the same linear operations with
the factors the steps measured there:

1. **extract**: `extract_spectra` with the template's spectral format and joint bandwidth;
2. **wavecal**: every integration takes the template's wavelength and dispersion arrays;
3. **ifs_flat**: the template's inverse response, measured by running ``ifs_flat`` on spectra of
   ones (NaN where the flat is unusable);
4. **cube_build** (and **telluric**): `resample_spectra` onto the template's wavelength grid,
   times the conversion per plane measured by running ``cube_build`` and ``telluric`` on spectra
   whose flux density is 1 everywhere (IFS_PHOTOM, surface brightness, telluric transmission);
5. **extraction of the target** (`extract_integration`): a circular aperture of fixed centre and
   radius, both from the point source fitted on the template's white-light image
   (`point_source.find_point_sources`), with the aperture correction of that fit, minus the
   background: per plane and integration, the median of the spaxels beyond ``background_radius``
   from the source. Fixed apertures are what a time series needs (JWST fixes its TSO extraction
   apertures too): a moving aperture adds noise that does not average out.

Errors: each plane's flux error propagates the extraction variance (``(N^-1)_ss`` of
`extract_spectra`), the flat, the resampling and the background's (a median's variance,
``pi/2`` times a mean's). Linear interpolation onto the cube grid makes adjacent planes share
detector columns, so their errors are correlated: the ``FLUX_COVAR`` column holds the covariance
of every plane with the next one, and a sum over planes (the white light) has the variance
``sum(FLUX_ERROR^2) + 2 sum(FLUX_COVAR)`` over the adjacent pairs it contains (without the
covariance it would be underestimated by up to a factor 2 for a grid as fine as the columns).
Deblending anticorrelates the fluxes of spectra that share a detector column
(`extract_spectra` with ``covariance=True``): neighbouring spaxels of the aperture, at the same
wavelength for the slicer, a few planes apart for the staggered lenslet spectra. That covariance
goes into ``FLUX_ERROR`` (same plane), ``FLUX_COVAR`` (next plane) and ``FLUX_COVAR_FAR``, the
covariance of a plane with all planes after the next, which the white light adds for the planes
it sums (`neighbour_plane_covariance`). Without it the lenslet white-light error is about 12 %
too large (out-of-transit scatter / error 0.89).

Sky subtraction with a dedicated sky exposure is not applied per integration: the local
background above removes the sky of each integration. See ``docs/steps/tso3.md``.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import numba
import numpy as np

from .. import datamodels, dqflags
from ..exceptions import InputFileError
from ..instruments import get_instrument
from ..stpipe import IrisStep
from .cube import build_cube, resample_spectra
from .extract import extract_spectra
from .format import SpectralFormat
from .point_source import PointSource, aperture_coefficients, find_point_sources, fit_point_source

__all__ = [
    "IFSTsoExtractStep",
    "IntegrationCalibration",
    "Aperture",
    "adjacent_plane_covariance",
    "extract_integration",
    "neighbour_plane_covariance",
    "integration_times",
    "mean_rate",
    "plane_interpolation",
]

log = logging.getLogger(__name__)

DO_NOT_USE = np.uint32(dqflags.PIXEL["DO_NOT_USE"])
JY_PER_MJY = 1e6
MEDIAN_VARIANCE_FACTOR = np.pi / 2.0
"""Variance of the median of ``n`` Gaussian values over the variance of their mean (large ``n``)."""
MIN_BACKGROUND_SPAXELS = 5


def mean_rate(rateints) -> datamodels.RateModel:
    """The mean count rate of the integrations (the template of the spec2 steps), with the
    variances of a mean; a pixel unusable in any integration is left out of none: its mean is
    over the integrations where it is usable, and DO_NOT_USE only where it is usable in none."""
    usable = (rateints.dq & DO_NOT_USE) == 0
    count = usable.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        data = np.where(usable, rateints.data, 0.0).sum(axis=0) / count
        var_p = np.where(usable, rateints.var_poisson, 0.0).sum(axis=0) / count**2
        var_r = np.where(usable, rateints.var_rnoise, 0.0).sum(axis=0) / count**2
    none = count == 0
    rate = datamodels.RateModel(data.shape)
    rate.update(rateints, only="PRIMARY")
    rate.meta.filename = rateints.meta.filename
    rate.data = np.where(none, 0.0, data).astype(np.float32)
    rate.var_poisson = np.where(none, 0.0, var_p).astype(np.float32)
    rate.var_rnoise = np.where(none, 0.0, var_r).astype(np.float32)
    rate.err = np.sqrt(rate.var_poisson + rate.var_rnoise)
    rate.dq = np.where(none, DO_NOT_USE, np.bitwise_or.reduce(rateints.dq, axis=0) & ~DO_NOT_USE).astype(np.uint32)
    return rate


def plane_interpolation(wave_um: np.ndarray, grid_um: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column index ``i`` and fraction ``t`` of every cube plane in every spectrum, as
    `resample_spectra` interpolates: plane ``k`` is ``(1 - t) d[i] + t d[i + 1]`` (t NaN where the
    plane falls outside the spectrum).

    Parameters
    ----------
    wave_um : np.ndarray
        (nspax, length) increasing wavelengths of every spectrum.
    grid_um : np.ndarray
        (nwave,) cube grid.
    """
    nspax, length = wave_um.shape
    index = np.empty((nspax, grid_um.size), dtype=np.int64)
    for s in range(nspax):
        index[s] = np.clip(np.searchsorted(wave_um[s], grid_um, side="left") - 1, 0, length - 2)
    w0 = np.take_along_axis(wave_um, index, axis=1)
    w1 = np.take_along_axis(wave_um, index + 1, axis=1)
    inside = (w0 <= grid_um) & (grid_um <= w1) & (w1 > w0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(inside, (grid_um - w0) / (w1 - w0), np.nan)
    return index, fraction


def adjacent_plane_covariance(column_var: np.ndarray, index: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """Covariance of every cube plane with the next one, per spectrum, from the variances of the
    columns they interpolate (independent columns; `plane_interpolation`).

    Parameters
    ----------
    column_var : np.ndarray
        (nspax, length) variance of the flux density of every column.

    Returns
    -------
    np.ndarray
        (nspax, nwave - 1); NaN where either plane is undefined.
    """
    i0, i1 = index[:, :-1], index[:, 1:]
    t0, t1 = fraction[:, :-1], fraction[:, 1:]
    var_a = np.take_along_axis(column_var, i0, axis=1)
    var_b = np.take_along_axis(column_var, i0 + 1, axis=1)
    same = (1.0 - t0) * (1.0 - t1) * var_a + t0 * t1 * var_b
    shifted = t0 * (1.0 - t1) * var_b
    return np.where(i1 == i0, same, np.where(i1 == i0 + 1, shifted, 0.0))


@dataclass(frozen=True)
class NeighbourCovariance:
    """Covariance of the deblended fluxes of spectra sharing a detector column, for one integration.

    Attributes
    ----------
    covar_dn2_s2, partner : np.ndarray
        (nspax, length, bandwidth) from `extract_spectra` with ``covariance=True``.
    column_scale : np.ndarray
        (nspax, length) factor from a column's flux (DN/s) to its flux density in the cube before
        the per-plane conversion (inverse response / dispersion, per um); 0 where unusable.
    x_start : np.ndarray
        First detector column of every spectrum.
    """

    covar_dn2_s2: np.ndarray
    partner: np.ndarray
    column_scale: np.ndarray
    x_start: np.ndarray


@numba.njit(nogil=True, cache=True)
def _neighbour_plane_covariance(covar, partner, column_scale, x_start, index, fraction, weight, conversion, same,
                                next_plane, far):  # fmt: skip
    nspax, nwave = weight.shape
    length = covar.shape[1]
    for s in range(nspax):
        for k in range(nwave):
            if weight[s, k] == 0.0 or not math.isfinite(fraction[s, k]):
                continue
            for side in range(2):
                column = index[s, k] + side
                share = fraction[s, k] if side else 1.0 - fraction[s, k]
                if share == 0.0 or column_scale[s, column] == 0.0:
                    continue
                for d in range(covar.shape[2]):
                    t = partner[s, column, d]
                    if t < 0:
                        continue
                    other = x_start[s] + column - x_start[t]
                    if other < 0 or other >= length:
                        continue
                    base = weight[s, k] * share * conversion[k] * covar[s, column, d] * column_scale[s, column] * (
                        column_scale[t, other])  # fmt: skip
                    # Planes of spectrum t interpolated from its column `other` (increasing wavelength).
                    k2 = np.searchsorted(index[t], other - 1)
                    while k2 < nwave and index[t, k2] <= other:
                        if weight[t, k2] != 0.0 and math.isfinite(fraction[t, k2]):
                            share2 = fraction[t, k2] if index[t, k2] == other - 1 else 1.0 - fraction[t, k2]
                            value = base * weight[t, k2] * share2 * conversion[k2]
                            lag = abs(k2 - k)
                            if lag == 0:
                                same[k] += 2.0 * value
                            elif lag == 1:
                                next_plane[min(k, k2)] += value
                            else:
                                far[min(k, k2)] += value
                        k2 += 1


def neighbour_plane_covariance(neighbours: NeighbourCovariance, index, fraction, weight, conversion):
    """Covariance that deblending puts between the planes of a weighted sum over spaxels.

    Parameters
    ----------
    neighbours : NeighbourCovariance
    index, fraction : np.ndarray
        (nspax, nwave) `plane_interpolation` of every spectrum.
    weight : np.ndarray
        (nspax, nwave) weight of every spectrum's plane in the sum (0: not summed).
    conversion : np.ndarray
        (nwave,) factor from DN/s/um to the sum's unit.

    Returns
    -------
    same, next_plane, far : np.ndarray
        (nwave,) variance added to every plane's sum; covariance added between plane ``k`` and
        ``k + 1``; covariance between plane ``k`` and all planes ``k + 2`` and beyond.
    """
    nwave = weight.shape[1]
    same, next_plane, far = np.zeros(nwave), np.zeros(nwave), np.zeros(nwave)
    _neighbour_plane_covariance(neighbours.covar_dn2_s2, neighbours.partner, neighbours.column_scale,
                                neighbours.x_start, index, fraction, np.ascontiguousarray(weight, dtype=float),
                                np.nan_to_num(conversion), same, next_plane, far)  # fmt: skip
    return same, next_plane, far


@dataclass(frozen=True)
class IntegrationCalibration:
    """What spec2's steps measured on the template, applied to every integration (module docstring).

    Attributes
    ----------
    spectral_format : SpectralFormat
    bandwidth : int
        Neighbours fitted jointly by the extraction.
    x0, y0 : int
        0-based detector position of the window's first pixel.
    wavelength, dispersion : np.ndarray
        (nspax, length) after wavecal.
    inverse_response : np.ndarray
        (nspax, length) 1 / spectral flat; NaN where unusable.
    grid_um : np.ndarray
        Cube wavelengths.
    conversion : np.ndarray
        (nwave,) factor from DN/s/um to the cube unit (MJy/sr); NaN where a plane is unusable.
    spax_x, spax_y : np.ndarray
        Cube position of every spectrum.
    nspax_x, nspax_y : int
    """

    spectral_format: SpectralFormat
    bandwidth: int
    x0: int
    y0: int
    wavelength: np.ndarray
    dispersion: np.ndarray
    inverse_response: np.ndarray
    grid_um: np.ndarray
    conversion: np.ndarray
    spax_x: np.ndarray
    spax_y: np.ndarray
    nspax_x: int
    nspax_y: int

    def cube(self, rate_dn_s, variance, bad):
        """Cube of one integration: surface brightness, variance, and the covariance of each plane
        with the next, each (nwave, ny, nx) or (nwave - 1, ny, nx), NaN where undefined; and the
        `NeighbourCovariance` of its extraction."""
        flux, var, valid, covar, partner = extract_spectra(rate_dn_s, variance, bad, self.spectral_format, self.x0,
                                                           self.y0, self.bandwidth, covariance=True)  # fmt: skip
        valid = valid & self.spectral_format.columns()[1] & np.isfinite(self.inverse_response)
        column_scale = np.where(valid, self.inverse_response / np.abs(self.dispersion), 0.0)
        neighbours = NeighbourCovariance(covar, partner, column_scale, self.spectral_format.x_start)
        flux = np.where(valid, flux * self.inverse_response, 0.0)
        var = np.where(valid, var * self.inverse_response**2, 0.0)
        density, density_var, _ = resample_spectra(flux, var, valid, self.wavelength, self.dispersion, self.grid_um)
        column_var = np.where(valid, var / self.dispersion**2, 0.0)
        index, fraction = self.interpolation
        covariance = adjacent_plane_covariance(column_var, index, fraction)
        covariance = np.where(np.isfinite(density[:, :-1]) & np.isfinite(density[:, 1:]), covariance, np.nan)
        conversion = self.conversion[None, :]
        args = (self.spax_x, self.spax_y, self.nspax_x, self.nspax_y)
        return (build_cube(density * conversion, *args), build_cube(density_var * conversion**2, *args),
                build_cube(covariance * conversion[:, :-1] * conversion[:, 1:], *args), neighbours)  # fmt: skip

    @property
    def interpolation(self) -> tuple[np.ndarray, np.ndarray]:
        cached = self.__dict__.get("_interpolation")
        if cached is None:
            cached = plane_interpolation(self.wavelength, self.grid_um)
            object.__setattr__(self, "_interpolation", cached)
        return cached


@dataclass(frozen=True)
class Aperture:
    """Fixed extraction of the target: ``coefficients`` (ny, nx) include the aperture correction;
    ``background`` marks the spaxels of the background estimate."""

    source: PointSource
    radius_spax: float
    coefficients: np.ndarray
    correction: float
    background: np.ndarray
    background_radius_spax: float


def extract_integration(data, var, covariance, aperture: Aperture, neighbours=None, calibration=None):
    """The target's spectrum in one integration (module docstring, step 5).

    Parameters
    ----------
    data, var : np.ndarray
        (nwave, ny, nx) surface brightness and its variance (NaN: unusable).
    covariance : np.ndarray
        (nwave - 1, ny, nx) covariance of every plane with the next.
    aperture : Aperture
    neighbours : NeighbourCovariance, optional
        The covariance of spectra sharing detector columns (`IntegrationCalibration.cube`), with
        the ``calibration`` that made the cube: added to the aperture sum's variance and
        covariances (the background's share is neglected).

    Returns
    -------
    dict
        ``flux``, ``flux_var``, ``flux_covar`` (with the next plane), ``flux_covar_far`` (with all
        planes after the next), ``background`` (per spaxel) and ``missing`` (an aperture spaxel
        unusable: DQ), all per plane, in the cube unit times spaxels (multiply by the spaxel solid
        angle for a flux).
    """
    usable = np.isfinite(data) & np.isfinite(var)
    in_background = aperture.background[None] & usable
    n_background = in_background.sum(axis=(1, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        background = np.nanmedian(np.where(in_background, data, np.nan), axis=(1, 2))
        mean_var = np.nanmean(np.where(in_background, var, np.nan), axis=(1, 2))
        cov_bg = np.where(in_background[:-1] & in_background[1:], covariance, np.nan)
        mean_cov = np.nanmean(cov_bg, axis=(1, 2))
    if aperture.background.any():
        background_var = MEDIAN_VARIANCE_FACTOR * mean_var / np.maximum(n_background, 1)
        pairs = np.minimum(n_background[:-1], n_background[1:])
        background_cov = MEDIAN_VARIANCE_FACTOR * np.nan_to_num(mean_cov) / np.maximum(pairs, 1)
        background = np.where(n_background >= MIN_BACKGROUND_SPAXELS, background, np.nan)
    else:
        background = np.zeros(data.shape[0])
        background_var = np.zeros(data.shape[0])
        background_cov = np.zeros(data.shape[0] - 1)
    c = aperture.coefficients
    inside = c > 0
    missing = np.any(~usable[:, inside], axis=1) | ~np.isfinite(background)
    weights = np.where(usable, c[None], 0.0)
    total = weights.sum(axis=(1, 2))
    flux = np.sum(weights * np.where(usable, data, 0.0), axis=(1, 2)) - total * background
    flux_var = np.sum(weights**2 * np.where(usable, var, 0.0), axis=(1, 2)) + total**2 * background_var
    pair_cov = np.where(np.isfinite(covariance), covariance, 0.0)
    flux_covar = (np.sum(weights[:-1] * weights[1:] * pair_cov, axis=(1, 2))
                  + total[:-1] * total[1:] * background_cov)  # fmt: skip
    flux_covar = np.append(flux_covar, 0.0)
    flux_covar_far = np.zeros(data.shape[0])
    if neighbours is not None:
        spaxel_weights = weights[:, calibration.spax_y, calibration.spax_x].T
        same, next_plane, far = neighbour_plane_covariance(neighbours, *calibration.interpolation, spaxel_weights,
                                                           calibration.conversion)  # fmt: skip
        flux_var, flux_covar, flux_covar_far = flux_var + same, flux_covar + next_plane, far
    flux = np.where(missing, np.nan, flux)
    return {"flux": flux, "flux_var": np.where(missing, np.nan, flux_var), "flux_covar": flux_covar,
            "flux_covar_far": flux_covar_far, "background": background, "missing": missing}  # fmt: skip


def integration_times(nints: int, start_mjd: float, end_mjd, nreads, frame_time_s, ra_deg, dec_deg, site):
    """Start, middle and end of every integration in MJD (UTC) and BJD (TDB), as the rows of INT_TIMES.

    Integrations are read back to back between EXPSTART and EXPEND (`tso_photometry.times`).
    """
    from ..tso_photometry.times import integration_mid_times_mjd, mjd_utc_to_bjd_tdb

    mid = integration_mid_times_mjd(nints, start_mjd, end_mjd, nreads, frame_time_s)
    period = (mid[1] - mid[0]) if nints > 1 else 2.0 * (mid[0] - start_mjd)
    start, end = mid - 0.5 * period, mid + 0.5 * period
    bjd = mjd_utc_to_bjd_tdb(np.concatenate([start, mid, end]), ra_deg, dec_deg, site)
    table = np.zeros(nints, dtype=[(name, np.int32 if name == "integration_number" else np.float64) for name in (
        "integration_number", "int_start_MJD_UTC", "int_mid_MJD_UTC", "int_end_MJD_UTC", "int_start_BJD_TDB",
        "int_mid_BJD_TDB", "int_end_BJD_TDB")])  # fmt: skip
    table["integration_number"] = np.arange(1, nints + 1)
    table["int_start_MJD_UTC"], table["int_mid_MJD_UTC"], table["int_end_MJD_UTC"] = start, mid, end
    table["int_start_BJD_TDB"], table["int_mid_BJD_TDB"], table["int_end_BJD_TDB"] = np.split(bjd, 3)
    return table


SPECTRUM_DTYPE = [("WAVELENGTH", np.float64), ("FLUX", np.float64), ("FLUX_ERROR", np.float64),
                  ("FLUX_COVAR", np.float64), ("FLUX_COVAR_FAR", np.float64), ("SURF_BRIGHT", np.float64),
                  ("SB_ERROR", np.float64),
                  ("DQ", np.uint32), ("BACKGROUND", np.float64), ("NPIXELS", np.float64),
                  ("APCORR", np.float64)]  # fmt: skip
SPECTRUM_UNITS = {"WAVELENGTH": "um", "FLUX": "Jy", "FLUX_ERROR": "Jy", "FLUX_COVAR": "Jy2", "FLUX_COVAR_FAR": "Jy2",
                  "SURF_BRIGHT": "MJy/sr",
                  "SB_ERROR": "MJy/sr", "BACKGROUND": "MJy/sr"}  # fmt: skip


class IFSTsoExtractStep(IrisStep):
    """The target's spectrum in every integration of an IFS time series (``_x1dints``; module docstring).

    ``step.run(rateints, template_cube, calibration)``: spec2 gives the template cube (its steps on
    the mean of the integrations) and the `IntegrationCalibration` it measured.
    """

    class_alias = "tso_extract_1d"
    spec = """
    aperture_radius = float(default=1.5, min=0.1)  # aperture radius in units of the fitted FWHM
    background_radius = float(default=2.5, min=0)  # background: spaxels farther than this from the source (FWHM); 0: no background subtraction
    source_x = float(default=None)  # target column in the cube (0-based spaxels); default: the brightest point source
    source_y = float(default=None)  # target row in the cube (0-based spaxels)
    min_snr = float(default=10.0, min=0)  # detection threshold on the template's white-light image
    """  # noqa: E501

    def process(self, rateints, template=None, calibration: IntegrationCalibration | None = None):
        from .cube import spaxel_solid_angle_sr
        from .spec3_steps import cube_geometry, white_light_with_error

        rateints = datamodels.open(rateints)
        name = rateints.meta.filename
        if template is None or calibration is None:
            raise InputFileError(name, "tso_extract_1d runs inside spec2 (it needs the template cube of spec2's steps)")
        white, error = white_light_with_error(template)
        source = self._source(white, error, name)
        radius = self.aperture_radius * source.fwhm
        coefficients, correction = aperture_coefficients(white.shape, source, radius)
        ny, nx = white.shape
        yy, xx = np.mgrid[0:ny, 0:nx]
        distance = np.hypot(xx - source.x, yy - source.y)
        background_radius = self.background_radius * source.fwhm
        background = (distance > max(background_radius, radius)) & np.isfinite(white) if self.background_radius else (
            np.zeros(white.shape, bool))  # fmt: skip
        if self.background_radius and background.sum() < MIN_BACKGROUND_SPAXELS:
            self.record_outcome("INCOMPLETE", f"{name}: {int(background.sum())} spaxels beyond {background_radius:.1f} "
                                              "spaxels from the source: no background subtracted")  # fmt: skip
            background = np.zeros(white.shape, bool)
        aperture = Aperture(source, radius, coefficients, correction, background, background_radius)
        geometry = cube_geometry(template)
        spaxel_sr = spaxel_solid_angle_sr(geometry.scale_mas)
        ra, dec = (float(v) for v in geometry.pixel_to_world(source.x, source.y))
        spectra = datamodels.MultiSpecIntsModel()
        spectra.update(rateints, only="PRIMARY")
        extraction = spectra.meta.extraction
        extraction.method, extraction.aperture_radius = "aperture", float(radius)
        extraction.background_radius, extraction.spaxel_sr = float(background_radius), spaxel_sr
        nints = rateints.data.shape[0]
        variance = rateints.var_poisson.astype(float) + rateints.var_rnoise
        if not np.any(variance > 0):
            variance = np.square(rateints.err, dtype=float)
        npixels = float((coefficients > 0).sum())
        area_sr = float(coefficients.sum()) * spaxel_sr
        for k in range(nints):
            bad = (rateints.dq[k] & DO_NOT_USE) != 0
            data, var, covariance, neighbours = calibration.cube(rateints.data[k].astype(float), variance[k], bad)
            result = extract_integration(data, var, covariance, aperture, neighbours, calibration)
            table = np.zeros(calibration.grid_um.size, dtype=SPECTRUM_DTYPE)
            table["WAVELENGTH"] = calibration.grid_um
            to_jy = spaxel_sr * JY_PER_MJY
            table["FLUX"] = result["flux"] * to_jy
            table["FLUX_ERROR"] = np.sqrt(result["flux_var"]) * to_jy
            table["FLUX_COVAR"] = result["flux_covar"] * to_jy**2
            table["FLUX_COVAR_FAR"] = result["flux_covar_far"] * to_jy**2
            table["SURF_BRIGHT"] = table["FLUX"] / JY_PER_MJY / area_sr
            table["SB_ERROR"] = table["FLUX_ERROR"] / JY_PER_MJY / area_sr
            table["DQ"] = np.where(result["missing"], DO_NOT_USE, np.uint32(0))
            table["BACKGROUND"] = result["background"]
            table["NPIXELS"], table["APCORR"] = npixels, correction
            spectrum = spectra.spec.item()
            spectrum.spec_table = table
            for column, unit in SPECTRUM_UNITS.items():
                spectrum.spec_table.columns[column].unit = unit
            spectrum.int_num, spectrum.source_id, spectrum.source_type = k + 1, 1, "POINT"
            spectrum.source_ra, spectrum.source_dec = ra, dec
            spectrum.source_x, spectrum.source_y, spectrum.fwhm = source.x, source.y, source.fwhm
            spectra.spec.append(spectrum)
        exposure = rateints.meta.exposure
        target_ra = rateints.meta.target.ra if rateints.meta.target.ra is not None else ra
        target_dec = rateints.meta.target.dec if rateints.meta.target.dec is not None else dec
        try:
            site = get_instrument(rateints.meta.instrument.name or "IRIS").site
            timing = (exposure.start_time, exposure.end_time, exposure.nreads, exposure.frame_time)
            spectra.int_times = integration_times(nints, *timing, float(target_ra), float(target_dec), site)
        except ValueError as err:
            raise InputFileError(name, f"tso_extract_1d: {err}") from None
        self.aperture = aperture
        log.info("%s: %d integrations, target at (%.2f, %.2f) spaxels, FWHM %.2f, aperture %.2f spaxels "
                 "(correction %.3f), %d background spaxels", name, nints, source.x, source.y, source.fwhm, radius,
                 correction, int(background.sum()))  # fmt: skip
        return spectra

    def _source(self, white, error, name) -> PointSource:
        if self.source_x is not None and self.source_y is not None:
            source = fit_point_source(white, error, (self.source_x, self.source_y))
            if source is None:
                raise InputFileError(name, f"no point source can be fitted at ({self.source_x}, {self.source_y}) "
                                           "on the white-light image of the integrations' mean")  # fmt: skip
            return source
        sources = find_point_sources(white, error, self.min_snr, max_sources=1)
        if not sources:
            raise InputFileError(name, f"no point source above S/N {self.min_snr:.1f} on the white-light image of "
                                       "the integrations' mean: give source_x and source_y")  # fmt: skip
        return sources[0]
