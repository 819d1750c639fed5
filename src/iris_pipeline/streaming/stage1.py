"""The stage-1 unit: one detector step prepared for an exposure, applicable to any block of its rows.

Every stage-1 step (``dq_init`` ... ``dark_current``, ``jump``) is written once, as a unit: the
step's ``stage1_unit(model, context)`` reads and prepares its reference arrays for the exposure
(adding their flags to the pixel DQ), and the unit's ``apply_block`` corrects one block of rows of
one integration in place. `run_units` drives a list of units over the blocks of every integration
and optionally fits the ramps (`iris_pipeline.ramp_fitting.ramp_fit_step.RampFitUnit`):

* ``detector1`` builds the units of all its steps in order and runs them in one pass over the
  memory-mapped raw reads, a block of rows at a time;
* a step run alone (``strun iris-pipeline::saturation x_dq_init.fits``) builds its own unit and
  runs the same `run_units` over the whole ramp of its input file.

So a step run alone and the same step inside ``detector1`` execute the same lines; only the
block size differs, and units that look at neighbouring rows declare the halo rows they need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..instruments import read_pattern_frames, read_pattern_times
from ..lib.blocks import convert_rows, default_block_rows, plan_blocks

__all__ = ["ExposureContext", "Stage1Result", "Stage1Unit", "run_units"]


@dataclass
class ExposureContext:
    """What the units of one pass know about the exposure, and share.

    Attributes
    ----------
    shape : tuple of int
        (nints, ngroups, ny, nx) of the ramp.
    pixeldq : np.ndarray
        uint32 (ny, nx) pixel DQ; units add the flags of their references to it while preparing.
    read_times_s : np.ndarray
        Mean time of each group since the reset, s.
    nframes : int
        Reads averaged in each group.
    read_pattern_s : list of list of float or None
        End time of every read of each group, s; None when every group is a single read.
    first_column : int
        0-based full-frame column of the window's first column.
    subtracted_bias_dn : np.ndarray or None
        The bias (DN) that a unit earlier in this pass subtracts from every group (set by the
        superbias unit), for units that measure the integration before its blocks are corrected.
    """

    shape: tuple[int, int, int, int]
    pixeldq: np.ndarray
    read_times_s: np.ndarray
    nframes: int
    read_pattern_s: list[list[float]] | None
    first_column: int
    subtracted_bias_dn: np.ndarray | None = None

    @classmethod
    def from_model(cls, model, shape: tuple[int, ...], pixeldq: np.ndarray) -> ExposureContext:
        """The context of a raw or ramp model (only its metadata is read)."""
        exposure = model.meta.exposure
        nframes = int(exposure.nframes or 1)
        timing = (shape[1], nframes, exposure.groupgap or 0, exposure.frame_time)
        frames = read_pattern_frames(*timing)
        return cls(
            shape=tuple(int(n) for n in shape),
            pixeldq=pixeldq,
            read_times_s=np.array(read_pattern_times(*timing), dtype=np.float64),
            nframes=nframes,
            read_pattern_s=frames if nframes > 1 else None,
            first_column=(model.meta.subarray.xstart or 1) - 1,
        )


class Stage1Unit:
    """A stage-1 step prepared for one exposure (made by its step's ``stage1_unit``).

    Attributes
    ----------
    halo_rows : int
        Rows above and below a block that the unit needs to correct the block's interior exactly
        (neighbour flagging); the halo rows themselves may be left incomplete.
    """

    halo_rows = 0

    def begin_integration(self, reads, data_offset: float) -> None:
        """Called with the whole input integration (ngroups, ny, nx) before its blocks.

        ``reads`` is the integration as this pass receives it (raw reads in ``detector1``, the
        input file's ramp for a step run alone); DN = ``reads + data_offset``.
        """

    def apply_block(self, block_dn: np.ndarray, groupdq: np.ndarray, rows: slice) -> None:
        """Correct rows ``rows`` of the current integration, in place.

        Parameters
        ----------
        block_dn : np.ndarray
            float32 (ngroups, nrows, nx), C-contiguous.
        groupdq : np.ndarray
            uint8 (ngroups, nrows, nx) group flags, updated in place.
        rows : slice
            Rows of the exposure the block holds (for cutting the prepared reference arrays).
        """
        raise NotImplementedError

    def fit_options(self) -> dict | None:
        """Keyword arguments that let the ramp fit do this unit's work in its own pass (None: cannot)."""
        return None


@dataclass
class Stage1Result:
    """Slopes (`RampFitResult`) of the exposure and of each integration, and the number of jumps found."""

    exposure: object
    integrations: object
    n_jumps: int = 0


def run_units(
    reads,
    context: ExposureContext,
    units: list[Stage1Unit],
    fit=None,
    *,
    data_offset: float = 0.0,
    groupdq=None,
    corrected_ramp: np.ndarray | None = None,
    corrected_groupdq: np.ndarray | None = None,
    block_rows: int | None = None,
) -> Stage1Result | None:
    """Apply ``units`` in order to every block of rows of every integration, then optionally fit.

    Parameters
    ----------
    reads : array-like
        (nints, ngroups, ny, nx) input, DN = stored + ``data_offset``: a memory-mapped raw file or
        a ramp, any numeric dtype and byte order. Read a block at a time, never modified unless it
        is also ``corrected_ramp`` (then ``block_rows`` must cover the integration).
    context : ExposureContext
        The exposure the units were prepared for.
    units : list of Stage1Unit
        Corrections, in order.
    fit : RampFitUnit, optional
        Fits every block after the corrections (``begin``, ``fit_block``, ``results``). When the
        last unit can run inside the fit (`Stage1Unit.fit_options`, the jump detection), the fit
        does it in the same pass.
    groupdq : array-like, optional
        uint8 input group flags shaped like ``reads`` (default: none set).
    corrected_ramp, corrected_groupdq : np.ndarray, optional
        float32 / uint8 arrays shaped like ``reads`` that receive the corrected ramp and flags.
    block_rows : int, optional
        Interior rows per block (default: buffers of about 48 MB).

    Returns
    -------
    Stage1Result or None
        None without ``fit``.
    """
    nints, ngroups, ny, nx = context.shape
    fused = units[-1].fit_options() if fit is not None and units else None
    if fused is not None:
        fused_unit, units = units[-1], units[:-1]
    halo = sum(unit.halo_rows for unit in units) + (fused_unit.halo_rows if fused is not None else 0)
    rows_per_block = block_rows or default_block_rows(ngroups, nx)
    if corrected_ramp is reads and rows_per_block < ny:
        raise ValueError("correcting a ramp in place needs blocks of whole integrations")
    blocks = plan_blocks(ny, rows_per_block, halo)
    # Flat buffers viewed per block keep every block C-contiguous, the shorter last one included.
    buffer_size = ngroups * max(b.stop - b.start for b in blocks) * nx
    buffer = np.empty(buffer_size, dtype=np.float32)
    groupdq_buffer = np.empty(buffer_size, dtype=np.uint8)
    n_jumps = 0
    if fit is not None:
        fit.begin(context.shape)
    for integration in range(nints):
        for unit in units:
            unit.begin_integration(reads[integration], data_offset)
        for blk in blocks:
            rows = slice(blk.start, blk.stop)
            size = ngroups * (blk.stop - blk.start) * nx
            block = buffer[:size].reshape(ngroups, blk.stop - blk.start, nx)
            block_dq = groupdq_buffer[:size].reshape(block.shape)
            if groupdq is None:
                block_dq[...] = 0
            else:
                block_dq[...] = groupdq[integration][:, rows]
            convert_rows(reads[integration], blk.start, data_offset, block)
            for unit in units:
                unit.apply_block(block, block_dq, rows)
            interior = slice(blk.halo_top, blk.stop - blk.start - blk.halo_bottom)
            if fit is not None:
                n_jumps += fit.fit_block(block, block_dq, blk, integration, fused)
            if corrected_ramp is not None:
                corrected_ramp[integration][:, blk.interior] = block[:, interior]
            if corrected_groupdq is not None:
                corrected_groupdq[integration][:, blk.interior] = block_dq[:, interior]
    if fit is None:
        return None
    exposure, integrations = fit.results()
    n_jumps += sum(getattr(unit, "n_jumps", 0) for unit in units)
    return Stage1Result(exposure, integrations, n_jumps)
