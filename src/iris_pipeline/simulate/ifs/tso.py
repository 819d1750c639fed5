"""IFS time series with a transit: per-integration count rates, or a raw TSO exposure.

Like the rest of `iris_pipeline.simulate`, this module does not import pipeline code.

Scene: a star (the point source of `IFSScene`, without the extended source and its lines) on the
sky of the scene (continuum and OH lines). The star's flux follows the trapezoid transit of
`simulate.tso.TransitTruth` (depth, mid-time, T14, T12; achromatic), evaluated at the middle of
each integration. Integration-to-integration noise: photon noise of star and sky, read noise, and
pointing jitter (the star moves by a Gaussian offset of ``jitter_spax`` per axis, rendered to first
order from the star's image and its derivatives along x and y); ``transparency_rms`` multiplies
the star by a common factor per integration (the atmosphere: no comparison star in an IFS field
removes it, so it adds red noise to the white-light curve; default 0).

Two levels:

- `simulate_ifs_tso_rates` (no I/O): the count rate of every integration with Gaussian noise of
  the Poisson and read-noise variances of the integration (as `write_rate`), and those variances;
  with the truth format, spectral flat and photometric conversion of the configuration;
- `write_ifs_tso_rateints` writes such rates as a ``_rateints`` file (RateIntsModel format) with
  the truth IFS_TRACE, IFS_PHOTOM and IFS_FLAT references and ``refstore.yaml``;
- `simulate_ifs_tso_observation` (writes files): a raw ``_uncal`` exposure (``TSOVISIT = T``,
  ``NINTS`` integrations; read by read through the detector model of `simulate_ramp`), the truth
  references (IFS_TRACE, IFS_PHOTOM, IFS_FLAT, the detector references), ``refstore.yaml`` and
  ``truth/transit.ecsv``.

Times: integration ``i`` spans ``[i P, (i + 1) P)`` from the exposure start, ``P`` the period of
the read pattern (reads plus one reset frame), as the raw keywords EXPSTART/EXPEND say.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from astropy.table import Table

from ..geometry import Pointing, make_detector_geometry
from ..parameters import Stream, make_rng
from ..ramp import simulate_ramp
from ..tso import TransitTruth, default_transit
from ..writers import (
    RESET_READS,
    SECONDS_PER_DAY,
    ExposureInfo,
    mjd_utc,
    raw_keywords,
    write_raw,
    write_reference_files,
    write_refstore,
)
from .format import IFSConfiguration, nominal_format
from .observation import (
    DATE_OBS,
    TARGET_DEC_DEG,
    TARGET_RA_DEG,
    USEAFTER,
    _atomic_fits,
    _ifs_detector_model,
    _primary,
    raw_read_pattern,
    write_flat_reference,
    write_photom_reference,
    write_trace_reference,
)
from .scene import IFS_STREAM_KEY, IFSScene, column_signal_dn_s, disperse, scene_spectra, spaxel_throughputs

__all__ = [
    "IFSTsoRates",
    "simulate_ifs_tso_observation",
    "simulate_ifs_tso_rates",
    "tso_star_scene",
    "write_ifs_tso_rateints",
]

TSO_KEY = 77
"""Random stream key (Stream.EXPOSURE, after IFS_STREAM_KEY) of the time-series draws."""
JITTER_STEP_SPAX = 0.25
"""Offset of the images whose difference gives the star's derivatives along x and y."""


def tso_star_scene(config: IFSConfiguration, star_flux_w_m2_um: float = 2e-15, fwhm_spax: float = 1.6,
                   xy_spax: tuple[float, float] | None = None) -> IFSScene:  # fmt: skip
    """A star near the field centre on the scene's sky, without the extended source."""
    centre = xy_spax or (0.5 * (config.nspax_x - 1) + 0.21, 0.5 * (config.nspax_y - 1) - 0.17)
    return IFSScene(point_xy_spax=centre, point_fwhm_spax=fwhm_spax, point_flux_w_m2_um=star_flux_w_m2_um,
                    extended_peak_w_m2_um=0.0, line_flux_peak_w_m2=0.0)  # fmt: skip


