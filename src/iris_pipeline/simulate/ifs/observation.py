"""Write a simulated IFS observation: count-rate or raw exposures, truth references, truth tables.

One call of `simulate_ifs_observation` writes, for one configuration (``IFSConfiguration``):

- ``rate/`` (``level='rate'``) or ``raw/`` (``level='raw'``): the science exposure (point source,
  extended source with emission lines, sky with OH lines), a dedicated sky exposure whose OH lines
  are ``1 / oh_variation`` as bright, a continuum-lamp flat, an arc exposure (Ar, Kr, Xe, Ne), and
  for the lenslet mode ``scan_patterns`` single-lenslet scan exposures (a sparse subset of lenslets
  lit in each, so that their profiles do not overlap);
- ``references/``: the truth IFS_TRACE (nominal format) and IFS_PHOTOM files, plus, for raw data,
  the detector references of stage 1, and ``refstore.yaml``;
- ``truth/``: ``truth_cube.fits`` (flux density of every spaxel at the instrument resolution on
  the cube's wavelength grid, MJy/sr as the pipeline's cubes), ``spaxels.ecsv`` (field position, detector trace and
  relative throughput of every spaxel), ``lines.ecsv`` (emission-line centres per spaxel),
  ``arc_lines.ecsv``, ``sources.ecsv``;
- ``spec2_asn.json``: the science exposure with its sky (member exptype ``sky``);
- ``manifest.json``.

Rate files follow the RateModel format of ``docs/data-formats.md``: SCI in DN/s with Poisson and
read-noise variances; noise is Gaussian with the Poisson variance of the exposure time and the
read noise of a CDS pair.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from ..detector import make_detector_model
from ..geometry import Pointing, make_detector_geometry
from ..parameters import Stream, make_rng
from ..ramp import make_read_pattern, simulate_ramp
from ..writers import ExposureInfo, raw_keywords, write_raw, write_reference_files, write_refstore
from .format import IFSConfiguration, nominal_format
from .scene import (
    FWHM_PER_SIGMA,
    IFS_STREAM_KEY,
    IFSScene,
    SpaxelSpectra,
    arc_line_list,
    column_signal_dn_s,
    disperse,
    dn_s_per_flux,
    scene_spectra,
    spaxel_throughputs,
    telluric_transmission,
)

__all__ = ["IFSSimulation", "cube_wavelengths", "simulate_ifs_observation", "write_rate", "write_trace_reference"]

USEAFTER = "2020-01-01T00:00:00"
DATE_OBS = "2030-03-01T06:00:00.000"
ARC_LAMPS = ("Ar", "Kr", "Xe", "Ne")
LAMP_FLAT_W_M2_UM = 4e-16
ARC_LINE_W_M2 = 4e-19
SCAN_SPACING = 3
STANDARD_FLUX_W_M2_UM = 1e-15
RAW_NGROUPS = 6


@dataclass
class IFSSimulation:
    """What `simulate_ifs_observation` wrote (paths as strings)."""

    config: dict
    science: str
    sky: str
    flat: str
    arc: str
    scans: list[str] = field(default_factory=list)
    standard: str = ""
    association: str = ""
    refstore: str = ""
    truth_cube: str = ""
    truth_dir: str = ""


def cube_wavelengths(wave_min_um: float, wave_max_um: float, resolving_power: int, pixels_per_resel: float = 2.0):
    """Linear wavelength grid of cubes: Nyquist sampled at the band centre, within ``[min, max]``."""
    centre = 0.5 * (wave_min_um + wave_max_um)
    step = centre / (resolving_power * pixels_per_resel)
    count = int(np.floor((wave_max_um - wave_min_um) / step)) + 1
    return wave_min_um + step * np.arange(count)


def _atomic_fits(hdul: fits.HDUList, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".partial.fits", dir=path.parent)
    os.close(handle)
    try:
        hdul.writeto(tmp, overwrite=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _primary(config: IFSConfiguration, exp_type: str, datamodel: str, exposure_time_s: float, number: int):
    header = fits.Header()
    window = config.window
    header.update({
        "DATAMODL": datamodel, "TELESCOP": config.description.telescope, "INSTRUME": config.instrument,
        "DETECTOR": "IFS", "EXP_TYPE": f"{config.instrument}_{exp_type}", "READMODE": "UTR",
        "DATE-OBS": DATE_OBS, "EFFEXPTM": exposure_time_s, "EXPOSURE": number,
        "SUBARRAY": "FULL" if window.is_full_frame else window.subarray, "SUBSTRT1": window.substrt1,
        "SUBSTRT2": window.substrt2, "SUBSIZE1": window.nx, "SUBSIZE2": window.ny,
        "TARGNAME": "SIMULATED", "TARG_RA": 150.0, "TARG_DEC": 2.0, "RA_REF": 150.0, "DEC_REF": 2.0,
        "PA_APER": 0.0, "TSOVISIT": False, **config.keywords,
    })  # fmt: skip
    return header


def write_rate(path, config: IFSConfiguration, exp_type: str, signal_dn_s: np.ndarray, exposure_time_s: float,
               rng: np.random.Generator, number: int = 1) -> Path:  # fmt: skip
    """Write a noisy count-rate exposure (RateModel format) of the noiseless image ``signal_dn_s``."""
    inst = config.description
    gain = inst.detector_defaults["gain_e_per_dn"]
    read_noise_dn = inst.detector_defaults["read_noise_e"] / gain
    var_poisson = np.maximum(signal_dn_s, 0.0) / (gain * exposure_time_s)
    var_rnoise = np.full(signal_dn_s.shape, 2.0 * read_noise_dn**2 / exposure_time_s**2)
    data = signal_dn_s + rng.normal(size=signal_dn_s.shape) * np.sqrt(var_poisson + var_rnoise)
    primary = fits.PrimaryHDU(header=_primary(config, exp_type, "RateModel", exposure_time_s, number))
    hdus = [primary]
    for name, array, dtype in (("SCI", data, np.float32), ("ERR", np.sqrt(var_poisson + var_rnoise), np.float32),
                               ("DQ", np.zeros(data.shape), np.uint32), ("VAR_POISSON", var_poisson, np.float32),
                               ("VAR_RNOISE", var_rnoise, np.float32)):  # fmt: skip
        hdu = fits.ImageHDU(array.astype(dtype), name=name)
        if name in ("SCI", "ERR"):
            hdu.header["BUNIT"] = "DN/s"
        hdus.append(hdu)
    return _atomic_fits(fits.HDUList(hdus), Path(path))


def _reference_header(config: IFSConfiguration, reftype: str, description: str) -> fits.Header:
    header = fits.Header()
    header.update({
        "TELESCOP": config.description.telescope, "INSTRUME": config.instrument, "DETECTOR": "IFS",
        "REFTYPE": reftype.upper(), "USEAFTER": USEAFTER, "AUTHOR": "iris_pipeline.simulate.ifs",
        "DESCRIP": description, "PEDIGREE": "SIMULATION", "SUBARRAY": "GENERIC", **config.keywords,
    })  # fmt: skip
    return header


def write_trace_reference(path, config: IFSConfiguration, trace: Table, pedigree: str = "SIMULATION") -> Path:
    """Write an IFS_TRACE reference file (``IFSTraceModel``) of a trace table."""
    header = _reference_header(config, "ifs_trace", "IFS spectral format: trace, dispersion, profile")
    header.update({"DATAMODL": "IFSTraceModel", "PEDIGREE": pedigree, "NSPAXX": config.nspax_x,
                   "NSPAXY": config.nspax_y, "WAVEMIN": config.wave_range_um[0],
                   "WAVEMAX": config.wave_range_um[1]})  # fmt: skip
    columns = Table(trace, copy=True)
    columns.meta.clear()
    table = fits.BinTableHDU(columns, name="TRACE")
    return _atomic_fits(fits.HDUList([fits.PrimaryHDU(header=header), table]), Path(path))


def write_photom_reference(path, config: IFSConfiguration, median_throughput: float) -> Path:
    """Write the truth IFS_PHOTOM file: W m-2 um-1 per DN/s/um at the spaxels' median throughput."""
    lo, hi = config.wave_range_um
    wave = np.linspace(lo, hi, 256)
    conversion = 1.0 / (dn_s_per_flux(wave, config) * median_throughput)
    header = _reference_header(config, "ifs_photom", "IFS flux calibration")
    header.update({"DATAMODL": "IFSPhotomModel", "FLUXUNIT": "W m-2 um-1"})
    table = fits.BinTableHDU(Table({"WAVELENGTH": wave, "CONVERSION": conversion}), name="PHOTOM")
    return _atomic_fits(fits.HDUList([fits.PrimaryHDU(header=header), table]), Path(path))


