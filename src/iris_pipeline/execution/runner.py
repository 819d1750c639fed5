"""Run a `Plan` on a dask.distributed cluster (or in this process), resumably.

`run_plan` first asks the ledger which tasks are up to date (and redoes every task downstream of
one that runs), then submits the rest to a ``distributed.Client`` in dependency order: each
task's future receives the results of the futures it depends on, so dask starts it when they
are done. Tasks pass file paths and return `TaskResult` records. A worker that dies mid-task is
replaced by its nanny and dask reruns the task elsewhere; products and records are written
under temporary names and renamed, so nothing partial is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..exceptions import first_line
from ..lib.atomic import atomic_path
from ..lib.refcache import ENTRIES_VARIABLE, WORKER_ENTRIES
from .ledger import check_record, read_record
from .plan import Plan, TaskSpec
from .tasks import DONE, FAILED, SKIPPED, UP_TO_DATE, WOULD_RUN, TaskResult, run_task

__all__ = ["RunReport", "local_cluster", "run_plan", "stale_tasks"]

SUMMARY_NAME = "run_summary"
# The local cluster's dashboard: this machine only, on a free port.
DEFAULT_DASHBOARD = "127.0.0.1:0"
NOT_RUN = "N/A"
# dask priority of each kind of task (higher first): a worker runs an exposure's stage 2 as soon as
# its stage 1 is done, before the next exposure's stage 1 (latency, and the rate handed over in memory).
STAGE_RANK = {"calibration": 1, "stage1": 2, "stage2": 3, "stage3": 4}


@dataclass
class RunReport:
    """Results of every task of a plan, and the reason each task that ran had to run."""

    plan: Plan
    results: dict[str, TaskResult]
    reasons: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0
    cluster: str = ""

    @property
    def ran(self) -> list[str]:
        """Tasks that were executed (not up to date)."""
        return [task_id for task_id, result in self.results.items() if result.status not in (UP_TO_DATE, WOULD_RUN)]

    def unit_status(self, unit) -> str:
        """Status of a summary row: FAILED, SKIPPED, WOULD-RUN, UP-TO-DATE, OK, or N/A (nothing to run)."""
        statuses = [self.results[t].status for t in unit.tasks if t in self.results]
        if not statuses and not unit.error:
            return NOT_RUN
        if unit.error or FAILED in statuses:
            return FAILED
        if SKIPPED in statuses:
            return SKIPPED
        if WOULD_RUN in statuses:
            return WOULD_RUN
        if statuses and all(s == UP_TO_DATE for s in statuses):
            return UP_TO_DATE
        return "OK"

    @property
    def failed(self) -> bool:
        return any(self.unit_status(unit) in (FAILED, SKIPPED) for unit in self.plan.units)


def stale_tasks(plan: Plan, force: bool = False) -> dict[str, str]:
    """Tasks that must run, with the reason: their record fails `check_record`, or an upstream task runs."""
    reasons = {}
    for task in plan.tasks:
        upstream = next((dep for dep in task.depends_on if dep in reasons), None)
        if force:
            reasons[task.task_id] = "--force"
        elif upstream is not None:
            reasons[task.task_id] = f"{upstream} runs"
        else:
            reason = check_record(read_record(task.ledger_path), task.expected_record(), task.refstore)
            if reason is not None:
                reasons[task.task_id] = reason
    return reasons


def local_cluster(workers: int | None = None, threads_per_worker: int = 1, memory_limit="auto",
                  dashboard_address: str = DEFAULT_DASHBOARD):  # fmt: skip
    """A ``distributed.LocalCluster`` of worker processes sized to this machine.

    Each worker's numba kernels use `threads_per_worker` threads, so that ``workers x threads``
    never oversubscribes the cores. Workers keep the reference arrays they read
    (`iris_pipeline.lib.refcache`, ``$IRIS_REFCACHE_ENTRIES`` or 16 entries) for the next exposure. The dashboard has no authentication, so by default it
    listens on this machine only (`DEFAULT_DASHBOARD`); ``":0"`` exposes it on every interface.
    """
    from distributed import LocalCluster

    if workers is not None and workers < 0:
        raise ValueError(f"workers must be 0 or more, not {workers}")
    if threads_per_worker < 1:
        raise ValueError(f"threads per worker must be 1 or more, not {threads_per_worker}")
    workers = workers or max(1, (os.cpu_count() or 1) // threads_per_worker)
    with _workers_ignore_ctrl_c():
        return LocalCluster(
            n_workers=workers, threads_per_worker=threads_per_worker, processes=True, memory_limit=memory_limit,
            dashboard_address=dashboard_address, host="127.0.0.1", preload=["iris_pipeline.execution.worker_preload"],
            env={"NUMBA_NUM_THREADS": str(threads_per_worker),
                 ENTRIES_VARIABLE: os.environ.get(ENTRIES_VARIABLE, str(WORKER_ENTRIES))},
        )  # fmt: skip


@contextlib.contextmanager
def _workers_ignore_ctrl_c():
    """Start worker processes with SIGINT ignored (inherited through exec), then restore ours.

    Ctrl-C in a terminal signals the whole process group: the command stops its cluster cleanly,
    while workers that took it too would each die with a KeyboardInterrupt traceback.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _bar_disabled(progress: bool) -> bool | None:
    """tqdm's ``disable``: None shows the bar only when its output is a terminal (no carriage-return spam in logs)."""
    return None if progress else True


