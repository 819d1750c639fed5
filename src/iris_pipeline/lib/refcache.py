"""A per-process cache of reference arrays, for workers that reduce a whole night.

Reading the references of a full-frame detector (~1 GB of FITS, byte-swapped and cut to the
exposure's window) costs seconds per exposure, for arrays that are the same for every exposure
of the night. A long-lived worker keeps the arrays it read last, keyed by the SHA-256 of the
reference file, the arrays read and the detector window: a new reference file in the store or
another window gives another key, so a cached entry is never used for anything else.

Entries are shared, not copied, and read-only. The number of entries kept is
``$IRIS_REFCACHE_ENTRIES``: 0 (off) by default, since a single run gains nothing and would hold
the arrays it read beside the prepared ones; the workers of a local cluster (``process``,
``watch``) get `WORKER_ENTRIES` (16: the eight stage-1 reference types of the two detectors one
worker holds when a 4-detector night runs on two workers with detector affinity).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["ENTRIES_VARIABLE", "WORKER_ENTRIES", "PreparedCache", "prepared_references"]

ENTRIES_VARIABLE = "IRIS_REFCACHE_ENTRIES"
DEFAULT_ENTRIES = 0
WORKER_ENTRIES = 16


class PreparedCache:
    """Least-recently-used cache of reference arrays, with hit and miss counts.

    Parameters
    ----------
    max_entries : int or None
        Entries kept; None reads ``$IRIS_REFCACHE_ENTRIES`` at each use (default 0: off).
    """

    def __init__(self, max_entries: int | None = None):
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def max_entries(self) -> int:
        if self._max_entries is not None:
            return self._max_entries
        return int(os.environ.get(ENTRIES_VARIABLE, DEFAULT_ENTRIES))

    def get(self, key: Hashable, make: Callable[[], object]):
        """The entry for `key`, made by ``make()`` (and kept) when absent."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
        value = make()
        with self._lock:
            self.misses += 1
            if self.max_entries > 0:
                self._entries[key] = value
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)


prepared_references = PreparedCache()
