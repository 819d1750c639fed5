"""Alignment of exposures: source catalogs matched on the sky, one WCS correction per exposure.

Pure functions (no files, no data models). Source positions are 0-based pixel ``(x, y)``;
tangent-plane coordinates are arcsec about a common tangent point (``xi`` East, ``eta`` North).
Catalog matching comes from tweakwcs (``XYXYMatch``,
the engine of JWST's and Roman's tweakreg); the corrections come from one least-squares fit over
all the matched pairs of all overlapping exposures.
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from astropy.modeling import models
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from photutils.detection import DAOStarFinder
from photutils.utils.exceptions import NoDetectionsWarning
from tweakwcs.matchutils import XYXYMatch

from ..resample.grid import sky_to_tangent_plane, tangent_plane_to_sky

__all__ = [
    "AlignmentError",
    "AlignmentResult",
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


# Free parameters of each geometry's linearised correction ``p' = p + A p + s``: the columns of
# the design matrix are d(p')/d(parameter) for a point p = (x, y).
_GEOMETRY_PARAMETERS = {"shift": 2, "rshift": 3, "rscale": 4, "general": 6}


def _design(xy: np.ndarray, fitgeometry: str) -> np.ndarray:
    """d(p')/d(parameters), shape (2 n, k): rows x of every point, then rows y."""
    x, y = xy[:, 0], xy[:, 1]
    one, zero = np.ones_like(x), np.zeros_like(x)
    columns_x = [one, zero]
    columns_y = [zero, one]
    if fitgeometry in ("rshift", "rscale"):
        columns_x.append(-y)  # rotation
        columns_y.append(x)
    if fitgeometry == "rscale":
        columns_x.append(x)  # scale
        columns_y.append(y)
    if fitgeometry == "general":
        columns_x += [x, y, zero, zero]
        columns_y += [zero, zero, x, y]
    return np.vstack([np.column_stack(columns_x), np.column_stack(columns_y)])


def _parameters_to_affine(parameters: np.ndarray, fitgeometry: str) -> tuple[np.ndarray, np.ndarray]:
    """Matrix and shift (arcsec) of a correction from its parameters (exact rotation for ``rshift``)."""
    shift = np.asarray(parameters[:2], dtype=float)
    if fitgeometry == "shift":
        return np.eye(2), shift
    if fitgeometry == "general":
        return np.eye(2) + np.asarray(parameters[2:6], dtype=float).reshape(2, 2), shift
    angle = parameters[2]
    scale = 1.0 + (parameters[3] if fitgeometry == "rscale" else 0.0)
    cos, sin = math.cos(angle), math.sin(angle)
    return scale * np.array([[cos, -sin], [sin, cos]]), shift


@dataclass
class AlignmentResult:
    """Outcome of `relative_align`.

    Attributes
    ----------
    corrections : list of SkyCorrection
        One per exposure, in input order (identity for the reference and the unaligned ones).
    aligned : list of bool
        Whether each exposure was tied to the reference through matched sources.
    reasons : list of str
        Why each unaligned exposure could not be aligned ('' for aligned ones).
    reference : str
        Name of the reference (``"reference catalog"`` for absolute alignment).
    rms_arcsec : float
        RMS of the matched-pair residuals after the fit (one coordinate).
    reference_rms_arcsec : float
        RMS of the residuals of the exposures' sources against the reference catalog (one
        coordinate; NaN without a reference catalog).
    reference_matches : int
        Sources matched to the reference catalog.
    """

    corrections: list[SkyCorrection]
    aligned: list[bool]
    reasons: list[str]
    reference: str
    rms_arcsec: float = float("nan")
    reference_rms_arcsec: float = float("nan")
    reference_matches: int = 0

    @property
    def unaligned(self) -> list[int]:
        """Indices of the exposures that could not be aligned."""
        return [index for index, ok in enumerate(self.aligned) if not ok]


def _overlap(a: Table, b: Table, margin: float) -> bool:
    if not len(a) or not len(b):
        return False
    return not (
        a["TPx"].min() > b["TPx"].max() + margin
        or b["TPx"].min() > a["TPx"].max() + margin
        or a["TPy"].min() > b["TPy"].max() + margin
        or b["TPy"].min() > a["TPy"].max() + margin
    )


def _connected(n_nodes: int, edges: Sequence[tuple[int, int]], start: int) -> set[int]:
    neighbours: dict[int, set[int]] = {node: set() for node in range(n_nodes)}
    for i, j in edges:
        neighbours[i].add(j)
        neighbours[j].add(i)
    seen, todo = {start}, [start]
    while todo:
        for other in neighbours[todo.pop()] - seen:
            seen.add(other)
            todo.append(other)
    return seen


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
    reference_catalog: tuple[np.ndarray, np.ndarray] | None = None,
) -> AlignmentResult:
    """Align exposures to one another, and optionally to a reference catalog, in one global fit.

    Every pair of overlapping exposures (and every exposure and the reference catalog) is
    matched with tweakwcs' ``XYXYMatch``; pairs with at least ``minobj`` matches tie their two
    exposures. One linear correction per exposure (shared by its detectors) is then fitted to
    all the ties at once, by least squares with the reference held fixed, so that the result
    does not depend on the order of the inputs. The reference is the reference catalog if given,
    else the first exposure (``enforce_user_order``), else the exposure with the most sources
    (ties broken by name). Exposures without a chain of ties to the reference are not aligned:
    they keep their WCS and are reported in the result.

    Parameters
    ----------
    exposures : sequence of ExposureSources
        At least two, or one with a reference catalog.
    searchrad_arcsec, separation_arcsec, tolerance_arcsec, use2dhist
        Matching parameters of tweakwcs' ``XYXYMatch`` in tangent-plane arcsec.
    fitgeometry : str
        ``shift``, ``rshift`` (shift and rotation), ``rscale`` (plus one scale) or ``general``
        (affine).
    minobj : int
        Fewest matches that tie two exposures (or an exposure and the reference catalog).
    nclip, sigma
        Clipping iterations and threshold (in RMS) of the fit.
    pixel_scale_arcsec : float
        Input pixel scale, the bin size of the 2-D histogram of offsets.
    enforce_user_order : bool
        Without a reference catalog, the first exposure is the reference.
    reference_catalog : tuple of np.ndarray, optional
        RA, Dec (degrees) of reference stars (absolute astrometry, e.g. Gaia).

    Returns
    -------
    AlignmentResult

    Raises
    ------
    AlignmentError
        Fewer than two catalogs to align, or no exposure with sources.
    """
    n_exposures = len(exposures)
    absolute = reference_catalog is not None
    if n_exposures + int(absolute) < 2:
        raise AlignmentError("alignment needs at least two exposures, or a reference catalog")
    positions = [exposure.sky_positions() for exposure in exposures]
    if absolute:
        positions.append((np.asarray(reference_catalog[0], float), np.asarray(reference_catalog[1], float)))
    names = [exposure.name for exposure in exposures] + (["reference catalog"] if absolute else [])
    counts = np.array([len(ra) for ra, _ in positions])
    if np.count_nonzero(counts[:n_exposures]) == 0:
        raise AlignmentError("no exposure has detected sources")
    all_ra = np.concatenate([ra for ra, _ in positions[:n_exposures]])
    all_dec = np.concatenate([dec for _, dec in positions[:n_exposures]])
    tangent_point = (float(np.median(all_ra)), float(np.median(all_dec)))
    tables = [_tangent_table(ra, dec, tangent_point) for ra, dec in positions]
    if absolute:
        reference = n_exposures
        if len(tables[reference]):
            # Only reference stars near the exposures take part in the matching.
            near = np.zeros(len(tables[reference]), bool)
            for table in tables[:n_exposures]:
                if len(table):
                    near |= (
                        (tables[reference]["TPx"] > table["TPx"].min() - searchrad_arcsec)
                        & (tables[reference]["TPx"] < table["TPx"].max() + searchrad_arcsec)
                        & (tables[reference]["TPy"] > table["TPy"].min() - searchrad_arcsec)
                        & (tables[reference]["TPy"] < table["TPy"].max() + searchrad_arcsec)
                    )
            tables[reference] = tables[reference][near]
    elif enforce_user_order:
        reference = 0
    else:
        reference = min(range(n_exposures), key=lambda i: (-counts[i], names[i]))
    n_nodes = len(tables)
    match = XYXYMatch(
        searchrad=searchrad_arcsec, separation=separation_arcsec, use2dhist=use2dhist, tolerance=tolerance_arcsec
    )
    # Pairs in a canonical order (by name), each matched once: the result cannot depend on input order.
    canonical = sorted(range(n_nodes), key=lambda i: names[i])
    ties: list[tuple[int, int, np.ndarray, np.ndarray]] = []
    for position, i in enumerate(canonical):
        for j in canonical[position + 1 :]:
            if not _overlap(tables[i], tables[j], searchrad_arcsec):
                continue
            first, second = (i, j) if j != reference else (j, i)
            idx_first, idx_second = match(tables[first], tables[second], tp_pscale=pixel_scale_arcsec, tp_units="arcsec")
            log.debug("tweakreg: %s - %s: %d matches", names[first], names[second], len(idx_first))
            if len(idx_first) >= minobj:
                xy_first = np.column_stack([tables[first]["TPx"][idx_first], tables[first]["TPy"][idx_first]])
                xy_second = np.column_stack([tables[second]["TPx"][idx_second], tables[second]["TPy"][idx_second]])
                ties.append((first, second, np.asarray(xy_first, float), np.asarray(xy_second, float)))
    reachable = _connected(n_nodes, [(i, j) for i, j, _, _ in ties], reference)
    reasons = []
    for index in range(n_exposures):
        if index in reachable:
            reasons.append("")
        elif counts[index] == 0:
            reasons.append("no sources detected")
        else:
            reasons.append(f"fewer than minobj={minobj} sources matched to any exposure tied to {names[reference]}")
    ties = [tie for tie in ties if tie[0] in reachable]
    free = [node for node in range(n_nodes) if node in reachable and node != reference]
    matrices = {node: np.eye(2) for node in range(n_nodes)}
    shifts = {node: np.zeros(2) for node in range(n_nodes)}
    rms = float("nan")
    if free and ties:
        rms = _global_fit(ties, free, matrices, shifts, fitgeometry, nclip, sigma)
    corrections = []
    for index in range(n_exposures):
        correction = SkyCorrection(tangent_point, matrices[index], shifts[index], rms)
        corrections.append(correction)
        if index in reachable and index != reference:
            log.info(
                "tweakreg: %s shift (%.4f, %.4f) arcsec, rotation %.5f deg",
                names[index], *correction.shift_arcsec, correction.rotation_deg(),
            )  # fmt: skip
    result = AlignmentResult(corrections, [bool(r == "") for r in reasons], reasons, names[reference], rms)
    if absolute:
        residuals = []
        for first, second, xy_first, xy_second in ties:
            if reference in (first, second):
                node, xy, xy_ref = (second, xy_second, xy_first) if first == reference else (first, xy_first, xy_second)
                residuals.append((matrices[node] @ xy.T).T + shifts[node] - xy_ref)
        if residuals:
            stacked = np.concatenate(residuals)
            result.reference_matches = len(stacked)
            result.reference_rms_arcsec = float(np.sqrt(np.mean(stacked**2)))
    return result