def _soonest_first(tasks: list[TaskSpec]) -> list[TaskSpec]:
    """The tasks in plan order, except that a task whose dependencies have all run comes right after
    the last of them: an exposure's stage 2 follows its stage 1 (its rate is still in memory,
    `iris_pipeline.execution.handover`) instead of waiting for the stage 1 of every other exposure."""
    pending = {task.task_id for task in tasks}
    dependents: dict[str, list[TaskSpec]] = {}
    for task in tasks:
        for dep in task.depends_on:
            dependents.setdefault(dep, []).append(task)
    order: list[TaskSpec] = []

    def emit(task: TaskSpec) -> None:
        pending.discard(task.task_id)
        order.append(task)
        for dependent in dependents.get(task.task_id, []):
            if dependent.task_id in pending and not any(dep in pending for dep in dependent.depends_on):
                emit(dependent)

    for task in tasks:
        if task.task_id in pending and not any(dep in pending for dep in task.depends_on):
            emit(task)
    return order


def _run_in_process(tasks: list[TaskSpec], results: dict, progress: bool) -> None:
    from tqdm import tqdm

    for task in tqdm(_soonest_first(tasks), desc="tasks", unit="task", disable=_bar_disabled(progress)):
        results[task.task_id] = run_task(task, *(results[d] for d in task.depends_on if d in results))


def _run_on_client(client, tasks: list[TaskSpec], results: dict, retries: int, progress: bool) -> None:
    from distributed import as_completed
    from tqdm import tqdm

    futures: dict = {}
    for task in tasks:
        dependencies = [futures.get(d, results.get(d)) for d in task.depends_on if d in futures or d in results]
        futures[task.task_id] = client.submit(run_task, task, *dependencies, key=f"{task.task_id}-{time.time_ns()}",
                                              pure=False, retries=retries,
                                              priority=STAGE_RANK.get(task.kind, 0))  # fmt: skip
    by_key = {future.key: task_id for task_id, future in futures.items()}
    for future in tqdm(as_completed(futures.values()), total=len(futures), desc="tasks", unit="task",
                       disable=_bar_disabled(progress)):  # fmt: skip
        task_id = by_key[future.key]
        try:
            results[task_id] = future.result()
        except Exception as err:  # a worker crash or an unexpected error after dask's retries
            results[task_id] = TaskResult(task_id, FAILED, error=f"{type(err).__name__}: {first_line(err)}")
    for task in tasks:
        blocked = [d for d in task.depends_on if d in results and results[d].status not in DONE]
        if blocked and results[task.task_id].status == FAILED and results[task.task_id].seconds == 0:
            results[task.task_id] = TaskResult(task.task_id, SKIPPED, note=f"waits for {blocked[0]} (FAILED)")


def run_plan(
    plan: Plan,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    force: bool = False,
    dry_run: bool = False,
    retries: int = 2,
    progress: bool = True,
    client=None,
    dashboard_address: str = DEFAULT_DASHBOARD,
) -> RunReport:
    """Run the tasks of `plan` that are not up to date.

    Parameters
    ----------
    plan : Plan
        From `iris_pipeline.execution.build_plan`.
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:8786``); default: a local cluster.
    workers : int, optional
        Local worker processes (default: one per core); ``0`` runs every task in this process.
        A plan with a single task to run also runs in this process unless a scheduler is given.
    threads_per_worker : int
        Threads of each local worker (and of its numba kernels).
    force : bool
        Run every task, ignoring the ledger.
    dry_run : bool
        Only decide what would run (results are ``WOULD-RUN`` or ``UP-TO-DATE``).
    retries : int
        Times dask reruns a task that raised an unexpected exception.
    progress : bool
        Show a progress bar (only when stderr is a terminal).
    client : distributed.Client, optional
        Use this client (tests, notebooks).
    dashboard_address : str
        Where the local cluster's dashboard listens (default: this machine only).
    """
    start = time.perf_counter()
    reasons = stale_tasks(plan, force)
    results = {t.task_id: TaskResult(t.task_id, UP_TO_DATE) for t in plan.tasks if t.task_id not in reasons}
    to_run = [task for task in plan.tasks if task.task_id in reasons]
    report = RunReport(plan, results, reasons)
    if dry_run:
        results.update(
            {task.task_id: TaskResult(task.task_id, WOULD_RUN, note=reasons[task.task_id]) for task in to_run}
        )
    elif to_run:
        plan.output_dir.mkdir(parents=True, exist_ok=True)
        if client is not None:
            report.cluster = f"client {client.scheduler.address}"
            _run_on_client(client, to_run, results, retries, progress)
        elif scheduler is None and (workers == 0 or len(to_run) == 1):
            report.cluster = "this process"
            _run_in_process(to_run, results, progress)
        else:
            from distributed import Client

            cluster = None if scheduler else local_cluster(workers, threads_per_worker,
                                                           dashboard_address=dashboard_address)  # fmt: skip
            try:
                with Client(scheduler or cluster) as own_client:
                    workers = len(cluster.workers) if cluster is not None else 0
                    report.cluster = scheduler or f"local cluster, {workers} workers x {threads_per_worker} threads"
                    _run_on_client(own_client, to_run, results, retries, progress)
            finally:
                if cluster is not None:
                    cluster.close()
    report.results = {task.task_id: results[task.task_id] for task in plan.tasks}
    report.wall_s = time.perf_counter() - start
    if not dry_run and to_run:
        write_summary(report)
    return report


