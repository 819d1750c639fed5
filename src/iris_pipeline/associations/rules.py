"""Grouping rules: which exposures belong together, decided from primary-header keywords only.

Every rule is a function of `ExposureInfo` records (read with `read_exposure_info`, which never
reads the data arrays). The rules are documented in ``docs/associations.md``:

- stage 2 (`background_members`): a science exposure and the dedicated skies of the same
  instrument, program, observation number (``OBSERVTN``), detector, filter (and IFS mode), window
  and read mode, nearest in time first;
- stage 3 (`stage3_key`): all science exposures of one instrument, program, target and filter
  (and IFS mode, scale and resolving power), every detector together;
- calibration (`calibration_key`): all exposures of one calibration type and one configuration:
  darks and biases by detector, read mode and window, flats by detector, filter and window, IFS
  calibrations by detector, IFS mode, scale, resolving power, filter and window.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import InputFileError
from ..exptypes import NO_PIPELINE, pipelines_for
from ..references.selection import parse_date

__all__ = [
    "CALIBRATION_ORDER",
    "ExposureInfo",
    "background_members",
    "calibration_applies",
    "calibration_key",
    "product_name",
    "read_exposure_info",
    "stage3_key",
]

# Header keyword of each ExposureInfo field (absent keywords read as "").
HEADER_FIELDS = {
    "datamodel": "DATAMODL",
    "instrument": "INSTRUME",
    "detector": "DETECTOR",
    "exp_type": "EXP_TYPE",
    "filter": "FILTER",
    "ifs_mode": "IFSMODE",
    "ifs_scale": "IFSSCALE",
    "resolving_power": "RESPOWER",
    "read_mode": "READMODE",
    "subarray": "SUBARRAY",
    "program": "PROGRAM",
    "obs_id": "OBS_ID",
    "observation": "OBSERVTN",
    "target": "TARGNAME",
    "date_obs": "DATE-OBS",
}

# Fields that must be equal for a calibration group, by calibration pipeline alias; pipelines not
# listed group by detector, filter, IFS configuration and window.
CALIBRATION_KEYS = {
    "create_superbias": ("instrument", "detector", "read_mode", "subarray"),
    "create_dark": ("instrument", "detector", "read_mode", "subarray"),
    "create_flat": ("instrument", "detector", "filter", "subarray"),
}
DEFAULT_CALIBRATION_KEY = ("instrument", "detector", "filter", "ifs_mode", "ifs_scale", "resolving_power", "subarray")

# Calibration pipelines run in this order within one configuration: a flat is made with the new
# dark; the IFS trace (create_rectmat) comes before the IFS flat, which is measured along it, and
# the wavelength calibration after both. Pipelines not listed come last.
# IFS: the traces first (the arc and the flat are extracted with them), then the wavelength
# solution, then the spectral flat, which compares spaxels at the same calibrated wavelength.
CALIBRATION_ORDER = ("create_superbias", "create_dark", "create_flat", "create_rectmat", "create_wavecal",
                     "create_ifs_flat")  # fmt: skip

SKY_SUFFIX = "_SKY"
STAGE2_KEY = ("instrument", "program", "observation", "detector", "filter", "ifs_mode", "ifs_scale",
              "resolving_power", "subarray", "read_mode")  # fmt: skip
STAGE3_KEY = ("instrument", "program", "target", "filter", "ifs_mode", "ifs_scale", "resolving_power")


@dataclass(frozen=True)
class ExposureInfo:
    """What the grouping rules and the execution engine need to know of one file."""

    path: Path
    datamodel: str = ""
    instrument: str = ""
    detector: str = ""
    exp_type: str = ""
    tso_visit: bool = False
    filter: str = ""
    ifs_mode: str = ""
    ifs_scale: str = ""
    resolving_power: str = ""
    read_mode: str = ""
    subarray: str = ""
    program: str = ""
    obs_id: str = ""
    observation: str = ""
    target: str = ""
    date_obs: str = ""

    @property
    def rule(self):
        """The EXP_TYPE table's rule (`iris_pipeline.exptypes.ExposureTypeRule`) of this exposure."""
        return pipelines_for(self.exp_type, self.tso_visit)

    @property
    def is_sky(self) -> bool:
        """A dedicated sky exposure (a background member of stage-2 associations)."""
        return self.exp_type.endswith(SKY_SUFFIX)

    @property
    def calibration_pipeline(self) -> str | None:
        """Alias of the calibration pipeline that consumes this exposure, or None for science."""
        stage2 = self.rule.stage2
        return stage2 if stage2.startswith("create_") else None

    @property
    def is_science(self) -> bool:
        """A science exposure: it has a stage-3 pipeline."""
        return self.rule.stage3 != NO_PIPELINE

    def key(self, names) -> tuple[str, ...]:
        """Values of the fields `names`, as a grouping key."""
        return tuple(str(getattr(self, name)).upper() for name in names)

    def seconds_from(self, other: ExposureInfo) -> float:
        """Absolute time between the starts of two exposures, in seconds (inf if either is undated)."""
        try:
            return abs((parse_date(self.date_obs) - parse_date(other.date_obs)).total_seconds())
        except ValueError:
            return float("inf")