@dataclass
class IFSTsoRates:
    """Per-integration count rates of an IFS time series and their truth.

    Attributes
    ----------
    data, var_poisson, var_rnoise : ndarray, float32 (nint, ny, nx)
        Count rate (DN/s) and its variances.
    mid_time_s : ndarray
        Middle of each integration, seconds from the exposure start.
    target_relative_flux, transparency : ndarray
        True star flux relative to out of transit, and the common factor, per integration.
    jitter_spax : ndarray (nint, 2)
    transit : TransitTruth
    trace : astropy.table.Table
        Truth spectral format.
    throughput : ndarray
        Relative throughput of every spaxel (the truth spectral flat's level).
    integration_time_s, integration_period_s : float
    """

    data: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray
    mid_time_s: np.ndarray
    target_relative_flux: np.ndarray
    transparency: np.ndarray
    jitter_spax: np.ndarray
    transit: TransitTruth
    trace: Table
    throughput: np.ndarray
    integration_time_s: float
    integration_period_s: float


def _star_and_sky(config: IFSConfiguration, scene: IFSScene, trace: Table, throughput: np.ndarray):
    """Noiseless detector images (DN/s) of the sky, the star, and the star's derivatives along x and y."""

    def image(spectra):
        return disperse(config, trace, column_signal_dn_s(config, trace, spectra, throughput))

    sky = image(scene_spectra(config, trace, scene, include_sources=False))
    (x, y), _ = scene.positions(config)

    def star_at(dx, dy):
        moved = replace(scene, point_xy_spax=(x + dx, y + dy))
        return image(scene_spectra(config, trace, moved, include_sky=False))

    h = JITTER_STEP_SPAX
    star = star_at(0.0, 0.0)
    d_dx = (star_at(h, 0.0) - star_at(-h, 0.0)) / (2 * h)
    d_dy = (star_at(0.0, h) - star_at(0.0, -h)) / (2 * h)
    return sky, star, d_dx, d_dy


def _draws(nints: int, period_s: float, transit: TransitTruth | None, jitter_spax: float, transparency_rms: float,
           rng: np.random.Generator):  # fmt: skip
    mid_time = (np.arange(nints) + 0.5) * period_s
    transit = transit or default_transit(nints * period_s)
    jitter = rng.normal(0.0, jitter_spax, (nints, 2))
    transparency = 1.0 + rng.normal(0.0, transparency_rms, nints)
    return mid_time, transit, transit.relative_flux(mid_time), jitter, transparency


def simulate_ifs_tso_rates(
    config: IFSConfiguration,
    nints: int = 60,
    integration_time_s: float = 60.0,
    scene: IFSScene | None = None,
    transit: TransitTruth | None = None,
    jitter_spax: float = 0.02,
    transparency_rms: float = 0.0,
    seed: int = 0,
    noise_seed: int | None = None,
) -> IFSTsoRates:
    """Count rate of every integration of a transit observed with the IFS (module docstring; no I/O).

    ``integration_time_s`` is the exposure time of one integration (the noise); the period adds a
    reset frame. ``seed`` draws the instrument (spaxel throughputs) and, unless ``noise_seed`` is
    given, the noise and jitter: realisations of one instrument differ by ``noise_seed`` only. The
    same arguments give identical arrays.
    """
    scene = scene or tso_star_scene(config)
    trace = nominal_format(config)
    throughput = spaxel_throughputs(config, trace, seed)
    sky, star, d_dx, d_dy = _star_and_sky(config, scene, trace, throughput)
    inst = config.description
    gain = float(inst.detector_defaults["gain_e_per_dn"])
    read_noise_dn = float(inst.detector_defaults["read_noise_e"]) / gain
    period = integration_time_s + inst.read_time_s(config.window.ny) * RESET_READS
    rng = make_rng(seed if noise_seed is None else noise_seed, Stream.EXPOSURE, IFS_STREAM_KEY, TSO_KEY)
    mid_time, transit, relative, jitter, transparency = _draws(nints, period, transit, jitter_spax,
                                                               transparency_rms, rng)  # fmt: skip
    shape = (nints, *sky.shape)
    data = np.empty(shape, np.float32)
    var_poisson = np.empty(shape, np.float32)
    var_rnoise = np.full(shape, 2.0 * read_noise_dn**2 / integration_time_s**2, np.float32)
    for i in range(nints):
        signal = sky + relative[i] * transparency[i] * (star + jitter[i, 0] * d_dx + jitter[i, 1] * d_dy)
        var_poisson[i] = np.maximum(signal, 0.0) / (gain * integration_time_s)
        data[i] = signal + rng.normal(size=signal.shape) * np.sqrt(var_poisson[i] + var_rnoise[i])
    return IFSTsoRates(data=data, var_poisson=var_poisson, var_rnoise=var_rnoise, mid_time_s=mid_time,
                       target_relative_flux=relative, transparency=transparency, jitter_spax=jitter,
                       transit=transit, trace=trace, throughput=throughput,
                       integration_time_s=float(integration_time_s), integration_period_s=float(period))  # fmt: skip


