"""Per-pixel truth of a detector: gain, noise, bias, dark, response, nonlinearity, saturation.

`make_detector_model` draws the maps for one detector (or a corner window of it) around the
detector defaults of the instrument description; the reference files are derived from the same
`DetectorModel`, so they are the exact truth of the simulation.

Conventions
-----------
- ``qe`` is the relative response of a pixel to light (pixel-to-pixel QE, the low-order
  illumination response, dead and low-QE pixels). An incident rate ``R`` (e-/s at nominal QE)
  is detected as ``R * qe`` e-/s.
- The FLAT reference is the response in DN, ``qe * nominal_gain / gain``; ``qe`` is scaled so
  that this flat has a median of exactly 1 over good pixels.
- Nonlinearity: a true signal ``t`` (DN above bias) is measured as ``t - alpha * t**2``.
- Reference pixels (the border of ``reference_border_pix``) collect no charge: ``qe = 0``, no
  dark current, no cosmic rays, but bias, bias drifts and read noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from iris_pipeline import dqflags
from iris_pipeline.instruments import DetectorDescription

from .parameters import (
    DetectorParameters,
    Stream,
    make_rng,
    resolve_imager_detector,
    resolve_instrument,
)

__all__ = [
    "ADC_MAX_DN",
    "LINEARITY_ORDER",
    "DetectorModel",
    "DetectorWindow",
    "low_order_pattern",
    "make_detector_model",
]

ADC_MAX_DN = int(np.iinfo(np.uint16).max)
LINEARITY_ORDER = 4
LINEARITY_FIT_SAMPLES = 256
DQ = dqflags.PIXEL


@dataclass(frozen=True)
class DetectorWindow:
    """The part of a detector that is read out: the full frame or a corner window.

    Attributes
    ----------
    detector : str
        Detector name.
    nx_full, ny_full : int
        Full-frame size of the detector, pixels.
    reference_border_pix : int
        Width of the reference-pixel border of the full frame.
    substrt1, substrt2 : int
        1-based detector column and row of the first array pixel (SUBSTRT1, SUBSTRT2).
    nx, ny : int
        Array size (SUBSIZE1, SUBSIZE2).
    """

    detector: str
    nx_full: int
    ny_full: int
    reference_border_pix: int
    substrt1: int
    substrt2: int
    nx: int
    ny: int

    @classmethod
    def corner(cls, detector: DetectorDescription, size: int | None = None, inner: bool = False) -> DetectorWindow:
        """Full frame (``size`` None or the full size) or a ``size x size`` corner window.

        The window is in the detector's first corner (``SUBSTRT1 = SUBSTRT2 = 1``), or with
        ``inner`` in the corner nearest the instrument reference point (from the detector's
        focal-plane offset), where the windows of a mosaic's detectors face each other across
        the gaps.

        Raises
        ------
        ValueError
            If ``size`` is not an integer between the reference border and the detector size.
        """
        ny_full, nx_full = detector.shape
        if size is None or size == nx_full == ny_full:
            nx, ny = nx_full, ny_full
        else:
            if int(size) != size or size <= detector.reference_border_pix:
                raise ValueError(
                    f"size must be an integer larger than the "
                    f"{detector.reference_border_pix}-pixel reference border, got {size!r}"
                )
            if size > min(nx_full, ny_full):
                raise ValueError(f"size {size} exceeds the {detector.name} detector ({nx_full} x {ny_full} pixels)")
            nx = ny = int(size)
        substrt1 = substrt2 = 1
        if inner and detector.focal_plane_offset_arcsec is not None:
            offset_x, offset_y = detector.focal_plane_offset_arcsec
            substrt1 = nx_full - nx + 1 if offset_x < 0 else 1
            substrt2 = ny_full - ny + 1 if offset_y < 0 else 1
        return cls(detector.name, nx_full, ny_full, detector.reference_border_pix, substrt1, substrt2, nx, ny)

    @property
    def shape(self) -> tuple[int, int]:
        """Array shape ``(ny, nx)``."""
        return self.ny, self.nx

    @property
    def is_full_frame(self) -> bool:
        """True when the window is the whole detector."""
        return (self.nx, self.ny) == (self.nx_full, self.ny_full)

    @property
    def subarray(self) -> str:
        """SUBARRAY keyword: ``'FULL'`` or ``'SUB{n}'``."""
        return "FULL" if self.is_full_frame else f"SUB{self.nx}"

    def full_frame_columns(self) -> np.ndarray:
        """0-based full-frame column of each array column."""
        return np.arange(self.nx) + self.substrt1 - 1

    def full_frame_rows(self) -> np.ndarray:
        """0-based full-frame row of each array row."""
        return np.arange(self.ny) + self.substrt2 - 1

    def reference_pixel_mask(self) -> np.ndarray:
        """Boolean array, True on the full frame's reference-pixel border."""
        border = self.reference_border_pix
        cols = self.full_frame_columns()
        rows = self.full_frame_rows()
        ref_cols = (cols < border) | (cols >= self.nx_full - border)
        ref_rows = (rows < border) | (rows >= self.ny_full - border)
        return ref_rows[:, None] | ref_cols[None, :]

    def keywords(self) -> dict[str, object]:
        """SUBARRAY, SUBSTRT1/2 and SUBSIZE1/2 keywords of the window."""
        return {
            "SUBARRAY": self.subarray,
            "SUBSTRT1": self.substrt1,
            "SUBSTRT2": self.substrt2,
            "SUBSIZE1": self.nx,
            "SUBSIZE2": self.ny,
        }


