"""Astronomical scene: a truth catalogue of stars and galaxies and its image on a detector.

Stars have a Moffat PSF whose FWHM is the diffraction limit ``airy_fwhm_lambda_over_d * lambda / D``
at the filter centre (from the instrument's telescope diameter), converted to pixels with the
nominal pixel scale. Galaxies have Sersic profiles with random index, size, axis ratio and
position angle, defined on the sky and mapped to pixels through the local derivative of the
detector geometry, then convolved with the PSF. Profiles are integrated over pixels by
sub-sampling, truncated (PSF at ``psf_stamp_radius_fwhm``; galaxies at the radius enclosing
``galaxy_light_fraction``) and normalised, so the image of a source fully on a detector sums to
its ``flux_e_s``.
"""

from __future__ import annotations

import math

import numpy as np
from astropy.table import Table
from scipy.signal import fftconvolve
from scipy.special import gammaincinv

from iris_pipeline.instruments import InstrumentDescription

from .detector import DetectorWindow
from .geometry import DetectorGeometry, Pointing, focal_plane_to_standard
from .parameters import OpticsParameters, SceneParameters
from .photometry import ab_mag_to_jy, electrons_per_s_per_jy, psf_fwhm_arcsec

__all__ = ["CATALOG_COLUMNS", "make_catalog", "moffat_alpha_pix", "psf_enclosed_energy", "render_scene", "sersic_shape"]

CATALOG_COLUMNS = (
    "id",
    "kind",
    "ra_deg",
    "dec_deg",
    "flux_e_s",
    "flux_jy",
    "ab_mag",
    "sersic_n",
    "r_eff_arcsec",
    "axis_ratio",
    "pa_deg",
)
STAR, GALAXY = "star", "galaxy"
# Sources whose position from the linear part of the distortion falls this far (plus their
# stamp radius) outside a window are skipped; the non-linear part is a few pixels at most.
NEAR_WINDOW_MARGIN_PIX = 32.0


def moffat_alpha_pix(fwhm_pix: float, beta: float) -> float:
    """Moffat core width ``alpha`` (pixels) of a profile ``(1 + r^2 / alpha^2)^-beta``."""
    return fwhm_pix / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))


def psf_enclosed_energy(radius_pix: float, fwhm_pix: float, beta: float, truncation_fwhm: float) -> float:
    """Fraction of the simulated PSF (a Moffat profile truncated at ``truncation_fwhm`` FWHM and
    normalised inside it) within ``radius_pix`` of its centre, before pixel integration."""
    alpha = moffat_alpha_pix(fwhm_pix, beta)
    truncation = truncation_fwhm * fwhm_pix

    def cumulative(radius):
        return 1.0 - (1.0 + (radius / alpha) ** 2) ** (1.0 - beta)

    return float(cumulative(min(radius_pix, truncation)) / cumulative(truncation))


def sersic_shape(sersic_n: float, light_fraction: float) -> tuple[float, float]:
    """Sersic ``b_n`` and the truncation radius enclosing ``light_fraction``, in ``r_eff``."""
    b_n = gammaincinv(2.0 * sersic_n, 0.5)
    return b_n, (gammaincinv(2.0 * sersic_n, light_fraction) / b_n) ** sersic_n


def _sensitive_range(cols: np.ndarray, n_full: int, border: int) -> tuple[float, float]:
    """Full-frame coordinate interval covered by the light-sensitive pixels of a window axis."""
    low = max(int(cols[0]), border)
    high = min(int(cols[-1]), n_full - 1 - border)
    return low - 0.5, high + 0.5


