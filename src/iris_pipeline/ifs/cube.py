"""Resampling of extracted spectra onto a common wavelength grid, and the data cube with its WCS.

Each spectrum's flux per detector column (DN/s) becomes a flux density (per um) by dividing by
the dispersion ``|d lambda / d x|`` at that column, and is interpolated linearly in wavelength
onto the cube grid (as JWST ``cube_build`` does in 1-D for each spaxel of a slicer IFU when no
spatial resampling is needed: here every spaxel is a cube pixel). The grid is linear, Nyquist
sampled at the band centre (``lambda_c / (2 R)``), within the band and the wavelengths that every
spectrum covers.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from astropy import units as u
from astropy.coordinates import ICRS
from astropy.modeling import models
from gwcs import coordinate_frames as cf
from gwcs.wcs import WCS

__all__ = [
    "SURFACE_BRIGHTNESS_UNIT",
    "build_cube",
    "cube_fits_wcs",
    "cube_gwcs",
    "cube_wavelength_grid",
    "mjy_sr_per_w_m2_um",
    "resample_spectra",
    "spaxel_solid_angle_sr",
]

MAS_PER_DEG = 3.6e6
MAS_PER_RAD = 206264806.24709636
SPEED_OF_LIGHT_M_S = 2.99792458e8
W_M2_HZ_PER_MJY = 1e-20
SURFACE_BRIGHTNESS_UNIT = "MJy/sr"
"""Unit of calibrated cubes, as JWST's: flux density per spaxel divided by the spaxel's solid angle."""


def spaxel_solid_angle_sr(scale_mas: float) -> float:
    """Solid angle (sr) of a square spaxel of side ``scale_mas``."""
    return (scale_mas / MAS_PER_RAD) ** 2


def mjy_sr_per_w_m2_um(wave_um, scale_mas: float):
    """Factor from flux density per spaxel (W m-2 um-1) to surface brightness (MJy/sr) at ``wave_um``.

    ``F_nu = F_lambda lambda^2 / c`` (per Hz), 1 MJy = 1e-20 W m-2 Hz-1, divided by the spaxel's
    solid angle.
    """
    wave_m = np.asarray(wave_um, dtype=float) * 1e-6
    per_m = 1e6  # W m-2 um-1 -> W m-2 m-1
    return per_m * wave_m**2 / SPEED_OF_LIGHT_M_S / W_M2_HZ_PER_MJY / spaxel_solid_angle_sr(scale_mas)


def cube_wavelength_grid(
    wave_um: np.ndarray, valid: np.ndarray, band_um: tuple[float, float], resolving_power: float,
    wave_range_um: tuple[float, float] | None = None, pixels_per_resel: float = 2.0,
) -> np.ndarray:  # fmt: skip
    """Linear cube grid (um): step ``lambda_c / (pixels_per_resel R)``.

    Parameters
    ----------
    wave_um, valid : np.ndarray
        (nspax, length) wavelength of every spectrum pixel and where it holds data.
    band_um : tuple of float
        The band recorded on the detector.
    resolving_power : float
        R of the grating.
    wave_range_um : tuple of float, optional
        Requested range; must lie inside the band.

    Raises
    ------
    ValueError
        When the requested range is outside the band or no wavelength is common to the spectra.
    """
    lo, hi = band_um
    if wave_range_um is not None:
        want_lo, want_hi = wave_range_um
        if not (lo <= want_lo < want_hi <= hi):
            raise ValueError(f"cube range {want_lo}-{want_hi} um is outside the band {lo:.4f}-{hi:.4f} um")
        lo, hi = want_lo, want_hi
    rows = valid.any(axis=1)
    first = np.where(valid[rows], wave_um[rows], np.inf).min(axis=1)
    last = np.where(valid[rows], wave_um[rows], -np.inf).max(axis=1)
    lo, hi = max(lo, float(np.max(first))), min(hi, float(np.min(last)))
    if not rows.any() or hi <= lo:
        raise ValueError("no wavelength is covered by every spectrum in the requested range")
    step = 0.5 * (band_um[0] + band_um[1]) / (pixels_per_resel * resolving_power)
    return lo + step * np.arange(int(math.floor((hi - lo) / step)) + 1)


@numba.njit(parallel=True, nogil=True, cache=True)
def _resample(density, var, valid, wave, grid, out, out_var):
    nspax, length = density.shape
    for s in numba.prange(nspax):
        i = 0
        for k in range(grid.shape[0]):
            target = grid[k]
            while i < length - 2 and wave[s, i + 1] < target:
                i += 1
            w0, w1 = wave[s, i], wave[s, i + 1]
            if not (w0 <= target <= w1) or not (valid[s, i] and valid[s, i + 1]) or w1 <= w0:
                continue
            t = (target - w0) / (w1 - w0)
            out[s, k] = (1.0 - t) * density[s, i] + t * density[s, i + 1]
            out_var[s, k] = (1.0 - t) ** 2 * var[s, i] + t**2 * var[s, i + 1]


def resample_spectra(flux_dn_s, var, valid, wave_um, dispersion_um_per_pix, grid_um):
    """Flux density (DN/s/um) of every spectrum on ``grid_um``, its variance, and where it is defined.

    Parameters
    ----------
    flux_dn_s, var, valid : np.ndarray
        (nspax, length) extracted flux per column, variance, validity.
    wave_um, dispersion_um_per_pix : np.ndarray
        (nspax, length) wavelength and ``d lambda / d x`` of each column (increasing wavelength).
    grid_um : np.ndarray
        Output wavelengths.

    Returns
    -------
    density, density_var, defined : np.ndarray
        (nspax, nwave).
    """
    scale = 1.0 / np.abs(dispersion_um_per_pix)
    density = np.where(valid, flux_dn_s * scale, 0.0)
    density_var = np.where(valid, var * scale**2, 0.0)
    out = np.full((flux_dn_s.shape[0], grid_um.size), np.nan)
    out_var = np.full_like(out, np.nan)
    _resample(density, density_var, valid, np.ascontiguousarray(wave_um, dtype=float), np.asarray(grid_um, float),
              out, out_var)  # fmt: skip
    return out, out_var, np.isfinite(out)


def build_cube(values, spax_x, spax_y, nspax_x, nspax_y, fill=np.nan):
    """Cube (nwave, nspax_y, nspax_x) from per-spaxel spectra (nspax, nwave)."""
    cube = np.full((values.shape[1], nspax_y, nspax_x), fill, dtype=np.float32)
    cube[:, spax_y, spax_x] = values.T
    return cube


def cube_fits_wcs(shape, scale_mas, ra_deg, dec_deg, pa_deg, grid_um) -> list[tuple[str, object, str]]:
    """FITS WCS cards of a cube (RA---TAN, DEC--TAN, WAVE), reference point at the field centre.

    At position angle 0 the cube +y axis points North and +x West (RA decreasing); ``pa_deg`` is
    the position angle of +y, East of North.
    """
    nwave, ny, nx = shape
    scale_deg = scale_mas / MAS_PER_DEG
    pa = math.radians(pa_deg or 0.0)
    step = float(grid_um[1] - grid_um[0]) if len(grid_um) > 1 else 0.0
    return [
        ("WCSAXES", 3, "number of WCS axes"),
        ("CTYPE1", "RA---TAN", ""), ("CTYPE2", "DEC--TAN", ""), ("CTYPE3", "WAVE", "vacuum wavelength"),
        ("CUNIT1", "deg", ""), ("CUNIT2", "deg", ""), ("CUNIT3", "um", ""),
        ("CRPIX1", (nx + 1) / 2.0, ""), ("CRPIX2", (ny + 1) / 2.0, ""), ("CRPIX3", 1.0, ""),
        ("CRVAL1", float(ra_deg), ""), ("CRVAL2", float(dec_deg), ""), ("CRVAL3", float(grid_um[0]), ""),
        ("CDELT1", -scale_deg, "[deg] spaxel size, RA increases to -x"), ("CDELT2", scale_deg, "[deg]"),
        ("CDELT3", step, "[um]"),
        ("PC1_1", math.cos(pa), ""), ("PC1_2", -math.sin(pa), ""),
        ("PC2_1", math.sin(pa), ""), ("PC2_2", math.cos(pa), ""),
        ("SPECSYS", "TOPOCENT", ""), ("RADESYS", "ICRS", ""),
    ]  # fmt: skip


def cube_gwcs(shape, scale_mas, ra_deg, dec_deg, pa_deg, grid_um) -> WCS:
    """gWCS of a cube, equal to its FITS WCS: (x, y, plane) 0-based -> (RA, Dec, wavelength um)."""
    nwave, ny, nx = shape
    scale_deg = scale_mas / MAS_PER_DEG
    step = float(grid_um[1] - grid_um[0]) if len(grid_um) > 1 else 0.0
    pa = math.radians(pa_deg or 0.0)
    matrix = np.array([[math.cos(pa), -math.sin(pa)], [math.sin(pa), math.cos(pa)]])
    spatial = (
        (models.Shift(-(nx - 1) / 2.0) & models.Shift(-(ny - 1) / 2.0))
        | models.AffineTransformation2D(matrix=matrix)
        | (models.Scale(-scale_deg) & models.Scale(scale_deg))
        | models.Pix2Sky_TAN()
        | models.RotateNative2Celestial(ra_deg, dec_deg, 180.0)
    )
    spectral = models.Linear1D(slope=step, intercept=float(grid_um[0]))
    detector = cf.CoordinateFrame(
        naxes=3, axes_type=("SPATIAL", "SPATIAL", "SPECTRAL"), axes_order=(0, 1, 2), name="cube",
        unit=(u.pix, u.pix, u.pix), axes_names=("x", "y", "plane"),
    )  # fmt: skip
    world = cf.CompositeFrame(
        [cf.CelestialFrame(reference_frame=ICRS(), axes_order=(0, 1), name="sky"),
         cf.SpectralFrame(unit=(u.um,), axes_order=(2,), axes_names=("wavelength",), name="spectral")],
        name="world",
    )  # fmt: skip
    return WCS([(detector, spatial & spectral), (world, None)])
