"""A per-process cache of prepared reference arrays, for workers that reduce a whole night.

Preparing the references of a full-frame detector (reading ~1 GB of FITS, byte-swapping, cutting
the window, folding the DQ flags in) costs seconds per exposure, for arrays that are the same
for every exposure of the night. A long-lived worker keeps the prepared arrays of the last few
configurations, keyed by the SHA-256 of every reference file used, the detector window and the
options that change the preparation: a new reference file in the store, another window or a
skipped step gives another key, so a cached entry is never used for anything else.

Entries are shared, not copied: users must not modify them (the stage-1 kernels only read them).
The number of entries kept is ``$IRIS_REFCACHE_ENTRIES`` (default 2, the detectors one worker
holds when a 4-detector night runs on two workers with detector affinity; 0 disables the cache).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["PreparedCache", "prepared_references"]

ENTRIES_VARIABLE = "IRIS_REFCACHE_ENTRIES"
DEFAULT_ENTRIES = 2


class PreparedCache:
    """Least-recently-used cache of prepared reference arrays, with hit and miss counts.

    Parameters
    ----------
    max_entries : int or None
        Entries kept; None reads ``$IRIS_REFCACHE_ENTRIES`` at each use (default 2).
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
