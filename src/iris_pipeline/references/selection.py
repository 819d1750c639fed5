"""Selection rules: which reference file best fits an exposure.

A rule entry matches an exposure when its instrument and reference type are equal, each of
detector, filter, read mode and, for the IFS, mode, plate scale and resolving power is equal or
``ANY``, its subarray is ``GENERIC``/``FULL`` (a
full-frame file, cut out by the step) or the exposure's own window name, and its ``useafter``
date is at or before the exposure start. Among matches the most specific wins (the most
selectors equal rather than ``ANY``/generic), then the latest ``useafter``, then the file whose
path in the store sorts last (a tie, reported as a WARNING naming both files; the order of the
rules file never decides, so ``refs index`` cannot change a choice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

__all__ = ["WILDCARD", "ExposureSelectors", "ReferenceMatch", "RuleEntry", "parse_date"]

WILDCARD = "ANY"
FULL_FRAME_SUBARRAYS = ("GENERIC", "FULL")
MATCHED_SELECTORS = ("detector", "filter", "read_mode", "ifs_mode", "ifs_scale", "resolving_power")
NUMERIC_SELECTORS = ("ifs_scale", "resolving_power")


def parse_date(text: str) -> datetime:
    """Parse an ISO 8601 date or date-time (``YYYY-MM-DD[Thh:mm:ss[.fff]]``), naive UTC."""
    value = str(text).strip().replace(" ", "T")
    if value.endswith("Z"):
        value = value[:-1]
    return datetime.fromisoformat(value).replace(tzinfo=None)


@dataclass(frozen=True)
class ExposureSelectors:
    """The exposure properties that select reference files."""

    instrument: str
    detector: str
    filter: str | None
    read_mode: str | None
    subarray: str
    date_obs: datetime
    ifs_mode: str | None = None
    ifs_scale: float | None = None
    resolving_power: int | None = None

    @classmethod
    def from_model(cls, model) -> ExposureSelectors:
        """Selectors from a data model's metadata (see ``docs/data-formats.md``)."""
        meta = model.meta
        date_text = meta.observation.date_obs
        if not date_text:
            raise ValueError("no DATE-OBS: cannot choose reference files by date")
        ifs_mode = (meta.instrument.ifs_mode or "").upper()
        return cls(
            instrument=(meta.instrument.name or "").upper(),
            detector=(meta.instrument.detector or "").upper(),
            filter=meta.instrument.filter,
            read_mode=meta.exposure.readmode,
            subarray=(meta.subarray.name or "FULL").upper(),
            date_obs=parse_date(date_text),
            ifs_mode=ifs_mode if ifs_mode not in ("", "N/A") else None,
            ifs_scale=meta.instrument.ifs_scale,
            resolving_power=meta.instrument.resolving_power,
        )


@dataclass(frozen=True)
class RuleEntry:
    """One reference file in a store's rules file."""

    file: str
    reftype: str
    instrument: str
    detector: str = WILDCARD
    filter: str = WILDCARD
    read_mode: str = WILDCARD
    subarray: str = "GENERIC"
    useafter: str = "1900-01-01T00:00:00"
    sha256: str | None = None
    ifs_mode: str = WILDCARD
    ifs_scale: str = WILDCARD
    resolving_power: str = WILDCARD

    def specificity(self, exposure: ExposureSelectors) -> int | None:
        """Number of selectors matched exactly, or None when the entry does not apply."""
        if self.instrument.upper() != exposure.instrument:
            return None
        if parse_date(self.useafter) > exposure.date_obs:
            return None
        score = 0
        for name in MATCHED_SELECTORS:
            wanted = str(getattr(self, name))
            if wanted.upper() == WILDCARD:
                continue
            have = getattr(exposure, name)
            if have is None or not _same(name, wanted, have):
                return None
            score += 1
        if self.subarray.upper() not in FULL_FRAME_SUBARRAYS:
            if self.subarray.upper() != exposure.subarray:
                return None
            score += 1
        return score


def _same(name: str, wanted: str, have) -> bool:
    """Whether a rule's selector value equals the exposure's (numbers compared as numbers)."""
    if name in NUMERIC_SELECTORS:
        try:
            return float(wanted) == float(have)
        except ValueError:
            return False
    return wanted.upper() == str(have).upper()


@dataclass(frozen=True)
class ReferenceMatch:
    """The reference file chosen for one type: its path, checksum and rule entry."""

    reftype: str
    path: Path
    sha256: str
    entry: RuleEntry | None = None

    @property
    def name(self) -> str:
        """File name recorded in product headers (``R_<TYPE>``)."""
        return self.path.name