def _prefix(config: IFSConfiguration) -> str:
    return f"{config.instrument}_{config.mode}_{config.grating}_r{config.resolving_power}".lower()


def _write_ifs_references(out: Path, config: IFSConfiguration, trace: Table, throughput: np.ndarray) -> Path:
    references = out / "references"
    prefix = _prefix(config)
    write_trace_reference(references / "ifs_trace" / f"{prefix}_ifs_trace_truth.fits", config, trace)
    write_photom_reference(references / "ifs_photom" / f"{prefix}_ifs_photom_truth.fits", config,
                           float(np.median(throughput)))  # fmt: skip
    write_flat_reference(references / "ifs_flat" / f"{prefix}_ifs_flat_truth.fits", config, throughput)
    return references


def write_ifs_tso_rateints(output_dir, config: IFSConfiguration, rates: IFSTsoRates) -> dict:
    """Write `simulate_ifs_tso_rates` output as ``rate/<prefix>_tso_e001_ifs_rateints.fits`` with
    the truth IFS references and ``refstore.yaml``; returns ``rateints`` and ``refstore`` paths."""
    from astropy.io import fits

    out = Path(output_dir).resolve()
    references = _write_ifs_references(out, config, rates.trace, rates.throughput)
    write_refstore(references)
    nints = rates.data.shape[0]
    start = mjd_utc(DATE_OBS)
    header = _primary(
        config,
        config.mode,
        "RateIntsModel",
        rates.integration_time_s,
        1,
        {
            "TSOVISIT": True,
            "NINTS": nints,
            "EXPSTART": start,
            "EXPEND": start + nints * rates.integration_period_s / SECONDS_PER_DAY,
            "TARGNAME": "SIMULATED TRANSIT",
        },
    )
    hdus = [fits.PrimaryHDU(header=header)]
    err = np.sqrt(rates.var_poisson + rates.var_rnoise)
    for name, array in (("SCI", rates.data), ("ERR", err), ("DQ", np.zeros(rates.data.shape, np.uint32)),
                        ("VAR_POISSON", rates.var_poisson), ("VAR_RNOISE", rates.var_rnoise)):  # fmt: skip
        hdu = fits.ImageHDU(array, name=name)
        if name in ("SCI", "ERR"):
            hdu.header["BUNIT"] = "DN/s"
        hdus.append(hdu)
    path = _atomic_fits(fits.HDUList(hdus), out / "rate" / f"{_prefix(config)}_tso_e001_ifs_rateints.fits")
    return {"rateints": path, "refstore": references}


