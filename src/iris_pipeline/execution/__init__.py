"""Whole nights: the task graph of many exposures, run on dask.distributed, resumably.

`build_plan` turns files, folders and association files into `TaskSpec` records (calibrations,
stage 1, stage 2 per exposure, stage 3 per association); `run_plan` runs the ones whose products
are not up to date (the ledger, `iris_pipeline.execution.ledger`) on a local or remote dask
cluster. See ``docs/running-a-night.md``.
"""

from .ledger import check_record, read_record, write_record
from .plan import Plan, TaskSpec, Unit, available_pipelines, build_plan
from .runner import RunReport, format_summary, local_cluster, run_plan, stale_tasks, summary_rows
from .tasks import FAILED, OK, SKIPPED, UP_TO_DATE, WOULD_RUN, TaskResult, run_task

__all__ = [
    "FAILED",
    "OK",
    "SKIPPED",
    "UP_TO_DATE",
    "WOULD_RUN",
    "Plan",
    "RunReport",
    "TaskResult",
    "TaskSpec",
    "Unit",
    "available_pipelines",
    "build_plan",
    "check_record",
    "format_summary",
    "local_cluster",
    "read_record",
    "run_plan",
    "run_task",
    "stale_tasks",
    "summary_rows",
    "write_record",
]
