"""Flux calibration of an imager exposure: DN/s to MJy/sr with the filter's PHOTMJSR.

``PHOTMJSR`` is the surface brightness (MJy/sr) that gives 1 DN/s in a flat-fielded pixel of the
nominal area ``PIXAR_SR`` (the square of the instrument description's pixel scale). Multiplying
by it makes the SCI array a surface brightness for the nominal pixel: the flux of a point source
is ``sum(SCI) * PIXAR_SR`` (MJy) whatever the local pixel area, and the true surface brightness
of an extended source is ``SCI / AREA``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["PhotometricConversion", "ab_zeropoint_for_unit_sum", "apply_conversion", "select_conversion"]

JANSKY_AB_ZERO = 3631.0
JY_PER_MJY = 1e6
ARCSEC2_PER_SR = (180.0 / math.pi * 3600.0) ** 2


@dataclass(frozen=True)
class PhotometricConversion:
    """One filter's row of the PHOTOM table."""

    filter_name: str
    photmjsr: float
    uncertainty: float
    zeropoint_ab_dn_s: float


def select_conversion(filters, photmjsr, uncertainty, zeropoint_ab, filter_name: str) -> PhotometricConversion:
    """The PHOTOM row of `filter_name` (case-insensitive, surrounding blanks ignored).

    Raises
    ------
    KeyError
        If no row, or more than one, matches.
    ValueError
        If the row's PHOTMJSR is not a positive finite number.
    """
    names = [str(f).strip().upper() for f in np.asarray(filters).astype(str)]
    rows = [k for k, name in enumerate(names) if name == filter_name.strip().upper()]
    if len(rows) != 1:
        found = "no row" if not rows else f"{len(rows)} rows"
        raise KeyError(f"{found} for filter {filter_name!r} (filters: {', '.join(names)})")
    k = rows[0]
    value = float(photmjsr[k])
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"PHOTMJSR of filter {filter_name!r} is {value}")
    return PhotometricConversion(filter_name, value, float(uncertainty[k]), float(zeropoint_ab[k]))


def apply_conversion(factor: float, data, err, *variances) -> None:
    """Multiply ``data`` and ``err`` by `factor` and each variance by its square, in place."""
    data *= np.float32(factor)
    err *= np.float32(factor)
    for variance in variances:
        variance *= np.float32(factor * factor)


def ab_zeropoint_for_unit_sum(pixel_area_sr: float) -> float:
    """AB magnitude of a source whose MJy/sr pixel values sum to 1 (``PHOTZPAB``)."""
    return -2.5 * math.log10(JY_PER_MJY * pixel_area_sr / JANSKY_AB_ZERO)
