"""The local reference store: a folder of reference files and its ``refstore.yaml`` rules."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import warnings
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path

import yaml
from astropy.io import fits

from ..exceptions import ReferenceFileError
from ..lib.atomic import atomic_path
from .selection import WILDCARD, ExposureSelectors, ReferenceMatch, RuleEntry, parse_date

__all__ = [
    "DEFAULT_STORE_PATH",
    "REFSTORE_ENV",
    "RULES_FILENAME",
    "ReferenceStore",
    "resolve_store_path",
    "sha256_of",
]

REFSTORE_ENV = "IRIS_REFSTORE"
DEFAULT_STORE_PATH = Path("~/.iris_pipeline/refstore")
RULES_FILENAME = "refstore.yaml"
LOCK_FILENAME = ".refstore.lock"
RULES_FORMAT_VERSION = 1

# Primary-header keyword of each rule field, for indexing a folder of reference files.
HEADER_KEYWORDS = {
    "reftype": "REFTYPE",
    "instrument": "INSTRUME",
    "detector": "DETECTOR",
    "filter": "FILTER",
    "read_mode": "READMODE",
    "subarray": "SUBARRAY",
    "useafter": "USEAFTER",
    "ifs_mode": "IFSMODE",
    "ifs_scale": "IFSSCALE",
    "resolving_power": "RESPOWER",
}
REQUIRED_HEADER_FIELDS = ("reftype", "instrument", "useafter")
# IFS selectors are left out of a rules entry that applies to every IFS configuration.
IFS_FIELDS = ("ifs_mode", "ifs_scale", "resolving_power")
_RULE_FIELDS = {f.name for f in fields(RuleEntry)}


def resolve_store_path(path=None) -> Path:
    """The store folder: ``path`` if given, else ``$IRIS_REFSTORE``, else the built-in default."""
    chosen = path or os.environ.get(REFSTORE_ENV) or DEFAULT_STORE_PATH
    return Path(os.path.expandvars(str(chosen))).expanduser()


def sha256_of(path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry_from_header(path: Path, root: Path) -> RuleEntry:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = fits.getheader(path, ext=0)
    except (OSError, ValueError) as err:
        raise ReferenceFileError(f"{path}: not a readable FITS reference file ({err})") from None
    values = {}
    for field, keyword in HEADER_KEYWORDS.items():
        if keyword in header:
            values[field] = str(header[keyword]).strip()
    missing = [HEADER_KEYWORDS[f] for f in REQUIRED_HEADER_FIELDS if f not in values]
    if missing:
        raise ReferenceFileError(f"{path}: missing reference keyword(s) {', '.join(missing)}")
    values["reftype"] = values["reftype"].lower()
    if header.get("SUBARRAY", "GENERIC").upper() not in ("GENERIC", "FULL") and "SUBARRAY" in header:
        values["subarray"] = str(header["SUBARRAY"]).upper()
    for field in ("detector", "filter", "read_mode", "ifs_mode", "ifs_scale", "resolving_power"):
        if values.get(field, "").upper() in ("", "N/A", "NONE", "0", "0.0"):
            values[field] = WILDCARD
    return RuleEntry(file=path.relative_to(root).as_posix(), sha256=sha256_of(path), **values)


class ReferenceStore:
    """A folder of reference files with selection rules.

    Parameters
    ----------
    root : str or Path, optional
        The store folder; see `resolve_store_path` for the default.
    """

    def __init__(self, root=None):
        self.root = resolve_store_path(root)
        self.rules_path = self.root / RULES_FILENAME
        self.entries: list[RuleEntry] = self._load_rules()

    def _load_rules(self) -> list[RuleEntry]:
        if not self.rules_path.exists():
            return []
        try:
            document = yaml.safe_load(self.rules_path.read_text()) or {}
        except yaml.YAMLError as err:
            problem = str(err).replace("\n", " ")
            raise ReferenceFileError(f"{self.rules_path}: invalid YAML ({problem})") from None
        entries = []
        for number, item in enumerate(document.get("references") or [], start=1):
            unknown = set(item) - _RULE_FIELDS
            if unknown or not {"file", "reftype", "instrument"} <= set(item):
                raise ReferenceFileError(
                    f"{self.rules_path}: entry {number} needs file, reftype and instrument "
                    f"and accepts only {', '.join(sorted(_RULE_FIELDS))}"
                )
            values: dict[str, str | None] = {k: str(v) if v is not None else None for k, v in item.items()}
            entries.append(RuleEntry(**values))  # type: ignore[arg-type]  # None only where the YAML says null
        return entries

    def save_rules(self) -> None:
        """Write ``refstore.yaml`` atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        document = {
            "format_version": RULES_FORMAT_VERSION,
            "references": [
                {k: v for k, v in asdict(entry).items() if v is not None and not (k in IFS_FIELDS and v == WILDCARD)}
                for entry in self.entries
            ],
        }
        with atomic_path(self.rules_path) as tmp:
            tmp.write_text(yaml.safe_dump(document, sort_keys=False))

    def index(self) -> list[RuleEntry]:
        """Rebuild the rules from the headers of every ``*.fits`` file under the folder."""
        self.entries = [_entry_from_header(path, self.root) for path in sorted(self.root.rglob("*.fits"))]
        self.save_rules()
        return self.entries

    @contextmanager
    def _exclusive(self):
        """Hold the store's lock file: processes adding files at once must not lose each other's rules."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK_FILENAME, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def add(self, path, subfolder: str | None = None) -> RuleEntry:
        """Copy a reference file into the store (if it is outside) and add its rule.

        The copy is written under a temporary name and renamed; the rules file is re-read and
        rewritten under a lock, so several processes can add files to one store at once.
        """
        source = Path(path).resolve()
        if not source.exists():
            raise ReferenceFileError(f"{path}: file not found")
        with self._exclusive():
            if self.root.resolve() in source.parents:
                target = source
            else:
                target = self.root / (subfolder or "") / source.name
                with atomic_path(target) as tmp:
                    shutil.copy2(source, tmp)
            entry = _entry_from_header(target, self.root.resolve())
            self.entries = [e for e in self._load_rules() if e.file != entry.file] + [entry]
            self.save_rules()
        return entry

    def check(self) -> list[str]:
        """Problems in the store: missing files and checksum mismatches (empty when healthy)."""
        problems = []
        for entry in self.entries:
            path = self.root / entry.file
            if not path.exists():
                problems.append(f"{path}: listed in {RULES_FILENAME} but missing")
            elif entry.sha256 and sha256_of(path) != entry.sha256:
                problems.append(f"{path}: checksum differs from {RULES_FILENAME}")
        return problems

    def candidates(self, reftype: str, exposure: ExposureSelectors) -> list[tuple[int, RuleEntry]]:
        """Applicable entries of ``reftype`` with their specificity, best last."""
        scored = []
        for order, entry in enumerate(self.entries):
            if entry.reftype.lower() != reftype.lower():
                continue
            score = entry.specificity(exposure)
            if score is not None:
                scored.append(((score, parse_date(entry.useafter), order), entry))
        scored.sort(key=lambda item: item[0])
        return [(key[0], entry) for key, entry in scored]

    def select(self, reftype: str, exposure: ExposureSelectors) -> ReferenceMatch:
        """Best reference file of ``reftype`` for an exposure.

        Raises
        ------
        ReferenceFileError
            No entry applies, or the chosen file is missing.
        """
        candidates = self.candidates(reftype, exposure)
        if not candidates:
            ifs = ""
            if exposure.ifs_mode:
                ifs = f" IFS mode {exposure.ifs_mode} scale={exposure.ifs_scale} mas R={exposure.resolving_power}"
            raise ReferenceFileError(
                f"no {reftype} reference file in {self.root} for {exposure.instrument} "
                f"{exposure.detector} filter={exposure.filter} readmode={exposure.read_mode} "
                f"subarray={exposure.subarray}{ifs} on {exposure.date_obs:%Y-%m-%dT%H:%M:%S}"
            )
        entry = candidates[-1][1]
        path = self.root / entry.file
        if not path.exists():
            raise ReferenceFileError(f"{path}: {reftype} reference listed in {self.rules_path} is missing")
        return ReferenceMatch(reftype=reftype, path=path, sha256=entry.sha256 or sha256_of(path), entry=entry)
