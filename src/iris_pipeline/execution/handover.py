"""Stage 1 -> stage 2 of one exposure in one process: the rate model handed over in memory.

Stage 1 writes its ``_rate.fits`` (atomically: it is the product, the provenance and what a
resumed night starts from) and returns the very model it wrote. A stage-1 task whose rate is the
only input of its exposure's stage 2 (`TaskSpec.handover`) leaves that model here, with the size
and modification time of the file; the stage-2 task running next in the same process takes it
instead of reading and byte-swapping the file again. It is taken once, and only if the file on
disk is still the one written (same size and time): anything else, a worker killed between the
stages, a task moved to another worker, a rate rewritten meanwhile, reads the file as before.

The model is the one that was saved, so stage 2 sees what it would read from the file: the
arrays (FITS keeps float32 and uint32 exactly), ``meta.filename``, the reference files
(``R_*``/``H_*``) and step statuses (``S_*``) of stage 1. At most `MAX_ENTRIES` models wait
(a full-frame rate is ~340 MB); the oldest is dropped first and its stage 2 reads the file.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

__all__ = ["MAX_ENTRIES", "Handover", "rates"]

log = logging.getLogger(__name__)

# Two detectors per worker (4 detectors on 2 workers with detector affinity) may each finish
# stage 1 before the first one's stage 2 starts.
MAX_ENTRIES = 2


def _state(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


class Handover:
    """Models written to a file and kept for the next task of this process that reads that file.

    Parameters
    ----------
    max_entries : int
        Models kept at most; the oldest is dropped first.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple] = OrderedDict()
        self._lock = threading.Lock()
        self.taken = 0

    def offer(self, path, model) -> None:
        """Keep `model`, just saved as `path`, for one `take` of that path."""
        path = Path(path).resolve()
        state = _state(path)
        if state is None or self.max_entries < 1:
            return
        with self._lock:
            self._entries[str(path)] = (state, model)
            self._entries.move_to_end(str(path))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def take(self, path):
        """The model saved as `path` if it is kept and the file is unchanged since, else None."""
        path = Path(path).resolve()
        with self._lock:
            entry = self._entries.pop(str(path), None)
        if entry is None:
            return None
        state, model = entry
        if _state(path) != state:
            log.info("%s changed since stage 1 wrote it: read from the file", path.name)
            return None
        with self._lock:
            self.taken += 1
        log.info("%s: taken over from stage 1 in memory (the file is the same)", path.name)
        return model

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.taken = 0

    def __len__(self) -> int:
        return len(self._entries)


rates = Handover()
