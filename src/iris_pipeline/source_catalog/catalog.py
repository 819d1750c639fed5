"""Source detection and photometry on a resampled image (photutils).

Pure function `make_source_catalog`: image in MJy/sr, catalog out with fluxes in Jy. Detection is
image segmentation of the image smoothed by a Gaussian of the PSF's FWHM, thresholded at
``snr_threshold`` times the smoothed image's own noise (ERR propagated through the kernel), with
optional deblending (multi-thresholding and watershed). Centroids are photutils' windowed
centroids (SExtractor's ``XWIN``/``YWIN``) refined by 2-D Gaussian fits in a box of about 2 FWHM
that leave out masked pixels and their neighbours. Photometry sums circular apertures of radii
given in units of the FWHM, minus the sigma-clipped median of a local annulus. Total fluxes are
the flux in the largest of these apertures times an aperture correction measured on the image's
isolated bright stars out to the annulus, extrapolated beyond it by a Moffat wing (Stetson's
DAOGROW), so that they are not contaminated by neighbours. Isophotal and Kron fluxes and
second-moment shapes describe extended sources. See ``docs/steps/source_catalog.md``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.stats import SigmaClip
from astropy.table import Table
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture, aperture_photometry
from photutils.segmentation import SourceCatalog, deblend_sources, detect_sources
from photutils.utils.exceptions import NoDetectionsWarning
from scipy import ndimage
from scipy.optimize import least_squares
from scipy.spatial import cKDTree

__all__ = [
    "AB_ZERO_POINT_JY",
    "FLAGS",
    "jy_to_ab_mag",
    "combine_corrections",
    "make_source_catalog",
    "moffat_enclosed",
    "smoothed_image_and_noise",
]

AB_ZERO_POINT_JY = 3631.0
MAGNITUDE_PER_LN = 2.5 / math.log(10.0)
FLAGS = {
    "PARTIAL_COVERAGE": 1,  # pixels without data (NaN) inside the reference (largest) aperture
    "CROWDED": 2,  # another source's centroid within two reference-aperture radii
    "DEBLENDED": 4,  # the segment was split from a larger one by deblending
}
DETECTION_FWHM_PIX = 3.0
FWHM_ESTIMATE_SOURCES = 20
FWHM_CUTOUT_HALF_SIZE = 32
EDGE_EXCLUSION_PIX = 1
"""Pixels next to masked ones are left out of the centroid fits (partly covered by the drizzle)."""
GAUSSIAN_PLANE_PARAMETERS = 7
"""Centroid fit: amplitude, centre (x, y) and width of the Gaussian, level and two slopes of the plane."""
PLANE_SLOPE_CHI2 = 11.8
"""Chi-square of the centroid fit's two background slopes above which they are kept (3 sigma)."""
GROWTH_RADII_FWHM = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0)
GROWTH_MAX_CHI2 = 3.0
"""Largest reduced chi-square of a star's curve-of-growth fit (errors with a 0.1 % floor) to use it."""
GROWTH_MIN_RADII = 4
"""Fewest growth-curve radii fitted (the Moffat has three free parameters)."""
GROWTH_ANNULUS_GAP_FWHM = 1.0
"""The outermost growth-curve aperture stays this far inside the background annulus."""
GROWTH_ISOLATION_FWHM = 8.0
GROWTH_MIN_SNR = 50.0
GROWTH_MAX_STARS = 30
GROWTH_MIN_STARS = 3
"""Fewest stars with a good growth-curve fit: with three, one that disagrees can be clipped."""
GROWTH_MIN_AGREEING = 2
"""Fewest of those that the clip keeps."""
STAR_CORE_RADIUS_FWHM = 1.0
STAR_MIN_RELATIVE_CONCENTRATION = 0.9
"""Growth-curve stars hold at least this fraction of the most compact candidate's flux ratio
between `STAR_CORE_RADIUS_FWHM` and the reference aperture: galaxies, less concentrated, would
lower the correction."""