def _lamp_spectra(trace: Table, centre: float, continuum: float, lines: np.ndarray | None, sigma_um) -> SpaxelSpectra:
    n = len(trace)
    if lines is None:
        line_shape = (n, 0)
        empty = np.zeros(line_shape)
        return SpaxelSpectra(centre, np.full((n, 1), continuum), np.array([-2.0]), empty, empty, np.ones(line_shape))
    shape = (n, len(lines))
    return SpaxelSpectra(
        centre,
        np.zeros((n, 1)),
        np.array([0.0]),
        np.broadcast_to(lines, shape),
        np.full(shape, ARC_LINE_W_M2),
        np.broadcast_to(sigma_um, shape),
    )


def simulate_ifs_observation(
    output_dir,
    config: IFSConfiguration,
    scene: IFSScene | None = None,
    seed: int = 0,
    exposure_time_s: float = 900.0,
    oh_variation: float = 1.08,
    level: str = "rate",
    calibrations: bool = True,
    standard: bool = False,
) -> IFSSimulation:
    """Simulate one IFS configuration: science, sky and calibration exposures with their truth.

    Parameters
    ----------
    output_dir : str or os.PathLike
        Destination folder.
    config : IFSConfiguration
        Mode, grating, R, plate scale, field and detector window.
    scene : IFSScene, optional
        Sources and sky (default `IFSScene()`).
    seed : int
        Seed of every random draw.
    exposure_time_s : float
        Exposure time of science and sky exposures (lamps: a tenth of it).
    oh_variation : float
        OH-line brightness of the science exposure relative to the sky exposure.
    level : str
        ``'rate'`` writes count-rate files; ``'raw'`` writes raw ramps (CDS) through the detector
        model of stage 1, with its reference files.
    calibrations : bool
        False writes the science and sky exposures only (no lamp or scan exposures).
    standard : bool
        Also write a telluric standard star (a point source with a Rayleigh-Jeans continuum at
        the field centre, through the same atmosphere; ``standard_asn.json`` pairs it with the sky).

    Returns
    -------
    IFSSimulation
    """
    if level not in ("rate", "raw"):
        raise ValueError(f"level must be 'rate' or 'raw', not {level!r}")
    out = Path(output_dir)
    scene = scene or IFSScene()
    trace = nominal_format(config)
    prefix = f"{config.instrument}_{config.mode}_{config.grating}_r{config.resolving_power}".lower()
    throughput = spaxel_throughputs(config, trace, seed)
    median_throughput = float(np.median(throughput))
    lo, hi = config.wave_range_um
    centre = 0.5 * (lo + hi)
    mode = config.mode

    def image_of(signal_dn_s):
        return disperse(config, trace, signal_dn_s)

    def image(spectra):
        return image_of(column_signal_dn_s(config, trace, spectra, throughput))

    def absorbed(sources):
        return column_signal_dn_s(config, trace, sources, throughput, atmosphere)

    def atmosphere(wave_um):
        return telluric_transmission(wave_um, scene.telluric_depth)

    # Sources are seen through the atmosphere's absorption, the sky's emission is not.
    science_sky = image(scene_spectra(config, trace, scene, include_sources=False))
    science_image = image_of(absorbed(scene_spectra(config, trace, scene, include_sky=False))) + science_sky
    sky_scene = replace(scene, oh_scale=scene.oh_scale / oh_variation)
    sky_spectra = scene_spectra(config, trace, sky_scene, include_sources=False)
    lamp = _lamp_spectra(trace, centre, LAMP_FLAT_W_M2_UM, None, None)
    arcs = arc_line_list(ARC_LAMPS)
    arcs_in_band = arcs[(arcs > lo) & (arcs < hi)]
    arc = _lamp_spectra(trace, centre, 0.0, arcs_in_band, arcs_in_band / (FWHM_PER_SIGMA * config.resolving_power))
    exposures = [("", mode, science_image, exposure_time_s),
                 ("sky_", f"{mode}_SKY", image(sky_spectra), exposure_time_s)]  # fmt: skip
    if calibrations:
        exposures += [("flat_", f"{mode}_FLAT", image(lamp), exposure_time_s / 10),
                      ("arc_", f"{mode}_ARC", image(arc), exposure_time_s / 10)]  # fmt: skip
    if calibrations and mode == "LENSLET":
        for pattern in range(SCAN_SPACING**2):
            lit = ((trace["SPAX_X"] % SCAN_SPACING) == pattern % SCAN_SPACING) & (
                (trace["SPAX_Y"] % SCAN_SPACING) == pattern // SCAN_SPACING
            )
            signal = column_signal_dn_s(config, trace, lamp, throughput * np.asarray(lit)[:, None])
            exposures.append((f"scan{pattern}_", f"{mode}_SCAN", image_of(signal), exposure_time_s / 10))

    if standard:
        star = IFSScene(point_xy_spax=(0.5 * (config.nspax_x - 1), 0.5 * (config.nspax_y - 1)),
                        point_flux_w_m2_um=STANDARD_FLUX_W_M2_UM, point_spectral_index=-4.0,
                        extended_peak_w_m2_um=0.0, line_flux_peak_w_m2=0.0)  # fmt: skip
        star_image = image_of(absorbed(scene_spectra(config, trace, star, include_sky=False))) + science_sky
        exposures.append(("std_", mode, star_image, exposure_time_s / 10))

    references = out / "references"
    write_trace_reference(references / "ifs_trace" / f"{prefix}_ifs_trace_truth.fits", config, trace)
    write_photom_reference(references / "ifs_photom" / f"{prefix}_ifs_photom_truth.fits", config, median_throughput)
    paths = []
    if level == "raw":
        detector_model = _ifs_detector_model(config, seed)
        geometry = make_detector_geometry(config.description, "IMG1", make_rng(seed, Stream.GEOMETRY, IFS_STREAM_KEY))
        write_reference_files(references, config.description, detector_model, geometry, config.grating, 0.3, USEAFTER)
    for number, (tag, exp_type, signal, seconds) in enumerate(exposures, start=1):
        rng = make_rng(seed, Stream.EXPOSURE, IFS_STREAM_KEY, number)
        if level == "rate":
            path = write_rate(out / "rate" / f"{prefix}_{tag}e001_ifs_rate.fits", config, exp_type, signal,
                              seconds, rng, number)  # fmt: skip
        else:
            pattern = raw_read_pattern(config, seconds)
            path = _write_raw_exposure(out / "raw" / f"{prefix}_{tag}e001_ifs_uncal.fits", config, exp_type,
                                       signal, detector_model, pattern, rng, number)  # fmt: skip
        paths.append(path)
    write_refstore(references)

    truth = out / "truth"
    wave = cube_wavelengths(lo, hi, config.resolving_power)
    truth_cube_path = _write_truth_cube(
        truth / "truth_cube.fits", config, trace, scene_spectra(config, trace, scene, include_sky=False), wave
    )
    _write_truth_tables(truth, config, trace, throughput, scene, arcs_in_band)
    association = _write_association(out / "spec2_asn.json", paths[0], paths[1], prefix)
    if standard:
        _write_association(out / "standard_asn.json", paths[-1], paths[1], f"{prefix}_standard")
    result = IFSSimulation(
        config={"mode": mode, "grating": config.grating, "resolving_power": config.resolving_power,
                "scale_mas": config.scale_mas, "spaxels": [config.nspax_x, config.nspax_y],
                "wave_range_um": list(config.wave_range_um), "window": asdict(config.window),
                "exposure_time_s": exposure_time_s, "oh_variation": oh_variation, "seed": seed, "level": level},
        science=str(paths[0]), sky=str(paths[1]), flat=str(paths[2]) if calibrations else "",
        arc=str(paths[3]) if calibrations else "",
        scans=[str(p) for p, (tag, *_) in zip(paths, exposures, strict=True) if tag.startswith("scan")],
        standard=str(paths[-1]) if standard else "",
        association=str(association), refstore=str(references),
        truth_cube=str(truth_cube_path), truth_dir=str(truth),
    )  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(asdict(result), indent=2))
    return result


