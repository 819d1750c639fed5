"""White-light curve of an IFS time series: the target's spectra per integration (``_x1dints``) -> flux per integration.

`white_light_flux` (pure numpy): for every integration the sum of ``FLUX`` over the planes
between ``min_wavelength`` and ``max_wavelength`` that are usable (finite, DQ 0) in at least
``MIN_GOOD_FRACTION`` of the integrations, as JWST's ``white_light`` sums its ``_x1dints``; an
integration that misses one of those planes is flagged ``DO_NOT_USE`` rather than summed over
fewer planes (its flux would drop). Error: ``sqrt(sum FLUX_ERROR^2 + 2 sum FLUX_COVAR + 2 sum
FLUX_COVAR_FAR)``: the covariance of each used plane with the next used one (adjacent planes of a
cube share detector columns) and, for every used plane, with all planes after the next (deblended
neighbouring spectra are anticorrelated; `iris_pipeline.ifs.tso`). The latter counts the planes
just beyond a ``max_wavelength`` too: exact for a range that ends at the last plane.

`WhiteLightStep` reads the times from the INT_TIMES table (``int_mid_BJD_TDB``,
``int_mid_MJD_UTC``), writes the table and, with ``transit_duration``, fits the transit as
`TsoPhotometryStep` does (`fit_light_curve`). See ``docs/steps/tso3.md``.
"""

from __future__ import annotations

import logging

import numpy as np
from astropy.table import Table, vstack

from .. import datamodels, dqflags
from ..exceptions import InputFileError
from ..stpipe import IrisStep
from .tso_photometry_step import fit_light_curve

__all__ = ["WhiteLightStep", "white_light_flux"]

log = logging.getLogger(__name__)

DO_NOT_USE = np.uint32(dqflags.PIXEL["DO_NOT_USE"])
MIN_GOOD_FRACTION = 0.9


def white_light_flux(wave_um, flux, flux_err, flux_covar, dq, min_wavelength=None, max_wavelength=None,
                     flux_covar_far=None):  # fmt: skip
    """White-light flux, its error and flags per integration, and the planes summed (module docstring).

    Parameters
    ----------
    wave_um : np.ndarray
        (nwave,) wavelengths of the planes (the same in every integration).
    flux, flux_err, flux_covar, dq : np.ndarray
        (nint, nwave) columns FLUX, FLUX_ERROR, FLUX_COVAR and DQ of every integration.
    min_wavelength, max_wavelength : float, optional
        Range summed (um); default all planes.
    flux_covar_far : np.ndarray, optional
        (nint, nwave) column FLUX_COVAR_FAR (absent from products without deblending covariance).

    Returns
    -------
    white, white_err : np.ndarray
        (nint,); NaN where flagged.
    flags : np.ndarray
        (nint,) uint32: DO_NOT_USE where a summed plane is unusable.
    used : np.ndarray
        (nwave,) bool.
    """
    wave = np.asarray(wave_um, float)
    in_range = np.ones(wave.size, bool)
    if min_wavelength is not None:
        in_range &= wave >= min_wavelength
    if max_wavelength is not None:
        in_range &= wave <= max_wavelength
    good = np.isfinite(flux) & np.isfinite(flux_err) & (dq == 0)
    used = in_range & (good.mean(axis=0) >= MIN_GOOD_FRACTION)
    covar = np.where(np.isfinite(flux_covar), flux_covar, 0.0)
    # FLUX_COVAR[k] couples plane k with k + 1: it counts when both are summed.
    pair = used[:-1] & used[1:]
    white = np.where(used, np.where(good, flux, 0.0), 0.0).sum(axis=1)
    var = np.where(used, np.where(good, flux_err, 0.0) ** 2, 0.0).sum(axis=1) + 2.0 * (covar[:, :-1] * pair).sum(axis=1)
    if flux_covar_far is not None:
        var += 2.0 * np.where(used & np.isfinite(flux_covar_far), flux_covar_far, 0.0).sum(axis=1)
    flagged = ~good[:, used].all(axis=1) if used.any() else np.ones(flux.shape[0], bool)
    white = np.where(flagged, np.nan, white)
    white_err = np.where(flagged, np.nan, np.sqrt(np.maximum(var, 0.0)))
    return white, white_err, np.where(flagged, DO_NOT_USE, np.uint32(0)).astype(np.uint32), used


