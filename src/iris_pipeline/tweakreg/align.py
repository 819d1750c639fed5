"""Relative alignment of exposures: source catalogs matched on the sky, one WCS correction per exposure.

Pure functions (no files, no data models). Source positions are 0-based pixel ``(x, y)``;
tangent-plane coordinates are arcsec about a common tangent point (``xi`` East, ``eta`` North).
Catalog matching and the iterative linear fit come from tweakwcs (``XYXYMatch``,
``iter_linear_fit``), the engine of JWST's and Roman's tweakreg.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from astropy.modeling import models
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from photutils.detection import DAOStarFinder
from photutils.utils.exceptions import NoDetectionsWarning
from tweakwcs.linearfit import iter_linear_fit
from tweakwcs.matchutils import XYXYMatch

from ..resample.grid import sky_to_tangent_plane, tangent_plane_to_sky

__all__ = [
    "AlignmentError",
    "ExposureSources",
    "SkyCorrection",
    "apply_sky_correction",
    "detect_point_sources",
    "relative_align",
]

log = logging.getLogger(__name__)

ARCSEC_PER_DEG = 3600.0


class AlignmentError(ValueError):
    """Relative alignment is impossible (too few sources or matches)."""


def detect_point_sources(
    data: np.ndarray,
    bad: np.ndarray | None = None,
    fwhm_pix: float = 3.0,
    snr_threshold: float = 10.0,
    max_sources: int | None = 500,
) -> Table:
    """Point sources of an image: DAOFIND (Stetson 1987) on a sigma-clipped noise estimate.

    Parameters
    ----------
    data : np.ndarray
        Background-subtracted image (any unit).
    bad : np.ndarray of bool, optional
        Pixels to ignore.
    fwhm_pix : float
        FWHM of the detection kernel, pixels.
    snr_threshold : float
        Detection threshold in units of the background noise.
    max_sources : int, optional
        Keep only the brightest ones.

    Returns
    -------
    astropy.table.Table
        Columns ``x``, ``y`` (0-based pixels) and ``flux`` (DAOFIND flux), brightest first.
    """
    mask = ~np.isfinite(data) if bad is None else (bad | ~np.isfinite(data))
    good = data[~mask]
    if good.size == 0:
        return Table(names=("x", "y", "flux"), dtype=(float, float, float))
    _, median, std = sigma_clipped_stats(good, sigma=3.0, maxiters=5)
    finder = DAOStarFinder(threshold=snr_threshold * std, fwhm=fwhm_pix, n_brightest=max_sources, exclude_border=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=NoDetectionsWarning)
        found = finder(np.where(mask, median, data) - median, mask=mask)
    if found is None:
        return Table(names=("x", "y", "flux"), dtype=(float, float, float))
    table = Table({"x": found["x_centroid"], "y": found["y_centroid"], "flux": found["flux"]})
    table.sort("flux", reverse=True)
    return table


@dataclass
class ExposureSources:
    """Sources detected in the images (detectors) of one exposure.

    Attributes
    ----------
    name : str
        Exposure identifier (for logs).
    catalogs : list of astropy.table.Table
        One ``x``, ``y`` table per image.
    wcs_list : list of gwcs.WCS
        The images' WCSs, in the same order.
    """

    name: str
    catalogs: list[Table]
    wcs_list: list = field(default_factory=list)

    def sky_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """RA, Dec (degrees) of every source of every image."""
        ra, dec = [], []
        for catalog, wcs in zip(self.catalogs, self.wcs_list, strict=True):
            if len(catalog):
                r, d = wcs(np.asarray(catalog["x"], float), np.asarray(catalog["y"], float), with_bounding_box=False)
                ra.append(np.atleast_1d(r))
                dec.append(np.atleast_1d(d))
        if not ra:
            return np.empty(0), np.empty(0)
        return np.concatenate(ra), np.concatenate(dec)


@dataclass(frozen=True)
class SkyCorrection:
    """A linear correction in the tangent plane: ``p' = matrix @ p + shift_arcsec``.

    ``p`` is the ``(xi, eta)`` position in arcsec about ``tangent_point_deg``.
    """

    tangent_point_deg: tuple[float, float]
    matrix: np.ndarray
    shift_arcsec: np.ndarray
    rms_arcsec: float = 0.0
    nmatches: int = 0

    @classmethod
    def identity(cls, tangent_point_deg) -> SkyCorrection:
        return cls(tuple(tangent_point_deg), np.eye(2), np.zeros(2))

    def rotation_deg(self) -> float:
        """Mean rotation of the matrix (degrees, counter-clockwise in xi, eta)."""
        return float(
            np.degrees(np.arctan2(self.matrix[1, 0] - self.matrix[0, 1], self.matrix[0, 0] + self.matrix[1, 1]))
        )

    def model(self):
        """The correction as an astropy model from (RA, Dec) to corrected (RA, Dec), degrees."""
        lon, lat = self.tangent_point_deg
        return (
            models.RotateCelestial2Native(lon, lat, 180.0)
            | models.Sky2Pix_TAN()
            | models.AffineTransformation2D(matrix=self.matrix, translation=self.shift_arcsec / ARCSEC_PER_DEG)
            | models.Pix2Sky_TAN()
            | models.RotateNative2Celestial(lon, lat, 180.0)
        )

    def apply(self, ra_deg, dec_deg):
        """Corrected sky positions."""
        xi, eta = sky_to_tangent_plane(ra_deg, dec_deg, self.tangent_point_deg)
        corrected = self.matrix @ np.vstack([np.ravel(xi), np.ravel(eta)]) * ARCSEC_PER_DEG
        corrected += self.shift_arcsec[:, None]
        return tangent_plane_to_sky(
            corrected[0] / ARCSEC_PER_DEG, corrected[1] / ARCSEC_PER_DEG, self.tangent_point_deg
        )


def apply_sky_correction(wcs, correction: SkyCorrection):
    """A copy of a gwcs with ``correction`` appended to its transform into the ``world`` frame."""
    corrected = copy.deepcopy(wcs)
    bounding_box = wcs.bounding_box if wcs.bounding_box is not None else None
    corrected.insert_transform(corrected.output_frame.name, correction.model(), after=False)
    if bounding_box is not None and corrected.bounding_box is None:
        corrected.bounding_box = tuple(tuple(interval) for interval in bounding_box.bounding_box(order="F"))
    return corrected


def _tangent_table(ra, dec, tangent_point) -> Table:
    xi, eta = sky_to_tangent_plane(ra, dec, tangent_point)
    return Table({"TPx": np.ravel(xi) * ARCSEC_PER_DEG, "TPy": np.ravel(eta) * ARCSEC_PER_DEG})


def relative_align(
    exposures: Sequence[ExposureSources],
    searchrad_arcsec: float = 0.05,
    separation_arcsec: float = 0.02,
    tolerance_arcsec: float = 0.008,
    use2dhist: bool = True,
    fitgeometry: str = "rshift",
    minobj: int = 5,
    nclip: int = 3,
    sigma: float = 3.0,
    pixel_scale_arcsec: float = 0.004,
    enforce_user_order: bool = False,
) -> list[SkyCorrection]:
    """Align exposures to one another (JWST tweakreg's relative alignment).

    The exposure with the most sources (or the first, ``enforce_user_order``) is the reference.
    The others are matched in order of decreasing source count (or input order) to a
    reference catalog that grows with every aligned exposure's unmatched sources, so that
    exposures not overlapping the first one still align through the others. Each exposure
    gets one correction shared by all its detectors.

    Parameters
    ----------
    exposures : sequence of ExposureSources
        At least two.
    searchrad_arcsec, separation_arcsec, tolerance_arcsec, use2dhist
        Matching parameters of tweakwcs' ``XYXYMatch`` in tangent-plane arcsec.
    fitgeometry : str
        ``shift``, ``rshift`` (shift and rotation), ``rscale`` or ``general``.
    minobj : int
        Fewest matches for a fit; an exposure with fewer keeps its WCS (identity correction).
    nclip, sigma
        Clipping iterations and threshold (in RMS) of the fit.
    pixel_scale_arcsec : float
        Input pixel scale, the bin size of the 2-D histogram of offsets.
    enforce_user_order : bool
        The first exposure is the reference and the others follow in input order.

    Returns
    -------
    list of SkyCorrection
        One per exposure, in input order (identity for the reference).
    """
    if len(exposures) < 2:
        raise AlignmentError("relative alignment needs at least two exposures")
    positions = [exposure.sky_positions() for exposure in exposures]
    counts = np.array([len(ra) for ra, _ in positions])
    if np.count_nonzero(counts) < 2:
        raise AlignmentError("fewer than two exposures with detected sources")
    order = np.arange(len(exposures)) if enforce_user_order else np.argsort(-counts, kind="stable")
    reference = order[0]
    tangent_point = (float(np.median(positions[reference][0])), float(np.median(positions[reference][1])))
    corrections = [SkyCorrection.identity(tangent_point) for _ in exposures]
    refcat = _tangent_table(*positions[reference], tangent_point)
    match = XYXYMatch(
        searchrad=searchrad_arcsec,
        separation=separation_arcsec,
        use2dhist=use2dhist,
        tolerance=tolerance_arcsec,
    )
    for index in order[1:]:
        ra, dec = positions[index]
        if len(ra) == 0:
            log.warning("tweakreg: %s has no sources; its WCS is left unchanged", exposures[index].name)
            continue
        imcat = _tangent_table(ra, dec, tangent_point)
        ref_idx, im_idx = match(refcat, imcat, tp_pscale=pixel_scale_arcsec, tp_units="arcsec")
        if len(ref_idx) < minobj:
            log.warning(
                "tweakreg: %s has %d matches (< minobj=%d); its WCS is left unchanged",
                exposures[index].name,
                len(ref_idx),
                minobj,
            )
            continue
        refxy = np.column_stack([refcat["TPx"][ref_idx], refcat["TPy"][ref_idx]])
        imxy = np.column_stack([imcat["TPx"][im_idx], imcat["TPy"][im_idx]])
        fit = iter_linear_fit(refxy, imxy, fitgeom=fitgeometry, center=(0.0, 0.0), nclip=nclip, sigma=(sigma, "rmse"))
        correction = SkyCorrection(
            tangent_point,
            np.asarray(fit["matrix"], dtype=float),
            np.asarray(fit["shift"], dtype=float),
            float(fit["rmse"]),
            int(np.count_nonzero(fit["fitmask"])),
        )
        corrections[index] = correction
        log.info(
            "tweakreg: %s shift (%.4f, %.4f) arcsec, rotation %.5f deg, %d matches, RMS %.4f arcsec",
            exposures[index].name,
            *correction.shift_arcsec,
            correction.rotation_deg(),
            correction.nmatches,
            correction.rms_arcsec,
        )
        aligned = correction.matrix @ np.vstack([imcat["TPx"], imcat["TPy"]]) + correction.shift_arcsec[:, None]
        unmatched = np.setdiff1d(np.arange(len(imcat)), im_idx)
        refcat = Table(
            {
                "TPx": np.concatenate([np.asarray(refcat["TPx"]), aligned[0, unmatched]]),
                "TPy": np.concatenate([np.asarray(refcat["TPy"]), aligned[1, unmatched]]),
            }
        )
    return corrections
