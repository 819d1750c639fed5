"""Nominal spectral format of the IFS on its detector, from the instrument description.

The format of one configuration (mode, plate scale, resolving power, grating) is a table with one
row per spaxel, in full-frame 0-based detector pixels, spectra dispersed along +x (the columns of
``IFSTraceModel``, ``docs/ifs.md``): for ``u = x - X_REF``,

- trace centre ``y(u) = TRACE_C0 + TRACE_C1 u + TRACE_C2 u**2``;
- wavelength ``lambda(u) = sum_k WAVE_Ck u**k`` (um, vacuum);
- cross-dispersion profile: Gaussian of standard deviation ``SIGMA`` pixels;
- the spectrum covers columns ``X_START..X_END``.

Spectra are laid out in vertical stacks, one spectrum every ``trace_pitch_pix`` rows: lenslet
spectra overlap their neighbours and are staggered in x in a repeating pattern, as in Keck OSIRIS;
slicer spectra of one slice are adjacent, with a gap between slices. The trace slope, curvature,
dispersion and profile width vary smoothly over the detector. The layout parameters are the
``detector_format`` defaults of ``instruments.yaml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from ...instruments import InstrumentDescription
from ..detector import DetectorWindow
from ..parameters import resolve_instrument

__all__ = ["IFSConfiguration", "nominal_format", "spaxel_order"]

PROFILE_HALF_WIDTH_SIGMA = 5.0
"""Rows kept free of other spectra at the top and bottom of the window, in profile widths."""


@dataclass(frozen=True)
class IFSConfiguration:
    """One IFS configuration and the detector window it is simulated on.

    Attributes
    ----------
    instrument : str
        ``'IRIS'``.
    mode : str
        ``'LENSLET'`` or ``'SLICER'``.
    scale_mas : float
        Plate scale (spaxel size), mas.
    resolving_power : int
        Grating resolving power R.
    grating : str
        Grating (band) name; the FILTER keyword of IFS files.
    nspax_x, nspax_y : int
        Spaxels of the field (lenslet columns and rows; slicer slices and spaxels per slice).
    wave_range_um : tuple of float
        Wavelength range recorded on the detector (the grating band, or a narrower filter in it).
    window : DetectorWindow
        Detector window read out.
    """

    instrument: str
    mode: str
    scale_mas: float
    resolving_power: int
    grating: str
    nspax_x: int
    nspax_y: int
    wave_range_um: tuple[float, float]
    window: DetectorWindow

    @classmethod
    def create(
        cls,
        mode: str = "LENSLET",
        grating: str = "K",
        resolving_power: int = 4000,
        scale_mas: float | None = None,
        spaxels: tuple[int, int] | None = None,
        wave_range_um: tuple[float, float] | None = None,
        window_size: int | None = None,
        instrument: str = "IRIS",
    ) -> IFSConfiguration:
        """Validate a configuration against the instrument's mode table.

        Parameters
        ----------
        mode, grating, resolving_power, scale_mas
            The configuration; ``scale_mas`` defaults to the mode's first plate scale.
        spaxels : tuple of int, optional
            ``(nspax_x, nspax_y)``; default the lenslet masked field (16 x 128) or the slicer half
            field (44 x 45). Fewer spaxels give a scaled-down configuration for tests.
        wave_range_um : tuple of float, optional
            Sub-range of the band (a narrow-band filter); default the whole band.
        window_size : int, optional
            Side of a corner window of the IFS detector; None for the full 4096^2 frame.
        instrument : str
            Instrument name (only IRIS has an IFS description).

        Raises
        ------
        ValueError
            A mode, grating, R, plate scale or range outside the instrument's table.
        """
        inst = resolve_instrument(instrument)
        if not inst.ifs:
            raise ValueError(f"{inst.name} has no IFS description in instruments.yaml")
        modes = inst.ifs["modes"]
        mode = str(mode).upper()
        if mode not in modes:
            raise ValueError(f"unknown IFS mode {mode!r}; known: {', '.join(modes)}")
        table = modes[mode]
        if grating not in inst.ifs["gratings"]:
            raise ValueError(f"unknown IFS grating {grating!r}; known: {', '.join(inst.ifs['gratings'])}")
        if resolving_power not in table["resolving_powers"]:
            raise ValueError(f"{mode} has no R = {resolving_power}; available: {table['resolving_powers']}")
        if grating not in inst.ifs["resolving_powers"][resolving_power]:
            raise ValueError(f"no {grating} grating at R = {resolving_power}")
        scale = table["plate_scales_mas"][0] if scale_mas is None else scale_mas
        if scale not in table["plate_scales_mas"]:
            raise ValueError(f"{mode} has no plate scale {scale} mas; available: {table['plate_scales_mas']}")
        default_spaxels = table["spaxels_masked"] if mode == "LENSLET" else table["spaxels_half"]
        nspax_x, nspax_y = spaxels or default_spaxels
        band = tuple(inst.ifs["gratings"][grating])
        lo, hi = wave_range_um or band
        if not band[0] <= lo < hi <= band[1]:
            raise ValueError(f"wavelength range {lo}-{hi} um is outside the {grating} band {band[0]}-{band[1]} um")
        window = DetectorWindow.corner(inst.detectors["IFS"], window_size)
        return cls(inst.name, mode, float(scale), int(resolving_power), grating, int(nspax_x), int(nspax_y),
                   (float(lo), float(hi)), window)  # fmt: skip

    @property
    def description(self) -> InstrumentDescription:
        """The instrument description."""
        return resolve_instrument(self.instrument)

    @property
    def nspaxels(self) -> int:
        """Spaxels in the field."""
        return self.nspax_x * self.nspax_y

    @property
    def keywords(self) -> dict[str, object]:
        """Header keywords of the configuration (IFSMODE, IFSSCALE, RESPOWER, FILTER)."""
        return {"IFSMODE": self.mode, "IFSSCALE": self.scale_mas, "RESPOWER": self.resolving_power,
                "FILTER": self.grating}  # fmt: skip


def spaxel_order(config: IFSConfiguration) -> tuple[np.ndarray, np.ndarray]:
    """Field position ``(spax_x, spax_y)`` of each spectrum, in detector order (increasing y).

    Lenslet: one lenslet row after the other (x fastest). Slicer: one slice (``spax_x``) after the
    other, spaxels along the slice adjacent.
    """
    index = np.arange(config.nspaxels)
    if config.mode == "SLICER":
        return index // config.nspax_y, index % config.nspax_y
    return index % config.nspax_x, index // config.nspax_x


def nominal_format(config: IFSConfiguration) -> Table:
    """The nominal spectral format of a configuration (the truth IFS_TRACE table).

    Returns
    -------
    astropy.table.Table
        One row per spaxel, columns of ``IFSTraceModel.trace_table``; ``meta`` holds NSPAXX,
        NSPAXY, WAVEMIN, WAVEMAX.

    Raises
    ------
    ValueError
        When the spectra do not fit in the detector window.
    """
    facts = config.description.ifs["detector_format"]
    mode_facts = facts[config.mode]
    window = config.window
    pitch = float(mode_facts["trace_pitch_pix"])
    sigma0 = float(mode_facts["profile_sigma_pix"])
    slice_gap = float(mode_facts["slice_gap_pix"])
    stagger = int(mode_facts["stagger_pix"])
    stagger_period = int(mode_facts["stagger_period"])
    gap = int(facts["spectrum_gap_pix"])
    lo, hi = config.wave_range_um
    centre = 0.5 * (lo + hi)
    dispersion = centre / (config.resolving_power * float(facts["pixels_per_resolution_element"]))
    # 2 % margins plus 4 columns at each end absorb the field-dependent shifts of the solution.
    length = math.ceil(1.04 * (hi - lo) / dispersion) + 8

    border = window.reference_border_pix
    x_first = max(window.substrt1 - 1, border) + 4
    x_last = min(window.substrt1 - 1 + window.nx, window.nx_full - border) - 4
    margin = PROFILE_HALF_WIDTH_SIGMA * sigma0 + 2
    y_first = max(window.substrt2 - 1, border) + margin
    y_last = min(window.substrt2 - 1 + window.ny, window.ny_full - border) - margin
    spax_x, spax_y = spaxel_order(config)
    per_slice = config.nspax_y if config.mode == "SLICER" else config.nspaxels
    n_spectra = config.nspaxels

    def offsets(count):
        rows = np.arange(count)
        return rows * pitch + (rows // per_slice) * slice_gap

    for stacks in range(1, n_spectra + 1):
        per_stack = math.ceil(n_spectra / stacks)
        if offsets(per_stack)[-1] <= y_last - y_first:
            break
    width = stacks * (length + stagger * (stagger_period - 1)) + (stacks - 1) * gap
    if width > x_last - x_first:
        raise ValueError(
            f"{n_spectra} spectra of {length} pixels in {stacks} stack(s) need {width} columns; "
            f"the window has {x_last - x_first}"
        )
    order = np.arange(n_spectra)
    stack = order // per_stack
    row_in_stack = order - stack * per_stack
    y_ref = y_first + offsets(per_stack)[row_in_stack]
    x_start = (x_first + stack * (length + stagger * (stagger_period - 1) + gap)
               + stagger * (spax_x % stagger_period)).astype(np.int64)  # fmt: skip
    x_ref = x_start + 0.5 * (length - 1)

    nx_full, ny_full = window.nx_full, window.ny_full
    across_width = (x_ref - 0.5 * nx_full) / nx_full
    across_height = (y_ref - 0.5 * ny_full) / ny_full
    tilt0, tilt1 = facts["tilt_per_pix"]
    curv0, curv1 = facts["curvature_per_pix2"]
    disp1, disp2 = facts["dispersion_change"]
    slope = tilt0 + tilt1 * across_height
    curvature = curv0 + curv1 * across_width
    wave_c1 = dispersion * (1.0 + disp1 * across_width)
    wave_c2 = disp2 * wave_c1 / length
    wave_c0 = centre + 2.0 * wave_c1 * across_height

    table = Table()
    table["SPAXEL"] = order.astype(np.int32)
    table["SPAX_X"] = spax_x.astype(np.int16)
    table["SPAX_Y"] = spax_y.astype(np.int16)
    table["X_START"] = x_start.astype(np.int32)
    table["X_END"] = (x_start + length - 1).astype(np.int32)
    table["X_REF"] = x_ref
    table["TRACE_C0"] = y_ref
    table["TRACE_C1"] = slope
    table["TRACE_C2"] = curvature
    table["WAVE_C0"] = wave_c0
    table["WAVE_C1"] = wave_c1
    table["WAVE_C2"] = wave_c2
    table["WAVE_C3"] = np.zeros(n_spectra)
    table["SIGMA"] = sigma0 * (1.0 + 0.05 * across_width)
    table.meta.update(NSPAXX=config.nspax_x, NSPAXY=config.nspax_y, WAVEMIN=lo, WAVEMAX=hi)
    return table