def jy_to_ab_mag(flux_jy, flux_err_jy):
    """AB magnitude and its error from a flux density in Jy (NaN for non-positive fluxes)."""
    flux = np.asarray(flux_jy, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        positive = flux > 0
        mag = np.where(positive, -2.5 * np.log10(np.where(positive, flux, 1.0) / AB_ZERO_POINT_JY), np.nan)
        mag_err = np.where(positive, MAGNITUDE_PER_LN * np.asarray(flux_err_jy) / np.where(positive, flux, 1.0), np.nan)
    return mag, mag_err


def smoothed_image_and_noise(data, err, bad, fwhm_pix):
    """The image convolved with a normalised Gaussian of ``fwhm_pix`` and the noise of that image.

    The noise is the ERR propagated through the kernel, ``sqrt(sum K^2 ERR^2)`` (pixels assumed
    independent), so that ``convolved / noise`` is the significance of a detection: a threshold
    of 5 means 5 sigma of the smoothed image, not 5 times the (several times larger) per-pixel
    ERR. Masked pixels count as zero with zero variance. Returns (convolved, noise), noise inf
    where no pixel contributes.
    """
    # A Gaussian is separable: two 1-D passes instead of a 2-D kernel (large, sparse mosaics).
    sigma = fwhm_pix / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    radius = math.ceil(1.5 * fwhm_pix)
    offsets = np.arange(-radius, radius + 1, dtype=float)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    convolved = np.where(bad, 0.0, data)
    variance = np.where(bad | ~np.isfinite(err), 0.0, err**2)
    for axis in (0, 1):
        convolved = ndimage.correlate1d(convolved, kernel, axis=axis, mode="constant")
        variance = ndimage.correlate1d(variance, kernel**2, axis=axis, mode="constant")
    with np.errstate(divide="ignore"):
        noise = np.where(variance > 0, np.sqrt(np.maximum(variance, 0.0)), np.inf)
    return convolved, noise


def _segments(data, err, bad, fwhm_pix, snr_threshold, npixels, deblend):
    convolved, noise = smoothed_image_and_noise(data, err, bad, fwhm_pix)
    threshold = snr_threshold * np.where(bad, np.inf, noise)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=NoDetectionsWarning)
        segments = detect_sources(convolved, threshold, n_pixels=npixels, mask=bad)
    if segments is None:
        return None, convolved, np.zeros(0, bool)
    if not deblend or segments.n_labels == 0:
        return segments, convolved, np.zeros(segments.n_labels, bool)
    parents = segments.data.copy()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The deblending mode of one or more", UserWarning)
        segments = deblend_sources(convolved, segments, n_pixels=npixels, progress_bar=False)
    # Each child segment lies inside one parent; a parent split in several marks its children.
    parent_of = np.zeros(segments.max_label + 1, dtype=np.int64)
    parent_of[segments.data.ravel()] = parents.ravel()
    children = np.bincount(parent_of[segments.labels], minlength=parents.max() + 1)
    deblended = children[parent_of[segments.labels]] > 1
    return segments, convolved, deblended