def simulate_ifs_tso_observation(
    output_dir,
    config: IFSConfiguration,
    nints: int = 40,
    integration_time_s: float = 60.0,
    ngroups: int = 4,
    scene: IFSScene | None = None,
    transit: TransitTruth | None = None,
    jitter_spax: float = 0.02,
    transparency_rms: float = 0.0,
    seed: int = 0,
    target_name: str = "SIMULATED TRANSIT",
) -> dict:
    """Write a raw IFS TSO exposure with a transit, its references and truth (module docstring).

    Returns
    -------
    dict
        ``raw`` (the ``_uncal`` path), ``refstore`` (the reference folder), ``truth`` (the
        ``transit.ecsv`` path), ``transit`` (`TransitTruth`), ``source_xy_spax``.
    """
    out = Path(output_dir).resolve()
    scene = scene or tso_star_scene(config)
    trace = nominal_format(config)
    throughput = spaxel_throughputs(config, trace, seed)
    sky, star, d_dx, d_dy = _star_and_sky(config, scene, trace, throughput)
    pattern = raw_read_pattern(config, integration_time_s, ngroups)
    period = (pattern.nreads + RESET_READS) * pattern.frame_time_s
    rng = make_rng(seed, Stream.EXPOSURE, IFS_STREAM_KEY, TSO_KEY)
    mid_time, transit, relative, jitter, transparency = _draws(nints, period, transit, jitter_spax,
                                                               transparency_rms, rng)  # fmt: skip
    detector_model = _ifs_detector_model(config, seed)
    gain = config.description.detector_defaults["gain_e_per_dn"]
    data = np.empty((nints, pattern.ngroups, *sky.shape), np.uint16)
    for i in range(nints):
        signal = sky + relative[i] * transparency[i] * (star + jitter[i, 0] * d_dx + jitter[i, 1] * d_dy)
        ramp = simulate_ramp(detector_model, signal * gain, pattern,
                             make_rng(seed, Stream.EXPOSURE, IFS_STREAM_KEY, TSO_KEY, i + 1))  # fmt: skip
        data[i] = ramp.data[0]

    prefix = _prefix(config)
    references = _write_ifs_references(out, config, trace, throughput)
    geometry = make_detector_geometry(config.description, "IMG1", make_rng(seed, Stream.GEOMETRY, IFS_STREAM_KEY))
    write_reference_files(references, config.description, detector_model, geometry, config.grating, 0.3, USEAFTER)
    write_refstore(references)
    info = ExposureInfo(exp_type=f"{config.instrument}_{config.mode}", date_obs=DATE_OBS, program="001",
                        observation="001", visit="001", exposure=1, target_name=target_name,
                        target_ra_deg=TARGET_RA_DEG, target_dec_deg=TARGET_DEC_DEG,
                        pointing=Pointing(TARGET_RA_DEG, TARGET_DEC_DEG, 0.0))  # fmt: skip
    keywords = raw_keywords(config.description, "IFS", config.grating, config.window, pattern, nints, info)
    keywords.update(config.keywords)
    keywords["TSOVISIT"] = True
    raw = write_raw(out / "raw" / f"{prefix}_tso_e001_ifs_uncal.fits", data, keywords)

    start_mjd = float(keywords["EXPSTART"])
    (x, y), _ = scene.positions(config)
    truth = Table({
        "integration": np.arange(nints), "mid_time_mjd_utc": start_mjd + mid_time / SECONDS_PER_DAY,
        "mid_time_s": mid_time, "target_relative_flux": relative, "transparency": transparency,
        "jitter_x_spax": jitter[:, 0], "jitter_y_spax": jitter[:, 1],
    })  # fmt: skip
    truth.meta.update({
        "depth": transit.depth, "mid_time_s": transit.mid_time_s,
        "mid_time_mjd_utc": start_mjd + transit.mid_time_s / SECONDS_PER_DAY,
        "duration_s": transit.duration_s, "ingress_s": transit.ingress_s,
        "target_ra_deg": TARGET_RA_DEG, "target_dec_deg": TARGET_DEC_DEG,
        "x_spax": float(x), "y_spax": float(y), "star_flux_w_m2_um": scene.point_flux_w_m2_um,
        "integration_period_s": float(period), "mode": config.mode,
    })  # fmt: skip
    truth_path = out / "truth" / "transit.ecsv"
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth.write(truth_path, format="ascii.ecsv", overwrite=True)
    return {"raw": raw, "refstore": references, "truth": truth_path, "transit": transit, "source_xy_spax": (x, y)}
