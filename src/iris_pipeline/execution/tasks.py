"""What a worker runs: one pipeline on the files of one `TaskSpec`, returning a small `TaskResult`.

`run_task` never returns arrays and never raises for a bad input: the error becomes the
result's one-line ``error``. Unexpected exceptions propagate so that dask can retry the task.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..associations.io import Association, AssociationMember, AssociationProduct, write_association
from ..exceptions import IrisPipelineError, first_line
from .handover import rates
from .ledger import LEDGER_FORMAT, file_state, write_record
from .plan import TaskSpec, import_class

__all__ = ["FAILED", "OK", "SKIPPED", "UP_TO_DATE", "WOULD_RUN", "TaskResult", "run_task"]

OK = "OK"
FAILED = "FAILED"
SKIPPED = "SKIPPED"
UP_TO_DATE = "UP-TO-DATE"
WOULD_RUN = "WOULD-RUN"
DONE = (OK, UP_TO_DATE)

# Errors that are the input's fault: reported, not retried.
INPUT_ERRORS = (IrisPipelineError, OSError, ValueError, KeyError)


@dataclass(frozen=True)
class TaskResult:
    """What happened to one task (small and picklable: this is all a worker sends back)."""

    task_id: str
    status: str
    seconds: float = 0.0
    outputs: tuple[str, ...] = ()
    error: str | None = None
    note: str | None = None
    warnings: tuple[str, ...] = ()
    worker: str = field(default="", compare=False)


class _WarningCollector(logging.Handler):
    """Keeps the distinct WARNING (and worse) messages of the package's loggers, first line each,
    logged by this thread only: a worker with several threads runs several tasks at once."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        message = first_line(record.getMessage())
        if record.thread == self.thread and message not in self.messages:
            self.messages.append(message)


@contextlib.contextmanager
def _collect_warnings():
    """What the steps of one task warned about (a step that could not do its job says so there)."""
    collector = _WarningCollector()
    logger = logging.getLogger("iris_pipeline")
    logger.addHandler(collector)
    try:
        yield collector.messages
    finally:
        logger.removeHandler(collector)


def _pipeline_input(task: TaskSpec) -> str:
    """A single input file as is; several inputs (or a sky) as an association written for the task."""
    if len(task.inputs) == 1 and task.kind in ("stage1", "stage2"):
        return task.inputs[0]
    members = [AssociationMember(Path(p), role) for p, role in zip(task.inputs, task.roles, strict=True)]
    association = Association(asn_type=task.alias, products=[AssociationProduct(task.product, members)],
                              asn_rule=f"iris_{task.kind}", asn_id=task.task_id)  # fmt: skip
    asn_dir = Path(task.output_dir) / "asn"
    asn_dir.mkdir(parents=True, exist_ok=True)
    return str(write_association(association, asn_dir / f"{task.product}_{task.alias}_asn.json"))


@contextlib.contextmanager
def _store_lock(task: TaskSpec):
    """Serialise the tasks that add files to one reference store (its rules file is rewritten)."""
    if task.kind != "calibration":
        yield
        return
    try:
        from distributed import Lock, get_worker

        get_worker()
    except (ImportError, ValueError):
        yield
        return
    with Lock(f"iris-refstore:{task.refstore or 'default'}"):
        yield


def _store_files(refstore) -> dict[str, tuple]:
    """Each file of the store with its checksum and modification time (a rewrite changes either)."""
    from ..references import ReferenceStore

    store = ReferenceStore(refstore)
    files = {}
    for entry in store.entries:
        path = (store.root / entry.file).resolve()
        files[str(path)] = (entry.sha256, path.stat().st_mtime_ns if path.exists() else None)
    return files


def _recorded_references(path: Path) -> dict[str, str]:
    """Reference type -> SHA-256 of the reference files a product records (``R_*``/``H_*``).

    A product that is not a data model of this package records none. Only the primary header
    is read: the whole product, read back to learn its references, cost ~0.2 s (up to seconds
    with a cold page cache) per full-frame task.
    """
    from .. import datamodels

    if path.suffix != ".fits":
        return {}
    try:
        with datamodels.open(path, read_data=False) as model:
            refs = model.meta.ref_file._instance or {}
    except IrisPipelineError:
        return {}
    return {reftype: record["sha256"] for reftype, record in refs.items()
            if isinstance(record, dict) and record.get("sha256") not in (None, "N/A")}  # fmt: skip