def make_source_catalog(
    data_mjy_sr: np.ndarray,
    err_mjy_sr: np.ndarray,
    wcs,
    pixel_area_sr: float,
    bad: np.ndarray | None = None,
    fwhm_pix: float | None = None,
    snr_threshold: float = 5.0,
    npixels: int = 5,
    deblend: bool = True,
    aperture_radii_fwhm: tuple[float, ...] = (1.0, 2.0),
    annulus_fwhm: tuple[float, float] = (7.0, 10.0),
    aperture_correction: bool = True,
) -> tuple[Table, float]:
    """Detect sources and measure their positions and aperture fluxes.

    Parameters
    ----------
    data_mjy_sr, err_mjy_sr : np.ndarray
        Resampled image and its error, MJy/sr; NaN where there is no data.
    wcs : gwcs.WCS
        Pixel to ICRS degrees.
    pixel_area_sr : float
        Area of one pixel (a distortion-free grid has one area).
    bad : np.ndarray of bool, optional
        Pixels to ignore in addition to non-finite ones.
    fwhm_pix : float, optional
        PSF FWHM; by default the median FWHM of the brightest compact sources found with a
        3-pixel detection kernel.
    snr_threshold : float
        Detection threshold in sigma of the smoothed image (`smoothed_image_and_noise`): a
        source is detected where ``npixels`` connected pixels of the image convolved with a
        Gaussian of the PSF's FWHM exceed ``snr_threshold`` times that image's own noise, and
        the flux in the smallest aperture, less the local background, is positive (a segment on
        the wings of bright stars is not a source).
    npixels : int
        Fewest connected pixels of a source.
    deblend : bool
        Split blended sources.
    aperture_radii_fwhm : tuple of float
        Radii of the apertures, in FWHM; the largest is the reference of the total flux.
    annulus_fwhm : tuple of float
        Inner and outer radii of the local-background annulus, in FWHM.
    aperture_correction : bool
        Correct the reference aperture to total flux with the curve of growth of the image's
        isolated bright stars; when False, or with fewer than 3 such stars, the correction is 1.

    Returns
    -------
    catalog : astropy.table.Table
        Columns documented in ``docs/steps/source_catalog.md``.
    fwhm_pix : float
        The FWHM used.
    """
    data = np.asarray(data_mjy_sr, dtype=float)
    err = np.asarray(err_mjy_sr, dtype=float)
    bad = ~np.isfinite(data) if bad is None else (bad | ~np.isfinite(data))
    if fwhm_pix is None:
        fwhm_pix = _estimate_fwhm(data, err, bad, snr_threshold, npixels)
    segments, convolved, deblended = _segments(data, err, bad, fwhm_pix, snr_threshold, npixels, deblend)
    if segments is None or segments.n_labels == 0:
        return _empty_catalog(aperture_radii_fwhm), fwhm_pix
    filled = np.where(bad, 0.0, data)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        sources = SourceCatalog(filled, segments, convolved_data=convolved, error=np.where(bad, 0.0, err), mask=bad)
        x = np.asarray(sources.x_centroid_win, dtype=float)
        y = np.asarray(sources.y_centroid_win, dtype=float)
    # The windowed centroid falls back to NaN for the rare segment where it does not converge.
    fallback = ~np.isfinite(x) | ~np.isfinite(y)
    x[fallback] = np.asarray(sources.x_centroid, dtype=float)[fallback]
    y[fallback] = np.asarray(sources.y_centroid, dtype=float)[fallback]
    x, y = _refine_centroids(filled, bad, x, y, fwhm_pix)
    positions = np.column_stack([x, y])
    jy_per_sum = pixel_area_sr * 1e6

    annulus = CircularAnnulus(positions, annulus_fwhm[0] * fwhm_pix, annulus_fwhm[1] * fwhm_pix)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        background = ApertureStats(filled, annulus, mask=bad, sigma_clip=SigmaClip(sigma=3.0, maxiters=5)).median
    background = np.nan_to_num(np.asarray(background, dtype=float))
    error = np.where(bad, 0.0, err)
    # A segment on the wings of bright stars passes the threshold of the smoothed image without a
    # source of its own: it must also stand above its local background.
    core_flux, _, _ = _aperture_fluxes(filled, error, bad, positions, min(aperture_radii_fwhm) * fwhm_pix, background)
    real = core_flux > 0
    if not real.any():
        return _empty_catalog(aperture_radii_fwhm), fwhm_pix
    positions, background, deblended = positions[real], background[real], deblended[real]

    reference_fwhm = max(aperture_radii_fwhm)
    reference_pix = reference_fwhm * fwhm_pix
    apertures = {
        radius_fwhm: _aperture_fluxes(filled, error, bad, positions, radius_fwhm * fwhm_pix, background)
        for radius_fwhm in sorted(aperture_radii_fwhm)
    }
    flux, flux_err, area = apertures[reference_fwhm]
    flags = np.zeros(len(positions), dtype=np.int32)
    flags[area < 0.999 * np.pi * reference_pix**2] |= FLAGS["PARTIAL_COVERAGE"]
    # The nearest other source of each, from a k-d tree: a distance matrix would take N^2 memory
    # (7 GB for the 30000 sources of a crowded field).
    nearest = cKDTree(positions).query(positions, k=2)[0][:, 1] if len(positions) > 1 else np.full(1, np.inf)
    flags[nearest < 2.0 * reference_pix] |= FLAGS["CROWDED"]
    flags[deblended] |= FLAGS["DEBLENDED"]

    apcorr, nstars, moffat_shape = 1.0, 0, None
    if aperture_correction:
        isolated = (nearest > GROWTH_ISOLATION_FWHM * fwhm_pix) & (flags & FLAGS["PARTIAL_COVERAGE"] == 0)
        bright = isolated & (flux > GROWTH_MIN_SNR * flux_err)
        bright[bright] = _point_like(filled, error, bad, positions[bright], background[bright], flux[bright], fwhm_pix)
        annulus_pix = (annulus_fwhm[0] * fwhm_pix, annulus_fwhm[1] * fwhm_pix)
        apcorr, nstars, moffat_shape = _growth_curve_correction(
            filled, error, bad, positions[bright], background[bright], fwhm_pix, reference_pix, annulus_pix
        )

    ra, dec = wcs(positions[:, 0], positions[:, 1], with_bounding_box=False)
    table = Table()
    table["id"] = np.asarray(sources.label, dtype=np.int32)[real]
    table["xcentroid"] = positions[:, 0] * u.pix
    table["ycentroid"] = positions[:, 1] * u.pix
    table["ra"] = np.asarray(ra) * u.deg
    table["dec"] = np.asarray(dec) * u.deg
    table["fwhm_pix"] = np.full(len(positions), fwhm_pix) * u.pix
    table["aper_bkg_flux"] = background * jy_per_sum * u.Jy
    for radius_fwhm, (radius_flux, radius_err, _) in apertures.items():
        _add_flux_columns(table, f"aper{radius_fwhm:g}fwhm", radius_flux * jy_per_sum, radius_err * jy_per_sum)
    _add_flux_columns(table, "aper_total", flux * jy_per_sum * apcorr, flux_err * jy_per_sum * apcorr)
    _add_extended_source_columns(table, sources, real, jy_per_sum)
    table["flags"] = flags
    table.add_column(SkyCoord(table["ra"], table["dec"], frame="icrs"), name="sky_centroid", index=3)
    _describe(table)
    table.meta["fwhm_pix"] = float(fwhm_pix)
    table.meta["flags"] = dict(FLAGS)
    table.meta["aperture_correction"] = float(apcorr)
    table.meta["aperture_correction_radius_fwhm"] = float(reference_fwhm)
    table.meta["aperture_correction_stars"] = int(nstars)
    table.meta["aperture_correction_measured"] = moffat_shape is not None
    table.meta["psf_moffat_alpha_pix"], table.meta["psf_moffat_beta"] = moffat_shape or (None, None)
    return table, fwhm_pix