class WhiteLightStep(IrisStep):
    """White-light curve of the ``_x1dints`` spectra of an IFS time series (``docs/steps/tso3.md``).

    ``step.run(spectra)`` (a list of `MultiSpecIntsModel`) returns the first with ``S_WHTLT`` set;
    the table is ``step.light_curve`` (None when nothing could be measured), the fit
    ``step.transit_fit``.
    """

    class_alias = "white_light"
    spec = """
    min_wavelength = float(default=None)  # shortest wavelength summed (um); default the first plane
    max_wavelength = float(default=None)  # longest wavelength summed (um); default the last plane
    transit_duration = float(default=None, min=0)  # total transit duration T14 (s): fit depth and mid-time when set
    transit_ingress = float(default=None, min=0)  # ingress duration T12 (s); default T14 / 8
    scale_errors = boolean(default=False)  # scale the fit's errors by sqrt(chi2/dof) when above 1 (systematics beyond the noise: see docs)
    fail_on_incomplete = boolean(default=False)  # fail instead of recording SKIPPED / INCOMPLETE
    """  # noqa: E501

    def process(self, step_input):
        from .tso_photometry_step import open_integrations

        models, _ = open_integrations(step_input)
        self.light_curve, self.transit_fit = None, None
        for model in models:
            if not isinstance(model, datamodels.MultiSpecIntsModel):
                raise InputFileError(model.meta.filename, f"white_light needs spectra per integration (_x1dints), "
                                                          f"not {model.meta.model_type}")  # fmt: skip
        models.sort(key=lambda model: model.meta.exposure.start_time or 0.0)
        first = models[0]
        tables, notes = [], []
        for index, model in enumerate(models):
            try:
                tables.append(self._measure(model, index))
            except ValueError as err:
                return self._give_up(first, f"{model.meta.filename}: {err}")
        table = vstack(tables, metadata_conflicts="silent")
        if not (table["dq"] == 0).any():
            return self._give_up(first, "no integration has every summed plane usable")
        self._describe(table, first, models)
        if self.transit_duration:
            transit = (self.transit_duration, self.transit_ingress, self.scale_errors)
            self.transit_fit, fit_notes = fit_light_curve(table, "whitelight_flux", table["dq"] == 0, *transit)
            notes += fit_notes
        status = self.conclude(notes, first.meta.filename)
        table.meta["S_WHTLT"] = status
        self.light_curve = table
        log.info("white_light: %d integrations of %d exposure(s), %d planes %.4f-%.4f um", len(table), len(models),
                 table.meta["n_planes"], *table.meta["wavelength_range_um"])  # fmt: skip
        return first

    def _measure(self, model, index) -> Table:
        if not len(model.spec):
            raise ValueError("no spectrum")
        ordered = sorted(model.spec, key=lambda spectrum: spectrum.int_num or 0)
        wave = np.asarray(ordered[0].spec_table["WAVELENGTH"], float)
        names = ("FLUX", "FLUX_ERROR", "FLUX_COVAR", "FLUX_COVAR_FAR", "DQ")
        columns = {name: np.array([np.asarray(s.spec_table[name], float) for s in ordered])
                   for name in names if name in ordered[0].spec_table.dtype.names}  # fmt: skip
        white, white_err, flags, used = white_light_flux(wave, columns["FLUX"], columns["FLUX_ERROR"],
                                                         columns["FLUX_COVAR"], columns["DQ"].astype(np.uint32),
                                                         self.min_wavelength, self.max_wavelength,
                                                         columns.get("FLUX_COVAR_FAR"))  # fmt: skip
        if not used.any():
            raise ValueError(f"no plane usable in {MIN_GOOD_FRACTION:.0%} of the integrations in the wavelength range")
        numbers = np.array([s.int_num for s in ordered])
        times = model.int_times
        if times is None or not len(times):
            raise ValueError("no INT_TIMES table (integration times)")
        rows = {int(n): k for k, n in enumerate(times["integration_number"])}
        missing = [int(n) for n in numbers if int(n) not in rows]
        if missing:
            raise ValueError(f"integrations {missing[:5]} are not in the INT_TIMES table")
        take = [rows[int(n)] for n in numbers]
        table = Table()
        table["time_bjd_tdb"] = np.asarray(times["int_mid_BJD_TDB"], float)[take]
        table["time_mjd_utc"] = np.asarray(times["int_mid_MJD_UTC"], float)[take]
        table["exposure"] = np.full(len(numbers), index, np.int32)
        table["integration"] = (numbers - 1).astype(np.int32)
        table["whitelight_flux"] = white
        table["whitelight_flux_err"] = white_err
        table["dq"] = flags
        table["whitelight_flux"].unit = table["whitelight_flux_err"].unit = "Jy"  # the FLUX unit of the x1dints schema
        table["time_bjd_tdb"].unit = table["time_mjd_utc"].unit = "d"
        table.meta["n_planes"] = int(used.sum())
        table.meta["wavelength_range_um"] = [float(wave[used].min()), float(wave[used].max())]
        return table

    def _describe(self, table, first, models) -> None:
        descriptions = {
            "time_bjd_tdb": "Mid-time of the integration, Barycentric Julian Date (TDB) (INT_TIMES int_mid_BJD_TDB)",
            "time_mjd_utc": "Mid-time of the integration, Modified Julian Date (UTC) (INT_TIMES int_mid_MJD_UTC)",
            "exposure": "Index of the exposure (meta EXPOSURES)",
            "integration": "Integration within its exposure (0-based)",
            "whitelight_flux": "Target flux density summed over the planes used (meta n_planes, wavelength_range_um)",
            "whitelight_flux_err": "1-sigma error of whitelight_flux, adjacent-plane covariance included",
            "dq": "DO_NOT_USE: a summed plane is unusable in this integration",
        }
        for name in table.colnames:
            table[name].description = descriptions[name]
        spectrum = first.spec[0]
        table.meta.update({
            "TARGNAME": first.meta.target.name, "TARG_RA": first.meta.target.ra, "TARG_DEC": first.meta.target.dec,
            "source_xy_spax": [float(spectrum.source_x), float(spectrum.source_y)],
            "aperture_radius_spax": first.meta.extraction.aperture_radius,
            "EXPOSURES": [model.meta.filename for model in models],
            "INSTRUME": first.meta.instrument.name, "FILTER": first.meta.instrument.filter,
            "IFSMODE": first.meta.instrument.ifs_mode,
        })  # fmt: skip

    def _give_up(self, model, reason: str):
        if self.fail_on_incomplete:
            raise InputFileError(model.meta.filename, f"white_light: {reason}")
        self.record_outcome("SKIPPED", f"{reason}; no white-light curve")
        return model
