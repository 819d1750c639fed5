"""Where each imager detector, or a subarray window of it, lies in the focal plane (pure geometry).

The nominal linear mapping of ``data/instruments.yaml`` is used (the same one the simulator starts
from, before distortion): full-frame detector pixel ``(x, y)`` (0-based) lies at

    x_fp = ox + s * (cos(r) * u - sin(r) * v),   y_fp = oy + s * (sin(r) * u + cos(r) * v)

arcsec, with ``u = x - (nx - 1) / 2``, ``v = y - (ny - 1) / 2``, ``(ox, oy)`` the detector's
``focal_plane_offset_arcsec``, ``s`` its ``pixel_scale_arcsec`` and ``r`` its ``rotation_deg``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..instruments import InstrumentDescription
from ..lib.subarray import Window

__all__ = ["DetectorPlacement", "detector_placement"]


@dataclass(frozen=True)
class DetectorPlacement:
    """Focal-plane placement of one imager detector and of the window of it that holds data.

    Extents are ``(left, right, bottom, top)`` in focal-plane arcsec of the pixel edges, before
    the rotation of ``rotation_deg`` (counter-clockwise) about ``centre_arcsec``, as matplotlib's
    ``imshow(extent=...)`` takes them.

    Attributes
    ----------
    detector : str
        DETECTOR keyword value.
    detector_extent_arcsec : tuple of float
        Extent of the whole detector.
    window_extent_arcsec : tuple of float
        Extent of the window (the whole detector for a full frame).
    centre_arcsec : tuple of float
        Focal-plane position of the detector centre.
    rotation_deg : float
        Rotation of the detector axes relative to the focal-plane axes.
    pixel_scale_arcsec : float
        Detector pixel scale.
    """

    detector: str
    detector_extent_arcsec: tuple[float, float, float, float]
    window_extent_arcsec: tuple[float, float, float, float]
    centre_arcsec: tuple[float, float]
    rotation_deg: float
    pixel_scale_arcsec: float


def detector_placement(
    instrument: InstrumentDescription, detector: str, window: Window | None = None
) -> DetectorPlacement:
    """Placement of ``detector`` (and of its ``window``) in the focal plane of ``instrument``.

    Parameters
    ----------
    instrument : InstrumentDescription
        From `iris_pipeline.instruments.get_instrument`.
    detector : str
        An imager detector of that instrument.
    window : iris_pipeline.lib.subarray.Window, optional
        1-based first column/row (``SUBSTRT1/2``) and size of the data; the full frame by default.

    Returns
    -------
    DetectorPlacement

    Raises
    ------
    ValueError
        ``detector`` is not an imager detector of ``instrument``, or the window is not inside it.
    """
    det = instrument.detectors.get(detector)
    if det is None or det.kind != "imager" or det.focal_plane_offset_arcsec is None:
        raise ValueError(f"{detector!r} is not an imager detector of {instrument.name}")
    ny, nx = det.shape
    if window is None:
        window = Window(1, 1, nx, ny)
    if (
        window.xstart < 1
        or window.ystart < 1
        or window.xstart - 1 + window.xsize > nx
        or window.ystart - 1 + window.ysize > ny
    ):
        raise ValueError(f"window {window} is not inside the {nx} x {ny} detector {detector}")
    scale = det.pixel_scale_arcsec
    ox, oy = det.focal_plane_offset_arcsec
    # Pixel i spans u = i - (n - 1)/2 -+ 1/2, so the window edges are at (start - 1 - n/2) and that plus size.
    left = ox + scale * (window.xstart - 1 - nx / 2)
    bottom = oy + scale * (window.ystart - 1 - ny / 2)
    return DetectorPlacement(
        detector=detector,
        detector_extent_arcsec=(ox - scale * nx / 2, ox + scale * nx / 2, oy - scale * ny / 2, oy + scale * ny / 2),
        window_extent_arcsec=(left, left + scale * window.xsize, bottom, bottom + scale * window.ysize),
        centre_arcsec=(ox, oy),
        rotation_deg=det.rotation_deg,
        pixel_scale_arcsec=scale,
    )
