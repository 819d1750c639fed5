"""Imaging time series with a transit: per-integration rate cubes, or raw TSO exposures.

Like the rest of `iris_pipeline.simulate`, this module does not import pipeline code: only the
instrument description, the DQ flags and the simulator's own building blocks.

Scene: a target star and comparison stars on a small window; the target's flux follows a
trapezoid transit (`TransitTruth`: depth, mid-time, total duration T14, ingress T12; Carter et al.
2008), the comparison stars are constant. Integration-to-integration noise: photon noise of
stars, sky and dark current, read noise, pointing jitter (all stars move together by a Gaussian
offset of ``jitter_pix`` per axis) and a common multiplicative "transparency" change of all stars
(``transparency_rms``, the atmosphere; removed by dividing by the comparison stars).

Two levels:

- `simulate_tso_rates` (no I/O): the count-rate cube an up-the-ramp fit would give, drawn group
  by group (cumulative Poisson charge plus read noise per group, then the ordinary least-squares
  slope), with its ERR computed the way stage 1 does (Poisson variance from the fitted rate, read
  noise from the read-noise level); a Gaussian PSF. Fast: for many realisations.
- `simulate_tso_observation` (writes files): a raw ``_uncal`` TSO exposure (``TSOVISIT = T``,
  ``NINTS`` integrations on a ``SUB{size}`` corner window) through the read-by-read detector model
  of `simulate_ramp`, with the reference files of the window, ``refstore.yaml`` and the truth
  ``truth/transit.ecsv``.

Times: integration ``i`` spans ``[i P, (i + 1) P)`` from the exposure start, ``P`` the integration
period (reads plus one reset frame); the truth evaluates the transit at each integration's
middle, ``(i + 0.5) P``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from astropy.table import Table
from scipy.special import erf

from iris_pipeline.dqflags import PIXEL
from iris_pipeline.instruments import InstrumentDescription

from .detector import make_detector_model
from .geometry import Pointing, dithered_pointing, make_detector_geometry
from .parameters import OpticsParameters, Stream, make_rng, resolve_filter, resolve_imager_detector, resolve_instrument
from .photometry import default_sky_e_s, electrons_per_s_per_jy, psf_fwhm_arcsec
from .ramp import make_read_pattern, simulate_ramp
from .scene import CATALOG_COLUMNS, STAR, render_scene
from .writers import (
    RESET_READS,
    SECONDS_PER_DAY,
    ExposureInfo,
    parse_date_obs,
    raw_keywords,
    write_raw,
    write_reference_files,
    write_refstore,
)

__all__ = ["TransitTruth", "TsoRates", "simulate_tso_observation", "simulate_tso_rates", "transit_shape"]

TSO_STREAM_KEY = 7  # extra key of the exposure stream: TSO draws never repeat those of simulate_observation
DEFAULT_DATE_OBS = "2031-03-15T08:00:00.000"
DEFAULT_TARGET_RA_DEG, DEFAULT_TARGET_DEC_DEG = 150.1191, 2.2058


@dataclass(frozen=True)
class TransitTruth:
    """A trapezoid transit: ``depth`` (fraction of the out-of-transit flux), times in seconds from
    the exposure start (``mid_time_s``), total duration ``duration_s`` (T14), ``ingress_s`` (T12)."""

    depth: float
    mid_time_s: float
    duration_s: float
    ingress_s: float

    def __post_init__(self):
        if not 0 <= self.depth < 1:
            raise ValueError(f"depth must be in [0, 1), got {self.depth}")
        if not 0 < self.ingress_s <= self.duration_s / 2:
            raise ValueError(f"need 0 < ingress_s <= duration_s / 2, got {self.ingress_s}, {self.duration_s}")

    def relative_flux(self, time_s) -> np.ndarray:
        """Target flux relative to out of transit at times ``time_s`` (seconds from the exposure start)."""
        return 1.0 - self.depth * transit_shape(np.asarray(time_s, float) - self.mid_time_s, self.duration_s,
                                                self.ingress_s)  # fmt: skip


def transit_shape(dt, duration: float, ingress: float) -> np.ndarray:
    """Trapezoid: 1 at full depth (``|dt| <= duration/2 - ingress``), 0 outside ``duration/2``, linear between."""
    return np.clip((duration / 2.0 - np.abs(dt)) / ingress, 0.0, 1.0)


@dataclass
class TsoRates:
    """A simulated per-integration rate cube and its truth.

    Attributes
    ----------
    data, err : ndarray, float32 (nint, ny, nx)
        Rate per integration and its 1-sigma error, DN/s.
    dq : ndarray, uint32
        Pixel flags (``DO_NOT_USE`` on the dead pixels drawn with ``bad_pixel_fraction``).
    mid_time_s : ndarray
        Middle of each integration, seconds from the exposure start.
    positions : ndarray (nstar, 2)
        Mean (x, y) of each star, 0-based array coordinates; the first is the target.
    flux_e_s : ndarray (nstar,)
        Out-of-transit detected flux of each star, e-/s.
    target_relative_flux : ndarray
        True target flux relative to out of transit, per integration.
    transparency, jitter_xy : ndarray
        Per-integration common flux factor and pointing offset (pixels), shape (nint,), (nint, 2).
    transit : TransitTruth
    gain_e_per_dn, read_noise_e, fwhm_pix, sky_e_s, integration_period_s, effective_time_s : float
    """

    data: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    mid_time_s: np.ndarray
    positions: np.ndarray
    flux_e_s: np.ndarray
    target_relative_flux: np.ndarray
    transparency: np.ndarray
    jitter_xy: np.ndarray
    transit: TransitTruth
    gain_e_per_dn: float
    read_noise_e: float
    fwhm_pix: float
    sky_e_s: float
    integration_period_s: float
    effective_time_s: float


def _gaussian_image(shape, x: float, y: float, fwhm_pix: float) -> np.ndarray:
    """Pixel-integrated circular Gaussian of unit flux centred on ``(x, y)`` (pixel centres at integers)."""
    sigma = fwhm_pix / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    ny, nx = shape
    edges_x = (np.arange(nx + 1) - 0.5 - x) / (math.sqrt(2.0) * sigma)
    edges_y = (np.arange(ny + 1) - 0.5 - y) / (math.sqrt(2.0) * sigma)
    px = 0.5 * np.diff(erf(edges_x))
    py = 0.5 * np.diff(erf(edges_y))
    return py[:, None] * px[None, :]


def default_transit(span_s: float, depth: float = 0.01) -> TransitTruth:
    """A transit centred a little after the middle of an exposure of ``span_s`` seconds, lasting 40 % of it."""
    return TransitTruth(depth=depth, mid_time_s=0.53 * span_s, duration_s=0.4 * span_s, ingress_s=0.08 * span_s)


def simulate_tso_rates(
    nints: int = 60,
    size: int = 64,
    ngroups: int = 4,
    instrument: str = "IRIS",
    detector: str | None = None,
    filter_name: str = "J",
    transit: TransitTruth | None = None,
    target_xy: tuple[float, float] | None = None,
    comparison_xy=((16.3, 47.6), (47.8, 16.2)),
    target_flux_e_s: float = 2.0e6,
    comparison_flux_e_s=(1.5e6, 1.2e6),
    sky_e_s: float | None = None,
    jitter_pix: float = 0.05,
    transparency_rms: float = 0.002,
    bad_pixel_fraction: float = 0.0,
    seed: int = 0,
) -> TsoRates:
    """Per-integration rate cube of a transit on a ``size x size`` window (module docstring; no I/O).

    The read pattern is UTR with ``ngroups`` groups of one read, the frame time that of ``size``
    rows (instrument description); gain and read noise are the instrument's defaults; the PSF is
    a Gaussian with the diffraction-limited FWHM of the filter. The same arguments and seed give
    identical arrays.
    """
    inst: InstrumentDescription = resolve_instrument(instrument)
    detector = resolve_imager_detector(inst, detector or inst.imager_detectors[0])
    resolve_filter(inst, filter_name)
    scale = inst.detectors[detector].pixel_scale_arcsec
    optics = OpticsParameters()
    fwhm_pix = psf_fwhm_arcsec(inst, filter_name, optics.airy_fwhm_lambda_over_d) / scale
    gain = float(inst.detector_defaults["gain_e_per_dn"])
    read_noise = float(inst.detector_defaults["read_noise_e"])
    dark = float(inst.detector_defaults["dark_current_e_per_s"])
    if sky_e_s is None:
        sky_e_s = default_sky_e_s(inst, filter_name, optics.throughput, scale)
    pattern = make_read_pattern(inst, "UTR", size, ngroups)
    tgroup = pattern.group_time_s
    period = (pattern.nreads + RESET_READS) * pattern.frame_time_s
    mid_time = (np.arange(nints) + 0.5) * period
    transit = transit or default_transit(nints * period)
    rng = make_rng(seed, Stream.EXPOSURE, TSO_STREAM_KEY)
    shape = (size, size)
    target_xy = target_xy or (0.5 * (size - 1) + 0.3, 0.5 * (size - 1) - 0.2)
    positions = np.array([target_xy, *comparison_xy], float)
    fluxes = np.array([target_flux_e_s, *comparison_flux_e_s], float)
    if len(fluxes) != len(positions):
        raise ValueError("comparison_xy and comparison_flux_e_s must have the same length")
    jitter = rng.normal(0.0, jitter_pix, (nints, 2))
    transparency = 1.0 + rng.normal(0.0, transparency_rms, nints)
    relative = transit.relative_flux(mid_time)
    bad = rng.random(shape) < bad_pixel_fraction

    times = (np.arange(ngroups) + 1.0) * tgroup  # group times since the reset (one read per group)
    tc = times - times.mean()
    denom = (tc**2).sum()
    data = np.empty((nints, *shape), np.float32)
    err = np.empty((nints, *shape), np.float32)
    var_rn = read_noise**2 / denom / gain**2  # (DN/s)^2 of the OLS slope from read noise
    poisson_factor = 6.0 * (ngroups**2 + 1) / (5.0 * ngroups * (ngroups**2 - 1) * tgroup)
    for i in range(nints):
        scene = np.full(shape, sky_e_s + dark)
        for k, ((x, y), flux) in enumerate(zip(positions, fluxes, strict=True)):
            factor = transparency[i] * (relative[i] if k == 0 else 1.0)
            scene += flux * factor * _gaussian_image(shape, x + jitter[i, 0], y + jitter[i, 1], fwhm_pix)
        steps = np.diff(np.concatenate([[0.0], times]))
        increments = rng.poisson(scene[None] * steps[:, None, None])
        charge = np.cumsum(increments, axis=0) + rng.normal(0.0, read_noise, (ngroups, *shape))
        slope_e = np.tensordot(tc, charge, axes=(0, 0)) / denom
        rate_dn = slope_e / gain
        data[i] = rate_dn
        err[i] = np.sqrt(np.maximum(rate_dn, 0.0) * poisson_factor / gain + var_rn)
    dq = np.where(bad, np.uint32(PIXEL["DO_NOT_USE"]), np.uint32(0))
    dq = np.broadcast_to(dq, data.shape).copy()
    return TsoRates(
        data=data, err=err, dq=dq, mid_time_s=mid_time, positions=positions, flux_e_s=fluxes,
        target_relative_flux=relative, transparency=transparency, jitter_xy=jitter, transit=transit,
        gain_e_per_dn=gain, read_noise_e=read_noise, fwhm_pix=float(fwhm_pix), sky_e_s=float(sky_e_s),
        integration_period_s=float(period), effective_time_s=float(pattern.effective_exposure_time_s),
    )  # fmt: skip


def simulate_tso_observation(
    output_dir,
    nints: int = 60,
    size: int = 64,
    ngroups: int = 4,
    instrument: str = "IRIS",
    detector: str | None = None,
    filter_name: str = "J",
    transit: TransitTruth | None = None,
    target_xy: tuple[float, float] | None = None,
    comparison_xy=((12.3, 51.6), (51.8, 12.2)),
    peak_fraction_of_onset: float = 0.3,
    comparison_flux_ratios=(0.8, 0.6),
    jitter_pix: float = 0.05,
    transparency_rms: float = 0.002,
    cosmic_ray_rate_per_pix_s: float = 0.0,
    seed: int = 0,
    date_obs: str = DEFAULT_DATE_OBS,
    target_name: str = "SIMULATED TRANSIT",
) -> dict:
    """Write a raw imaging TSO exposure with a transit, its references and truth (module docstring).

    The target's brightest pixel reaches ``peak_fraction_of_onset`` of the nonlinearity onset at
    the last read; TARG_RA/TARG_DEC are the sky position of the target's pixel position at the
    pointing, so the pipeline finds it through the WCS.

    Returns
    -------
    dict
        ``raw`` (the ``_uncal`` path), ``refstore``, ``reference_dir``, ``truth`` (the
        ``transit.ecsv`` path), ``transit`` (`TransitTruth`), ``target_ra_deg``,
        ``target_dec_deg``, ``positions`` (array of (x, y)).
    """
    output_dir = Path(output_dir).resolve()
    inst = resolve_instrument(instrument)
    detector = resolve_imager_detector(inst, detector or inst.imager_detectors[0])
    resolve_filter(inst, filter_name)
    optics = OpticsParameters()
    det_index = list(inst.detectors).index(detector)
    model = make_detector_model(inst.name, detector, size, seed)
    window = model.window
    geometry = make_detector_geometry(inst, detector, make_rng(seed, Stream.GEOMETRY, det_index), optics)
    pointing = Pointing(DEFAULT_TARGET_RA_DEG, DEFAULT_TARGET_DEC_DEG, 0.0)
    pattern = make_read_pattern(inst, "UTR", window.ny, ngroups)
    period = (pattern.nreads + RESET_READS) * pattern.frame_time_s
    transit = transit or default_transit(nints * period)
    mid_time = (np.arange(nints) + 0.5) * period
    relative = transit.relative_flux(mid_time)
    rng = make_rng(seed, Stream.EXPOSURE, det_index, TSO_STREAM_KEY)

    target_xy = target_xy or (0.5 * (window.nx - 1) + 0.3, 0.5 * (window.ny - 1) - 0.2)
    pixels = np.array([target_xy, *comparison_xy], float)
    offset_x, offset_y = window.substrt1 - 1, window.substrt2 - 1
    ra, dec = geometry.pixel_to_sky(pixels[:, 0] + offset_x, pixels[:, 1] + offset_y, pointing)
    scale = geometry.pixel_scale_arcsec
    fwhm_pix = psf_fwhm_arcsec(inst, filter_name, optics.airy_fwhm_lambda_over_d) / scale
    peak_fraction = 1.0 / (1.1331 * fwhm_pix**2)  # of a Gaussian of that FWHM (the Moffat core is close)
    onset = float(inst.detector_defaults["nonlinearity_onset_e"])
    target_flux = peak_fraction_of_onset * onset / (peak_fraction * pattern.nreads * pattern.frame_time_s)
    fluxes = target_flux * np.array([1.0, *comparison_flux_ratios])
    e_per_jy = electrons_per_s_per_jy(inst, filter_name, optics.throughput)
    nan = np.full(len(fluxes), np.nan)
    ab_mag = -2.5 * np.log10(fluxes / e_per_jy / 3631.0)
    columns = [np.arange(1, len(fluxes) + 1), [STAR] * len(fluxes), ra, dec, fluxes, fluxes / e_per_jy, ab_mag]
    catalog = Table([*columns, nan, nan, nan, nan], names=CATALOG_COLUMNS)
    sky_e_s = default_sky_e_s(inst, filter_name, optics.throughput, scale)
    jitter = rng.normal(0.0, jitter_pix, (nints, 2))
    transparency = 1.0 + rng.normal(0.0, transparency_rms, nints)

    data = np.empty((nints, pattern.ngroups, *window.shape), np.uint16)
    for i in range(nints):
        jittered = dithered_pointing(pointing, -jitter[i, 0] * scale, -jitter[i, 1] * scale)
        illumination = np.full(window.shape, sky_e_s, np.float64)
        for k in range(len(catalog)):
            image, _ = render_scene(catalog[k : k + 1], geometry, window, jittered, inst, filter_name, optics)
            illumination += image * transparency[i] * (relative[i] if k == 0 else 1.0)
        ramp = simulate_ramp(model, illumination.astype(np.float32), pattern,
                             make_rng(seed, Stream.EXPOSURE, det_index, TSO_STREAM_KEY, i + 1), 1,
                             cosmic_ray_rate_per_pix_s)  # fmt: skip
        data[i] = ramp.data[0]

    useafter = (parse_date_obs(date_obs) - timedelta(days=30)).date().isoformat() + "T00:00:00"
    reference_dir = output_dir / "references"
    write_reference_files(reference_dir, inst, model, geometry, filter_name, optics.throughput, useafter)
    refstore = write_refstore(reference_dir)
    info = ExposureInfo(f"{inst.name}_IMAGE", date_obs, "001", "001", "001", 1, target_name, float(ra[0]),
                        float(dec[0]), pointing)  # fmt: skip
    keywords = raw_keywords(inst, detector, filter_name, window, pattern, nints, info)
    keywords["TSOVISIT"] = True
    raw = write_raw(
        output_dir / "raw" / f"{inst.name}_p001_o001_tso_e001_{detector}_uncal.fits".lower(), data, keywords
    )

    start_mjd = float(keywords["EXPSTART"])
    truth = Table(
        {
            "integration": np.arange(nints),
            "mid_time_mjd_utc": start_mjd + mid_time / SECONDS_PER_DAY,
            "mid_time_s": mid_time,
            "target_relative_flux": relative,
            "transparency": transparency,
            "jitter_x_pix": jitter[:, 0],
            "jitter_y_pix": jitter[:, 1],
        }
    )
    truth.meta.update({
        "depth": transit.depth, "mid_time_s": transit.mid_time_s,
        "mid_time_mjd_utc": start_mjd + transit.mid_time_s / SECONDS_PER_DAY,
        "duration_s": transit.duration_s, "ingress_s": transit.ingress_s,
        "target_ra_deg": float(ra[0]), "target_dec_deg": float(dec[0]),
        "x_pix": [float(v) for v in pixels[:, 0]], "y_pix": [float(v) for v in pixels[:, 1]],
        "flux_e_s": [float(v) for v in fluxes], "sky_e_s": float(sky_e_s), "fwhm_pix": float(fwhm_pix),
    })  # fmt: skip
    truth_path = output_dir / "truth" / "transit.ecsv"
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth.write(truth_path, format="ascii.ecsv", overwrite=True)
    return {
        "raw": raw, "refstore": refstore, "reference_dir": reference_dir, "truth": truth_path,
        "transit": transit, "target_ra_deg": float(ra[0]), "target_dec_deg": float(dec[0]), "positions": pixels,
    }  # fmt: skip