@dataclass(frozen=True, eq=False)
class DetectorModel:
    """Truth maps of one detector window (float32 arrays of shape ``window.shape``).

    Attributes
    ----------
    instrument, detector : str
        Names.
    window : DetectorWindow
        Where the arrays sit on the detector.
    params : DetectorParameters
        Model parameters the maps were drawn with (also used for the per-read effects).
    output_channel_width_pix : int
        Columns read by one output channel (from the instrument description).
    nominal_gain_e_per_dn : float
        Gain of the instrument description, e-/DN (PHOTOM and the FLAT are relative to it).
    gain_e_per_dn : numpy.ndarray
        Gain, e-/DN.
    read_noise_dn : numpy.ndarray
        Noise of one read, DN.
    bias_dn : numpy.ndarray
        Static bias (the superbias), DN.
    dark_e_s : numpy.ndarray
        Dark current, e-/s.
    qe : numpy.ndarray
        Relative response to light (see the module docstring).
    nonlinearity_per_dn : numpy.ndarray
        ``alpha`` of ``measured = true - alpha * true**2`` (DN above bias), 1/DN.
    full_well_e : numpy.ndarray
        Charge at which a pixel stops integrating, e-.
    saturation_dn : numpy.ndarray
        Raw level (bias included) at which the reads are clipped, DN; integer-valued.
    dq : numpy.ndarray
        Bad-pixel mask (uint32 DQ flags).
    """

    instrument: str
    detector: str
    window: DetectorWindow
    params: DetectorParameters
    output_channel_width_pix: int
    nominal_gain_e_per_dn: float
    gain_e_per_dn: np.ndarray = field(repr=False)
    read_noise_dn: np.ndarray = field(repr=False)
    bias_dn: np.ndarray = field(repr=False)
    dark_e_s: np.ndarray = field(repr=False)
    qe: np.ndarray = field(repr=False)
    nonlinearity_per_dn: np.ndarray = field(repr=False)
    full_well_e: np.ndarray = field(repr=False)
    saturation_dn: np.ndarray = field(repr=False)
    dq: np.ndarray = field(repr=False)

    @property
    def n_output_channels(self) -> int:
        """Output channels of the full detector."""
        return math.ceil(self.window.nx_full / self.output_channel_width_pix)

    def output_channel_of_columns(self) -> np.ndarray:
        """0-based output channel of each array column."""
        return self.window.full_frame_columns() // self.output_channel_width_pix

    def has_flag(self, name: str) -> np.ndarray:
        """Boolean array: pixels whose mask has DQ flag ``name``."""
        return (self.dq & np.uint32(DQ[name])) != 0

    @property
    def collecting(self) -> np.ndarray:
        """Pixels that collect charge (not reference pixels, not dead)."""
        return ~(self.has_flag("REFERENCE_PIXEL") | self.has_flag("DEAD"))

    def nonlinear_dn(self, true_dn: np.ndarray) -> np.ndarray:
        """Measured signal (DN above bias) of a true signal ``true_dn`` (DN above bias)."""
        return true_dn - self.nonlinearity_per_dn * true_dn**2

    def flat_field(self) -> tuple[np.ndarray, np.ndarray]:
        """FLAT reference arrays: response in DN (median 1 over good pixels) and its DQ.

        Pixels without a response (dead, reference) get 1.0 and
        ``NO_FLAT_FIELD | DO_NOT_USE``.
        """
        no_response = ~self.collecting
        flat = (self.qe * (self.nominal_gain_e_per_dn / self.gain_e_per_dn)).astype(np.float32)
        flat[no_response] = 1.0
        dq = np.where(no_response, np.uint32(DQ["NO_FLAT_FIELD"] | DQ["DO_NOT_USE"]), np.uint32(0))
        return flat, dq.astype(np.uint32)

    def dark_dn_s(self) -> np.ndarray:
        """Dark current in DN/s."""
        return (self.dark_e_s / self.gain_e_per_dn).astype(np.float32)

    def linearity_coefficients(self, order: int = LINEARITY_ORDER) -> np.ndarray:
        """LINEARITY coefficients ``c_k`` (shape ``(order + 1, ny, nx)``, float32).

        ``true = sum_k c_k * measured**k`` (DN above bias) inverts the quadratic
        nonlinearity. With ``x = alpha * measured`` the exact inverse is
        ``alpha * true = (1 - sqrt(1 - 4 x)) / 2``; a polynomial ``x + sum_{k>=2} d_k x^k`` is
        fitted to it (least squares in relative error) up to the largest ``x`` reached below
        saturation, so ``c_1 = 1`` and ``c_k = d_k * alpha**(k - 1)``.
        """
        alpha = self.nonlinearity_per_dn.astype(np.float64)
        measured_max = self.saturation_dn - self.bias_dn
        x_max = float(np.max(alpha * measured_max))
        x = np.linspace(x_max / LINEARITY_FIT_SAMPLES, x_max, LINEARITY_FIT_SAMPLES)
        exact = (1.0 - np.sqrt(1.0 - 4.0 * x)) / 2.0
        design = np.stack([x**k for k in range(2, order + 1)], axis=1) / exact[:, None]
        higher = np.linalg.lstsq(design, (exact - x) / exact, rcond=None)[0]
        coeffs = np.empty((order + 1, *alpha.shape), dtype=np.float32)
        coeffs[0] = 0.0
        coeffs[1] = 1.0
        for k, d_k in enumerate(higher, start=2):
            coeffs[k] = d_k * alpha ** (k - 1)
        return coeffs