COLUMN_DESCRIPTIONS = {
    "id": "Unique source identification label number",
    "xcentroid": "X pixel value of the source centroid (0 indexed)",
    "ycentroid": "Y pixel value of the source centroid (0 indexed)",
    "sky_centroid": "ICRS sky coordinate of the source centroid",
    "ra": "ICRS right ascension of the source centroid",
    "dec": "ICRS declination of the source centroid",
    "fwhm_pix": "PSF FWHM used for the detection kernel and the apertures",
    "aper_bkg_flux": "Local background per pixel: sigma-clipped median of the annulus",
    "flags": "Bit flags: 1 PARTIAL_COVERAGE, 2 CROWDED, 4 DEBLENDED",
    "isophotal_area": "Area of the source's segment (pixels above the detection threshold)",
    "kron_radius": "Unscaled first-moment Kron radius (the Kron ellipse is 2.5 times this)",
    "semimajor_axis": "1-sigma extent along the semimajor axis (second moments of the segment)",
    "semiminor_axis": "1-sigma extent along the semiminor axis (second moments of the segment)",
    "ellipticity": "1 - semiminor_axis / semimajor_axis",
    "orientation": "Angle of the semimajor axis from the mosaic's +x axis, counter-clockwise",
}


def _describe(table: Table) -> None:
    """Units (Jy, AB mag) and a description on every column, as JWST's catalogs have."""
    for name in table.colnames:
        column = table[name]
        if name.endswith("_abmag"):
            table[name] = np.asarray(column, dtype=float) * u.ABmag
        elif name.endswith("_abmag_err"):
            table[name] = np.asarray(column, dtype=float) * u.mag
        description = COLUMN_DESCRIPTIONS.get(name)
        if description is None:
            description = _flux_description(name)
        if description:
            table[name].info.description = description


FLUX_QUANTITIES = {
    "flux": "Flux density in the {}",
    "flux_err": "Flux density error in the {}",
    "abmag": "AB magnitude of the {} flux density",
    "abmag_err": "AB magnitude error of the {} flux density",
}


def _flux_description(name: str) -> str | None:
    """Description of a ``<measurement>_<quantity>`` flux column (`FLUX_QUANTITIES`), else None."""
    for quantity, template in sorted(FLUX_QUANTITIES.items(), key=lambda item: -len(item[0])):
        if not name.endswith("_" + quantity):
            continue
        measurement = name[: -len(quantity) - 1]
        if measurement == "aper_total":
            return template.format("reference aperture, corrected to total")
        if measurement == "isophotal":
            return template.format("source's segment (isophotal)")
        if measurement == "kron":
            return template.format("Kron ellipse")
        if measurement.startswith("aper") and measurement.endswith("fwhm"):
            return template.format(f"radius {measurement[4:-4]} FWHM aperture")
    return None