def _global_fit(ties, free, matrices, shifts, fitgeometry, nclip, sigma) -> float:
    """Least-squares corrections of the ``free`` nodes from all ties (in place); returns the residual RMS.

    Two Gauss-Newton passes (the rotation is linearised about the current solution) with
    sigma clipping of the tied pairs.
    """
    k = _GEOMETRY_PARAMETERS[fitgeometry]
    column = {node: n * k for n, node in enumerate(free)}
    keep = [np.ones(len(tie[2]), bool) for tie in ties]
    rms = float("nan")
    for iteration in range(max(nclip, 0) + 2):
        blocks, targets = [], []
        for (first, second, xy_first, xy_second), good in zip(ties, keep, strict=True):
            p_first = (matrices[first] @ xy_first[good].T).T + shifts[first]
            p_second = (matrices[second] @ xy_second[good].T).T + shifts[second]
            rows = np.zeros((2 * len(p_first), k * len(free)))
            if first in column:
                rows[:, column[first] : column[first] + k] += _design(p_first, fitgeometry)
            if second in column:
                rows[:, column[second] : column[second] + k] -= _design(p_second, fitgeometry)
            blocks.append(rows)
            targets.append(np.concatenate([p_second[:, 0] - p_first[:, 0], p_second[:, 1] - p_first[:, 1]]))
        solution = np.linalg.lstsq(np.vstack(blocks), np.concatenate(targets), rcond=None)[0]
        for node in free:
            delta_matrix, delta_shift = _parameters_to_affine(solution[column[node] : column[node] + k], fitgeometry)
            matrices[node] = delta_matrix @ matrices[node]
            shifts[node] = delta_matrix @ shifts[node] + delta_shift
        residuals = []
        for first, second, xy_first, xy_second in ties:
            residuals.append(
                (matrices[first] @ xy_first.T).T + shifts[first] - (matrices[second] @ xy_second.T).T - shifts[second]
            )
        kept = np.concatenate([r[good] for r, good in zip(residuals, keep, strict=True)])
        rms = float(np.sqrt(np.mean(kept**2)))
        if iteration >= 1 and iteration <= nclip:
            distance = [np.hypot(r[:, 0], r[:, 1]) for r in residuals]
            keep = [d <= sigma * rms * math.sqrt(2.0) for d in distance]
    return rms
