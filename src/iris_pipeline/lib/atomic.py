"""Atomic file output: write under a temporary name beside the destination, rename when complete."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "current_umask"]


def current_umask() -> int:
    """The process's file-creation mask (read without changing it for longer than the call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it becomes `path` only if the block completes.

    The temporary name is ``.<stem>.<random>.partial<suffix>`` in the destination folder (created
    if needed), so the rename is atomic and a killed process leaves a hidden ``.partial`` file,
    never a half-written product. On any failure the temporary file is removed and an existing
    `path` is left as it was. The final file has the permissions an ordinary ``open`` would give
    (``0o666`` less the umask), not the private ``0o600`` of a temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent)
    os.close(handle)
    try:
        yield Path(tmp_name)
        os.chmod(tmp_name, 0o666 & ~current_umask())
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