def _add_extended_source_columns(table, sources, real, jy_per_sum):
    """Isophotal and Kron fluxes, Kron radius and shape of each segment.

    Isophotal: the sum over the source's segment (pixels above the detection threshold, after
    deblending). Kron: the sum in photutils' Kron ellipse (2.5 first-moment radii, at least 1.4
    pixels when the moment is smaller), with neighbouring segments masked. Unlike the apertures,
    these are not corrected by the local annulus, which lies inside a galaxy's own light: they
    rely on the background subtraction of stage 2 and sky matching. They measure galaxies; for
    point sources ``aper_total`` is the better total flux.
    """
    _add_flux_columns(table, "isophotal", np.asarray(sources.segment_flux, dtype=float)[real] * jy_per_sum,
                      np.asarray(sources.segment_flux_err, dtype=float)[real] * jy_per_sum)  # fmt: skip
    _add_flux_columns(table, "kron", np.asarray(sources.kron_flux, dtype=float)[real] * jy_per_sum,
                      np.asarray(sources.kron_flux_err, dtype=float)[real] * jy_per_sum)  # fmt: skip
    table["isophotal_area"] = np.asarray(sources.area.value, dtype=float)[real] * u.pix**2
    table["kron_radius"] = np.asarray(sources.kron_radius.value, dtype=float)[real] * u.pix
    table["semimajor_axis"] = np.asarray(sources.semimajor_axis.value, dtype=float)[real] * u.pix
    table["semiminor_axis"] = np.asarray(sources.semiminor_axis.value, dtype=float)[real] * u.pix
    table["ellipticity"] = np.asarray(sources.ellipticity.value, dtype=float)[real]
    table["orientation"] = np.asarray(sources.orientation.value, dtype=float)[real] * u.deg


def _refine_centroids(data, bad, x, y, fwhm_pix):
    """2-D Gaussian fits on a tilted plane in a box of about 2 FWHM around each centroid.

    The small box keeps a bright neighbour's wing out of faint sources' positions, which a
    windowed centroid's larger window lets in; the plane takes the gradient of what the box
    still holds of it (a star on a galaxy's disc), which a constant background would leave in the
    position (0.18-0.26 pixel for the two such stars of the image3 truth check). Masked pixels are
    left out of the fit, and so are their neighbours: at the edge of a mosaic's coverage a partly
    covered pixel holds the mean of only its covered part, off its centre, which would pull the
    position outward. Fits that fail or move by more than one FWHM keep the windowed centroid.
    """
    half = int(round(fwhm_pix))
    excluded = ndimage.binary_dilation(bad, iterations=EDGE_EXCLUSION_PIX) if bad.any() else bad
    fitted_x, fitted_y = x.copy(), y.copy()
    ny, nx = data.shape
    sigma_pix = fwhm_pix / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    for k in np.flatnonzero(np.isfinite(x) & np.isfinite(y)):
        centre = (x[k], y[k])
        # Once more on a box centred on the first fit's position (unless it is the same box): a
        # box off the source samples a PSF that is not a Gaussian, and the curvature of a
        # galaxy's gradient, unevenly.
        for _ in range(2):
            column, row = int(round(centre[0])), int(round(centre[1]))
            window = np.s_[
                max(row - half, 0) : min(row + half + 1, ny), max(column - half, 0) : min(column + half + 1, nx)
            ]
            usable = ~excluded[window]
            if np.count_nonzero(usable) < GAUSSIAN_PLANE_PARAMETERS + 3:
                centre = (np.nan, np.nan)
                break
            yy, xx = np.mgrid[window]
            centre = _gaussian_on_plane_centre(
                data[window][usable], xx[usable].astype(float), yy[usable].astype(float), *centre, sigma_pix
            )
            if not (
                np.isfinite(centre[0])
                and np.isfinite(centre[1])
                and np.hypot(centre[0] - x[k], centre[1] - y[k]) < fwhm_pix
            ) or (int(round(centre[0])), int(round(centre[1]))) == (column, row):
                break
        fitted_x[k], fitted_y[k] = centre
    good = np.isfinite(fitted_x) & np.isfinite(fitted_y) & (np.hypot(fitted_x - x, fitted_y - y) < fwhm_pix)
    return np.where(good, fitted_x, x), np.where(good, fitted_y, y)


