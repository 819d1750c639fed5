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
from astropy.wcs import WCS
from scipy.special import erf

from ..detector import make_detector_model
from ..geometry import Pointing, make_detector_geometry
from ..parameters import Stream, make_rng
from ..ramp import make_read_pattern, simulate_ramp
from ..writers import DitherPosition, ExposureInfo, raw_keywords, write_raw, write_reference_files, write_refstore
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

__all__ = [
    "IFSSimulation",
    "commanded_pointing",
    "cube_wavelengths",
    "dither_offsets",
    "simulate_ifs_observation",
    "write_rate",
    "write_trace_reference",
]

USEAFTER = "2020-01-01T00:00:00"
DATE_OBS = "2030-03-01T06:00:00.000"
ARC_LAMPS = ("Ar", "Kr", "Xe", "Ne")
LAMP_FLAT_W_M2_UM = 4e-16
ARC_LINE_W_M2 = 4e-19
SCAN_SPACING = 3
STANDARD_FLUX_W_M2_UM = 1e-15
RAW_NGROUPS = 6
TARGET_RA_DEG = 150.0
TARGET_DEC_DEG = 2.0
DITHER_PATTERN_NAME = "IFS-SUBSPAXEL"
DITHER_EXPOSURE_BASE = 100
"""Dither ``k >= 1`` (0-based) is exposure ``100 + 2k``, its sky ``101 + 2k`` (keyword EXPOSURE and random stream)."""
COSMIC_RAY_KEY = 90
"""Random stream key (Stream.EXPOSURE) of the cosmic-ray positions."""
COSMIC_RAY_MIN_DISTANCE_SPAX = 3.0
"""Cosmic rays are put at least this far from the point and extended sources' centres (spaxels)."""


@dataclass
class IFSSimulation:
    """What `simulate_ifs_observation` wrote (paths as strings).

    ``dithers``, ``dither_skies`` and ``dither_associations`` list, for every dither position in
    order, the science exposure, its sky and their spec2 association (the first entries are
    ``science``, ``sky`` and ``association``).
    """

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
    dithers: list[str] = field(default_factory=list)
    dither_skies: list[str] = field(default_factory=list)
    dither_associations: list[str] = field(default_factory=list)


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


def _primary(config: IFSConfiguration, exp_type: str, datamodel: str, exposure_time_s: float, number: int,
             extra: dict | None = None):  # fmt: skip
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
    header.update(extra or {})
    return header


def write_rate(path, config: IFSConfiguration, exp_type: str, signal_dn_s: np.ndarray, exposure_time_s: float,
               rng: np.random.Generator, number: int = 1, keywords: dict | None = None) -> Path:  # fmt: skip
    """Write a noisy count-rate exposure (RateModel format) of the noiseless image ``signal_dn_s``.

    ``keywords`` override primary-header keywords (the pointing and dither keywords of a dither).
    """
    inst = config.description
    gain = inst.detector_defaults["gain_e_per_dn"]
    read_noise_dn = inst.detector_defaults["read_noise_e"] / gain
    var_poisson = np.maximum(signal_dn_s, 0.0) / (gain * exposure_time_s)
    var_rnoise = np.full(signal_dn_s.shape, 2.0 * read_noise_dn**2 / exposure_time_s**2)
    data = signal_dn_s + rng.normal(size=signal_dn_s.shape) * np.sqrt(var_poisson + var_rnoise)
    primary = fits.PrimaryHDU(header=_primary(config, exp_type, "RateModel", exposure_time_s, number, keywords))
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