def summary_rows(report: RunReport) -> list[dict]:
    """One dict per unit: name, kind, status, seconds, outputs, notes (task notes and errors)."""
    rows = []
    for unit in report.plan.units:
        results = [report.results[t] for t in unit.tasks if t in report.results]
        notes = list(unit.notes)
        for result in results:
            if result.error:
                notes.append(f"error: {result.error}")
            elif result.status == WOULD_RUN:
                notes.append(f"would run {result.task_id}: {result.note}")
            elif result.note:
                notes.append(f"{result.task_id} skipped: {result.note}")
            notes += [f"warning: {message}" for message in result.warnings]
        if unit.error:
            notes.append(f"error: {unit.error}")
        rows.append({
            "unit": unit.name, "kind": unit.kind, "exp_type": unit.exp_type, "status": report.unit_status(unit),
            "seconds": sum(r.seconds for r in results),
            "pipelines": [report.plan.task(t).alias for t in unit.tasks],
            "outputs": [o for r in results for o in r.outputs], "notes": notes,
        })  # fmt: skip
    return rows


def format_summary(report: RunReport) -> str:
    """The summary table printed at the end of ``iris-pipeline process``."""
    lines = [f"{'status':<10} {'seconds':>8}  {'EXP_TYPE':<16} {'pipelines':<24} file / output / note"]
    for row in summary_rows(report):
        lines.append(f"{row['status']:<10} {row['seconds']:8.1f}  {row['exp_type'] or '-':<16} "
                     f"{'+'.join(row['pipelines']) or '-':<24} {row['unit']}")  # fmt: skip
        lines += [f"{'':62}-> {output}" for output in row["outputs"]]
        lines += [f"{'':62}{note if note.startswith(('error', 'warning')) else 'note: ' + note}" for note in row["notes"]]
    counts = {status: 0 for status in ("OK", FAILED, SKIPPED, UP_TO_DATE, WOULD_RUN, NOT_RUN)}
    for unit in report.plan.units:
        counts[report.unit_status(unit)] += 1
    warned = sum(1 for result in report.results.values() if result.warnings)
    lines.append("")
    if warned:
        lines.append(f"{warned} task(s) ended with warnings (a step may not have done all of its job: see 'warning:' above)")
    lines.append(f"{counts['OK']} succeeded, {counts[FAILED]} failed, {counts[SKIPPED]} skipped, "
                 f"{counts[UP_TO_DATE]} up to date ({len(report.ran)} tasks run in {report.wall_s:.1f} s"
                 f"{' on ' + report.cluster if report.cluster else ''})")  # fmt: skip
    if not report.ran and report.plan.tasks and not counts[WOULD_RUN]:
        lines.append(f"nothing to do: all {len(report.plan.tasks)} tasks are up to date")
    if counts[WOULD_RUN]:
        lines.append(f"dry run: {counts[WOULD_RUN]} rows would run")
    return "\n".join(lines)


def write_summary(report: RunReport) -> tuple[Path, Path]:
    """Write ``run_summary.json`` and ``run_summary.txt`` in the output folder (atomically)."""
    folder = report.plan.output_dir
    document = {"wall_s": report.wall_s, "cluster": report.cluster, "reasons": report.reasons,
                "tasks": [asdict(r) for r in report.results.values()], "units": summary_rows(report)}  # fmt: skip
    written = []
    for name, text in (
        (f"{SUMMARY_NAME}.json", json.dumps(document, indent=1)),
        (f"{SUMMARY_NAME}.txt", format_summary(report)),
    ):
        with atomic_path(folder / name) as tmp:
            tmp.write_text(text + "\n")
        written.append(folder / name)
    return written[0], written[1]
