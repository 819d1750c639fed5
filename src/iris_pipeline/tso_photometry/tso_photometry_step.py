"""TsoPhotometryStep: per-integration cubes (``_calints`` or ``_rateints``) -> light curve table.

The step finds the target (TARG_RA/TARG_DEC through the WCS, or a pixel position given as a
parameter), picks comparison stars, runs `measure_time_series` on every integration, times the
integrations (`integration_mid_times_mjd`, `mjd_utc_to_bjd_tdb`) and, when the transit's
duration is given, fits its depth and mid-time (`fit_transit`). See ``docs/steps/tso3.md``.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from astropy.table import Table, vstack

from .. import datamodels
from ..associations import stage3_members
from ..exceptions import InputFileError
from ..instruments import get_instrument
from ..stpipe import IrisStep
from .photometry import ApertureSettings, measure_time_series
from .times import integration_mid_times_mjd, mjd_utc_to_bjd_tdb
from .transit import fit_transit, relative_flux

__all__ = ["TsoPhotometryStep", "fit_light_curve", "open_integrations"]

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86400.0
JY_PER_MJY = 1e6


def open_integrations(step_input) -> tuple[list, str | None]:
    """The per-integration cubes of a tso3 input and the association's product name.

    ``step_input``: an association JSON (the ``science`` members of its first product), one
    file or model, or a list of them.
    """
    members, product = stage3_members(step_input)
    return [item if isinstance(item, datamodels.IrisDataModel) else datamodels.open(item) for item in members], product


def _median_image(cube, max_planes: int = 50) -> np.ndarray:
    """Median over (at most ``max_planes`` evenly spaced) integrations, unusable pixels left out."""
    planes = np.unique(np.linspace(0, len(cube.data) - 1, min(len(cube.data), max_planes)).astype(int))
    data, dq = cube.data[planes], cube.dq[planes]
    good = ((dq & 1) == 0) & np.isfinite(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(np.where(good, data, np.nan), axis=0)


def find_comparisons(image, exclude_xy, count: int, separation: float, margin: float) -> list[tuple[float, float]]:
    """The ``count`` brightest local maxima of ``image`` at least ``separation`` pixels from every
    position of ``exclude_xy`` and from each other, and ``margin`` pixels inside the edges."""
    from scipy.ndimage import maximum_filter

    if count <= 0:
        return []
    filled = np.nan_to_num(image, nan=-np.inf)
    peaks = (filled == maximum_filter(filled, size=5)) & np.isfinite(image)
    ny, nx = image.shape
    ys, xs = np.nonzero(peaks)
    inside = (xs >= margin) & (xs < nx - margin) & (ys >= margin) & (ys < ny - margin)
    order = np.argsort(filled[ys, xs])[::-1]
    chosen: list[tuple[float, float]] = []
    taken = list(exclude_xy)
    for k in order:
        if not inside[k]:
            continue
        x, y = float(xs[k]), float(ys[k])
        if all(np.hypot(x - a, y - b) >= separation for a, b in taken):
            chosen.append((x, y))
            taken.append((x, y))
            if len(chosen) == count:
                break
    return chosen


def fit_light_curve(table, flux_column: str, good, duration_s: float, ingress_s: float | None,
                    scale_errors: bool = False):  # fmt: skip
    """Fit a transit (`fit_transit`) to ``table[flux_column]`` (error ``<flux_column>_err``) against
    ``time_bjd_tdb``, at the rows ``good``; record it in ``table.meta['transit_fit']``.
    ``scale_errors`` scales the fit's errors by ``sqrt(max(chi2_reduced, 1))``.

    Returns the `TransitFit` (None when the fit failed) and the notes of a failure.
    """
    duration = duration_s / SECONDS_PER_DAY
    ingress = (ingress_s or duration_s / 8.0) / SECONDS_PER_DAY
    zero = float(np.floor(np.min(table["time_bjd_tdb"])))
    try:
        time = np.asarray(table["time_bjd_tdb"]) - zero
        fit = fit_transit(time, np.asarray(table[flux_column]), np.asarray(table[f"{flux_column}_err"]), duration,
                          ingress, good=np.asarray(good), scale_errors=scale_errors)  # fmt: skip
    except ValueError as err:
        return None, [f"transit fit failed ({err})"]
    table.meta["transit_fit"] = {
        "model": "trapezoid, known T14 and T12; least squares (docs/steps/tso3.md)",
        "flux": flux_column,
        "depth": fit.depth, "depth_err": fit.depth_err,
        "mid_time_bjd_tdb": zero + fit.t0, "mid_time_err_s": fit.t0_err * SECONDS_PER_DAY,
        "duration_s": float(duration_s), "ingress_s": ingress * SECONDS_PER_DAY,
        "chi2_reduced": fit.chi2_reduced, "n_points": fit.n_points, "errors_scaled": bool(scale_errors),
    }  # fmt: skip
    log.info("transit depth %.5f +- %.5f, mid-time BJD_TDB %.6f +- %.1f s (chi2/dof %.2f)",
             fit.depth, fit.depth_err, zero + fit.t0, fit.t0_err * SECONDS_PER_DAY, fit.chi2_reduced)  # fmt: skip
    return fit, []


class TsoPhotometryStep(IrisStep):
    """Light curve of the target and comparison stars from per-integration cubes (``docs/steps/tso3.md``).

    ``step.run(cubes)`` returns the first cube with ``S_TSOPHT`` set; the light curve is
    ``step.light_curve`` (an astropy Table, None when nothing could be measured) and the transit
    fit ``step.transit_fit``.
    """

    class_alias = "tso_photometry"
    spec = """
    target_x = float(default=None)  # target column (0-based pixels); default: TARG_RA/TARG_DEC through the WCS
    target_y = float(default=None)  # target row (0-based pixels)
    n_comparisons = integer(default=2, min=0)  # comparison stars picked on the median image (brightest isolated peaks)
    comparison_xy = float_list(default=None)  # comparison positions x1, y1, x2, y2... (0-based pixels of the first cube), instead of picking them
    aperture_radius = float(default=2.0, min=0)  # aperture radius, in FWHM of the target (or pixels, see aperture_units)
    annulus_inner = float(default=3.0, min=0)  # background annulus inner radius
    annulus_outer = float(default=4.5, min=0)  # background annulus outer radius
    aperture_units = option('fwhm', 'pixels', default='fwhm')  # units of the three radii
    recenter = boolean(default=False)  # centre the aperture on each integration's centroid instead of the median centroid
    error_source = option('poisson_rnoise', 'err', default='poisson_rnoise')  # pixel errors: Poisson and read noise, or ERR (adds the flat's error, common to all integrations)
    transit_duration = float(default=None, min=0)  # total transit duration T14 (s): fit depth and mid-time when set
    transit_ingress = float(default=None, min=0)  # ingress duration T12 (s); default T14 / 8
    fail_on_incomplete = boolean(default=False)  # fail instead of recording SKIPPED / INCOMPLETE
    """  # noqa: E501

    def process(self, step_input):
        cubes, _ = open_integrations(step_input)
        self.light_curve, self.transit_fit = None, None
        for cube in cubes:
            if not isinstance(cube, datamodels.CubeModel | datamodels.RateIntsModel):
                raise InputFileError(cube.meta.filename, f"tso3 needs per-integration cubes (_calints or _rateints), "
                                                         f"not {cube.meta.model_type}")  # fmt: skip
        cubes.sort(key=lambda cube: cube.meta.exposure.start_time or 0.0)
        first = cubes[0]
        try:
            target_xy, source = self._target_position(first)
        except InputFileError as err:
            return self._give_up(first, "SKIPPED", str(err))
        median = _median_image(first)
        fwhm = self._target_fwhm(first, target_xy)
        scale = fwhm if self.aperture_units == "fwhm" else 1.0
        try:
            settings = ApertureSettings(radius_pix=self.aperture_radius * scale,
                                        annulus_inner_pix=self.annulus_inner * scale,
                                        annulus_outer_pix=self.annulus_outer * scale,
                                        centroid_radius_pix=self.aperture_radius * scale)  # fmt: skip
        except ValueError as err:
            raise InputFileError(first.meta.filename, f"tso_photometry: {err}") from None
        comparisons = self._comparisons(median, target_xy, settings)
        notes = []
        if len(comparisons) < self.n_comparisons and self.comparison_xy is None:
            notes.append(f"{len(comparisons)} of {self.n_comparisons} comparison stars found")
        tables = []
        for index, cube in enumerate(cubes):
            xy = [target_xy] if cube is first else [self._position_in(cube, first, target_xy, source)]
            xy += [comp if cube is first else self._position_in(cube, first, comp, "WCS") for comp in comparisons]
            try:
                tables.append(self._measure(cube, index, xy, settings))
            except ValueError as err:
                return self._give_up(first, "SKIPPED", f"{cube.meta.filename}: {err}")
        table = vstack(tables, metadata_conflicts="silent")
        usable = table["dq"] == 0
        if not usable.any():
            return self._give_up(first, "SKIPPED", "no integration without flags in the target's aperture")
        self._describe(table, first, target_xy, source, comparisons, settings, fwhm, cubes)
        if self.transit_duration:
            notes += self._fit(table)
        status = self.conclude(notes, first.meta.filename)
        table.meta["S_TSOPHT"] = status
        self.light_curve = table
        log.info("tso_photometry: %d integrations of %d exposure(s), %d comparison star(s), aperture %.2f pix",
                 len(table), len(cubes), len(comparisons), settings.radius_pix)  # fmt: skip
        return first

    # -- positions -------------------------------------------------------------------------

    def _target_position(self, cube) -> tuple[tuple[float, float], str]:
        ny, nx = cube.data.shape[-2:]
        if self.target_x is not None and self.target_y is not None:
            x, y, source = float(self.target_x), float(self.target_y), "PARAMETER"
        else:
            ra, dec, wcs = cube.meta.target.ra, cube.meta.target.dec, cube.meta.wcs
            if ra is None or dec is None or wcs is None:
                raise InputFileError(
                    cube.meta.filename,
                    "no target position: TARG_RA/TARG_DEC with a WCS (run image2), or the target_x and target_y "
                    "parameters",
                )
            x, y = (float(v) for v in wcs.invert(ra, dec))
            source = "WCS"
        if not (np.isfinite(x) and np.isfinite(y) and -0.5 <= x < nx - 0.5 and -0.5 <= y < ny - 0.5):
            raise InputFileError(cube.meta.filename, f"target at pixel ({x:.1f}, {y:.1f}) is off the {nx} x {ny} image")
        return (x, y), source

    @staticmethod
    def _position_in(cube, first, xy, source) -> tuple[float, float]:
        """A position of the first cube in another cube (through the two WCSs when both have one)."""
        if source == "WCS" and first.meta.wcs is not None and cube.meta.wcs is not None:
            ra, dec = first.meta.wcs(*xy)
            return tuple(float(v) for v in cube.meta.wcs.invert(ra, dec))
        return xy

    def _target_fwhm(self, cube, xy) -> float:
        """FWHM of the target on the first integrations (moment method), pixels; 2.0 if unmeasurable."""
        probe = ApertureSettings(radius_pix=4.0, annulus_inner_pix=8.0, annulus_outer_pix=12.0, centroid_radius_pix=4.0)
        n = min(len(cube.data), 10)
        try:
            result = measure_time_series(cube.data[:n], cube.err[:n], cube.dq[:n], [xy], probe)
        except ValueError:
            return 2.0
        fwhm = float(np.nanmedian(result.fwhm_pix)) if np.isfinite(result.fwhm_pix).any() else 2.0
        return fwhm if np.isfinite(fwhm) and fwhm > 0.5 else 2.0

    def _comparisons(self, median, target_xy, settings) -> list[tuple[float, float]]:
        if self.comparison_xy is not None:
            values = [float(v) for v in self.comparison_xy]
            if len(values) % 2:
                raise InputFileError("tso_photometry", "comparison_xy needs x, y pairs")
            return list(zip(values[::2], values[1::2], strict=True))
        # A comparison's aperture stays out of the target's annulus, and its aperture on the image.
        separation = settings.annulus_outer_pix + settings.radius_pix
        return find_comparisons(median, [target_xy], self.n_comparisons, separation, settings.radius_pix + 2.0)

    # -- measurement -----------------------------------------------------------------------

    def _measure(self, cube, index, xy, settings) -> Table:
        if self.error_source == "err" or cube.var_poisson is None or cube.var_rnoise is None:
            err = cube.err
        else:
            err = np.sqrt(cube.var_poisson + cube.var_rnoise)  # float32: one cube's worth of memory
        result = measure_time_series(cube.data, err, cube.dq, xy, settings)
        if result.static_bad_pixels.any():
            log.info("%s: aperture pixels unusable in every integration (left out of all alike): %s",
                     cube.meta.filename, result.static_bad_pixels.tolist())  # fmt: skip
        exposure = cube.meta.exposure
        nints = cube.data.shape[0]
        try:
            mjd = integration_mid_times_mjd(nints, exposure.start_time, exposure.end_time, exposure.nreads,
                                            exposure.frame_time)  # fmt: skip
        except ValueError as err:
            raise ValueError(str(err)) from None
        ra, dec = cube.meta.target.ra, cube.meta.target.dec
        if ra is None or dec is None:
            ra, dec = cube.meta.wcs(*xy[0]) if cube.meta.wcs is not None else (None, None)
        if ra is None:
            raise ValueError("no target RA/Dec (TARG_RA/TARG_DEC or a WCS) for the barycentric correction")
        site = get_instrument(cube.meta.instrument.name or "IRIS").site
        bjd = mjd_utc_to_bjd_tdb(mjd, float(ra), float(dec), site)
        factor, flux_unit, bkg_unit = self._flux_conversion(cube)
        table = Table()
        table["time_bjd_tdb"] = bjd
        table["time_mjd_utc"] = mjd
        table["exposure"] = np.full(nints, index, np.int32)
        table["integration"] = np.arange(nints, dtype=np.int32)
        table["flux"] = result.flux[:, 0] * factor
        table["flux_err"] = result.flux_err[:, 0] * factor
        table["background"] = result.background[:, 0]
        table["background_err"] = result.background_err[:, 0]
        table["x_centroid"] = result.x_pix[:, 0]
        table["y_centroid"] = result.y_pix[:, 0]
        table["fwhm"] = result.fwhm_pix[:, 0]
        table["dq"] = result.dq[:, 0]
        ncomp = result.flux.shape[1] - 1
        if ncomp:
            rel, rel_err = relative_flux(result.flux[:, 0], result.flux_err[:, 0], result.flux[:, 1:],
                                         result.flux_err[:, 1:])  # fmt: skip
            table["rel_flux"], table["rel_flux_err"] = rel, rel_err
            table["comparison_dq"] = np.bitwise_or.reduce(result.dq[:, 1:], axis=1)
            for k in range(ncomp):
                table[f"comp{k + 1}_flux"] = result.flux[:, k + 1] * factor
                table[f"comp{k + 1}_flux_err"] = result.flux_err[:, k + 1] * factor
        for name in ("flux", "flux_err", *(c for c in table.colnames if c.startswith("comp") and "flux" in c)):
            table[name].unit = flux_unit
        for name in ("background", "background_err"):
            table[name].unit = bkg_unit
        for name in ("time_bjd_tdb", "time_mjd_utc"):
            table[name].unit = "d"
        for name in ("x_centroid", "y_centroid", "fwhm"):
            table[name].unit = "pix"
        return table

    @staticmethod
    def _flux_conversion(cube) -> tuple[float, str, str]:
        """(factor from the aperture sum to the flux column, flux unit, background unit per pixel)."""
        bunit = cube.meta.bunit_data or ("DN/s" if isinstance(cube, datamodels.RateIntsModel) else "")
        area = getattr(getattr(cube.meta, "photometry", None), "pixelarea_steradians", None)
        if bunit == "MJy/sr" and area:
            return float(area) * JY_PER_MJY, "Jy", "MJy / sr"
        unit = "DN / s" if bunit in ("DN/s", "") else bunit
        return 1.0, unit, unit

    def _describe(self, table, first, target_xy, source, comparisons, settings, fwhm, cubes) -> None:
        descriptions = {
            "time_bjd_tdb": "Mid-time of the integration, Barycentric Julian Date (TDB)",
            "time_mjd_utc": "Mid-time of the integration, Modified Julian Date (UTC)",
            "exposure": "Index of the exposure (meta EXPOSURES)",
            "integration": "Integration within its exposure (0-based)",
            "flux": "Target flux in the aperture, background subtracted (no aperture correction)",
            "flux_err": "1-sigma error of flux: pixel noise and background error",
            "background": "Background per pixel: sigma-clipped median of the annulus",
            "background_err": "1-sigma error of background",
            "x_centroid": "Target centroid, column (0-based pixels)",
            "y_centroid": "Target centroid, row (0-based pixels)",
            "fwhm": "Target FWHM (Gaussian equivalent of the second moment)",
            "dq": "Flags of the target measurement: DO_NOT_USE, SATURATED pixel in the aperture, OUTLIER centroid",
            "rel_flux": "Target flux over the summed comparison flux",
            "rel_flux_err": "1-sigma error of rel_flux",
            "comparison_dq": "Flags of the comparison measurements, ORed",
        }
        for name in table.colnames:
            if name in descriptions:
                table[name].description = descriptions[name]
            elif name.startswith("comp"):
                star = name.split("_")[0]
                table[name].description = f"Comparison star {star[4:]} " + ("flux error" if "err" in name else "flux")
        table.meta.update({
            "TARGNAME": first.meta.target.name, "TARG_RA": first.meta.target.ra, "TARG_DEC": first.meta.target.dec,
            "TARGPOS": source, "target_xy_pix": [float(v) for v in target_xy],
            "comparison_xy_pix": [[float(v) for v in xy] for xy in comparisons],
            "fwhm_pix": float(fwhm), "aperture_radius_pix": settings.radius_pix,
            "annulus_pix": [settings.annulus_inner_pix, settings.annulus_outer_pix],
            "recenter": bool(settings.recenter), "error_source": self.error_source,
            "EXPOSURES": [cube.meta.filename for cube in cubes],
            "INSTRUME": first.meta.instrument.name, "FILTER": first.meta.instrument.filter,
            "observatory_site": get_instrument(first.meta.instrument.name or "IRIS").site,
            "time_reference": "mid-time of each integration: EXPSTART + (i + 0.5) (EXPEND - EXPSTART) / NINTS; "
                              "BJD_TDB with the light travel time to the barycentre (astropy, built-in ephemeris)",
        })  # fmt: skip

    def _fit(self, table) -> list[str]:
        """Fit the transit on the relative flux (the target flux without comparisons); notes on failure."""
        use_rel = "rel_flux" in table.colnames
        good = table["dq"] == 0
        if use_rel:
            good &= table["comparison_dq"] == 0
        fit, notes = fit_light_curve(table, "rel_flux" if use_rel else "flux", good, self.transit_duration,
                                     self.transit_ingress)  # fmt: skip
        self.transit_fit = fit
        return notes

    def _give_up(self, model, status: str, reason: str):
        if self.fail_on_incomplete:
            raise InputFileError(model.meta.filename, f"tso_photometry: {reason}")
        self.record_outcome(status, f"{reason}; no light curve")
        return model