def write_flat_reference(path, config: IFSConfiguration, throughput: np.ndarray) -> Path:
    """Write the truth IFS_FLAT file: every spaxel's throughput at every column over their median,
    the level `write_photom_reference` assumes (no error: the truth)."""
    response = (throughput / np.median(throughput)).astype(np.float32)
    header = _reference_header(config, "ifs_flat", "IFS spectral flat (truth)")
    header.update({"DATAMODL": "IFSFlatModel"})
    hdus = [fits.PrimaryHDU(header=header), fits.ImageHDU(response, name="SCI"),
            fits.ImageHDU(np.zeros_like(response), name="ERR"),
            fits.ImageHDU(np.zeros(response.shape, np.uint32), name="DQ")]  # fmt: skip
    return _atomic_fits(fits.HDUList(hdus), Path(path))


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
    dithers: int = 1,
    dither_step_spax: float = 0.5,
    dither_offsets_spax=None,
    pointing_error_spax=0.0,
    cosmic_rays: int = 0,
    cosmic_ray_exposure: int = 1,
    cosmic_ray_snr: float = 50.0,
    lamp_exposure_time_s: float | None = None,
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
        Exposure time of science and sky exposures.
    lamp_exposure_time_s : float, optional
        Exposure time of the flat, arc and scan exposures (default: a tenth of ``exposure_time_s``;
        the flat's noise, about 0.8 % per column and spaxel at 90 s, limits the S/N of bright
        sources: a longer one stands for a stack of lamp exposures).
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
    dithers : int
        Science exposures, each at its dither position with a sky exposure of its own (independent
        noise) and a spec2 association ``spec2_eNNN_asn.json`` (the first: ``spec2_asn.json``).
        With more than one, the science headers carry the commanded pointing (RA_REF, DEC_REF) and
        the dither keywords (PATTTYPE, PATT_NUM, NUMDTHPT, XOFFSET, YOFFSET in arcsec along cube x
        and y); ``truth/dithers.ecsv`` lists offsets, pointing errors and true pointings.
    dither_step_spax : float
        Step of the default pattern (`dither_offsets`), spaxels.
    dither_offsets_spax : sequence of (dx, dy), optional
        Commanded offsets of the field centre, in spaxels of the reference frame (cube x, y), one
        per dither (a mosaic: offsets larger than the field); overrides ``dithers``.
    pointing_error_spax : float or sequence of (ex, ey)
        Pointing errors: the actual pointing is the commanded one plus the error (spaxels). A
        float is the standard deviation per axis of random errors of dithers 2.. (the first
        exposure, to which spec3 aligns the others, has none); a sequence gives them all.
    cosmic_rays : int
        Cosmic-ray-like outliers injected into the science exposure ``cosmic_ray_exposure``
        (0-based dither index; the last one if beyond): each a single detector column across one
        spaxel's trace profile, ``cosmic_ray_snr`` times the extraction noise of that column, at
        least 3 spaxels from the point and extended sources' centres (on a source's bright, steep
        profile outlier detection tolerates more). Positions in ``truth/outliers.ecsv``.

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
    offsets = dither_offsets(dithers, dither_step_spax) if dither_offsets_spax is None else [
        (float(dx), float(dy)) for dx, dy in dither_offsets_spax]  # fmt: skip
    ndithers = len(offsets)
    if ndithers < 1:
        raise ValueError("at least one dither position is needed")
    errors = _pointing_errors(pointing_error_spax, ndithers, seed)
    (point_xy, extended_xy) = scene.positions(config)
    science_images = []
    for (dx, dy), (ex, ey) in zip(offsets, errors, strict=True):
        shift = (dx + ex, dy + ey)
        if shift == (0.0, 0.0):
            science_images.append(science_image)
            continue
        moved = replace(scene, point_xy_spax=(point_xy[0] - shift[0], point_xy[1] - shift[1]),
                        extended_xy_spax=(extended_xy[0] - shift[0], extended_xy[1] - shift[1]))  # fmt: skip
        sources = image_of(absorbed(scene_spectra(config, trace, moved, include_sky=False)))
        science_images.append(sources + science_sky)
    cosmic_ray_rows = []
    if cosmic_rays > 0:
        target = min(cosmic_ray_exposure, ndithers - 1)
        dx, dy = offsets[target]
        ex, ey = errors[target]
        avoid = [(point_xy[0] - dx - ex, point_xy[1] - dy - ey), (extended_xy[0] - dx - ex, extended_xy[1] - dy - ey)]
        science_images[target] = science_images[target].copy()
        rng = make_rng(seed, Stream.EXPOSURE, IFS_STREAM_KEY, COSMIC_RAY_KEY)
        cosmic_ray_rows = _inject_cosmic_rays(science_images[target], config, trace, cosmic_rays, avoid,
                                              exposure_time_s, cosmic_ray_snr, rng)  # fmt: skip
        for row in cosmic_ray_rows:
            row.update({"exposure": target, "x_ref": row["spax_x"] + dx + ex, "y_ref": row["spax_y"] + dy + ey})
    science_image = science_images[0]
    lamp_time_s = exposure_time_s / 10 if lamp_exposure_time_s is None else float(lamp_exposure_time_s)
    exposures = [("", mode, science_image, exposure_time_s),
                 ("sky_", f"{mode}_SKY", image(sky_spectra), exposure_time_s)]  # fmt: skip
    if calibrations:
        exposures += [("flat_", f"{mode}_FLAT", image(lamp), lamp_time_s),
                      ("arc_", f"{mode}_ARC", image(arc), lamp_time_s)]  # fmt: skip
    if calibrations and mode == "LENSLET":
        for pattern in range(SCAN_SPACING**2):
            lit = ((trace["SPAX_X"] % SCAN_SPACING) == pattern % SCAN_SPACING) & (
                (trace["SPAX_Y"] % SCAN_SPACING) == pattern // SCAN_SPACING
            )
            signal = column_signal_dn_s(config, trace, lamp, throughput * np.asarray(lit)[:, None])
            exposures.append((f"scan{pattern}_", f"{mode}_SCAN", image_of(signal), lamp_time_s))

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
    pointings = [commanded_pointing(config, dx, dy) for dx, dy in offsets]
    scale_arcsec = config.scale_mas / 1000.0

    def dither_keywords(k):
        if ndithers == 1:
            return None
        dx, dy = offsets[k]
        return {
            "RA_REF": pointings[k][0],
            "DEC_REF": pointings[k][1],
            "PATTTYPE": DITHER_PATTERN_NAME,
            "PATT_NUM": k + 1,
            "NUMDTHPT": ndithers,
            "XOFFSET": dx * scale_arcsec,
            "YOFFSET": dy * scale_arcsec,
        }

    def write(number, tag, exp_type, signal, seconds, keywords=None, suffix="e001"):
        rng = make_rng(seed, Stream.EXPOSURE, IFS_STREAM_KEY, number)
        if level == "rate":
            return write_rate(out / "rate" / f"{prefix}_{tag}{suffix}_ifs_rate.fits", config, exp_type, signal,
                              seconds, rng, number, keywords)  # fmt: skip
        pattern = raw_read_pattern(config, seconds)
        return _write_raw_exposure(out / "raw" / f"{prefix}_{tag}{suffix}_ifs_uncal.fits", config, exp_type,
                                   signal, detector_model, pattern, rng, number, keywords)  # fmt: skip

    for number, (tag, exp_type, signal, seconds) in enumerate(exposures, start=1):
        paths.append(write(number, tag, exp_type, signal, seconds, dither_keywords(0) if number == 1 else None))
    dither_paths, dither_skies = [paths[0]], [paths[1]]
    sky_image = exposures[1][2]
    for k in range(1, ndithers):
        number = DITHER_EXPOSURE_BASE + 2 * k
        suffix = f"e{k + 1:03d}"
        dither_paths.append(write(number, "", mode, science_images[k], exposure_time_s, dither_keywords(k), suffix))
        dither_skies.append(write(number + 1, "sky_", f"{mode}_SKY", sky_image, exposure_time_s, None, suffix))
    write_refstore(references)

    truth = out / "truth"
    wave = cube_wavelengths(lo, hi, config.resolving_power)
    truth_cube_path = _write_truth_cube(
        truth / "truth_cube.fits", config, trace, scene_spectra(config, trace, scene, include_sky=False), wave
    )
    _write_truth_tables(truth, config, trace, throughput, scene, arcs_in_band)
    _write_point_spectrum(truth / "point_spectrum.ecsv", config, scene, wave)
    _write_dither_table(truth / "dithers.ecsv", config, offsets, errors, pointings, dither_paths, dither_skies,
                        point_xy, out)  # fmt: skip
    if cosmic_rays > 0:
        for row in cosmic_ray_rows:
            row["file"] = os.path.relpath(dither_paths[row["exposure"]], out)
        Table(rows=cosmic_ray_rows, names=list(cosmic_ray_rows[0])).write(truth / "outliers.ecsv", overwrite=True)
    association = _write_association(out / "spec2_asn.json", paths[0], paths[1], prefix)
    dither_associations = [association]
    for k in range(1, ndithers):
        name = f"{prefix}_e{k + 1:03d}"
        dither_associations.append(_write_association(out / f"spec2_e{k + 1:03d}_asn.json", dither_paths[k],
                                                      dither_skies[k], name))  # fmt: skip
    if standard:
        _write_association(out / "standard_asn.json", paths[-1], paths[1], f"{prefix}_standard")
    result = IFSSimulation(
        config={"mode": mode, "grating": config.grating, "resolving_power": config.resolving_power,
                "scale_mas": config.scale_mas, "spaxels": [config.nspax_x, config.nspax_y],
                "wave_range_um": list(config.wave_range_um), "window": asdict(config.window),
                "exposure_time_s": exposure_time_s, "lamp_exposure_time_s": lamp_time_s,
                "oh_variation": oh_variation, "seed": seed, "level": level},
        science=str(paths[0]), sky=str(paths[1]), flat=str(paths[2]) if calibrations else "",
        arc=str(paths[3]) if calibrations else "",
        scans=[str(p) for p, (tag, *_) in zip(paths, exposures, strict=True) if tag.startswith("scan")],
        standard=str(paths[-1]) if standard else "",
        association=str(association), refstore=str(references),
        truth_cube=str(truth_cube_path), truth_dir=str(truth),
        dithers=[str(p) for p in dither_paths], dither_skies=[str(p) for p in dither_skies],
        dither_associations=[str(p) for p in dither_associations],
    )  # fmt: skip
    if ndithers > 1:
        result.config.update(
            {
                "dithers": ndithers,
                "dither_offsets_spax": [list(o) for o in offsets],
                "pointing_errors_spax": [list(e) for e in errors],
                "cosmic_rays": cosmic_rays,
            }
        )
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