def read_exposure_info(path) -> ExposureInfo:
    """Read an exposure's grouping keywords from its primary header (data arrays are not read).

    Raises
    ------
    InputFileError
        The file is missing, not FITS, or has no EXP_TYPE.
    """
    from astropy.io import fits

    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a damaged header is reported below, as the file's error
            header = fits.getheader(path, 0)
    except (OSError, ValueError, TypeError):
        raise InputFileError(path, "not a FITS file") from None
    values = {name: str(header.get(keyword, "") or "").strip() for name, keyword in HEADER_FIELDS.items()}
    if not values["exp_type"]:
        raise InputFileError(path, "no EXP_TYPE keyword: not an IRIS/Liger exposure")
    tso = header.get("TSOVISIT", False)
    tso_visit = tso if isinstance(tso, bool) else str(tso).strip().upper() in ("T", "TRUE", "1")
    return ExposureInfo(path=path.resolve(), tso_visit=tso_visit, **values)


def calibration_key(info: ExposureInfo) -> tuple[str, ...]:
    """Grouping key of a calibration exposure: its pipeline alias then its configuration."""
    alias = info.calibration_pipeline
    if alias is None:
        raise ValueError(f"{info.path}: {info.exp_type} is not a calibration exposure")
    return (alias, *info.key(CALIBRATION_KEYS.get(alias, DEFAULT_CALIBRATION_KEY)))


def calibration_applies(alias: str, member: ExposureInfo, exposure: ExposureInfo) -> bool:
    """Whether a calibration group of `alias` (represented by one `member`) serves `exposure`.

    It does when every configuration field of the group equals the exposure's, except a field
    that is blank in the exposure (darks carry no meaningful filter, for instance).
    """
    for name in CALIBRATION_KEYS.get(alias, DEFAULT_CALIBRATION_KEY):
        mine, theirs = str(getattr(member, name)).upper(), str(getattr(exposure, name)).upper()
        if theirs and mine != theirs:
            return False
    return True


def background_members(science: ExposureInfo, candidates, limit: int | None = None) -> list[ExposureInfo]:
    """The dedicated skies for a science exposure's stage-2 association, nearest in time first.

    A sky qualifies when it shares the science exposure's instrument, program, observation number,
    detector, filter, IFS configuration, window and read mode. `limit` keeps only the nearest ones.
    """
    wanted = science.key(STAGE2_KEY)
    skies = [c for c in candidates if c.is_sky and c.key(STAGE2_KEY) == wanted and c.path != science.path]
    skies.sort(key=lambda sky: (sky.seconds_from(science), str(sky.path)))
    return skies[:limit] if limit is not None else skies


def stage3_key(info: ExposureInfo) -> tuple[str, ...]:
    """Grouping key of stage 3: stage-3 pipeline, instrument, program, target, filter, IFS mode."""
    return (info.rule.stage3, *info.key(STAGE3_KEY))


def product_name(*parts: str) -> str:
    """A file-name-safe product name from key parts: lower case, runs of other characters -> '-'."""
    cleaned = [re.sub(r"[^a-z0-9.]+", "-", str(part).lower()).strip("-") for part in parts]
    return "_".join(part for part in cleaned if part)