def _gaussian_on_plane_centre(values, xs, ys, x_guess, y_guess, sigma_guess):
    """Centre of a circular 2-D Gaussian plus a background fitted to pixel ``values`` at
    ``(xs, ys)``; NaN when the fit fails.

    The background is a tilted plane where its slopes are significant (chi-square of the two
    above `PLANE_SLOPE_CHI2`), else a constant: the slopes' freedom costs an isolated star about
    20 % in position noise, which a flat background does not need.
    """
    x_ref, y_ref = float(np.mean(xs)), float(np.mean(ys))
    level = float(np.median(values))

    def model_and_jacobian(p):
        amplitude, x0, y0, sigma, base = p[:5]
        slope_x, slope_y = p[5:] if len(p) > 5 else (0.0, 0.0)
        dx, dy = xs - x0, ys - y0
        gauss = np.exp(-0.5 * (dx * dx + dy * dy) / (sigma * sigma))
        columns = [gauss, amplitude * gauss * dx / sigma**2, amplitude * gauss * dy / sigma**2,
                   amplitude * gauss * (dx * dx + dy * dy) / sigma**3, np.ones_like(xs)]  # fmt: skip
        if len(p) > 5:
            columns += [xs - x_ref, ys - y_ref]
        return amplitude * gauss + base + slope_x * (xs - x_ref) + slope_y * (ys - y_ref), np.column_stack(columns)

    def fit(start):
        # least_squares asks for the residuals and the Jacobian at the same point: evaluate once.
        last = {}

        def evaluate(p):
            key = p.tobytes()
            if key not in last:
                last.clear()
                last[key] = model_and_jacobian(p)
            return last[key]

        try:
            result = least_squares(lambda p: evaluate(p)[0] - values, start, jac=lambda p: evaluate(p)[1],
                                   method="lm")  # fmt: skip
        except ValueError:
            return None
        return result if result.success and result.x[0] > 0 and result.x[3] > 0 else None

    tilted = fit([max(float(values.max()) - level, 1e-30), x_guess, y_guess, sigma_guess, level, 0.0, 0.0])
    if tilted is None:
        return np.nan, np.nan
    residual_var = float(np.sum(tilted.fun**2)) / max(values.size - tilted.x.size, 1)
    try:
        slope_cov = np.linalg.inv(tilted.jac.T @ tilted.jac)[5:, 5:] * residual_var
        slope_chi2 = float(tilted.x[5:] @ np.linalg.solve(slope_cov, tilted.x[5:]))
    except np.linalg.LinAlgError:
        slope_chi2 = np.inf
    if slope_chi2 > PLANE_SLOPE_CHI2:
        return float(tilted.x[1]), float(tilted.x[2])
    flat = fit(tilted.x[:5])
    chosen = flat if flat is not None else tilted
    return float(chosen.x[1]), float(chosen.x[2])


def _aperture_fluxes(data, error, bad, positions, radius_pix, background):
    """Background-subtracted sums in circular apertures, their errors and unmasked areas."""
    aperture = CircularAperture(positions, radius_pix)
    phot = aperture_photometry(data, aperture, error=error, mask=bad)
    area = np.asarray(aperture.area_overlap(data, mask=bad), dtype=float)
    flux = np.asarray(phot["aperture_sum"], dtype=float) - background * area
    return flux, np.asarray(phot["aperture_sum_err"], dtype=float), area


def _add_flux_columns(table, name, flux_jy, flux_err_jy):
    mag, mag_err = jy_to_ab_mag(flux_jy, flux_err_jy)
    table[f"{name}_flux"] = flux_jy * u.Jy
    table[f"{name}_flux_err"] = flux_err_jy * u.Jy
    table[f"{name}_abmag"] = mag
    table[f"{name}_abmag_err"] = mag_err


def moffat_enclosed(radius, alpha, beta):
    """Fraction of a Moffat profile ``(1 + r^2 / alpha^2)^-beta`` inside ``radius`` (beta > 1)."""
    return 1.0 - (1.0 + (np.asarray(radius) / alpha) ** 2) ** (1.0 - beta)


def _point_like(data, error, bad, positions, background, reference_flux, fwhm_pix) -> np.ndarray:
    """Which sources are as concentrated as the most compact of them (see `STAR_MIN_RELATIVE_CONCENTRATION`).

    The concentration is the flux within `STAR_CORE_RADIUS_FWHM` over ``reference_flux``; among
    bright isolated sources the most compact are stars, whatever the number of galaxies.
    """
    if len(positions) == 0:
        return np.zeros(0, bool)
    core, _, _ = _aperture_fluxes(data, error, bad, positions, STAR_CORE_RADIUS_FWHM * fwhm_pix, background)
    concentration = core / reference_flux
    return concentration >= STAR_MIN_RELATIVE_CONCENTRATION * np.max(concentration)


