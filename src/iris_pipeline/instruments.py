"""Instrument descriptions of IRIS and Liger, loaded from ``data/instruments.yaml``.

This module is the one place where detector sizes, pixel scales, read times, filters and IFS
modes live. It depends only on PyYAML so that the simulator and the pipeline can both use it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml

__all__ = [
    "INSTRUMENTS",
    "READ_MODES",
    "DetectorDescription",
    "InstrumentDescription",
    "get_instrument",
    "read_pattern_frames",
    "read_pattern_times",
]


@dataclass(frozen=True)
class DetectorDescription:
    """One detector of an instrument.

    Attributes
    ----------
    name : str
        DETECTOR keyword value (``IMG1``..``IMG4``, ``IMG``, ``IFS``).
    kind : str
        ``imager`` or ``ifs``.
    shape : tuple of int
        Full-frame (ny, nx) in pixels.
    reference_border_pix : int
        Width of the light-insensitive reference-pixel border on each side.
    output_channel_width_pix : int
        Columns read by one output channel (channels are read in parallel).
    pixel_scale_arcsec : float or None
        Nominal imager pixel scale in arcsec/pixel (None for the IFS detector).
    focal_plane_offset_arcsec : tuple of float or None
        Position of the detector centre relative to the imager reference point, arcsec.
    rotation_deg : float
        Nominal rotation of the detector axes relative to the focal-plane axes, degrees.
    """

    name: str
    kind: str
    shape: tuple[int, int]
    reference_border_pix: int
    output_channel_width_pix: int
    pixel_scale_arcsec: float | None = None
    focal_plane_offset_arcsec: tuple[float, float] | None = None
    rotation_deg: float = 0.0

    @property
    def pixel_area_arcsec2(self) -> float | None:
        """Nominal imager pixel area (arcsec^2): the PIXAR_A2 of its products; None for the IFS."""
        return None if self.pixel_scale_arcsec is None else self.pixel_scale_arcsec**2


@dataclass(frozen=True)
class InstrumentDescription:
    """Facts about one instrument (see ``data/instruments.yaml`` for sources)."""

    name: str
    telescope: str
    telescope_diameter_m: float
    collecting_area_m2: float
    imager_gap_pix: int
    detectors: dict[str, DetectorDescription]
    full_frame_read_time_s: float
    detector_defaults: dict[str, float]
    max_subarray_windows: int
    filters: dict[str, tuple[float, float, float]]
    ifs: dict | None = None
    site: dict[str, float] | None = None  # latitude_deg, longitude_deg (East positive), height_m

    @property
    def imager_detectors(self) -> list[str]:
        """Names of the imager detectors, in mosaic order."""
        return [name for name, det in self.detectors.items() if det.kind == "imager"]

    def read_time_s(self, nrows: int | None = None) -> float:
        """Time to read one frame of ``nrows`` rows (full frame when None), in seconds.

        The detector reads all output channels in parallel, so the frame time scales with the
        number of rows read.
        """
        full_rows = max(det.shape[0] for det in self.detectors.values())
        if nrows is None:
            nrows = full_rows
        return self.full_frame_read_time_s * nrows / full_rows

    def filter_wavelengths_um(self, name: str) -> tuple[float, float, float]:
        """(min, centre, max) wavelength of filter ``name`` in um."""
        try:
            return self.filters[name]
        except KeyError:
            raise KeyError(f"{self.name} has no filter {name!r}; known filters: {', '.join(self.filters)}") from None


@functools.cache
def _load() -> dict:
    text = resources.files("iris_pipeline").joinpath("data/instruments.yaml").read_text()
    return yaml.safe_load(text)


def _build(name: str, entry: dict) -> InstrumentDescription:
    detectors = {}
    for det_name, det in entry["detectors"].items():
        offset = det.get("focal_plane_offset_arcsec")
        detectors[det_name] = DetectorDescription(
            name=det_name,
            kind=det["kind"],
            shape=tuple(det["shape"]),
            reference_border_pix=det["reference_border_pix"],
            output_channel_width_pix=det["output_channel_width_pix"],
            pixel_scale_arcsec=det.get("pixel_scale_arcsec"),
            focal_plane_offset_arcsec=tuple(offset) if offset is not None else None,
            rotation_deg=det.get("rotation_deg", 0.0),
        )
    return InstrumentDescription(
        name=name,
        telescope=entry["telescope"],
        telescope_diameter_m=entry["telescope_diameter_m"],
        collecting_area_m2=entry["collecting_area_m2"],
        imager_gap_pix=entry["imager_gap_pix"],
        detectors=detectors,
        full_frame_read_time_s=entry["full_frame_read_time_s"],
        detector_defaults=dict(entry["detector_defaults"]),
        max_subarray_windows=entry["max_subarray_windows"],
        filters={k: tuple(v) for k, v in entry["filters"].items()},
        ifs=entry.get("ifs"),
        site=dict(entry["site"]) if "site" in entry else None,
    )


INSTRUMENTS: dict[str, InstrumentDescription] = {
    name: _build(name, entry) for name, entry in _load().items() if name != "read_modes"
}
READ_MODES: dict[str, dict] = _load()["read_modes"]


def get_instrument(name: str) -> InstrumentDescription:
    """Return the description of instrument ``name`` (``IRIS`` or ``LIGER``, any case)."""
    try:
        return INSTRUMENTS[name.upper()]
    except KeyError:
        raise KeyError(f"unknown instrument {name!r}; known instruments: {', '.join(INSTRUMENTS)}") from None


def read_pattern_frames(ngroups: int, nframes: int, groupgap: int, frame_time_s: float):
    """End time (s since the reset) of every read averaged into each group.

    Group ``k`` (0-based) averages reads ``k * (nframes + groupgap) .. + nframes - 1``; read
    ``j`` (0-based) ends ``(j + 1) * frame_time_s`` after the reset. The group time is
    ``(nframes + groupgap) * frame_time_s``.

    Returns
    -------
    list of list of float
        ``ngroups`` lists of ``nframes`` read times.
    """
    period = nframes + groupgap
    return [[frame_time_s * (k * period + j + 1) for j in range(nframes)] for k in range(ngroups)]


def read_pattern_times(ngroups: int, nframes: int, groupgap: int, frame_time_s: float):
    """Mean time (s since the reset) of each group: the mean of its `read_pattern_frames`."""
    return [sum(frames) / len(frames) for frames in read_pattern_frames(ngroups, nframes, groupgap, frame_time_s)]