def _new_products(task: TaskSpec, since_ns: int) -> list[Path]:
    """Files named after the product written since the task started (previews, catalogs...).

    Only ``<product>_<suffix>`` names whose suffix has no further underscore count, so that the
    products of exposure ``x_2`` are not taken for those of ``x``.
    """
    found = []
    for path in Path(task.output_dir).glob(f"{task.product}_*"):
        suffix = path.name[len(task.product) + 1 :]
        if (
            "_" not in suffix
            and path.is_file()
            and not path.name.endswith((".provenance.json", ".partial"))
            and path.stat().st_mtime_ns >= since_ns
        ):
            found.append(path)
    return found


def _remove_stale_temporaries(task: TaskSpec) -> None:
    """Delete temporary files of this task's products left by a worker killed mid-write.

    Products, records and associations are written as ``.<name>.<random>.partial<ext>`` and
    renamed; only one task writes a product at a time, so any such file of this product is stale.
    Only this product's own names match (``<product>``, ``<product>_<suffix>`` with no further
    underscore, their provenance record and association), never another product's (``obs`` vs
    ``obs_sky``).
    """
    own = re.compile(rf"\.{re.escape(task.product)}(?:_[^_.]+)?(?:\.provenance)?\.[a-z0-9_]{{8}}\.partial(?:\.\w+)?")
    asn = re.compile(rf"\.{re.escape(task.product)}_{re.escape(task.alias)}_asn\.[a-z0-9_]{{8}}\.partial\.json")
    for folder, pattern in ((Path(task.output_dir), own), (Path(task.output_dir) / "asn", asn)):
        if folder.is_dir():
            for path in folder.glob(".*.partial*"):
                if pattern.fullmatch(path.name):
                    path.unlink(missing_ok=True)


def run_task(task: TaskSpec, *dependencies: TaskResult) -> TaskResult:
    """Run one task in this process (a dask worker or the caller) and write its provenance record.

    Parameters
    ----------
    task : TaskSpec
        What to run.
    *dependencies : TaskResult
        Results of the tasks it depends on; if one did not succeed the task is skipped.
    """
    worker = socket.gethostname() + f":{os.getpid()}"
    blocked = [dep for dep in dependencies if dep.status not in DONE]
    if blocked:
        return TaskResult(task.task_id, SKIPPED, note=f"waits for {blocked[0].task_id} ({blocked[0].status})",
                          worker=worker)  # fmt: skip
    start = time.perf_counter()
    start_ns = time.time_ns()
    ledger = task.ledger_path
    try:
        Path(task.output_dir).mkdir(parents=True, exist_ok=True)
        ledger.unlink(missing_ok=True)
        _remove_stale_temporaries(task)
        pipeline = import_class(task.class_path)
        with _store_lock(task), _collect_warnings() as warnings:
            before = _store_files(task.refstore) if task.kind == "calibration" else {}
            handed_over = rates.take(task.inputs[0]) if task.kind == "stage2" and len(task.inputs) == 1 else None
            result_model = pipeline.call(
                _pipeline_input(task) if handed_over is None else handed_over, output_dir=task.output_dir,
                save_results=True, refstore=task.refstore, steps=task.steps, configure_log=False, **task.options,
            )  # fmt: skip
            added: set[str] = set()
            if task.kind == "calibration":
                added = {p for p, state in _store_files(task.refstore).items() if before.get(p) != state}
        missing = [path.name for path in task.required_outputs if not path.is_file()]
        if missing:
            raise IrisPipelineError(f"{task.alias} produced no {missing[0]}")
        outputs = sorted({*task.required_outputs, *(p for p in task.optional_outputs if p.is_file()),
                          *_new_products(task, start_ns), *map(Path, added)})  # fmt: skip
        if not outputs:
            raise IrisPipelineError(f"{task.alias} produced no product for {task.product}")
        references = _recorded_references(task.required_outputs[0]) if task.selectors and task.required_outputs else {}
        record = {
            "format": LEDGER_FORMAT,
            "task": task.task_id,
            **task.expected_record(),
            "inputs": [file_state(p) for p in task.inputs],
            "outputs": [file_state(p) for p in outputs],
            "references": references,
            "selectors": task.selectors,
            "refstore": task.refstore,
            "seconds": time.perf_counter() - start,
            "warnings": warnings,
            "complete": True,
        }
        write_record(ledger, record)
        if task.handover:
            rates.offer(task.required_outputs[0], result_model)
    except INPUT_ERRORS as err:
        return TaskResult(task.task_id, FAILED, time.perf_counter() - start, error=first_line(err), worker=worker)
    return TaskResult(task.task_id, OK, time.perf_counter() - start, tuple(map(str, outputs)),
                      warnings=tuple(warnings), worker=worker)  # fmt: skip