def _growth_curve_correction(data, error, bad, positions, background, fwhm_pix, reference_pix, annulus_pix):
    """Aperture correction from ``reference_pix`` to total flux, measured on isolated bright stars.

    For each star the flux is measured in apertures of `GROWTH_RADII_FWHM` from ``reference_pix``
    (at least `GROWTH_MIN_RADII` of them) up to `GROWTH_ANNULUS_GAP_FWHM` inside the background
    annulus ``annulus_pix`` (inner, outer). A star's correction is the measured ratio of the flux
    at the outermost radius to the flux at ``reference_pix``, divided by the fraction of the total
    light that the outermost aperture holds after the annulus background is subtracted. That
    fraction comes from one Moffat profile (free alpha and beta, and a flux per star) fitted to
    the curves of growth of all the stars at once, as Stetson's DAOGROW fits one model to all
    its stars: the profile measured as the data are, ``EE(r) - pi r^2 <I>_annulus``, because the
    annulus holds some of the star's own wing light. A faint star's wing alone does not
    constrain a profile (fitted alone it can come out a Gaussian, without the wing light to
    extrapolate); the common profile is set by the bright ones. The measured part carries most
    of the correction, so a PSF that is not a Moffat (an AO core on a halo) still gets nearly the
    right one; the model supplies the light beyond the outermost aperture and in the annulus.
    Stars whose curve no Moffat profile of its own fits (reduced chi-square above
    `GROWTH_MAX_CHI2`: a neighbour's light in the outer apertures or the annulus) are left out
    first. The corrections are combined by `combine_corrections`: an inverse-variance mean after
    a 3-sigma clip about their inverse-variance weighted median. Uses the
    brightest `GROWTH_MAX_STARS`. Returns the correction, the number of stars kept by the clip
    and the common Moffat ``(alpha, beta)`` in pixels, or ``(1.0, n, None)`` when fewer than
    `GROWTH_MIN_STARS` stars fit or fewer than `GROWTH_MIN_AGREEING` survive the clip.
    """
    if len(positions) < GROWTH_MIN_STARS:
        return 1.0, len(positions), None
    outer_pix = annulus_pix[0] - GROWTH_ANNULUS_GAP_FWHM * fwhm_pix
    available = np.union1d([r * fwhm_pix for r in GROWTH_RADII_FWHM if r * fwhm_pix <= outer_pix], [reference_pix])
    # The model describes the wing beyond the reference radius, where it is used; the core would
    # pull a single Moffat away from the wing of a PSF with an AO core and a halo.
    radii = available[available >= reference_pix]
    if radii.size < GROWTH_MIN_RADII:
        radii = available[-GROWTH_MIN_RADII:]
    reference_index = int(np.searchsorted(radii, reference_pix))
    curves, errors = [], []
    for radius in radii:
        flux, flux_err, _ = _aperture_fluxes(data, error, bad, positions, radius, background)
        curves.append(flux)
        errors.append(flux_err)
    curves, errors = np.array(curves).T, np.array(errors).T
    brightest = np.argsort(-curves[:, -1])[:GROWTH_MAX_STARS]
    curves, errors = curves[brightest], errors[brightest]
    usable = (curves[:, reference_index] > 0) & (curves[:, -1] > 0)
    curves, errors = curves[usable], errors[usable]
    sigmas = np.hypot(errors, 1e-3 * curves[:, -1:])
    annulus_area = np.pi * (annulus_pix[1] ** 2 - annulus_pix[0] ** 2)

    def measured_fraction(radius, alpha, beta):
        annulus_light = moffat_enclosed(annulus_pix[1], alpha, beta) - moffat_enclosed(annulus_pix[0], alpha, beta)
        return moffat_enclosed(radius, alpha, beta) - np.pi * np.asarray(radius) ** 2 * annulus_light / annulus_area

    # A neighbour's light in the outer apertures or in the annulus bends a star's curve of
    # growth away from any single profile: such stars are left out.
    start = (fwhm_pix / 1.13, 2.5)
    clean = np.array([_common_moffat(curve[None], sigma[None], radii, measured_fraction, start)[1] <= GROWTH_MAX_CHI2
                      for curve, sigma in zip(curves, sigmas, strict=True)], dtype=bool)  # fmt: skip
    if np.count_nonzero(clean) < GROWTH_MIN_STARS:
        return 1.0, int(np.count_nonzero(clean)), None
    curves, errors, sigmas = curves[clean], errors[clean], sigmas[clean]
    shape, _ = _common_moffat(curves, sigmas, radii, measured_fraction, start)
    outer_fraction = float(measured_fraction(radii[-1], *shape))
    corrections = curves[:, -1] / curves[:, reference_index] / outer_fraction
    # The outer aperture contains the reference one: the ratio's error is that of the flux
    # between the two radii.
    between_var = np.maximum(errors[:, -1] ** 2 - errors[:, reference_index] ** 2, 0.0)
    variances = np.maximum(between_var / (curves[:, reference_index] * outer_fraction) ** 2, 1e-12)
    correction, nkept = combine_corrections(corrections, variances)
    if nkept < GROWTH_MIN_AGREEING:
        return 1.0, nkept, None
    return correction, nkept, (float(shape[0]), float(shape[1]))