def _write_raw_exposure(path, config, exp_type, signal_dn_s, detector_model, pattern, rng, number, extra=None):
    gain = config.description.detector_defaults["gain_e_per_dn"]
    result = simulate_ramp(detector_model, signal_dn_s * gain, pattern, rng)
    pointing, dither = Pointing(150.0, 2.0, 0.0), None
    if extra:
        pointing = Pointing(extra["RA_REF"], extra["DEC_REF"], 0.0)
        dither = DitherPosition(extra["PATTTYPE"], extra["PATT_NUM"], extra["NUMDTHPT"], extra["XOFFSET"],
                                extra["YOFFSET"])  # fmt: skip
    info = ExposureInfo(exp_type=f"{config.instrument}_{exp_type}", date_obs=DATE_OBS, program="001",
                        observation="001", visit="001", exposure=number, target_name="SIMULATED",
                        target_ra_deg=150.0, target_dec_deg=2.0, pointing=pointing, dither=dither)  # fmt: skip
    keywords = raw_keywords(config.description, "IFS", config.grating, config.window, pattern, 1, info)
    keywords.update(config.keywords)
    return write_raw(path, result.data, keywords)


def dither_offsets(ndithers: int, step_spax: float = 0.5) -> list[tuple[float, float]]:
    """Commanded offsets (spaxels, cube x and y) of the default pattern.

    A box of four positions ``(0, 0), (s, 0), (0, s), (s, s)`` of step ``s``; further boxes are
    moved by ``(s/2, s/2)`` each (positions 5-8, then 9-12, ...).
    """
    offsets = []
    for k in range(ndithers):
        corner, cycle = k % 4, k // 4
        offsets.append((step_spax * (corner % 2) + 0.5 * step_spax * cycle,
                        step_spax * (corner // 2) + 0.5 * step_spax * cycle))  # fmt: skip
    return offsets


def commanded_pointing(
    config: IFSConfiguration, dx_spax: float, dy_spax: float, ra_deg: float = TARGET_RA_DEG,
    dec_deg: float = TARGET_DEC_DEG,
) -> tuple[float, float]:  # fmt: skip
    """RA, Dec (deg) of the field centre moved by ``(dx, dy)`` spaxels of the reference frame.

    The reference frame is the cube of the undithered pointing (field centre at ``ra_deg``,
    ``dec_deg``, position angle 0: +y North, +x West, gnomonic), as ``docs/ifs.md`` defines cubes.
    """
    scale_deg = config.scale_mas / 3.6e6
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra_deg, dec_deg]
    wcs.wcs.crpix = [(config.nspax_x + 1) / 2.0, (config.nspax_y + 1) / 2.0]
    wcs.wcs.cdelt = [-scale_deg, scale_deg]
    ra, dec = wcs.wcs_pix2world([[0.5 * (config.nspax_x - 1) + dx_spax, 0.5 * (config.nspax_y - 1) + dy_spax]], 0)[0]
    return float(ra), float(dec)


def _pointing_errors(pointing_error_spax, ndithers: int, seed: int) -> list[tuple[float, float]]:
    if np.ndim(pointing_error_spax) == 0:
        rms = float(pointing_error_spax)
        if rms == 0.0:
            return [(0.0, 0.0)] * ndithers
        draws = make_rng(seed, Stream.GEOMETRY, IFS_STREAM_KEY, 1).normal(0.0, rms, size=(ndithers, 2))
        draws[0] = 0.0
        return [(float(x), float(y)) for x, y in draws]
    errors = [(float(x), float(y)) for x, y in pointing_error_spax]
    if len(errors) != ndithers:
        raise ValueError(f"{len(errors)} pointing errors for {ndithers} dithers")
    return errors


def _inject_cosmic_rays(image, config, trace, count, avoid, exposure_time_s, snr, rng) -> list[dict]:
    """Add ``count`` outliers to ``image`` (DN/s, in place); each spreads over one column of one spaxel's profile."""
    inst = config.description
    gain = inst.detector_defaults["gain_e_per_dn"]
    read_var = 2.0 * (inst.detector_defaults["read_noise_e"] / gain) ** 2 / exposure_time_s**2
    window = config.window
    x0, y0 = window.substrt1 - 1, window.substrt2 - 1
    sx, sy = np.asarray(trace["SPAX_X"], dtype=float), np.asarray(trace["SPAX_Y"], dtype=float)
    start = np.maximum(np.asarray(trace["X_START"]) + 10, x0)
    end = np.minimum(np.asarray(trace["X_END"]) - 10, x0 + window.nx - 1)
    far = np.all([np.hypot(sx - x, sy - y) >= COSMIC_RAY_MIN_DISTANCE_SPAX for x, y in avoid], axis=0)
    eligible = np.flatnonzero(far & (end > start))
    chosen = rng.choice(eligible, size=min(count, eligible.size), replace=False)
    rows = []
    for s in sorted(chosen.tolist()):
        column = int(rng.integers(start[s], end[s] + 1))
        u = column - float(trace["X_REF"][s])
        yc = float(trace["TRACE_C0"][s] + u * (trace["TRACE_C1"][s] + u * trace["TRACE_C2"][s])) - y0
        sigma = float(trace["SIGMA"][s])
        first, last = max(0, int(np.floor(yc - 6 * sigma))), min(window.ny - 1, int(np.ceil(yc + 6 * sigma)))
        rr = np.arange(first, last + 1)
        scale = 1.0 / (np.sqrt(2.0) * sigma)
        weights = 0.5 * (erf((rr + 0.5 - yc) * scale) - erf((rr - 0.5 - yc) * scale))
        var = np.maximum(image[rr, column - x0], 0.0) / (gain * exposure_time_s) + read_var
        noise = 1.0 / np.sqrt(np.sum(weights**2 / var))
        amplitude = snr * noise
        image[rr, column - x0] += amplitude * weights
        wave = sum(float(trace[f"WAVE_C{k}"][s]) * u**k for k in range(4))
        rows.append({"spax_x": int(sx[s]), "spax_y": int(sy[s]), "column": column, "row": yc + y0,
                     "wavelength_um": wave, "rate_dn_s": float(amplitude), "snr": float(snr)})  # fmt: skip
    return rows


def _write_point_spectrum(path: Path, config: IFSConfiguration, scene: IFSScene, wave: np.ndarray) -> None:
    """Total flux density of the point source (all its light, before the atmosphere) on the cube grid."""
    centre = 0.5 * sum(config.wave_range_um)
    flux = scene.point_flux_w_m2_um * (wave / centre) ** scene.point_spectral_index
    jy = (flux * u.W / u.m**2 / u.um).to_value(u.Jy, u.spectral_density(wave * u.um))
    (px, py), _ = scene.positions(config)
    table = Table({"wavelength_um": wave, "flux_w_m2_um": flux, "flux_jy": jy})
    table.meta.update({"x_spax": float(px), "y_spax": float(py)})
    table.write(path, overwrite=True)


def _write_dither_table(path: Path, config, offsets, errors, pointings, science, skies, point_xy, out) -> None:
    """Commanded offsets, pointing errors, commanded and true pointings, where the point source falls."""
    true = [commanded_pointing(config, dx + ex, dy + ey) for (dx, dy), (ex, ey) in zip(offsets, errors, strict=True)]
    scale_arcsec = config.scale_mas / 1000.0
    table = Table({
        "exposure": np.arange(len(offsets)), "file": [os.path.relpath(p, out) for p in science],
        "sky": [os.path.relpath(p, out) for p in skies],
        "dx_spax": [o[0] for o in offsets], "dy_spax": [o[1] for o in offsets],
        "xoffset_arcsec": [o[0] * scale_arcsec for o in offsets],
        "yoffset_arcsec": [o[1] * scale_arcsec for o in offsets],
        "error_x_spax": [e[0] for e in errors], "error_y_spax": [e[1] for e in errors],
        "ra_ref": [p[0] for p in pointings], "dec_ref": [p[1] for p in pointings],
        "ra_true": [p[0] for p in true], "dec_true": [p[1] for p in true],
        "point_x_spax": [point_xy[0] - o[0] - e[0] for o, e in zip(offsets, errors, strict=True)],
        "point_y_spax": [point_xy[1] - o[1] - e[1] for o, e in zip(offsets, errors, strict=True)],
    })  # fmt: skip
    table.meta["frame"] = "reference frame: the cube of the undithered pointing (RA 150, Dec 2, PA 0)"
    table.write(path, overwrite=True)


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
