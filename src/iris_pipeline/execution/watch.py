"""``iris-pipeline watch``: reduce each raw exposure as soon as the instrument has written it.

A `Watch` polls a raw folder, declares a file complete when its size and time have not changed
for ``settle_s`` and the FITS file is readable to its end (`check_complete`), and then plans the
whole set of complete files with `build_plan` and submits the tasks that are not up to date (the
ledger) to a dask cluster that stays up all night (warm workers: imports, numba kernels and the
per-worker reference cache survive from one exposure to the next). Tasks already queued or
running are not resubmitted; a stage-3 task whose member list grew while it ran is redone when
it finishes, so the mosaic follows the dithers as they arrive.

Stage-1 and stage-2 tasks of one detector always go to the same worker (loose dask worker
restrictions, so a lost worker's detectors move elsewhere): each worker keeps only its own
detectors' reference arrays in memory.

A file that cannot be read (truncated, not FITS, unknown header) is reported once and skipped;
it is looked at again when its size or time changes. A task that fails is not retried until its
inputs change. Stopping (`threading.Event`, set by the CLI on Ctrl-C or SIGTERM) cancels what
is queued or running (products are written atomically, so nothing partial remains) and a later
start picks up from the ledger.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import IrisPipelineError, first_line
from .ledger import check_record, read_record
from .plan import Plan, TaskSpec, available_pipelines, build_plan, import_class
from .runner import STAGE_RANK, RunReport, local_cluster, write_summary
from .tasks import DONE, FAILED, OK, TaskResult, run_task

__all__ = ["Watch", "WatchStats", "check_complete"]

log = logging.getLogger(__name__)

FITS_BLOCK_BYTES = 2880


def check_complete(path) -> str | None:
    """Why the FITS file at `path` is not (yet) whole, or None when it is.

    Whole means: a non-empty whole number of FITS blocks, every header parses, the last HDU's
    data ends exactly at the end of the file, and a file with no data in its primary HDU has at
    least one extension (a file cut between two HDUs is not taken for a complete one).
    """
    from astropy.io import fits

    path = Path(path)
    size = path.stat().st_size
    if size == 0 or size % FITS_BLOCK_BYTES:
        return f"{size} bytes is not a whole number of {FITS_BLOCK_BYTES}-byte FITS blocks (still being written?)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, memmap=False, lazy_load_hdus=False) as hdul:
                spans = [hdu.fileinfo() for hdu in hdul]
                no_data = len(hdul) == 1 and not hdul[0].header.get("NAXIS")
        except (OSError, ValueError, IndexError) as err:
            return f"not a readable FITS file ({first_line(err)})"
    truncated = [w for w in caught if "truncated" in str(w.message).lower()]
    if truncated:
        return first_line(str(truncated[0].message))
    end = max(info["datLoc"] + info["datSpan"] for info in spans)
    if end != size:
        return f"its HDUs end at byte {end} of {size} (truncated or trailing bytes)"
    if no_data:
        return "primary header only, no data"
    return None


@dataclass
class _Arrival:
    """A raw file seen in the folder, and what is known about its completeness."""

    size: int
    mtime_ns: int
    changed_at: float  # monotonic time the size or time was last seen changing
    complete: bool = False
    problem: str | None = None


@dataclass
class WatchStats:
    """What a `Watch` did: per finished task its result and latency, and the problems reported."""

    results: dict[str, TaskResult] = field(default_factory=dict)
    latency_s: dict[str, float] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)


class Watch:
    """Reduce the raw files of `raw_dir` into `output_dir` as they arrive, until stopped.

    Parameters
    ----------
    raw_dir, output_dir : str or Path
        The folder the instrument writes to, and where products go.
    refstore : str, optional
        Reference store.
    client : distributed.Client, optional
        Use this client; otherwise one is made for `scheduler`, or for a local cluster of
        `workers` x `threads_per_worker` (closed when the watch stops).
    last_stage : int
        Last stage to run (calibrations count as stage 2).
    options : dict, optional
        Pipeline parameters given to every pipeline that declares them (``quicklook``).
    pipelines : dict, optional
        Alias -> class path (default: the registered pipelines).
    patterns : tuple of str
        File names that are raw exposures.
    poll_s, settle_s : float
        Seconds between looks at the folder; seconds a file must stay unchanged before it is
        checked for completeness.
    retries : int
        Times dask reruns a task after an unexpected exception.
    """

    def __init__(
        self,
        raw_dir,
        output_dir,
        *,
        refstore=None,
        client=None,
        scheduler: str | None = None,
        workers: int | None = None,
        threads_per_worker: int = 1,
        last_stage: int = 3,
        options: dict | None = None,
        pipelines: dict | None = None,
        patterns: tuple[str, ...] = ("*_uncal.fits",),
        poll_s: float = 0.25,
        settle_s: float = 0.5,
        retries: int = 1,
    ):
        self.raw_dir = Path(raw_dir)
        self.output_dir = Path(output_dir)
        self.refstore = refstore
        self.client = client
        self.scheduler = scheduler
        self.workers = workers
        self.threads_per_worker = threads_per_worker
        self.last_stage = last_stage
        self.options = options
        self.pipelines = available_pipelines() if pipelines is None else dict(pipelines)
        self.patterns = patterns
        self.poll_s = poll_s
        self.settle_s = settle_s
        self.retries = retries
        self.stats = WatchStats()
        self._arrivals: dict[Path, _Arrival] = {}
        self._running: dict[str, tuple] = {}  # task id -> (future, spec)
        self._origin: dict[str, float] = {}  # task id -> completion time (epoch s) of its newest raw file
        self._given_up: dict[str, tuple] = {}  # task id -> fingerprint of a task that failed or was skipped
        self._reported: set[tuple] = set()
        self._slots: dict[str, int] = {}  # detector -> worker slot
        self._plan: Plan | None = None
        self._cluster = None
        self._own_client = False

    # -- the folder ---------------------------------------------------------------------------

    def _scan(self) -> bool:
        """Look at the folder; True when a file became complete."""
        now = time.monotonic()
        became_complete = False
        paths = {p.resolve() for pattern in self.patterns for p in self.raw_dir.glob(pattern) if p.is_file()}
        for path in paths:
            try:
                stat = path.stat()
            except OSError:  # deleted between the listing and the stat
                continue
            seen = self._arrivals.get(path)
            if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                self._arrivals[path] = _Arrival(stat.st_size, stat.st_mtime_ns, now)
                continue
            if seen.complete or seen.problem is not None or now - seen.changed_at < self.settle_s:
                continue
            problem = check_complete(path)
            if problem is None:
                seen.complete = True
                became_complete = True
                self.stats.problems.pop(str(path), None)
            else:
                seen.problem = problem
                self._report(str(path), f"{problem}; skipped until it changes", (path, stat.st_size, stat.st_mtime_ns))
        for gone in set(self._arrivals) - paths:
            del self._arrivals[gone]
        return became_complete

    def _report(self, name: str, problem: str, key: tuple) -> None:
        if key in self._reported:
            return
        self._reported.add(key)
        self.stats.problems[name] = problem
        log.warning("%s: %s", name, problem)

    def _completion_time(self, path) -> float | None:
        seen = self._arrivals.get(Path(path).resolve())
        return seen.mtime_ns / 1e9 if seen is not None else None

    # -- the engine ---------------------------------------------------------------------------

    def _start_engine(self) -> None:
        if self.client is None:
            from distributed import Client

            if self.scheduler is None:
                self._cluster = local_cluster(self.workers, self.threads_per_worker)
            self.client = Client(self.scheduler or self._cluster)
            self._own_client = True
        self.client.run(_warm_worker, sorted(set(self.pipelines.values())))

    def _stop_engine(self) -> None:
        cancelled = [task_id for task_id, (future, _) in self._running.items() if not future.done()]
        if cancelled:
            self.client.cancel([self._running[t][0] for t in cancelled], force=True)
            self.stats.cancelled = cancelled
            log.warning("stopped with %d task(s) unfinished, redone at the next start: %s", len(cancelled),
                        ", ".join(cancelled))  # fmt: skip
        self._running.clear()
        if self._own_client:
            quiet = logging.getLogger("distributed")
            level = quiet.level
            quiet.setLevel(logging.CRITICAL)  # workers killed mid-task complain at length; the ledger knows
            try:
                self.client.close()
                if self._cluster is not None:
                    self._cluster.close()
            finally:
                quiet.setLevel(level)
            self.client = self._cluster = None
            self._own_client = False

    def _worker_for(self, task: TaskSpec) -> list[str] | None:
        """The worker that holds this task's detector (round robin over the workers, by arrival)."""
        detector = (task.selectors or {}).get("detector")
        if detector is None:
            return None
        workers = sorted(self.client.scheduler_info().get("workers", {}))
        if not workers:
            return None
        slot = self._slots.setdefault(detector, len(self._slots))
        return [workers[slot % len(workers)]]

    # -- planning and submission ---------------------------------------------------------------

    def _fingerprint(self, task: TaskSpec) -> tuple:
        states: list[tuple[int, int] | None] = []
        for path in task.inputs:
            try:
                stat = os.stat(path)
                states.append((stat.st_size, stat.st_mtime_ns))
            except OSError:
                states.append(None)
        return repr(task), tuple(states)

    def _schedule(self) -> None:
        complete = sorted(path for path, seen in self._arrivals.items() if seen.complete)
        if not complete:
            return
        plan = build_plan(complete, self.output_dir, refstore=self.refstore, last_stage=self.last_stage,
                          pipelines=self.pipelines, options=self.options)  # fmt: skip
        self._plan = plan
        for unit in plan.units:
            if unit.error:
                seen = self._arrivals.get(Path(unit.name))
                self._report(unit.name, unit.error, (unit.name, unit.error, seen and seen.mtime_ns))
        submitted = set()
        for task in plan.tasks:
            if task.task_id in self._running:
                continue  # a changed task (more dithers) is planned again when the running one ends
            upstream = [d for d in task.depends_on if d in self._running or d in submitted]
            if not upstream:
                if check_record(read_record(task.ledger_path), task.expected_record(), task.refstore) is None:
                    continue
                if self._given_up.get(task.task_id) == self._fingerprint(task):
                    continue
            self._submit(task)
            submitted.add(task.task_id)

    def _submit(self, task: TaskSpec) -> None:
        dependencies = []
        origins = [self._completion_time(p) for p in task.inputs]
        for dep in task.depends_on:
            if dep in self._running:
                dependencies.append(self._running[dep][0])
            elif dep in self.stats.results:
                dependencies.append(self.stats.results[dep])
            origins.append(self._origin.get(dep))
        known = [t for t in origins if t is not None]
        self._origin[task.task_id] = max(known) if known else time.time()
        worker = self._worker_for(task)
        placement = {"workers": worker, "allow_other_workers": True} if worker else {}
        # The oldest exposure first (its latency grows), and within one exposure the later stage.
        priority = STAGE_RANK.get(task.kind, 0) - 10 * round(self._origin[task.task_id])
        future = self.client.submit(run_task, task, *dependencies, key=f"{task.task_id}-{time.time_ns()}", pure=False,
                                    retries=self.retries, priority=priority, **placement)  # fmt: skip
        self._running[task.task_id] = (future, task)

    def _collect(self) -> list[TaskResult]:
        finished = []
        for task_id, (future, task) in list(self._running.items()):
            if not future.done():
                continue
            del self._running[task_id]
            try:
                result = future.result()
            except Exception as err:  # a worker crash or an unexpected error after dask's retries
                result = TaskResult(task_id, FAILED, error=f"{type(err).__name__}: {first_line(err)}")
            self.stats.results[task_id] = result
            if result.status in DONE:
                self._given_up.pop(task_id, None)
            else:
                self._given_up[task_id] = self._fingerprint(task)
            latency = time.time() - self._origin[task_id]
            self.stats.latency_s[task_id] = latency
            self._log_result(task, result, latency)
            finished.append(result)
        return finished

    @staticmethod
    def _log_result(task: TaskSpec, result: TaskResult, latency: float) -> None:
        if result.status == OK:
            product = next((Path(p).name for p in result.outputs if Path(p) in task.required_outputs),
                           Path(result.outputs[0]).name if result.outputs else task.product)  # fmt: skip
            log.info("%-8s %-40s latency %6.1f s  (ran %.1f s on %s)", task.kind, product, latency, result.seconds,
                        result.worker)  # fmt: skip
        else:
            log.warning("%-8s %-40s %s: %s", task.kind, task.product, result.status, result.error or result.note)

    def _write_summary(self) -> None:
        if self._plan is None:
            return
        done = self.stats.results
        results = {t.task_id: done[t.task_id] for t in self._plan.tasks if t.task_id in done}
        write_summary(RunReport(self._plan, results, cluster="watch"))

    # -- the loop -----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> WatchStats:
        """Watch until `stop` is set; returns what was done."""
        if not self.raw_dir.is_dir():
            raise IrisPipelineError(f"{self.raw_dir}: no such folder to watch")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._start_engine()
        log.info("watching %s -> %s", self.raw_dir, self.output_dir)
        try:
            while not stop.is_set():
                arrived = self._scan()
                finished = self._collect()
                if arrived or finished:
                    try:
                        self._schedule()
                    except (IrisPipelineError, OSError, ValueError) as err:  # e.g. a file deleted while planned
                        log.warning("planning failed, tried again at the next change: %s", first_line(err))
                if finished:
                    self._write_summary()
                stop.wait(self.poll_s)
            self._collect()
        finally:
            self._stop_engine()
            self._write_summary()
        log.info("stopped: %d task(s) done", sum(r.status == OK for r in self.stats.results.values()))
        return self.stats


def _warm_worker(class_paths: list[str]) -> None:
    """Import every pipeline once when the worker starts, not at the first exposure."""
    for class_path in class_paths:
        try:
            import_class(class_path)
        except (ImportError, AttributeError) as err:
            log.warning("cannot import %s: %s", class_path, first_line(err))
