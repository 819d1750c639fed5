"""Imager WCS: detector pixels -> focal plane (distortion polynomial) -> sky (orientation, TAN).

The model follows the DISTORTION reference format of ``docs/data-formats.md``: a full-frame
pixel ``(x, y)`` (0-based) maps to focal-plane arcsec by ``x_fp = sum c_x[i, j] u^i v^j`` and
``y_fp = sum c_y[i, j] u^i v^j`` with ``u = x - (NX_FULL - 1) / 2`` and ``v = y - (NY_FULL - 1) / 2``.
Focal-plane arcsec become standard coordinates (``xi`` East, ``eta`` North) by the position
angle ``PA_APER`` of the detector +y axis::

    xi  = -x_fp cos(PA_APER) + y_fp sin(PA_APER)
    eta =  x_fp sin(PA_APER) + y_fp cos(PA_APER)

and a gnomonic (TAN) projection about ``(RA_REF, DEC_REF)`` gives ICRS coordinates. The
backward transform uses a fitted inverse polynomial (its accuracy is checked on a grid) and the
exact inverses of the rotation and projection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from astropy import coordinates
from astropy import units as u
from astropy.modeling import models
from gwcs import coordinate_frames as cf
from gwcs import wcs as gwcs_wcs

__all__ = [
    "DistortionPolynomial",
    "ImagerPointing",
    "imager_wcs",
    "pixel_area_ratio",
    "sip_header_cards",
]

ARCSEC_PER_DEGREE = 3600.0
INVERSE_MAX_DEGREE = 7
INVERSE_TOLERANCE_PIX = 1e-3
INVERSE_GRID_POINTS = 48


@dataclass(frozen=True)
class DistortionPolynomial:
    """Polynomial distortion of one detector, from a DISTORTION reference table.

    Attributes
    ----------
    xpow, ypow : numpy.ndarray
        Powers of ``u`` and ``v`` of each term.
    coeff_x_arcsec, coeff_y_arcsec : numpy.ndarray
        Coefficients of ``x_fp`` and ``y_fp`` (arcsec / pixel^(xpow + ypow)), aligned with the
        powers (zero where a term is absent for that axis).
    nx_full, ny_full : int
        Full-frame size; ``u = v = 0`` at its centre.
    """

    xpow: np.ndarray
    ypow: np.ndarray
    coeff_x_arcsec: np.ndarray
    coeff_y_arcsec: np.ndarray
    nx_full: int
    ny_full: int

    @classmethod
    def from_table(cls, axis, xpow, ypow, coeff, nx_full: int, ny_full: int) -> DistortionPolynomial:
        """Build from the DISTORTION table columns (``AXIS`` is ``'X'`` or ``'Y'``).

        Raises
        ------
        ValueError
            If an axis has no terms, a power is negative, or a term is repeated.
        """
        axis = np.char.upper(np.char.strip(np.asarray(axis).astype(str)))
        xpow = np.asarray(xpow, dtype=int)
        ypow = np.asarray(ypow, dtype=int)
        coeff = np.asarray(coeff, dtype=float)
        if np.any(xpow < 0) or np.any(ypow < 0):
            raise ValueError("negative power in the distortion table")
        powers = sorted({(int(i), int(j)) for i, j in zip(xpow, ypow, strict=True)}, key=lambda p: (sum(p), p[1]))
        index = {power: k for k, power in enumerate(powers)}
        coefficients = {"X": np.zeros(len(powers)), "Y": np.zeros(len(powers))}
        seen = set()
        for name, i, j, value in zip(axis, xpow, ypow, coeff, strict=True):
            if name not in coefficients:
                raise ValueError(f"AXIS must be 'X' or 'Y', not {name!r}")
            if (name, i, j) in seen:
                raise ValueError(f"term {name} u^{i} v^{j} appears twice")
            seen.add((name, i, j))
            coefficients[name][index[(int(i), int(j))]] = value
        for name, values in coefficients.items():
            if not np.any(values):
                raise ValueError(f"no {name} terms in the distortion table")
        return cls(
            xpow=np.array([p[0] for p in powers]),
            ypow=np.array([p[1] for p in powers]),
            coeff_x_arcsec=coefficients["X"],
            coeff_y_arcsec=coefficients["Y"],
            nx_full=int(nx_full),
            ny_full=int(ny_full),
        )

    @property
    def degree(self) -> int:
        return int(np.max(self.xpow + self.ypow))

    @property
    def centre_pix(self) -> tuple[float, float]:
        return (self.nx_full - 1) / 2.0, (self.ny_full - 1) / 2.0

    def astropy_models(self) -> tuple[models.Polynomial2D, models.Polynomial2D]:
        """``(x_fp(u, v), y_fp(u, v))`` as astropy `Polynomial2D` models (arcsec)."""
        result = []
        for coeffs in (self.coeff_x_arcsec, self.coeff_y_arcsec):
            terms = {f"c{i}_{j}": c for i, j, c in zip(self.xpow, self.ypow, coeffs, strict=True)}
            result.append(models.Polynomial2D(self.degree, **terms))
        return result[0], result[1]

    def evaluate(self, x_full_pix, y_full_pix) -> tuple[np.ndarray, np.ndarray]:
        """Focal-plane position (arcsec) of full-frame pixels (0-based)."""
        x0, y0 = self.centre_pix
        uu = np.asarray(x_full_pix, dtype=float) - x0
        vv = np.asarray(y_full_pix, dtype=float) - y0
        x_fp = np.zeros(np.broadcast(uu, vv).shape)
        y_fp = np.zeros_like(x_fp)
        for i, j, cx, cy in zip(self.xpow, self.ypow, self.coeff_x_arcsec, self.coeff_y_arcsec, strict=True):
            term = uu**i * vv**j
            x_fp += cx * term
            y_fp += cy * term
        return x_fp, y_fp


@dataclass(frozen=True)
class ImagerPointing:
    """Sky position of the instrument reference point and orientation (RA_REF, DEC_REF, PA_APER)."""

    ra_ref_deg: float
    dec_ref_deg: float
    pa_aper_deg: float


def _focal_plane_to_standard_matrix(pa_aper_deg: float) -> np.ndarray:
    """Matrix taking focal-plane arcsec to standard coordinates (xi, eta) in degrees."""
    pa = math.radians(pa_aper_deg)
    return np.array([[-math.cos(pa), math.sin(pa)], [math.sin(pa), math.cos(pa)]]) / ARCSEC_PER_DEGREE


def _fit_inverse(
    polynomial: DistortionPolynomial, origin_pix: tuple[int, int], shape: tuple[int, int]
) -> tuple[models.Polynomial2D, models.Polynomial2D, float]:
    """Polynomials ``(x, y)`` of window pixels from focal-plane arcsec, fitted on a grid.

    The degree rises until the largest error on a grid finer than the fitting grid is below
    `INVERSE_TOLERANCE_PIX`; returns the models and that error (pixels).
    """
    ny, nx = shape
    margin = 0.05
    fit_x, fit_y = np.meshgrid(
        np.linspace(-margin * nx, (1 + margin) * nx, INVERSE_GRID_POINTS),
        np.linspace(-margin * ny, (1 + margin) * ny, INVERSE_GRID_POINTS),
    )
    check_x, check_y = np.meshgrid(
        np.linspace(0, nx - 1, 2 * INVERSE_GRID_POINTS - 1), np.linspace(0, ny - 1, 2 * INVERSE_GRID_POINTS - 1)
    )
    fp_x, fp_y = polynomial.evaluate(fit_x + origin_pix[0], fit_y + origin_pix[1])
    check_fp_x, check_fp_y = polynomial.evaluate(check_x + origin_pix[0], check_y + origin_pix[1])
    centre_x, centre_y = float(np.mean(fp_x)), float(np.mean(fp_y))
    span = float(max(np.ptp(fp_x), np.ptp(fp_y), 1e-12)) / 2.0
    a = (fp_x.ravel() - centre_x) / span
    b = (fp_y.ravel() - centre_y) / span
    best = None
    for degree in range(polynomial.degree, INVERSE_MAX_DEGREE + 1):
        powers = [(total - j, j) for total in range(degree + 1) for j in range(total + 1)]
        design = np.stack([a**i * b**j for i, j in powers], axis=1)
        solution, *_ = np.linalg.lstsq(design, np.stack([fit_x.ravel(), fit_y.ravel()], axis=1), rcond=None)
        inverse = []
        for column in range(2):
            # Fold the normalisation (a = (x_fp - centre) / span) into an astropy model chain.
            poly = models.Polynomial2D(degree, **{f"c{i}_{j}": solution[k, column] for k, (i, j) in enumerate(powers)})
            normalise = (models.Shift(-centre_x) | models.Scale(1.0 / span)) & (
                models.Shift(-centre_y) | models.Scale(1.0 / span)
            )
            inverse.append(normalise | poly)
        error = float(
            np.max(np.hypot(inverse[0](check_fp_x, check_fp_y) - check_x, inverse[1](check_fp_x, check_fp_y) - check_y))
        )
        if best is None or error < best[2]:
            best = (inverse[0], inverse[1], error)
        if error < INVERSE_TOLERANCE_PIX:
            break
    return best


def imager_wcs(
    polynomial: DistortionPolynomial,
    pointing: ImagerPointing,
    shape: tuple[int, int],
    origin_pix: tuple[int, int] = (0, 0),
):
    """gWCS of an imager exposure: ``detector`` -> ``focal_plane`` (arcsec) -> ``world`` (ICRS).

    Parameters
    ----------
    polynomial : DistortionPolynomial
        Distortion of the detector.
    pointing : ImagerPointing
        Reference point and position angle of the exposure.
    shape : tuple of int
        ``(ny, nx)`` of the image (the detector window).
    origin_pix : tuple of int
        Full-frame pixel ``(x, y)`` (0-based) of the window's first pixel (``SUBSTRT - 1``).

    Returns
    -------
    gwcs.WCS, float
        The WCS (pixel coordinates of the image, 0-based; ``bounding_box`` set to the image) and
        the largest error of its fitted inverse distortion on a check grid, in pixels.
    """
    x0, y0 = polynomial.centre_pix
    to_centred = models.Shift(origin_pix[0] - x0) & models.Shift(origin_pix[1] - y0)
    poly_x, poly_y = polynomial.astropy_models()
    distortion = to_centred | models.Mapping((0, 1, 0, 1)) | (poly_x & poly_y)
    inverse_x, inverse_y, inverse_error = _fit_inverse(polynomial, origin_pix, shape)
    distortion.inverse = models.Mapping((0, 1, 0, 1)) | (inverse_x & inverse_y)

    rotation = models.AffineTransformation2D(
        matrix=_focal_plane_to_standard_matrix(pointing.pa_aper_deg), translation=[0.0, 0.0]
    )
    sky = (
        rotation
        | models.Pix2Sky_TAN()
        | models.RotateNative2Celestial(pointing.ra_ref_deg, pointing.dec_ref_deg, 180.0)
    )

    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    focal_plane = cf.Frame2D(name="focal_plane", axes_order=(0, 1), unit=(u.arcsec, u.arcsec))
    world = cf.CelestialFrame(reference_frame=coordinates.ICRS(), name="world", unit=(u.deg, u.deg))
    wcs = gwcs_wcs.WCS([(detector, distortion), (focal_plane, sky), (world, None)])
    ny, nx = shape
    wcs.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    wcs.pixel_shape = (nx, ny)
    return wcs, inverse_error


@numba.njit(parallel=True, nogil=True, cache=True)
def _jacobian_ratio_kernel(xpow, ypow, coeff_x, coeff_y, u_first, v_first, nominal, out):
    ny, nx = out.shape
    degree = max(xpow.max(), ypow.max())
    for row in numba.prange(ny):
        v_powers = np.ones(degree + 1)
        for k in range(1, degree + 1):
            v_powers[k] = v_powers[k - 1] * (v_first + row)
        u_powers = np.ones(degree + 1)
        for column in range(nx):
            u = u_first + column
            for k in range(1, degree + 1):
                u_powers[k] = u_powers[k - 1] * u
            dx_du = dx_dv = dy_du = dy_dv = 0.0
            for k in range(xpow.size):
                i, j = xpow[k], ypow[k]
                if i > 0:
                    d_u = i * u_powers[i - 1] * v_powers[j]
                    dx_du += coeff_x[k] * d_u
                    dy_du += coeff_y[k] * d_u
                if j > 0:
                    d_v = j * u_powers[i] * v_powers[j - 1]
                    dx_dv += coeff_x[k] * d_v
                    dy_dv += coeff_y[k] * d_v
            out[row, column] = abs(dx_du * dy_dv - dx_dv * dy_du) / nominal


def pixel_area_ratio(
    polynomial: DistortionPolynomial,
    shape: tuple[int, int],
    origin_pix: tuple[int, int] = (0, 0),
    nominal_area_arcsec2: float | None = None,
) -> np.ndarray:
    """Sky area of each pixel relative to a nominal pixel area, float32 array of `shape`.

    Parameters
    ----------
    polynomial : DistortionPolynomial
        Distortion of the detector.
    shape : tuple of int
        ``(ny, nx)`` of the image.
    origin_pix : tuple of int
        Full-frame pixel ``(x, y)`` of the image's first pixel.
    nominal_area_arcsec2 : float, optional
        The nominal pixel area (the PIXAR_A2 keyword); default: the area of the pixel at the
        detector centre. The TAN projection's own area change across an IRIS detector (< 1e-8)
        is neglected.
    """
    x0, y0 = polynomial.centre_pix
    xpow, ypow = polynomial.xpow.astype(np.int64), polynomial.ypow.astype(np.int64)
    coeffs = (polynomial.coeff_x_arcsec, polynomial.coeff_y_arcsec)
    if nominal_area_arcsec2 is None:
        centre = np.empty((1, 1))
        _jacobian_ratio_kernel(xpow, ypow, *coeffs, 0.0, 0.0, 1.0, centre)
        nominal_area_arcsec2 = float(centre[0, 0])
    out = np.empty(shape, np.float32)
    _jacobian_ratio_kernel(xpow, ypow, *coeffs, origin_pix[0] - x0, origin_pix[1] - y0, nominal_area_arcsec2, out)
    return out


def sip_header_cards(wcs, shape: tuple[int, int], max_pix_error: float = 0.01) -> list[tuple[str, object, str]]:
    """FITS TAN-SIP keywords approximating `wcs` over an image of `shape`, as header cards.

    Returns ``(keyword, value, comment)`` tuples for the SCI header, so that DS9 and
    `astropy.wcs` read an accurate WCS; the gWCS in the file stays the reference.
    """
    ny, nx = shape
    header = wcs.to_fits_sip(
        bounding_box=((-0.5, nx - 0.5), (-0.5, ny - 0.5)),
        max_pix_error=max_pix_error,
        max_inv_pix_error=max_pix_error,
        npoints=32,
        verbose=False,
    )
    skip = {"NAXIS", "NAXIS1", "NAXIS2", "WCSAXES"}
    return [(card.keyword, card.value, card.comment) for card in header.cards if card.keyword not in skip]