def make_catalog(
    instrument: InstrumentDescription,
    filter_name: str,
    geometries: list[DetectorGeometry],
    windows: list[DetectorWindow],
    pointing: Pointing,
    n_stars: int,
    n_galaxies: int,
    rng: np.random.Generator,
    scene: SceneParameters | None = None,
    optics: OpticsParameters | None = None,
) -> Table:
    """Draw the truth catalogue of a field.

    Sources are spread uniformly over the light-sensitive pixels of the detector windows, at
    the base ``pointing`` (the first dither position); each source picks a window at random.

    Parameters
    ----------
    instrument : InstrumentDescription
        Collecting area and filter band for the flux conversion.
    filter_name : str
        Observed filter.
    geometries, windows : list
        Geometry and read-out window of each simulated detector (same order).
    pointing : Pointing
        Base pointing.
    n_stars, n_galaxies : int
        Number of sources in the whole field.
    rng : numpy.random.Generator
        Source of the random draws.
    scene, optics : optional
        Source distributions and throughput.

    Returns
    -------
    astropy.table.Table
        Columns `CATALOG_COLUMNS`: ``id`` (1..N), ``kind`` (``'star'``/``'galaxy'``),
        ``ra_deg``, ``dec_deg`` (ICRS), ``flux_e_s`` (detected e-/s at nominal QE),
        ``flux_jy``, ``ab_mag``, and for galaxies ``sersic_n``, ``r_eff_arcsec`` (major-axis
        half-light radius), ``axis_ratio``, ``pa_deg`` (major axis, East of North); NaN for
        stars. The meta holds the photometric conversion.
    """
    scene = scene or SceneParameters()
    optics = optics or OpticsParameters()
    n_total = n_stars + n_galaxies
    which = rng.integers(0, len(windows), n_total)
    x_full = np.empty(n_total)
    y_full = np.empty(n_total)
    ra = np.empty(n_total)
    dec = np.empty(n_total)
    for index, (geometry, window) in enumerate(zip(geometries, windows, strict=True)):
        chosen = which == index
        x_low, x_high = _sensitive_range(window.full_frame_columns(), window.nx_full, window.reference_border_pix)
        y_low, y_high = _sensitive_range(window.full_frame_rows(), window.ny_full, window.reference_border_pix)
        x_full[chosen] = rng.uniform(x_low, x_high, chosen.sum())
        y_full[chosen] = rng.uniform(y_low, y_high, chosen.sum())
        ra[chosen], dec[chosen] = geometry.pixel_to_sky(x_full[chosen], y_full[chosen], pointing)

    ab_mag = np.concatenate(
        [
            rng.uniform(*scene.star_ab_mag_range, n_stars),
            rng.uniform(*scene.galaxy_ab_mag_range, n_galaxies),
        ]
    )
    nan_stars = np.full(n_stars, np.nan)
    sersic_n = np.concatenate([nan_stars, rng.uniform(*scene.galaxy_sersic_n_range, n_galaxies)])
    r_eff = np.concatenate([nan_stars, rng.uniform(*scene.galaxy_r_eff_arcsec_range, n_galaxies)])
    axis_ratio = np.concatenate([nan_stars, rng.uniform(*scene.galaxy_axis_ratio_range, n_galaxies)])
    pa_deg = np.concatenate([nan_stars, rng.uniform(0.0, 180.0, n_galaxies)])

    e_per_jy = electrons_per_s_per_jy(instrument, filter_name, optics.throughput)
    flux_jy = ab_mag_to_jy(ab_mag)
    catalog = Table(
        [
            np.arange(1, n_total + 1),
            [STAR] * n_stars + [GALAXY] * n_galaxies,
            ra,
            dec,
            flux_jy * e_per_jy,
            flux_jy,
            ab_mag,
            sersic_n,
            r_eff,
            axis_ratio,
            pa_deg,
        ],
        names=CATALOG_COLUMNS,
        units=(
            None,
            None,
            "deg",
            "deg",
            "electron / s",
            "Jy",
            "mag(AB)",
            None,
            "arcsec",
            None,
            "deg",
        ),
    )
    catalog.meta.update(
        {
            "instrument": instrument.name,
            "filter": filter_name,
            "throughput": optics.throughput,
            "electrons_per_s_per_jy": e_per_jy,
        }
    )
    return catalog