def raw_read_pattern(config: IFSConfiguration, exposure_time_s: float, ngroups: int = RAW_NGROUPS):
    """UTR pattern of ``ngroups`` single-read groups spread over ``exposure_time_s`` (gap reads dropped)."""
    frame_time = config.description.read_time_s(config.window.ny)
    groupgap = max(0, round(exposure_time_s / (ngroups * frame_time)) - 1)
    return make_read_pattern(config.description, "UTR", config.window.ny, ngroups=ngroups, nframes=1, groupgap=groupgap)


def _ifs_detector_model(config: IFSConfiguration, seed: int):
    """Detector truth maps of the IFS window (the imager's H4RG model, named IFS)."""
    size = None if config.window.is_full_frame else config.window.nx
    model = make_detector_model(config.instrument, "IMG1", size=size, seed=seed + IFS_STREAM_KEY)
    return replace(model, detector="IFS", window=replace(model.window, detector="IFS"))


def _write_raw_exposure(path, config, exp_type, signal_dn_s, detector_model, pattern, rng, number):
    gain = config.description.detector_defaults["gain_e_per_dn"]
    result = simulate_ramp(detector_model, signal_dn_s * gain, pattern, rng)
    info = ExposureInfo(exp_type=f"{config.instrument}_{exp_type}", date_obs=DATE_OBS, program="001",
                        observation="001", visit="001", exposure=number, target_name="SIMULATED",
                        target_ra_deg=150.0, target_dec_deg=2.0, pointing=Pointing(150.0, 2.0, 0.0))  # fmt: skip
    keywords = raw_keywords(config.description, "IFS", config.grating, config.window, pattern, 1, info)
    keywords.update(config.keywords)
    return write_raw(path, result.data, keywords)


