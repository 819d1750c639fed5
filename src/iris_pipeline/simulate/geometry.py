"""Sky geometry: detector distortion, sky orientation, gnomonic projection and dithers.

A full-frame detector pixel ``(x, y)`` (0-based) maps to the focal plane by the polynomial of
the DISTORTION reference file: with ``u = x - (NX_FULL - 1) / 2`` and ``v = y - (NY_FULL - 1) / 2``,
``x_fp = sum c_x[i, j] u^i v^j`` and ``y_fp = sum c_y[i, j] u^i v^j`` in arcsec (``i + j <= 3``).
Focal-plane coordinates turn into standard coordinates by the orientation convention of
``docs/data-formats.md``::

    xi  = -x_fp cos(PA_APER) + y_fp sin(PA_APER)     (East)
    eta =  x_fp sin(PA_APER) + y_fp cos(PA_APER)     (North)

and a gnomonic (TAN) projection about ``(RA_REF, DEC_REF)`` gives the sky position. The inverse
(sky to pixel) inverts the polynomial numerically (Newton's method).

The distortion of each detector is the instrument's radial (cubic) field distortion seen through
the detector's offset, scale and rotation from the instrument description, plus a small random
quadratic term for the mounting of that detector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table
from scipy.signal import convolve

from iris_pipeline.instruments import InstrumentDescription

from .parameters import OpticsParameters

__all__ = [
    "DISTORTION_DEGREE",
    "DITHER_PATTERN_NAME",
    "DetectorGeometry",
    "Pointing",
    "dither_offsets_arcsec",
    "dithered_pointing",
    "focal_plane_to_standard",
    "make_detector_geometry",
    "sky_to_standard",
    "standard_to_focal_plane",
    "standard_to_sky",
]

DISTORTION_DEGREE = 3
ARCSEC_PER_RADIAN = math.degrees(1.0) * 3600.0
NEWTON_TOLERANCE_PIX = 1e-9
NEWTON_MAX_ITERATIONS = 30
DITHER_PATTERN_NAME = "GRID-SUBPIXEL"


@dataclass(frozen=True)
class Pointing:
    """Where the instrument reference point looks, and the detector orientation.

    Attributes
    ----------
    ra_ref_deg, dec_ref_deg : float
        ICRS position of the instrument reference point (the RA_REF, DEC_REF keywords).
    pa_aper_deg : float
        Position angle of the detector +y axis, degrees East of North (PA_APER).
    """

    ra_ref_deg: float
    dec_ref_deg: float
    pa_aper_deg: float


def monomial_powers(degree: int = DISTORTION_DEGREE) -> list[tuple[int, int]]:
    """Powers ``(i, j)`` of ``u^i v^j`` with ``i + j <= degree``, by total degree."""
    return [(total - j, j) for total in range(degree + 1) for j in range(total + 1)]


@dataclass(frozen=True, eq=False)
class DetectorGeometry:
    """Polynomial mapping of one detector's full-frame pixels to focal-plane arcsec.

    Attributes
    ----------
    instrument, detector : str
        Instrument and detector names.
    nx_full, ny_full : int
        Full-frame size of the detector (the NX_FULL, NY_FULL keywords).
    pixel_scale_arcsec : float
        Nominal pixel scale from the instrument description, arcsec/pixel.
    powers : tuple of (int, int)
        Powers ``(i, j)`` of the monomials ``u^i v^j``.
    coeffs_x_arcsec, coeffs_y_arcsec : numpy.ndarray
        Coefficient of each monomial for ``x_fp`` and ``y_fp``, arcsec / pixel^(i+j).
    """

    instrument: str
    detector: str
    nx_full: int
    ny_full: int
    pixel_scale_arcsec: float
    powers: tuple[tuple[int, int], ...]
    coeffs_x_arcsec: np.ndarray = field(repr=False)
    coeffs_y_arcsec: np.ndarray = field(repr=False)

    @property
    def centre_pix(self) -> tuple[float, float]:
        """Full-frame pixel position ``((NX_FULL - 1) / 2, (NY_FULL - 1) / 2)`` of ``u = v = 0``."""
        return (self.nx_full - 1) / 2.0, (self.ny_full - 1) / 2.0

    def _evaluate(self, u: np.ndarray, v: np.ndarray, derivatives: bool = False):
        x_fp = np.zeros_like(u)
        y_fp = np.zeros_like(u)
        dx_du, dx_dv, dy_du, dy_dv = (np.zeros_like(u) for _ in range(4))
        for (i, j), cx, cy in zip(self.powers, self.coeffs_x_arcsec, self.coeffs_y_arcsec, strict=True):
            term = u**i * v**j
            x_fp += cx * term
            y_fp += cy * term
            if derivatives and i > 0:
                d_u = i * u ** (i - 1) * v**j
                dx_du += cx * d_u
                dy_du += cy * d_u
            if derivatives and j > 0:
                d_v = j * u**i * v ** (j - 1)
                dx_dv += cx * d_v
                dy_dv += cy * d_v
        if derivatives:
            return x_fp, y_fp, (dx_du, dx_dv, dy_du, dy_dv)
        return x_fp, y_fp

    def pixel_to_focal_plane(self, x_pix, y_pix):
        """Focal-plane position (arcsec) of full-frame detector pixels (0-based)."""
        x0, y0 = self.centre_pix
        u = np.asarray(x_pix, dtype=float) - x0
        v = np.asarray(y_pix, dtype=float) - y0
        return self._evaluate(u, v)

    def jacobian_arcsec_per_pix(self, x_pix, y_pix) -> np.ndarray:
        """Local derivative ``d(x_fp, y_fp) / d(x, y)``, shape ``(..., 2, 2)``, arcsec/pixel."""
        x0, y0 = self.centre_pix
        u = np.asarray(x_pix, dtype=float) - x0
        v = np.asarray(y_pix, dtype=float) - y0
        _, _, (dx_du, dx_dv, dy_du, dy_dv) = self._evaluate(u, v, derivatives=True)
        return np.stack([np.stack([dx_du, dx_dv], -1), np.stack([dy_du, dy_dv], -1)], -2)

    def _linear_inverse(self, x_fp: np.ndarray, y_fp: np.ndarray):
        """``(u, v)`` of focal-plane positions from the constant and linear terms only."""
        linear = np.array(
            [
                [self.coeffs_x_arcsec[1], self.coeffs_x_arcsec[2]],
                [self.coeffs_y_arcsec[1], self.coeffs_y_arcsec[2]],
            ]
        )
        inverse = np.linalg.inv(linear)
        dx = x_fp - self.coeffs_x_arcsec[0]
        dy = y_fp - self.coeffs_y_arcsec[0]
        return inverse[0, 0] * dx + inverse[0, 1] * dy, inverse[1, 0] * dx + inverse[1, 1] * dy

    def focal_plane_to_pixel(self, x_fp_arcsec, y_fp_arcsec):
        """Full-frame detector pixels (0-based) of focal-plane positions, by Newton's method.

        Raises
        ------
        RuntimeError
            If the iteration does not converge to ``NEWTON_TOLERANCE_PIX``.
        """
        x_fp = np.asarray(x_fp_arcsec, dtype=float)
        y_fp = np.asarray(y_fp_arcsec, dtype=float)
        u, v = self._linear_inverse(x_fp, y_fp)
        for _ in range(NEWTON_MAX_ITERATIONS):
            fx, fy, (a, b, c, d) = self._evaluate(u, v, derivatives=True)
            rx, ry = x_fp - fx, y_fp - fy
            det = a * d - b * c
            du = (d * rx - b * ry) / det
            dv = (a * ry - c * rx) / det
            u = u + du
            v = v + dv
            if np.all(np.abs(du) < NEWTON_TOLERANCE_PIX) and np.all(np.abs(dv) < NEWTON_TOLERANCE_PIX):
                x0, y0 = self.centre_pix
                return u + x0, v + y0
        raise RuntimeError(f"{self.detector}: focal-plane to pixel inversion did not converge")

    def pixel_to_sky(self, x_pix, y_pix, pointing: Pointing):
        """ICRS (ra, dec) in degrees of full-frame detector pixels (0-based)."""
        x_fp, y_fp = self.pixel_to_focal_plane(x_pix, y_pix)
        xi, eta = focal_plane_to_standard(x_fp, y_fp, pointing.pa_aper_deg)
        return standard_to_sky(xi, eta, pointing.ra_ref_deg, pointing.dec_ref_deg)

    def sky_to_pixel(self, ra_deg, dec_deg, pointing: Pointing):
        """Full-frame detector pixels (0-based) of ICRS positions in degrees."""
        xi, eta = sky_to_standard(ra_deg, dec_deg, pointing.ra_ref_deg, pointing.dec_ref_deg)
        x_fp, y_fp = standard_to_focal_plane(xi, eta, pointing.pa_aper_deg)
        return self.focal_plane_to_pixel(x_fp, y_fp)

    def sky_to_pixel_linear(self, ra_deg, dec_deg, pointing: Pointing):
        """Approximate full-frame pixels of ICRS positions, ignoring the non-linear distortion.

        Cheap and defined everywhere; used to find the sources near a detector.
        """
        xi, eta = sky_to_standard(ra_deg, dec_deg, pointing.ra_ref_deg, pointing.dec_ref_deg)
        x_fp, y_fp = standard_to_focal_plane(xi, eta, pointing.pa_aper_deg)
        u, v = self._linear_inverse(x_fp, y_fp)
        x0, y0 = self.centre_pix
        return u + x0, v + y0

    def to_table(self) -> Table:
        """The DISTORTION table: columns AXIS, XPOW, YPOW, COEFF (arcsec / pixel^(XPOW+YPOW))."""
        rows = [("X", i, j, c) for (i, j), c in zip(self.powers, self.coeffs_x_arcsec, strict=True)]
        rows += [("Y", i, j, c) for (i, j), c in zip(self.powers, self.coeffs_y_arcsec, strict=True)]
        axis, xpow, ypow, coeff = zip(*rows, strict=True)
        return Table(
            [
                np.array(axis, dtype="S1"),
                np.array(xpow, dtype=np.int16),
                np.array(ypow, dtype=np.int16),
                np.array(coeff, dtype=np.float64),
            ],
            names=("AXIS", "XPOW", "YPOW", "COEFF"),
        )


def focal_plane_to_standard(x_fp, y_fp, pa_aper_deg: float):
    """Standard coordinates (xi East, eta North), arcsec, of focal-plane positions in arcsec."""
    pa = math.radians(pa_aper_deg)
    x_fp = np.asarray(x_fp, dtype=float)
    y_fp = np.asarray(y_fp, dtype=float)
    return (-x_fp * math.cos(pa) + y_fp * math.sin(pa), x_fp * math.sin(pa) + y_fp * math.cos(pa))


def standard_to_focal_plane(xi_arcsec, eta_arcsec, pa_aper_deg: float):
    """Focal-plane positions (arcsec) of standard coordinates; the rotation is its own inverse."""
    return focal_plane_to_standard(xi_arcsec, eta_arcsec, pa_aper_deg)


def standard_to_sky(xi_arcsec, eta_arcsec, ra_ref_deg: float, dec_ref_deg: float):
    """ICRS (ra, dec) in degrees of standard coordinates (arcsec), TAN about the reference."""
    xi = np.asarray(xi_arcsec, dtype=float) / ARCSEC_PER_RADIAN
    eta = np.asarray(eta_arcsec, dtype=float) / ARCSEC_PER_RADIAN
    dec0 = math.radians(dec_ref_deg)
    denominator = math.cos(dec0) - eta * math.sin(dec0)
    ra = math.radians(ra_ref_deg) + np.arctan2(xi, denominator)
    dec = np.arctan2(math.sin(dec0) + eta * math.cos(dec0), np.hypot(xi, denominator))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def sky_to_standard(ra_deg, dec_deg, ra_ref_deg: float, dec_ref_deg: float):
    """Gnomonic projection of ICRS positions (degrees) about ``(ra_ref, dec_ref)``, arcsec."""
    ra = np.radians(np.asarray(ra_deg, dtype=float))
    dec = np.radians(np.asarray(dec_deg, dtype=float))
    ra0, dec0 = math.radians(ra_ref_deg), math.radians(dec_ref_deg)
    cos_c = math.sin(dec0) * np.sin(dec) + math.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    xi = np.cos(dec) * np.sin(ra - ra0) / cos_c
    eta = (math.cos(dec0) * np.sin(dec) - math.sin(dec0) * np.cos(dec) * np.cos(ra - ra0)) / cos_c
    return xi * ARCSEC_PER_RADIAN, eta * ARCSEC_PER_RADIAN


def _field_corner_radius_arcsec(instrument: InstrumentDescription) -> float:
    """Largest distance from the reference point to a corner of an imager detector, arcsec."""
    radius = 0.0
    for name in instrument.imager_detectors:
        det = instrument.detectors[name]
        half_x = det.shape[1] / 2.0 * det.pixel_scale_arcsec
        half_y = det.shape[0] / 2.0 * det.pixel_scale_arcsec
        ox, oy = det.focal_plane_offset_arcsec
        radius = max(radius, math.hypot(abs(ox) + half_x, abs(oy) + half_y))
    return radius


def _polynomial(terms: dict[tuple[int, int], float]) -> np.ndarray:
    """Coefficient array ``P[i, j]`` of ``sum P[i, j] u^i v^j`` from ``{(i, j): coeff}``."""
    size = max(max(power) for power in terms) + 1
    array = np.zeros((size, size))
    for (i, j), value in terms.items():
        array[i, j] = value
    return array


def _padded(array: np.ndarray) -> np.ndarray:
    """Coefficient array zero-padded to degree `DISTORTION_DEGREE` in each variable."""
    size = DISTORTION_DEGREE + 1
    return np.pad(array, ((0, size - array.shape[0]), (0, size - array.shape[1])))


def make_detector_geometry(
    instrument: InstrumentDescription,
    detector: str,
    rng: np.random.Generator,
    optics: OpticsParameters | None = None,
) -> DetectorGeometry:
    """Build the distortion polynomial of one imager detector.

    Parameters
    ----------
    instrument : InstrumentDescription
        Source of the detector shape, pixel scale, focal-plane offset and rotation.
    detector : str
        Imager detector name.
    rng : numpy.random.Generator
        Draws the detector's mounting (quadratic) distortion.
    optics : OpticsParameters, optional
        Distortion amplitudes (defaults: `OpticsParameters()`).

    Returns
    -------
    DetectorGeometry
        The nominal linear mapping (offset, scale, rotation) times ``1 + k r^2`` (the radial
        field distortion, ``r`` the focal-plane radius) plus the mounting term, expanded
        exactly as a cubic in ``u, v`` (products of polynomials are 2-D convolutions of their
        coefficient arrays).
    """
    optics = optics or OpticsParameters()
    det = instrument.detectors[detector]
    ny, nx = det.shape
    scale = det.pixel_scale_arcsec
    half_u, half_v = (nx - 1) / 2.0, (ny - 1) / 2.0
    rotation = math.radians(det.rotation_deg)
    ox, oy = det.focal_plane_offset_arcsec
    x_nominal = _polynomial({(0, 0): ox, (1, 0): scale * math.cos(rotation), (0, 1): -scale * math.sin(rotation)})
    y_nominal = _polynomial({(0, 0): oy, (1, 0): scale * math.sin(rotation), (0, 1): scale * math.cos(rotation)})
    radial = optics.field_distortion_corner_pix * scale / _field_corner_radius_arcsec(instrument) ** 3
    radius_sq = convolve(x_nominal, x_nominal, method="direct") + convolve(y_nominal, y_nominal, method="direct")
    axes = []
    for nominal in (x_nominal, y_nominal):
        weights = rng.normal(size=3)
        weights *= optics.detector_distortion_corner_pix * scale / np.abs(weights).sum()
        mounting = _polynomial(
            {
                (2, 0): weights[0] / half_u**2,
                (1, 1): weights[1] / (half_u * half_v),
                (0, 2): weights[2] / half_v**2,
            }
        )
        axes.append(_padded(nominal) + radial * convolve(nominal, radius_sq, method="direct") + _padded(mounting))
    powers = monomial_powers()
    coeffs_x, coeffs_y = (np.array([axis[i, j] for i, j in powers]) for axis in axes)
    return DetectorGeometry(
        instrument=instrument.name,
        detector=detector,
        nx_full=nx,
        ny_full=ny,
        pixel_scale_arcsec=scale,
        powers=tuple(powers),
        coeffs_x_arcsec=coeffs_x,
        coeffs_y_arcsec=coeffs_y,
    )


def dither_offsets_arcsec(ndithers: int, step_arcsec: float, pixel_scale_arcsec: float):
    """Offsets ``(XOFFSET, YOFFSET)`` in arcsec of a grid dither with sub-pixel phases.

    Position ``k`` (0-based) sits at column ``k % ncol`` and row ``k // ncol`` of a square grid
    (``ncol = ceil(sqrt(ndithers))``) of spacing ``step_arcsec``, shifted diagonally by
    ``k / ndithers`` of a pixel so that the positions sample different pixel phases. The first
    position is ``(0, 0)``.

    Returns
    -------
    list of (float, float)
    """
    ncol = math.ceil(math.sqrt(ndithers))
    offsets = []
    for k in range(ndithers):
        phase = k / ndithers * pixel_scale_arcsec
        offsets.append((step_arcsec * (k % ncol) + phase, step_arcsec * (k // ncol) + phase))
    return offsets


def dithered_pointing(base: Pointing, xoffset_arcsec: float, yoffset_arcsec: float) -> Pointing:
    """Pointing after a dither offset along the detector axes.

    The reference point moves to the sky position that the focal-plane point
    ``(xoffset, yoffset)`` had at the base pointing, so sources move by ``-offset`` on the
    detector. The position angle is unchanged.
    """
    xi, eta = focal_plane_to_standard(xoffset_arcsec, yoffset_arcsec, base.pa_aper_deg)
    ra, dec = standard_to_sky(xi, eta, base.ra_ref_deg, base.dec_ref_deg)
    return Pointing(float(ra), float(dec), base.pa_aper_deg)
