"""The local reference store: a folder of reference files and its ``refstore.yaml`` rules."""

from __future__ import annotations

import fcntl
import hashlib
import logging
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
    "DEFAULT_DIGEST_CACHE",
    "DEFAULT_STORE_PATH",
    "DIGEST_CACHE_ENV",
    "REFSTORE_ENV",
    "RULES_FILENAME",
    "ReferenceStore",
    "cached_sha256",
    "digest_cache_dir",
    "resolve_store_path",
    "sha256_of",
]

log = logging.getLogger(__name__)

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


# SHA-256 of files already hashed, by (path, device, inode, size, mtime): a night selects the same
# references for every exposure, and a rewrite or replacement changes the key. Kept in this process
# and on disk (one small file per key), so that a run after the first pays nothing either.
_DIGESTS: dict[tuple, str] = {}
DIGEST_CACHE_ENV = "IRIS_DIGEST_CACHE"
DEFAULT_DIGEST_CACHE = Path("~/.iris_pipeline/cache/sha256")


def digest_cache_dir() -> Path:
    """Folder of the on-disk digests: ``$IRIS_DIGEST_CACHE``, else ``~/.iris_pipeline/cache/sha256``."""
    return Path(os.environ.get(DIGEST_CACHE_ENV) or DEFAULT_DIGEST_CACHE).expanduser()


def cached_sha256(path) -> str:
    """`sha256_of`, computed once per version of the file (path, device, inode, size, mtime).

    A file rewritten in place keeps its inode but changes its mtime (and usually its size); only
    a change that restores both, deliberately, would go unseen. An unwritable cache folder only
    costs the hashing.
    """
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    digest = _DIGESTS.get(key)
    if digest is None:
        stored = digest_cache_dir() / hashlib.sha256(repr(key).encode()).hexdigest()
        digest = _read_digest(stored) or sha256_of(path)
        _DIGESTS[key] = digest
        _write_digest(stored, digest)
    return digest


def _read_digest(stored: Path) -> str | None:
    try:
        text = stored.read_text().strip()
    except OSError:
        return None
    return text if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else None


def _write_digest(stored: Path, digest: str) -> None:
    if stored.is_file():
        return
    try:
        stored.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(stored) as tmp:
            tmp.write_text(digest)
    except OSError:
        log.debug("digest cache %s not writable", stored.parent)


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