def low_order_pattern(window: DetectorWindow, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth multiplicative pattern ``1 + a(X) + b(Y)`` within ``1 +- amplitude``.

    ``X``, ``Y`` run from -1 to 1 across the full frame; the pattern is a random mix of a
    gradient along each axis and a radial (vignetting-like) term.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``window.shape``.
    """
    c_x, c_y, c_r = rng.uniform(-1.0, 1.0, 3)
    scale = amplitude / (abs(c_x) + abs(c_y) + abs(c_r))
    x = 2.0 * window.full_frame_columns() / (window.nx_full - 1) - 1.0
    y = 2.0 * window.full_frame_rows() / (window.ny_full - 1) - 1.0
    along_x = scale * (c_x * x + c_r * x**2)
    along_y = scale * (c_y * y + c_r * (y**2 - 1.0))
    return (1.0 + along_y[:, None] + along_x[None, :]).astype(np.float32)


def _lognormal(rng: np.random.Generator, median, sigma: float, shape) -> np.ndarray:
    """float32 map ``median * exp(sigma * N(0, 1))``."""
    return (median * np.exp(sigma * rng.standard_normal(shape, dtype=np.float32))).astype(np.float32)


def _scattered(rng: np.random.Generator, mean, scatter: float, shape) -> np.ndarray:
    """float32 map ``mean * (1 + scatter * N(0, 1))``."""
    return (mean * (1.0 + scatter * rng.standard_normal(shape, dtype=np.float32))).astype(np.float32)


def make_detector_model(
    instrument: str = "IRIS",
    detector: str = "IMG1",
    size: int | None = None,
    seed: int = 0,
    params: DetectorParameters | None = None,
    inner_window: bool = False,
) -> DetectorModel:
    """Draw the per-pixel truth maps of one imager detector.

    Parameters
    ----------
    instrument : str
        ``'IRIS'`` or ``'LIGER'``.
    detector : str
        Imager detector name (``'IMG1'``..``'IMG4'`` for IRIS, ``'IMG'`` for Liger).
    size : int, optional
        Side of a corner window ``SUB{size}``; None for the full frame.
    seed : int
        Simulation seed; the maps depend on ``(seed, detector)`` only.
    params : DetectorParameters, optional
        Model parameters (default `DetectorParameters()`).
    inner_window : bool
        Put the window in the detector corner nearest the instrument reference point
        (`DetectorWindow.corner`).

    Returns
    -------
    DetectorModel

    Raises
    ------
    ValueError
        For an unknown instrument or detector, or a bad ``size``.
    """
    params = params or DetectorParameters()
    inst = resolve_instrument(instrument)
    name = resolve_imager_detector(inst, detector)
    window = DetectorWindow.corner(inst.detectors[name], size, inner_window)
    rng = make_rng(seed, Stream.DETECTOR, list(inst.detectors).index(name))
    defaults = inst.detector_defaults
    shape = window.shape
    reference = window.reference_pixel_mask()

    nominal_gain = defaults["gain_e_per_dn"]
    gain = _scattered(rng, nominal_gain, params.gain_scatter, shape)
    read_noise_dn = _lognormal(rng, defaults["read_noise_e"], params.read_noise_scatter, shape) / gain

    channel_width = inst.detectors[name].output_channel_width_pix
    channel = window.full_frame_columns() // channel_width
    n_channels = math.ceil(window.nx_full / channel_width)
    channel_bias = rng.normal(0.0, params.bias_channel_sigma_dn, n_channels).astype(np.float32)
    bias = (
        defaults["bias_dn"]
        + channel_bias[channel][None, :]
        + params.bias_pixel_sigma_dn * rng.standard_normal(shape, dtype=np.float32)
    )

    draw = rng.random(shape, dtype=np.float32)
    cut_dead = params.dead_pixel_fraction
    cut_hot = cut_dead + params.hot_pixel_fraction
    cut_low = cut_hot + params.low_qe_pixel_fraction
    dead = (draw < cut_dead) & ~reference
    hot = (draw >= cut_dead) & (draw < cut_hot) & ~reference
    low_qe = (draw >= cut_hot) & (draw < cut_low) & ~reference

    dark = _lognormal(rng, defaults["dark_current_e_per_s"], params.dark_scatter, shape)
    low, high = np.log(params.hot_pixel_dark_e_s)
    dark[hot] = np.exp(rng.uniform(low, high, int(hot.sum())))
    dark[reference | dead] = 0.0

    qe = _scattered(rng, 1.0, params.qe_pixel_scatter, shape)
    qe *= low_order_pattern(window, params.response_pattern_amplitude, rng)
    qe[low_qe] *= rng.uniform(*params.low_qe_range, int(low_qe.sum())).astype(np.float32)
    qe[reference | dead] = 0.0
    good = ~(reference | dead | hot | low_qe)
    qe /= np.float32(np.median((qe * (nominal_gain / gain))[good]))

    onset_dn = defaults["nonlinearity_onset_e"] / gain
    alpha = _scattered(rng, params.nonlinearity_at_onset, params.nonlinearity_scatter, shape) / onset_dn
    alpha[reference] = 0.0
    full_well = _scattered(rng, defaults["saturation_e"], params.full_well_scatter, shape)
    full_well_dn = full_well / gain
    noise_dn = np.sqrt(read_noise_dn**2 + params.drift_common_sigma_dn**2 + params.drift_channel_sigma_dn**2)
    plateau = bias + full_well_dn - alpha * full_well_dn**2
    saturation = np.floor(np.minimum(plateau - params.saturation_margin_sigma * noise_dn, ADC_MAX_DN))

    mask = np.zeros(shape, dtype=np.uint32)
    mask[reference] |= np.uint32(DQ["REFERENCE_PIXEL"] | DQ["DO_NOT_USE"])
    mask[dead] |= np.uint32(DQ["DEAD"] | DQ["DO_NOT_USE"])
    mask[hot] |= np.uint32(DQ["HOT"] | DQ["DO_NOT_USE"])
    mask[low_qe] |= np.uint32(DQ["LOW_QE"])

    return DetectorModel(
        instrument=inst.name,
        detector=name,
        window=window,
        params=params,
        output_channel_width_pix=channel_width,
        nominal_gain_e_per_dn=nominal_gain,
        gain_e_per_dn=gain,
        read_noise_dn=read_noise_dn.astype(np.float32),
        bias_dn=bias.astype(np.float32),
        dark_e_s=dark,
        qe=qe.astype(np.float32),
        nonlinearity_per_dn=alpha.astype(np.float32),
        full_well_e=full_well,
        saturation_dn=saturation.astype(np.float32),
        dq=mask,
    )
