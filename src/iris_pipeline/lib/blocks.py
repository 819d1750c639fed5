"""Blocks of rows of a ramp: the plan of a pass over an integration, and conversion to float32.

Shared by the ramp fit, the standalone jump detection and the streaming stage 1: the integration
(ngroups, ny, nx), possibly a memory map of a raw file, is never converted or copied whole; each
block of rows (plus halo rows for neighbour flagging) is converted into one reused float32 buffer.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numba
import numpy as np

BLOCK_BYTES = 48 * 1024 * 1024
"""Default size of the float32 block buffer."""


@dataclass(frozen=True)
class Block:
    """Rows ``start:stop`` of the integration are read; ``start + halo_top : stop - halo_bottom`` are fitted."""

    start: int
    stop: int
    halo_top: int
    halo_bottom: int

    @property
    def interior(self) -> slice:
        return slice(self.start + self.halo_top, self.stop - self.halo_bottom)


def default_block_rows(ngroups: int, nx: int, block_bytes: int = BLOCK_BYTES) -> int:
    """Rows per block so that a float32 (ngroups, rows, nx) buffer takes about ``block_bytes``."""
    return max(1, block_bytes // (4 * max(ngroups, 1) * max(nx, 1)))


def plan_blocks(ny: int, block_rows: int, halo: int) -> list[Block]:
    """Blocks of ``block_rows`` interior rows covering ``ny`` rows, each with up to ``halo`` rows of context."""
    blocks = []
    for first in range(0, ny, block_rows):
        last = min(first + block_rows, ny)
        start = max(first - halo, 0)
        stop = min(last + halo, ny)
        blocks.append(Block(start, stop, first - start, stop - last))
    return blocks


@contextlib.contextmanager
def dynamic_schedule():
    """Parallel loops started inside hand out their iterations one at a time (numba's chunk size 1).

    With few cores, a thread slowed by other work on the machine then does not hold the others back.
    """
    previous = numba.set_parallel_chunksize(1)
    try:
        yield
    finally:
        numba.set_parallel_chunksize(previous)


@numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def _convert_native(raw, row0, offset, out):
    ngroups, nrows, nx = out.shape
    for index in numba.prange(ngroups * nrows):
        group = index // nrows
        row = index % nrows
        src = raw[group, row0 + row]
        dst = out[group, row]
        for col in range(nx):
            dst[col] = np.float32(src[col] + offset)


@numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def _convert_swapped16(raw_u16, row0, offset, signed, out):
    ngroups, nrows, nx = out.shape
    for index in numba.prange(ngroups * nrows):
        group = index // nrows
        row = index % nrows
        src = raw_u16[group, row0 + row]
        dst = out[group, row]
        for col in range(nx):
            value = np.int64(src[col])
            value = ((value & 0xFF) << 8) | (value >> 8)
            if signed and value >= 32768:
                value -= 65536
            dst[col] = np.float32(value + offset)


def convert_rows(raw: np.ndarray, start: int, offset: float, out: np.ndarray) -> None:
    """``out[:] = raw[:, start:start + out.shape[1]] + offset`` as float32, in parallel.

    ``raw`` may be a memory map of any byte order; 16-bit big-endian data (FITS) are swapped in the
    kernel, other non-native data go through numpy one block at a time.
    """
    data = raw.view(np.ndarray) if isinstance(raw, np.memmap) else raw
    if data.dtype.isnative and data.dtype.kind in "uif":
        _convert_native(data, start, float(offset), out)
    elif data.dtype.itemsize == 2 and data.dtype.kind in "ui":
        _convert_swapped16(data.view(np.uint16), start, float(offset), data.dtype.kind == "i", out)
    else:
        np.add(data[:, start : start + out.shape[1]], offset, out=out, casting="unsafe")
