"""Point sources in a cube: detection and centring on the white-light image, and 1-D extraction weights.

Pure-array algorithms. Positions are 0-based spaxel coordinates ``(x, y)`` of the image
``(ny, nx)``. The point-spread function is modelled as a circular Gaussian integrated over each
spaxel, fitted on the white-light image with a constant background.

Extraction is linear in the cube: ``F(lambda) = sum c(x, y, lambda) I(x, y, lambda)``. Two sets
of coefficients are given:

- ``aperture``: the fraction of each spaxel inside a circle of radius ``r`` (exact to 1/100 of a
  spaxel's area by sub-sampling), times the aperture correction ``1 / sum(aperture * PSF)``, the
  inverse of the PSF's fraction inside the aperture;
- ``psf`` (optimal, Horne 1986 in two dimensions): ``c = P / v / sum(P^2 / v)`` with ``P`` the
  spaxel-integrated PSF normalised to a total of 1 and ``v`` the variance of each spaxel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter
from scipy.optimize import least_squares
from scipy.special import erf

__all__ = ["PointSource", "aperture_coefficients", "find_point_sources", "fit_point_source", "psf_coefficients",
           "psf_image"]  # fmt: skip

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
SUBSAMPLE = 10


@dataclass(frozen=True)
class PointSource:
    """A point source on a white-light image: centre (spaxels), Gaussian width, peak S/N."""

    x: float
    y: float
    sigma: float
    amplitude: float
    background: float
    snr: float

    @property
    def fwhm(self) -> float:
        """Full width at half maximum (spaxels)."""
        return FWHM_PER_SIGMA * self.sigma


def psf_image(shape, x: float, y: float, sigma: float) -> np.ndarray:
    """Circular Gaussian of total 1 integrated over each spaxel of an image ``shape``."""
    ny, nx = shape
    scale = 1.0 / (np.sqrt(2.0) * sigma)
    columns = np.arange(nx)
    rows = np.arange(ny)
    gx = 0.5 * (erf((columns + 0.5 - x) * scale) - erf((columns - 0.5 - x) * scale))
    gy = 0.5 * (erf((rows + 0.5 - y) * scale) - erf((rows - 0.5 - y) * scale))
    return gy[:, None] * gx[None, :]


def fit_point_source(image: np.ndarray, error: np.ndarray, guess_xy, half_box: int = 3) -> PointSource | None:
    """Least-squares fit of a spaxel-integrated circular Gaussian plus a constant near ``guess_xy``.

    Returns None when the box has fewer usable spaxels than parameters or the fit fails.
    """
    ny, nx = image.shape
    gx, gy = int(round(guess_xy[0])), int(round(guess_xy[1]))
    y0, y1 = max(gy - half_box, 0), min(gy + half_box + 1, ny)
    x0, x1 = max(gx - half_box, 0), min(gx + half_box + 1, nx)
    box = image[y0:y1, x0:x1]
    box_err = error[y0:y1, x0:x1]
    use = np.isfinite(box) & np.isfinite(box_err) & (box_err > 0)
    if use.sum() < 8:
        return None
    # Normalised to the peak: surface brightnesses are far from the solver's tolerances otherwise.
    norm = float(np.nanmax(np.abs(box[use])))
    if norm <= 0:
        return None

    def residual(params):
        amplitude, x, y, sigma, background = params
        model = amplitude * psf_image((ny, nx), x, y, abs(sigma))[y0:y1, x0:x1] + background
        return ((model - box / norm) / (box_err / norm))[use]

    start = [float(np.nansum(box[use]) / norm), float(guess_xy[0]), float(guess_xy[1]), 1.0, 0.0]
    try:
        fit = least_squares(residual, start, x_scale=[start[0] or 1.0, 0.5, 0.5, 0.5, 0.1])
    except ValueError:
        return None
    amplitude, x, y, sigma, background = fit.x
    if not fit.success or not (x0 - 0.5 <= x <= x1 - 0.5 and y0 - 0.5 <= y <= y1 - 0.5) or amplitude <= 0:
        return None
    noise = float(np.sqrt(np.nansum(np.where(use, box_err**2, 0.0))))
    snr = amplitude * norm / noise if noise > 0 else 0.0
    return PointSource(float(x), float(y), float(abs(sigma)), float(amplitude * norm), float(background * norm),
                       float(snr))  # fmt: skip


def find_point_sources(image: np.ndarray, error: np.ndarray, min_snr: float = 10.0, max_sources: int = 10,
                       min_separation: int = 3) -> list[PointSource]:  # fmt: skip
    """Point sources of a white-light image, brightest first.

    Local maxima (in a ``2 min_separation + 1`` box) of the image's S/N above ``min_snr`` are
    fitted with `fit_point_source`; fits whose integrated S/N is below ``min_snr`` are dropped.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = np.where(np.isfinite(image) & (error > 0), image / error, -np.inf)
    peaks = (snr == maximum_filter(snr, size=2 * min_separation + 1, mode="constant", cval=-np.inf)) & (snr > min_snr)
    ys, xs = np.nonzero(peaks)
    order = np.argsort(-image[ys, xs])
    sources = []
    for index in order[:max_sources]:
        source = fit_point_source(image, error, (xs[index], ys[index]))
        if source is not None and source.snr >= min_snr:
            sources.append(source)
    return sources


def aperture_mask(shape, x: float, y: float, radius: float) -> np.ndarray:
    """Fraction of every spaxel inside a circle (sub-sampled ``SUBSAMPLE`` x ``SUBSAMPLE``)."""
    ny, nx = shape
    offsets = (np.arange(SUBSAMPLE) + 0.5) / SUBSAMPLE - 0.5
    sub_y = (np.arange(ny)[:, None] + offsets[None, :]).ravel()
    sub_x = (np.arange(nx)[:, None] + offsets[None, :]).ravel()
    inside = ((sub_x[None, :] - x) ** 2 + (sub_y[:, None] - y) ** 2) <= radius**2
    return inside.reshape(ny, SUBSAMPLE, nx, SUBSAMPLE).mean(axis=(1, 3))


def aperture_coefficients(shape, source: PointSource, radius: float) -> tuple[np.ndarray, float]:
    """Aperture fractions times the aperture correction, and the correction itself.

    Parameters
    ----------
    shape : tuple of int
        (ny, nx) of the image.
    radius : float
        Aperture radius, spaxels.
    """
    mask = aperture_mask(shape, source.x, source.y, radius)
    enclosed = float(np.sum(mask * psf_image(shape, source.x, source.y, source.sigma)))
    correction = 1.0 / enclosed
    return mask * correction, correction


def psf_coefficients(psf: np.ndarray, variance: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Optimal (PSF-weighted) extraction coefficients, per plane.

    Parameters
    ----------
    psf : np.ndarray
        (ny, nx) PSF of total 1.
    variance, usable : np.ndarray
        (nwave, ny, nx) variance of every voxel and where it holds data.

    Returns
    -------
    np.ndarray
        (nwave, ny, nx) coefficients; a plane with no usable spaxel gets zeros.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        inverse = np.where(usable & (variance > 0), 1.0 / variance, 0.0)
        weighted = psf[None] * inverse
        norm = np.sum(psf[None] * weighted, axis=(1, 2))
        return np.where(norm[:, None, None] > 0, weighted / norm[:, None, None], 0.0)