def surface_brightness_mjy_sr(flux_density_w_m2_um: np.ndarray, wave_um: np.ndarray, scale_mas: float) -> np.ndarray:
    """Surface brightness (MJy/sr) of a flux density per spaxel (W m-2 um-1, wavelength on the last axis)."""
    spaxel_sr = ((scale_mas * u.mas) ** 2).to_value(u.sr)
    density = np.asarray(flux_density_w_m2_um) * (u.W / u.m**2 / u.um)
    return density.to_value(u.MJy, u.spectral_density(np.asarray(wave_um) * u.um)) / spaxel_sr


def _write_truth_cube(path, config, trace, spectra: SpaxelSpectra, wave) -> Path:
    density = surface_brightness_mjy_sr(spectra.flux_density(wave), wave, config.scale_mas)
    cube = np.zeros((len(wave), config.nspax_y, config.nspax_x), dtype=np.float32)
    cube[:, trace["SPAX_Y"], trace["SPAX_X"]] = density.T
    header = fits.Header({"BUNIT": "MJy/sr", "CTYPE3": "WAVE", "CUNIT3": "um", "CRPIX3": 1.0,
                          "CRVAL3": float(wave[0]), "CDELT3": float(wave[1] - wave[0])})  # fmt: skip
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cube, header=header, name="SCI"),
                         fits.ImageHDU(wave.astype(np.float64), name="WAVELENGTH")])  # fmt: skip
    return _atomic_fits(hdul, path)


