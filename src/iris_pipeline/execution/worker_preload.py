"""Set-up of each local-cluster worker process, loaded by distributed's ``preload`` at start."""

from __future__ import annotations

import logging

__all__ = ["dask_setup"]


class _LostHeartbeatFilter(logging.Filter):
    """Drops the worker's lost-heartbeat traceback: it is what a worker sees while its scheduler stops.

    A night stopped with Ctrl-C or SIGTERM would otherwise end with a traceback from each worker;
    what each task did is in its provenance record and the run summary.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "during heartbeat" not in record.getMessage()


def dask_setup(worker) -> None:
    """Called by distributed in each worker process as it starts."""
    logging.getLogger("distributed.worker").addFilter(_LostHeartbeatFilter())