# Rules file path -> (SHA-256 of its bytes, its entries): the latest parse of each store's rules.
_parsed_rules: dict[str, tuple[bytes, tuple[RuleEntry, ...]]] = {}


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
        """The entries of the rules file, parsed once per content of the file.

        Every reference a step selects makes a store (12 per exposure through stage 2), and
        parsing the YAML cost ~0.06 s for a 40-file store; reading and hashing the file to know
        whether it changed costs microseconds.
        """
        if not self.rules_path.exists():
            return []
        text = self.rules_path.read_bytes()
        digest = hashlib.sha256(text).digest()
        key = str(self.rules_path.resolve())
        parsed = _parsed_rules.get(key)
        if parsed is None or parsed[0] != digest:
            parsed = _parsed_rules[key] = (digest, tuple(self._parse_rules(text.decode())))
        return list(parsed[1])

    def _parse_rules(self, text: str) -> list[RuleEntry]:
        try:
            document = yaml.safe_load(text) or {}
        except yaml.YAMLError as err:
            problem = str(err).replace("\n", " ")
            raise ReferenceFileError(f"{self.rules_path}: invalid YAML ({problem})") from None
        if not isinstance(document, dict) or not isinstance(document.get("references") or [], list):
            raise ReferenceFileError(f"{self.rules_path}: expected a mapping with a 'references' list")
        entries = []
        for number, item in enumerate(document.get("references") or [], start=1):
            if not isinstance(item, dict):
                raise ReferenceFileError(f"{self.rules_path}: entry {number} is {item!r}, not a mapping of fields")
            unknown = set(item) - _RULE_FIELDS
            if unknown or not {"file", "reftype", "instrument"} <= set(item):
                raise ReferenceFileError(
                    f"{self.rules_path}: entry {number} needs file, reftype and instrument "
                    f"and accepts only {', '.join(sorted(_RULE_FIELDS))}"
                )
            values: dict[str, str | None] = {k: str(v) if v is not None else None for k, v in item.items()}
            entry = RuleEntry(**values)  # type: ignore[arg-type]  # None only where the YAML says null
            try:
                parse_date(entry.useafter)
            except ValueError:
                raise ReferenceFileError(
                    f"{self.rules_path}: entry {number} ({entry.file}): useafter {entry.useafter!r} is not an "
                    "ISO 8601 date (YYYY-MM-DDThh:mm:ss)"
                ) from None
            entries.append(entry)
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

    def add(self, path, subfolder: str | None = None, replace: bool = False) -> RuleEntry:
        """Copy a reference file into the store (if it is outside) and add its rule.

        The copy is written under a temporary name and renamed; the rules file is re-read and
        rewritten under a lock, so several processes can add files to one store at once. A file
        whose header cannot be indexed never enters the store.

        Parameters
        ----------
        replace : bool
            Allow replacing a stored file of the same name with different content (a calibration
            redoing its own product); by default that is an error.
        """
        source = Path(path).resolve()
        if not source.is_file():
            raise ReferenceFileError(f"{path}: file not found")
        root = self.root.resolve()
        with self._exclusive():
            for stale in root.rglob(".*.partial*"):
                stale.unlink(missing_ok=True)  # left by a copy killed mid-way: adds hold this lock
            if root in source.parents:
                target = source
            else:
                target = root / (subfolder or "") / source.name
                _entry_from_header(source, source.parent)  # a file that cannot be indexed never enters
                if target.exists() and not replace and sha256_of(target) != sha256_of(source):
                    raise ReferenceFileError(
                        f"{path}: the store already holds a different {target.relative_to(root)}; "
                        "give the new file another name (references are never replaced in place)"
                    )
                with atomic_path(target) as tmp:
                    shutil.copy2(source, tmp)
            entry = _entry_from_header(target, root)
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
        """Applicable entries of ``reftype`` with their specificity, best last.

        Best is the most specific, then the latest ``useafter``, then the file whose path in the
        store sorts last: never the order of the rules file, which ``refs index`` rewrites.
        """
        scored = []
        for entry in self.entries:
            if entry.reftype.lower() != reftype.lower():
                continue
            score = entry.specificity(exposure)
            if score is not None:
                scored.append(((score, parse_date(entry.useafter), entry.file), entry))
        scored.sort(key=lambda item: item[0])
        return [(key[0], entry) for key, entry in scored]

    def select(self, reftype: str, exposure: ExposureSelectors, exclude=()) -> ReferenceMatch:
        """Best reference file of ``reftype`` for an exposure, its checksum verified.

        The file's SHA-256 is computed (once per version of the file in this process) and must
        equal the one registered in the rules; the match carries the checksum of the file as read.

        Parameters
        ----------
        exclude : collection of str
            File names (without folder) that must not be chosen: a calibration's own products.

        Raises
        ------
        ReferenceFileError
            No entry applies, the chosen file is missing, or it changed since it was registered.
        """
        if not self.rules_path.exists():
            raise ReferenceFileError(
                f"reference store {self.root} does not exist (no {RULES_FILENAME} there): give --refstore DIR or "
                f"set {REFSTORE_ENV}, or make one with 'iris-pipeline refs index --refstore DIR' on a folder of "
                "reference files"
            )
        candidates = [(score, entry) for score, entry in self.candidates(reftype, exposure)
                      if Path(entry.file).name not in exclude]  # fmt: skip
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
        if len(candidates) > 1:
            _warn_tie(reftype, candidates[-1], candidates[-2], self.rules_path)
        path = self.root / entry.file
        if not path.exists():
            raise ReferenceFileError(f"{path}: {reftype} reference listed in {self.rules_path} is missing")
        digest = cached_sha256(path)
        if entry.sha256 and digest != entry.sha256:
            raise ReferenceFileError(
                f"{path}: {reftype} reference changed since it was registered (SHA-256 differs from "
                f"{RULES_FILENAME}); restore it, or run 'iris-pipeline refs index' if the change is intended"
            )
        return ReferenceMatch(reftype=reftype, path=path, sha256=digest, entry=entry)


_ties_reported: set[tuple[str, str, str]] = set()


def _warn_tie(reftype: str, best: tuple[int, RuleEntry], runner_up: tuple[int, RuleEntry], rules: Path) -> None:
    """A WARNING (once per pair and process) when two entries are equally good for an exposure."""
    (score, entry), (other_score, other) = best, runner_up
    if score != other_score or parse_date(entry.useafter) != parse_date(other.useafter):
        return
    key = (str(rules), entry.file, other.file)
    if key in _ties_reported:
        return
    _ties_reported.add(key)
    log.warning(
        "%s: %s references %s and %s are equally specific with the same useafter %s; using %s (the later path in "
        "sorted order); give one a later useafter or a narrower selection", rules, reftype, other.file, entry.file,
        entry.useafter, entry.file,
    )  # fmt: skip