def _write_truth_tables(truth: Path, config, trace, throughput, scene: IFSScene, arcs) -> None:
    truth.mkdir(parents=True, exist_ok=True)
    spaxels = Table(trace, copy=True)
    spaxels.meta.clear()
    spaxels["THROUGHPUT"] = throughput
    spaxels.write(truth / "spaxels.ecsv", overwrite=True)
    spectra = scene_spectra(config, trace, scene, include_sky=False)
    names = list(scene.line_names)
    lines = Table()
    lines["SPAX_X"] = trace["SPAX_X"]
    lines["SPAX_Y"] = trace["SPAX_Y"]
    for k, name in enumerate(names):
        lines[f"{name}_um"] = spectra.line_centre_um[:, k]
        lines[f"{name}_w_m2"] = spectra.line_flux_w_m2[:, k]
    lines.write(truth / "lines.ecsv", overwrite=True)
    Table({"wavelength_um": arcs}).write(truth / "arc_lines.ecsv", overwrite=True)
    (px, py), (ex, ey) = scene.positions(config)
    Table({"kind": ["point", "extended"], "x_spax": [px, ex], "y_spax": [py, ey]}).write(
        truth / "sources.ecsv", overwrite=True
    )


def _write_association(path: Path, science: Path, sky: Path, name: str) -> Path:
    document = {"asn_type": "spec2", "asn_rule": "iris_spec2", "asn_id": "a0001", "program": "001",
                "target": "SIMULATED",
                "products": [{"name": name, "members": [
                    {"expname": os.path.relpath(science, path.parent), "exptype": "science"},
                    {"expname": os.path.relpath(sky, path.parent), "exptype": "sky"}]}]}  # fmt: skip
    path.write_text(json.dumps(document, indent=2))
    return path