def combine_corrections(corrections, variances) -> tuple[float, int]:
    """Inverse-variance mean of the stars' aperture corrections after a 3-sigma clip, and how
    many it kept.

    The clip is about the inverse-variance weighted median, not the median, with each star's
    error and the stars' robust scatter about it in quadrature: a few faint stars that agree with
    each other must not outvote a bright one whose error is a hundred times smaller, and a star
    far from the others is left out.
    """
    corrections, variances = np.asarray(corrections, float), np.asarray(variances, float)
    order = np.argsort(corrections)
    cumulative = np.cumsum(1.0 / variances[order])
    centre = corrections[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])]
    scatter = 1.4826 * np.median(np.abs(corrections - centre))
    kept = np.abs(corrections - centre) <= 3.0 * np.sqrt(variances + scatter**2)
    inverse_variance = 1.0 / variances[kept]
    return float(np.sum(inverse_variance * corrections[kept]) / np.sum(inverse_variance)), int(np.count_nonzero(kept))


def _common_moffat(curves, sigmas, radii, measured_fraction, start):
    """Moffat ``(alpha, beta)`` fitted to several curves of growth, a free flux for each; with the
    fit's reduced chi-square."""
    count = len(curves)

    def residuals(p):
        model = measured_fraction(radii, math.exp(p[0]), 1.0 + math.exp(p[1]))
        return ((curves - p[2:, None] * model) / sigmas).ravel()

    guess = np.concatenate([[math.log(start[0]), math.log(max(start[1] - 1.0, 0.05))], curves[:, -1] * 1.05])
    lower = np.concatenate([[-5.0, -3.0], np.zeros(count)])
    upper = np.concatenate([[5.0, 3.0], np.full(count, np.inf)])
    fit = least_squares(residuals, guess, bounds=(lower, upper), x_scale="jac")
    shape = (math.exp(fit.x[0]), 1.0 + math.exp(fit.x[1]))
    dof = max(fit.fun.size - fit.x.size, 1)
    return shape, float(np.sum(fit.fun**2) / dof) if fit.success else float("nan")


def _estimate_fwhm(data, err, bad, snr_threshold, npixels) -> float:
    """Median FWHM of the brightest sources, from the area above half their peak: 2 sqrt(area / pi).

    Sources are the local maxima of the image smoothed by a `DETECTION_FWHM_PIX` Gaussian above
    ``snr_threshold`` sigma; the area is the connected region above half the peak around each
    (a low threshold joins the wings of neighbouring stars into one segment, so segments are not used).
    """
    convolved, noise = smoothed_image_and_noise(data, err, bad, DETECTION_FWHM_PIX)
    filled = np.where(bad, 0.0, data)
    peaks = (convolved == ndimage.maximum_filter(convolved, size=5)) & (convolved > snr_threshold * noise) & ~bad
    peak_y, peak_x = np.nonzero(peaks)
    if peak_y.size == 0:
        return DETECTION_FWHM_PIX
    order = np.argsort(-filled[peak_y, peak_x])[:FWHM_ESTIMATE_SOURCES]
    half = FWHM_CUTOUT_HALF_SIZE
    widths = []
    for y, x in zip(peak_y[order], peak_x[order], strict=True):
        window = np.s_[max(y - half, 0) : y + half + 1, max(x - half, 0) : x + half + 1]
        regions, _ = ndimage.label(filled[window] >= 0.5 * filled[y, x])
        region = regions == regions[y - window[0].start, x - window[1].start]
        if region[0, :].any() or region[-1, :].any() or region[:, 0].any() or region[:, -1].any():
            continue
        widths.append(2.0 * math.sqrt(np.count_nonzero(region) / math.pi))
    if not widths:
        return DETECTION_FWHM_PIX
    estimate = float(np.median(widths))
    return estimate if estimate > 1.0 else DETECTION_FWHM_PIX


def _empty_catalog(aperture_radii_fwhm) -> Table:
    names = ["id", "xcentroid", "ycentroid", "ra", "dec", "fwhm_pix", "aper_bkg_flux"]
    for name in [f"aper{r:g}fwhm" for r in sorted(aperture_radii_fwhm)] + ["aper_total"]:
        names += [f"{name}_flux", f"{name}_flux_err", f"{name}_abmag", f"{name}_abmag_err"]
    names.append("flags")
    table = Table(names=names, dtype=[np.int32] + [float] * (len(names) - 2) + [np.int32])
    for name in ("xcentroid", "ycentroid", "fwhm_pix"):
        table[name].unit = u.pix
    for name in ("ra", "dec"):
        table[name].unit = u.deg
    for name in names:
        if name.endswith(("_flux", "_flux_err")):
            table[name].unit = u.Jy
    table.add_column(SkyCoord(table["ra"], table["dec"], frame="icrs"), name="sky_centroid", index=3)
    _describe(table)
    table.meta.update({"flags": dict(FLAGS), "aperture_correction": 1.0, "aperture_correction_stars": 0,
                       "aperture_correction_measured": False})  # fmt: skip
    return table
