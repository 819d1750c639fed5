"""FITS writers for raw ramps and reference files, with astropy.io.fits only.

Everything here follows ``docs/data-formats.md``: the raw file (primary header with the raw
keywords, ``SCI`` uint16 extension), the reference files (selection keywords in the primary
header, arrays in named extensions) and the ``refstore.yaml`` rules file of a reference folder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml
from astropy.io import fits
from astropy.table import Table

from iris_pipeline.instruments import InstrumentDescription

from .detector import DetectorModel, DetectorWindow
from .geometry import DetectorGeometry, Pointing
from .photometry import photmjsr, zeropoint_ab
from .ramp import ReadPattern

__all__ = [
    "AUTHOR",
    "PEDIGREE",
    "REFERENCE_TYPES",
    "DitherPosition",
    "ExposureInfo",
    "photom_table",
    "raw_keywords",
    "write_raw",
    "write_reference_files",
    "write_refstore",
]

AUTHOR = "iris_pipeline.simulate"
PEDIGREE = "SIMULATION"
WILDCARD = "ANY"
GENERIC_SUBARRAY = "GENERIC"
REFSTORE_FILENAME = "refstore.yaml"
REFSTORE_FORMAT_VERSION = 1
RESET_READS = 1
SECONDS_PER_DAY = 86400.0
MJD_EPOCH = datetime(1858, 11, 17)
# DATAMODL of each reference type (docs/data-formats.md).
REFERENCE_TYPES = {
    "MASK": "MaskModel",
    "SATURATION": "SaturationModel",
    "SUPERBIAS": "SuperBiasModel",
    "GAIN": "GainModel",
    "READNOISE": "ReadnoiseModel",
    "LINEARITY": "LinearityModel",
    "DARK": "DarkModel",
    "FLAT": "FlatModel",
    "PHOTOM": "PhotomModel",
    "DISTORTION": "DistortionModel",
}
RAW_KEYWORD_COMMENTS = {
    "DATAMODL": "data model of the file",
    "TELESCOP": "telescope",
    "INSTRUME": "instrument",
    "DETECTOR": "detector",
    "EXP_TYPE": "exposure type",
    "READMODE": "read mode",
    "NINTS": "integrations in the exposure",
    "NGROUPS": "groups per integration",
    "NFRAMES": "reads averaged into each group",
    "GROUPGAP": "reads dropped between groups",
    "NREADS": "reads per integration, reset excluded",
    "TFRAME": "[s] time to read one frame",
    "TGROUP": "[s] time between the starts of two groups",
    "EFFEXPTM": "[s] effective exposure time",
    "DATE-OBS": "UTC start of the exposure",
    "EXPSTART": "[MJD] exposure start (UTC)",
    "EXPMID": "[MJD] exposure middle (UTC)",
    "EXPEND": "[MJD] exposure end (UTC)",
    "SUBARRAY": "subarray name",
    "SUBSTRT1": "first detector column of the array (1-based)",
    "SUBSTRT2": "first detector row of the array (1-based)",
    "SUBSIZE1": "columns in the array",
    "SUBSIZE2": "rows in the array",
    "FILTER": "imager filter",
    "TSOVISIT": "time-series observation",
    "PROGRAM": "program id",
    "OBS_ID": "observation id",
    "OBSERVTN": "observation number within the program",
    "VISIT": "visit number within the observation",
    "EXPOSURE": "exposure number within the visit",
    "TARGNAME": "target name",
    "TARG_RA": "[deg] target RA (ICRS)",
    "TARG_DEC": "[deg] target Dec (ICRS)",
    "RA_REF": "[deg] RA of the instrument reference point",
    "DEC_REF": "[deg] Dec of the instrument reference point",
    "PA_APER": "[deg] position angle of detector +y, E of N",
    "PATTTYPE": "dither pattern",
    "PATT_NUM": "position within the dither pattern",
    "NUMDTHPT": "number of dither positions",
    "XOFFSET": "[arcsec] dither offset along detector x",
    "YOFFSET": "[arcsec] dither offset along detector y",
}


@dataclass(frozen=True)
class DitherPosition:
    """One position of a dither pattern (the PATTTYPE, PATT_NUM, NUMDTHPT, X/YOFFSET keywords)."""

    pattern: str
    position: int
    npoints: int
    xoffset_arcsec: float
    yoffset_arcsec: float


@dataclass(frozen=True)
class ExposureInfo:
    """Identification, time, target and pointing of one exposure.

    Attributes
    ----------
    exp_type : str
        EXP_TYPE, e.g. ``'IRIS_IMAGE'``, ``'IRIS_IMAGE_DARK'``.
    date_obs : str
        UTC start, ISO 8601 ``YYYY-MM-DDThh:mm:ss.sss``.
    program, observation, visit : str
        PROGRAM, OBSERVTN and VISIT (OBS_ID is built from them).
    exposure : int
        EXPOSURE number within the visit.
    target_name : str
        TARGNAME.
    target_ra_deg, target_dec_deg : float
        TARG_RA, TARG_DEC (ICRS degrees).
    pointing : Pointing
        RA_REF, DEC_REF, PA_APER.
    dither : DitherPosition, optional
        Dither keywords (science and sky exposures).
    """

    exp_type: str
    date_obs: str
    program: str
    observation: str
    visit: str
    exposure: int
    target_name: str
    target_ra_deg: float
    target_dec_deg: float
    pointing: Pointing
    dither: DitherPosition | None = None

    @property
    def obs_id(self) -> str:
        """OBS_ID: ``P{program}O{observation}V{visit}``."""
        return f"P{self.program}O{self.observation}V{self.visit}"


def parse_date_obs(date_obs: str) -> datetime:
    """Parse an ISO 8601 UTC date-time ``YYYY-MM-DDThh:mm:ss[.sss]``."""
    try:
        return datetime.fromisoformat(date_obs)
    except (TypeError, ValueError):
        raise ValueError(f"date_obs must be ISO 8601 'YYYY-MM-DDThh:mm:ss', got {date_obs!r}") from None


def format_date_obs(moment: datetime) -> str:
    """DATE-OBS text of a date-time, with milliseconds."""
    return moment.isoformat(timespec="milliseconds")


def mjd_utc(date_obs: str) -> float:
    """Modified Julian Date of an ISO 8601 UTC date-time."""
    return (parse_date_obs(date_obs) - MJD_EPOCH).total_seconds() / SECONDS_PER_DAY


def exposure_duration_s(pattern: ReadPattern, nints: int) -> float:
    """Wall-clock duration of an exposure: every read of every integration plus its reset."""
    return nints * (pattern.nreads + RESET_READS) * pattern.frame_time_s


def raw_keywords(
    instrument: InstrumentDescription,
    detector: str,
    filter_name: str,
    window: DetectorWindow,
    pattern: ReadPattern,
    nints: int,
    info: ExposureInfo,
) -> dict[str, object]:
    """Primary-header keywords of a raw file, required and optional (docs/data-formats.md)."""
    start_mjd = mjd_utc(info.date_obs)
    duration_days = exposure_duration_s(pattern, nints) / SECONDS_PER_DAY
    keywords = {
        "DATAMODL": "RawRampModel",
        "TELESCOP": instrument.telescope,
        "INSTRUME": instrument.name,
        "DETECTOR": detector,
        "EXP_TYPE": info.exp_type,
        "READMODE": pattern.read_mode,
        "NINTS": nints,
        "NGROUPS": pattern.ngroups,
        "NFRAMES": pattern.nframes,
        "GROUPGAP": pattern.groupgap,
        "NREADS": pattern.nreads,
        "TFRAME": pattern.frame_time_s,
        "TGROUP": pattern.group_time_s,
        "EFFEXPTM": pattern.effective_exposure_time_s,
        "DATE-OBS": info.date_obs,
        "EXPSTART": start_mjd,
        "EXPMID": start_mjd + duration_days / 2.0,
        "EXPEND": start_mjd + duration_days,
        **window.keywords(),
        "FILTER": filter_name,
        "TSOVISIT": False,
        "PROGRAM": info.program,
        "OBS_ID": info.obs_id,
        "OBSERVTN": info.observation,
        "VISIT": info.visit,
        "EXPOSURE": info.exposure,
        "TARGNAME": info.target_name,
        "TARG_RA": info.target_ra_deg,
        "TARG_DEC": info.target_dec_deg,
        "RA_REF": info.pointing.ra_ref_deg,
        "DEC_REF": info.pointing.dec_ref_deg,
        "PA_APER": info.pointing.pa_aper_deg,
    }
    if info.dither is not None:
        keywords.update(
            {
                "PATTTYPE": info.dither.pattern,
                "PATT_NUM": info.dither.position,
                "NUMDTHPT": info.dither.npoints,
                "XOFFSET": info.dither.xoffset_arcsec,
                "YOFFSET": info.dither.yoffset_arcsec,
            }
        )
    return keywords


def write_raw(path, data: np.ndarray, keywords: dict[str, object]) -> Path:
    """Write a raw ramp file (``*_uncal.fits``).

    Parameters
    ----------
    path : str or os.PathLike
        Output file; overwritten if it exists.
    data : numpy.ndarray
        uint16 groups, shape ``(nints, ngroups, ny, nx)``.
    keywords : dict
        Primary-header keywords (from `raw_keywords`).

    Returns
    -------
    pathlib.Path
    """
    if data.dtype != np.uint16 or data.ndim != 4:
        raise ValueError(f"raw data must be 4-D uint16, got {data.ndim}-D {data.dtype}")
    primary = fits.PrimaryHDU()
    for key, value in keywords.items():
        primary.header[key] = (value, RAW_KEYWORD_COMMENTS.get(key))
    sci = fits.ImageHDU(data, name="SCI")
    sci.header["BUNIT"] = "DN"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([primary, sci]).writeto(path, overwrite=True)
    return path


def _reference_primary(
    reftype: str,
    instrument: InstrumentDescription,
    detector: str,
    window: DetectorWindow | None,
    useafter: str,
    description: str,
    filter_name: str = WILDCARD,
) -> fits.PrimaryHDU:
    primary = fits.PrimaryHDU()
    primary.header.update(
        {
            "DATAMODL": REFERENCE_TYPES[reftype],
            "REFTYPE": reftype,
            "TELESCOP": instrument.telescope,
            "INSTRUME": instrument.name,
            "DETECTOR": detector,
            "USEAFTER": useafter,
            "FILTER": filter_name,
            "READMODE": WILDCARD,
        }
    )
    if window is None:
        primary.header["SUBARRAY"] = GENERIC_SUBARRAY
    else:
        primary.header.update(window.keywords())
    primary.header.update({"AUTHOR": AUTHOR, "DESCRIP": description, "PEDIGREE": PEDIGREE})
    return primary


def _image(name: str, data: np.ndarray, dtype, bunit: str | None = None) -> fits.ImageHDU:
    hdu = fits.ImageHDU(np.asarray(data, dtype=dtype), name=name)
    if bunit:
        hdu.header["BUNIT"] = bunit
    return hdu


def photom_table(
    instrument: InstrumentDescription,
    throughput: float,
    gain_e_per_dn: float,
    pixel_scale_arcsec: float,
) -> Table:
    """PHOTOM rows, one per filter of the instrument (see `iris_pipeline.simulate.photometry`).

    UNCERTAINTY is 0: the conversion is the exact truth of the simulation.
    """
    names = list(instrument.filters)
    return Table(
        [
            np.array(names, dtype="S12"),
            np.array(
                [photmjsr(instrument, f, throughput, gain_e_per_dn, pixel_scale_arcsec) for f in names],
                dtype=np.float32,
            ),
            np.zeros(len(names), dtype=np.float32),
            np.array(
                [zeropoint_ab(instrument, f, throughput, gain_e_per_dn) for f in names],
                dtype=np.float32,
            ),
        ],
        names=("FILTER", "PHOTMJSR", "UNCERTAINTY", "ZEROPOINT_AB"),
    )


def write_reference_files(
    reference_dir,
    instrument: InstrumentDescription,
    model: DetectorModel,
    geometry: DetectorGeometry,
    filter_name: str,
    throughput: float,
    useafter: str,
    serial: int = 1,
) -> dict[str, Path]:
    """Write the reference files of one detector window, derived from its truth.

    Parameters
    ----------
    reference_dir : str or os.PathLike
        Reference folder; files go to
        ``{reftype}/{instrument}_{detector}_{reftype}_{serial:04d}.fits`` (lower case).
    instrument : InstrumentDescription
        Instrument of the detector.
    model : DetectorModel
        Per-pixel truth; the arrays cover ``model.window`` (its SUBARRAY and SUBSTRT keywords).
    geometry : DetectorGeometry
        Distortion of the detector (DISTORTION, SUBARRAY ``'GENERIC'``: it is defined in
        full-frame coordinates).
    filter_name : str
        Filter of the FLAT (the other files are for any filter).
    throughput : float
        System throughput of the PHOTOM conversion.
    useafter : str
        USEAFTER date, ISO 8601.
    serial : int
        Delivery number in the file names.

    Returns
    -------
    dict
        Path of each reference type (upper-case keys).
    """
    reference_dir = Path(reference_dir)
    window = model.window
    detector = model.detector
    flat, flat_dq = model.flat_field()
    zeros = np.zeros(window.shape, dtype=np.float32)
    no_flags = np.zeros(window.shape, dtype=np.uint32)
    hot_dq = np.where(model.has_flag("HOT"), model.dq, np.uint32(0)).astype(np.uint32)
    photom = photom_table(instrument, throughput, model.nominal_gain_e_per_dn, geometry.pixel_scale_arcsec)
    distortion = geometry.to_table()

    contents = {
        "MASK": ("bad-pixel mask", window, WILDCARD, [_image("DQ", model.dq, np.uint32)]),
        "SATURATION": (
            "saturation level, raw DN including bias",
            window,
            WILDCARD,
            [
                _image("SCI", model.saturation_dn, np.float32, "DN"),
                _image("DQ", no_flags, np.uint32),
            ],
        ),
        "SUPERBIAS": (
            "bias level of the first read",
            window,
            WILDCARD,
            [
                _image("SCI", model.bias_dn, np.float32, "DN"),
                _image("ERR", zeros, np.float32, "DN"),
                _image("DQ", no_flags, np.uint32),
            ],
        ),
        "GAIN": (
            "gain",
            window,
            WILDCARD,
            [_image("SCI", model.gain_e_per_dn, np.float32, "electron/DN")],
        ),
        "READNOISE": (
            "noise of one read",
            window,
            WILDCARD,
            [_image("SCI", model.read_noise_dn, np.float32, "DN")],
        ),
        "LINEARITY": (
            "polynomial inverting the quadratic nonlinearity",
            window,
            WILDCARD,
            [
                _image("COEFFS", model.linearity_coefficients(), np.float32),
                _image("DQ", no_flags, np.uint32),
            ],
        ),
        "DARK": (
            "dark current",
            window,
            WILDCARD,
            [
                _image("SCI", model.dark_dn_s(), np.float32, "DN/s"),
                _image("ERR", zeros, np.float32, "DN/s"),
                _image("DQ", hot_dq, np.uint32),
            ],
        ),
        "FLAT": (
            "pixel response in DN, median 1",
            window,
            filter_name,
            [
                _image("SCI", flat, np.float32),
                _image("ERR", zeros, np.float32),
                _image("DQ", flat_dq, np.uint32),
            ],
        ),
        "PHOTOM": (
            "MJy/sr per DN/s and AB zero point per filter",
            None,
            WILDCARD,
            [fits.BinTableHDU(photom, name="PHOTOM")],
        ),
        "DISTORTION": (
            "detector pixels to focal-plane arcsec, cubic polynomial",
            None,
            WILDCARD,
            [fits.BinTableHDU(distortion, name="DISTORTION")],
        ),
    }
    written = {}
    for reftype, (description, ref_window, ref_filter, extensions) in contents.items():
        primary = _reference_primary(
            reftype,
            instrument,
            detector,
            ref_window,
            useafter,
            f"Simulated {description}",
            ref_filter,
        )
        if reftype == "DISTORTION":
            primary.header["NX_FULL"] = geometry.nx_full
            primary.header["NY_FULL"] = geometry.ny_full
        name = f"{instrument.name}_{detector}_{reftype}_{serial:04d}.fits".lower()
        path = reference_dir / reftype.lower() / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fits.HDUList([primary, *extensions]).writeto(path, overwrite=True)
        written[reftype] = path
    return written


def sha256_of(path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


IFS_SELECTOR_KEYWORDS = {"ifs_mode": "IFSMODE", "ifs_scale": "IFSSCALE", "resolving_power": "RESPOWER"}


def write_refstore(reference_dir) -> Path:
    """Write ``refstore.yaml`` listing every FITS reference file under ``reference_dir``.

    Each entry takes its selectors from the file's primary header (reftype lower case) and
    carries the file's SHA-256. IFS references also carry their configuration (``IFSMODE``,
    ``IFSSCALE``, ``RESPOWER``), so that they apply to that configuration only.

    Returns
    -------
    pathlib.Path
        The rules file.
    """
    reference_dir = Path(reference_dir)
    entries = []
    for path in sorted(reference_dir.rglob("*.fits")):
        header = fits.getheader(path, ext=0)
        entry = {
            "file": path.relative_to(reference_dir).as_posix(),
            "reftype": header["REFTYPE"].lower(),
            "instrument": header["INSTRUME"],
            "detector": header["DETECTOR"],
            "filter": header.get("FILTER", WILDCARD),
            "read_mode": header.get("READMODE", WILDCARD),
            "subarray": header.get("SUBARRAY", GENERIC_SUBARRAY),
            "useafter": header["USEAFTER"],
            "sha256": sha256_of(path),
        }
        for field, keyword in IFS_SELECTOR_KEYWORDS.items():
            if str(header.get(keyword, "N/A")).upper() not in ("N/A", "", "0", "0.0"):
                entry[field] = header[keyword]
        entries.append(entry)
    rules = reference_dir / REFSTORE_FILENAME
    rules.write_text(
        yaml.safe_dump({"format_version": REFSTORE_FORMAT_VERSION, "references": entries}, sort_keys=False)
    )
    return rules
