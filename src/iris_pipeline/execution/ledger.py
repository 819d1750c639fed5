"""The resumability ledger: a provenance record next to each product, and the up-to-date test.

After a task's products are written, the worker writes ``<product>_<suffix>.provenance.json``
(atomically, temp name + rename, so a killed worker leaves either the old record, which then
fails the checks below, or none). It holds:

- ``inputs``: every input file's path, size and modification time (nanoseconds);
- ``pipeline``, ``class`` and ``parameters`` (step parameters and pipeline options passed);
- ``references``: reference type -> SHA-256 of each reference file the product records in its
  ``R_*``/``H_*`` keywords, with the exposure selectors needed to repeat the selection;
- ``outputs``: every product file's path, size and modification time;
- ``package_version``: the ``iris_pipeline`` version;
- ``code_version``: that version plus a fingerprint of the package's source (`code_version`), so
  that a changed installation, or an uncommitted edit, redoes the products.

`check_record` declares a task up to date only if the record exists, names the same pipeline,
parameters, package and code version, its inputs and outputs are unchanged on disk, and the reference
store would select the same files now. Anything else, including a missing or unreadable record,
means the task is redone (see ``docs/running-a-night.md``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from .. import __version__
from ..lib.atomic import atomic_path

__all__ = [
    "LEDGER_FORMAT",
    "check_record",
    "code_version",
    "file_state",
    "read_record",
    "source_fingerprint",
    "write_record",
]

# Files of the package whose content defines what the code does (modules, schemas, instrument data).
SOURCE_SUFFIXES = (".py", ".yaml")

LEDGER_FORMAT = 1


def source_fingerprint(package_root) -> str:
    """SHA-256 (first 16 hex digits) over the relative path and bytes of every source file
    (`SOURCE_SUFFIXES`) under `package_root`, in sorted order."""
    root = Path(package_root)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in SOURCE_SUFFIXES and p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def code_version() -> str:
    """``<package version>+src.<fingerprint>`` of the installed ``iris_pipeline`` (computed once per process)."""
    return f"{__version__}+src.{source_fingerprint(Path(__file__).resolve().parents[1])}"


def file_state(path) -> dict:
    """Path, size in bytes and modification time in nanoseconds of a file."""
    stat = os.stat(path)
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def write_record(path, record: dict) -> Path:
    """Write a provenance record as JSON atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w") as stream:
        json.dump(record, stream, indent=1, sort_keys=True)
        stream.flush()
        os.fsync(stream.fileno())
    return path


def read_record(path) -> dict | None:
    """The record at `path`, or None when it is missing or unreadable."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == LEDGER_FORMAT else None


def _changed_files(recorded: list[dict], label: str) -> str | None:
    for entry in recorded:
        try:
            now = file_state(entry["path"])
        except (OSError, KeyError, TypeError):
            return f"{label} {Path(str(entry.get('path'))).name} is missing"
        if now["size"] != entry.get("size") or now["mtime_ns"] != entry.get("mtime_ns"):
            return f"{label} {Path(entry['path']).name} changed"
    return None


@functools.lru_cache(maxsize=8)
def _store(root: str, rules_state: tuple):
    """A reference store, parsed once per version (time, size) of its rules file: a night checks many records."""
    from ..references import ReferenceStore

    return ReferenceStore(root)


def _current_store(refstore):
    from ..references import RULES_FILENAME, resolve_store_path

    root = resolve_store_path(refstore)
    rules = root / RULES_FILENAME
    state = (rules.stat().st_mtime_ns, rules.stat().st_size) if rules.exists() else ()
    return _store(str(root), state)


def _changed_reference(references: dict, selectors: dict | None, refstore) -> str | None:
    if not references:
        return None
    if not selectors:
        return "references were recorded without exposure selectors"
    from ..exceptions import IrisPipelineError, first_line
    from ..references import ExposureSelectors
    from ..references.selection import parse_date

    try:
        store = _current_store(refstore)
        exposure = ExposureSelectors(**{**selectors, "date_obs": parse_date(selectors["date_obs"])})
        for reftype, sha256 in sorted(references.items()):
            match = store.select(reftype, exposure)
            if match.sha256 != sha256:
                return f"the store now selects {match.name} for {reftype}"
    except (IrisPipelineError, OSError, ValueError, KeyError, TypeError) as err:
        return f"reference selection failed ({first_line(err)})"
    return None


def check_record(record: dict | None, expected: dict, refstore=None) -> str | None:
    """Why a task must run again, or None when its products are up to date.

    Parameters
    ----------
    record : dict or None
        The task's provenance record (`read_record`).
    expected : dict
        What the record must say now: ``pipeline``, ``class``, ``parameters``,
        ``package_version``, ``code_version`` and ``inputs`` (list of input paths).
    refstore : str, optional
        Reference store used to repeat the reference selection.
    """
    if record is None:
        return "no provenance record"
    if not record.get("complete"):
        return "provenance record incomplete"
    for name in ("pipeline", "class", "parameters", "package_version", "code_version"):
        if record.get(name) != expected[name]:
            return f"{name} changed"
    recorded_inputs = [entry.get("path") for entry in record.get("inputs", [])]
    if recorded_inputs != [str(Path(p).resolve()) for p in expected["inputs"]]:
        return "input list changed"
    return (
        _changed_files(record.get("inputs", []), "input")
        or _changed_files(record.get("outputs", []), "output")
        or (None if record.get("outputs") else "no outputs recorded")
        or _changed_reference(record.get("references", {}), record.get("selectors"), refstore)
    )
