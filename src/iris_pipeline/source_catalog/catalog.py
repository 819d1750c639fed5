"""Source detection and aperture photometry on a resampled image (photutils).

Pure function `make_source_catalog`: image in MJy/sr, catalog out with fluxes in Jy. Detection is
image segmentation of the image smoothed by a Gaussian of the PSF's FWHM, thresholded at
``snr_threshold`` times the ERR array, with optional deblending (multi-thresholding and
watershed); centroids are photutils' windowed centroids (SExtractor's ``XWIN``/``YWIN``), which
are insensitive to the segment's shape; photometry sums circular apertures of radii given in
units of the FWHM, minus the sigma-clipped median of a local annulus.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from astropy import units as u
from astropy.convolution import convolve
from astropy.stats import SigmaClip
from astropy.table import Table
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture, aperture_photometry
from photutils.segmentation import SourceCatalog, deblend_sources, detect_sources, make_2dgaussian_kernel

__all__ = ["AB_ZERO_POINT_JY", "FLAGS", "jy_to_ab_mag", "make_source_catalog"]

AB_ZERO_POINT_JY = 3631.0
MAGNITUDE_PER_LN = 2.5 / math.log(10.0)
FLAGS = {
    "PARTIAL_COVERAGE": 1,  # pixels without data (NaN) inside the total aperture
    "CROWDED": 2,  # another source's centroid inside the total aperture
    "DEBLENDED": 4,  # the segment was split from a larger one by deblending
}
DETECTION_FWHM_PIX = 3.0
FWHM_ESTIMATE_SOURCES = 20


def jy_to_ab_mag(flux_jy, flux_err_jy):
    """AB magnitude and its error from a flux density in Jy (NaN for non-positive fluxes)."""
    flux = np.asarray(flux_jy, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        positive = flux > 0
        mag = np.where(positive, -2.5 * np.log10(np.where(positive, flux, 1.0) / AB_ZERO_POINT_JY), np.nan)
        mag_err = np.where(positive, MAGNITUDE_PER_LN * np.asarray(flux_err_jy) / np.where(positive, flux, 1.0), np.nan)
    return mag, mag_err


def _segments(data, err, bad, fwhm_pix, snr_threshold, npixels, deblend):
    kernel = make_2dgaussian_kernel(fwhm_pix, size=2 * int(math.ceil(1.5 * fwhm_pix)) + 1)
    filled = np.where(bad, 0.0, data)
    convolved = convolve(filled, kernel, mask=bad, normalize_kernel=True, nan_treatment="fill", fill_value=0.0)
    threshold = snr_threshold * np.where(bad | ~np.isfinite(err), np.inf, err)
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
    total_radius_fwhm: float = 6.0,
    annulus_fwhm: tuple[float, float] = (7.0, 10.0),
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
        Detection threshold per pixel of the smoothed image, in ERR units.
    npixels : int
        Fewest connected pixels of a source.
    deblend : bool
        Split blended sources.
    aperture_radii_fwhm : tuple of float
        Radii of the small apertures, in FWHM.
    total_radius_fwhm : float
        Radius of the "total" aperture (for the simulator's truncated Moffat PSF, 6 FWHM encloses
        about 99.8 % of the flux).
    annulus_fwhm : tuple of float
        Inner and outer radii of the local-background annulus, in FWHM.

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
    positions = np.column_stack([x, y])
    ra, dec = wcs(x, y, with_bounding_box=False)
    jy_per_sum = pixel_area_sr * 1e6

    annulus = CircularAnnulus(positions, annulus_fwhm[0] * fwhm_pix, annulus_fwhm[1] * fwhm_pix)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        background = ApertureStats(filled, annulus, mask=bad, sigma_clip=SigmaClip(sigma=3.0, maxiters=5)).median
    background = np.nan_to_num(np.asarray(background, dtype=float))

    table = Table()
    table["id"] = np.asarray(sources.label, dtype=np.int32)
    table["xcentroid"] = x * u.pix
    table["ycentroid"] = y * u.pix
    table["ra"] = np.asarray(ra) * u.deg
    table["dec"] = np.asarray(dec) * u.deg
    table["fwhm_pix"] = np.full(len(x), fwhm_pix) * u.pix
    table["aper_bkg_flux"] = background * jy_per_sum * u.Jy
    radii = {f"aper{r:g}fwhm": r for r in aperture_radii_fwhm} | {"aper_total": total_radius_fwhm}
    flags = np.zeros(len(x), dtype=np.int32)
    for name, radius_fwhm in radii.items():
        aperture = CircularAperture(positions, radius_fwhm * fwhm_pix)
        phot = aperture_photometry(filled, aperture, error=np.where(bad, 0.0, err), mask=bad)
        area = aperture.area_overlap(filled, mask=bad)
        flux = (np.asarray(phot["aperture_sum"]) - background * np.asarray(area)) * jy_per_sum
        flux_err = np.asarray(phot["aperture_sum_err"]) * jy_per_sum
        mag, mag_err = jy_to_ab_mag(flux, flux_err)
        table[f"{name}_flux"] = flux * u.Jy
        table[f"{name}_flux_err"] = flux_err * u.Jy
        table[f"{name}_abmag"] = mag
        table[f"{name}_abmag_err"] = mag_err
        if name == "aper_total":
            full_area = np.pi * (radius_fwhm * fwhm_pix) ** 2
            flags[np.asarray(area) < 0.999 * full_area] |= FLAGS["PARTIAL_COVERAGE"]
            separation = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
            np.fill_diagonal(separation, np.inf)
            flags[(separation < radius_fwhm * fwhm_pix).any(axis=1)] |= FLAGS["CROWDED"]
    flags[deblended] |= FLAGS["DEBLENDED"]
    table["flags"] = flags
    table.meta["fwhm_pix"] = float(fwhm_pix)
    table.meta["flags"] = dict(FLAGS)
    return table, fwhm_pix


def _estimate_fwhm(data, err, bad, snr_threshold, npixels) -> float:
    """Median FWHM of the brightest sources, from the area above half their peak: 2 sqrt(area / pi)."""
    segments, convolved, _ = _segments(data, err, bad, DETECTION_FWHM_PIX, snr_threshold, npixels, deblend=False)
    if segments is None or segments.n_labels == 0:
        return DETECTION_FWHM_PIX
    filled = np.where(bad, 0.0, data)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        sources = SourceCatalog(filled, segments, convolved_data=convolved, mask=bad)
        peaks = np.asarray(sources.max_value, dtype=float)
    widths = []
    for index in np.argsort(-np.nan_to_num(peaks, nan=-np.inf))[:FWHM_ESTIMATE_SOURCES]:
        cutout = np.where(segments.data == segments.labels[index], filled, 0.0)[segments.slices[index]]
        widths.append(2.0 * math.sqrt(np.count_nonzero(cutout >= 0.5 * peaks[index]) / math.pi))
    estimate = float(np.median(widths))
    return estimate if estimate > 1.0 else DETECTION_FWHM_PIX


def _empty_catalog(aperture_radii_fwhm) -> Table:
    names = ["id", "xcentroid", "ycentroid", "ra", "dec", "fwhm_pix", "aper_bkg_flux"]
    for name in [f"aper{r:g}fwhm" for r in aperture_radii_fwhm] + ["aper_total"]:
        names += [f"{name}_flux", f"{name}_flux_err", f"{name}_abmag", f"{name}_abmag_err"]
    names.append("flags")
    return Table(names=names, dtype=[np.int32] + [float] * (len(names) - 2) + [np.int32])