class _Stamps:
    """Pixel-integrated, truncated and normalised profiles on a pixel grid."""

    def __init__(self, fwhm_pix: float, optics: OpticsParameters):
        self.optics = optics
        self.alpha_pix = moffat_alpha_pix(fwhm_pix, optics.psf_moffat_beta)
        self.psf_radius_pix = optics.psf_stamp_radius_fwhm * fwhm_pix
        self.kernel, self.kernel_origin, _ = self.pixel_stamp(0.0, 0.0, self.psf_radius_pix, 1, self.moffat)

    def moffat(self, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Truncated Moffat profile at pixel offsets ``(dx, dy)`` (unnormalised)."""
        r_sq = dx**2 + dy**2
        profile = (1.0 + r_sq / self.alpha_pix**2) ** -self.optics.psf_moffat_beta
        return np.where(r_sq <= self.psf_radius_pix**2, profile, 0.0)

    @staticmethod
    def pixel_stamp(xc: float, yc: float, radius_pix: float, oversample: int, profile):
        """Normalised stamp of ``profile(dx, dy)`` about ``(xc, yc)`` and its first pixel."""
        x0 = math.floor(xc - radius_pix)
        y0 = math.floor(yc - radius_pix)
        nx = math.ceil(xc + radius_pix) - x0 + 1
        ny = math.ceil(yc + radius_pix) - y0 + 1
        sub = (np.arange(oversample) + 0.5) / oversample - 0.5
        dx = ((x0 + np.arange(nx))[:, None] + sub[None, :]).ravel() - xc
        dy = ((y0 + np.arange(ny))[:, None] + sub[None, :]).ravel() - yc
        values = profile(dx[None, :], dy[:, None])
        stamp = values.reshape(ny, oversample, nx, oversample).mean(axis=(1, 3))
        return stamp / stamp.sum(), x0, y0

    def star(self, xc: float, yc: float):
        """Normalised PSF stamp centred on ``(xc, yc)`` and its first pixel."""
        return self.pixel_stamp(xc, yc, self.psf_radius_pix, self.optics.psf_oversample, self.moffat)

    def galaxy(self, xc: float, yc: float, source, to_standard: np.ndarray, pixel_scale: float):
        """Sersic profile in pixels; ``to_standard`` maps pixel offsets to standard arcsec."""
        n = float(source["sersic_n"])
        b_n, r_trunc = sersic_shape(n, self.optics.galaxy_light_fraction)
        r_eff = float(source["r_eff_arcsec"])
        q = float(source["axis_ratio"])
        theta = math.radians(float(source["pa_deg"]))
        major = np.array([math.sin(theta), math.cos(theta)]) @ to_standard
        minor = np.array([math.cos(theta), -math.sin(theta)]) @ to_standard

        def sersic(dx, dy):
            radius = np.hypot(major[0] * dx + major[1] * dy, (minor[0] * dx + minor[1] * dy) / q) / r_eff
            return np.where(radius <= r_trunc, np.exp(-b_n * radius ** (1.0 / n)), 0.0)

        radius_pix = r_trunc * r_eff / pixel_scale
        stamp, x0, y0 = self.pixel_stamp(xc, yc, radius_pix, self.optics.galaxy_oversample, sersic)
        blurred = fftconvolve(stamp, self.kernel, mode="full")
        return blurred / blurred.sum(), x0 + self.kernel_origin, y0 + self.kernel_origin

    def radius_pix(self, source, pixel_scale: float) -> float:
        """Half-size of the stamp of ``source``, pixels."""
        if source["kind"] == STAR:
            return self.psf_radius_pix
        _, r_trunc = sersic_shape(float(source["sersic_n"]), self.optics.galaxy_light_fraction)
        return r_trunc * float(source["r_eff_arcsec"]) / pixel_scale + self.psf_radius_pix


def _add_stamp(image: np.ndarray, stamp: np.ndarray, x0: int, y0: int, flux: float) -> None:
    """Add ``flux * stamp`` with its first pixel at ``(x0, y0)``, clipped to the image."""
    ny, nx = image.shape
    sy, sx = stamp.shape
    xa, ya = max(x0, 0), max(y0, 0)
    xb, yb = min(x0 + sx, nx), min(y0 + sy, ny)
    if xa < xb and ya < yb:
        image[ya:yb, xa:xb] += flux * stamp[ya - y0 : yb - y0, xa - x0 : xb - x0]


def render_scene(
    catalog: Table,
    geometry: DetectorGeometry,
    window: DetectorWindow,
    pointing: Pointing,
    instrument: InstrumentDescription,
    filter_name: str,
    optics: OpticsParameters | None = None,
) -> tuple[np.ndarray, Table]:
    """Image of the catalogue on one detector window at one pointing.

    Parameters
    ----------
    catalog : astropy.table.Table
        Truth catalogue from `make_catalog` (or any table with its columns).
    geometry : DetectorGeometry
        Distortion of the detector.
    window : DetectorWindow
        Read-out window; array coordinates are full-frame minus ``SUBSTRT - 1``.
    pointing : Pointing
        Pointing of the exposure (dither included).
    instrument : InstrumentDescription
        Telescope diameter for the PSF.
    filter_name : str
        Filter, for the PSF size.
    optics : OpticsParameters, optional
        PSF model.

    Returns
    -------
    image : numpy.ndarray
        Incident rate in e-/s per pixel at nominal QE (float32, ``window.shape``).
    positions : astropy.table.Table
        ``id``, ``x_pix``, ``y_pix``: 0-based array coordinates of the sources whose centre
        lands on the window (``-0.5 <= x_pix < nx - 0.5``, likewise ``y_pix``).
    """
    optics = optics or OpticsParameters()
    scale = geometry.pixel_scale_arcsec
    fwhm_pix = psf_fwhm_arcsec(instrument, filter_name, optics.airy_fwhm_lambda_over_d) / scale
    stamps = _Stamps(fwhm_pix, optics)
    image = np.zeros(window.shape, dtype=np.float64)
    offset_x, offset_y = window.substrt1 - 1, window.substrt2 - 1
    x_lin, y_lin = geometry.sky_to_pixel_linear(catalog["ra_deg"], catalog["dec_deg"], pointing)
    radius = np.array([stamps.radius_pix(source, scale) for source in catalog])
    margin = radius + NEAR_WINDOW_MARGIN_PIX
    near = (
        (x_lin - offset_x > -margin)
        & (x_lin - offset_x < window.nx + margin)
        & (y_lin - offset_y > -margin)
        & (y_lin - offset_y < window.ny + margin)
    )
    rows = []
    if np.any(near):
        x_full, y_full = geometry.sky_to_pixel(catalog["ra_deg"][near], catalog["dec_deg"][near], pointing)
        jacobians = geometry.jacobian_arcsec_per_pix(x_full, y_full)
        near_sources = zip(catalog[near], x_full, y_full, jacobians, radius[near], strict=True)
        for source, xf, yf, jacobian, r in near_sources:
            x, y = xf - offset_x, yf - offset_y
            if not (-r - 1 < x < window.nx + r and -r - 1 < y < window.ny + r):
                continue
            if source["kind"] == STAR:
                stamp, x0, y0 = stamps.star(x, y)
            else:
                to_standard = np.stack(focal_plane_to_standard(jacobian[0], jacobian[1], pointing.pa_aper_deg))
                stamp, x0, y0 = stamps.galaxy(x, y, source, to_standard, scale)
            _add_stamp(image, stamp, x0, y0, float(source["flux_e_s"]))
            if -0.5 <= x < window.nx - 0.5 and -0.5 <= y < window.ny - 0.5:
                rows.append((int(source["id"]), x, y))
    positions = Table(rows=rows or None, names=("id", "x_pix", "y_pix"), dtype=(int, float, float))
    return image.astype(np.float32), positions
