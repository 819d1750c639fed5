"""Stage 1 in one streaming pass over blocks of detector rows.

A full IRIS ramp is up to 4096 x 4096 pixels x hundreds of reads (3.4 GB of uint16 for 100 reads):
converting it to float32 for each correction in turn, as JWST's pipeline does, would need many
times that in memory. Instead the raw reads stay memory-mapped, and each block of rows is read
once into a reused float32 buffer, corrected by the same kernels the individual steps use
(saturation, superbias, refpix, linearity, dark), searched for jumps and fitted, before the next
block is read. Memory is the buffer plus the 2-D outputs, whatever the number of reads.

Blocks carry halo rows above and below for the corrections that look at neighbouring pixels
(saturation growth, jump neighbour flagging); only the interior rows are written out. The
reference-pixel drifts of each integration are measured first from its reference rows and
columns only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..dark_current import subtract_dark
from ..jump import detect_jumps
from ..lib.blocks import convert_rows, default_block_rows, plan_blocks
from ..linearity import apply_linearity
from ..ramp_fitting.ols import combine_integrations, fit_block
from ..ramp_fitting.result import RampFitResult
from ..refpix import apply_reference_offsets, measure_reference_offsets
from ..saturation import flag_saturation
from ..superbias import subtract_superbias

__all__ = ["Stage1Calibration", "Stage1Options", "Stage1Result", "run_stage1"]


@dataclass
class Stage1Calibration:
    """Reference arrays cut to the exposure's window, ready to apply (see the ``prepare_*`` functions).

    Attributes
    ----------
    pixeldq : np.ndarray
        uint32 (ny, nx): the mask and every flag added while preparing the references.
    read_noise_dn : np.ndarray
        float32 (ny, nx): noise of one read, DN.
    gain_e_per_dn : np.ndarray
        float32 (ny, nx): gain, e-/DN.
    saturation_dn, superbias_dn, dark_dn_s : np.ndarray or None
        float32 (ny, nx) thresholds (raw DN), bias (DN), dark rate (DN/s); None skips that step.
    linearity_coeffs : np.ndarray or None
        float32 (ncoeffs, ny, nx); None skips linearity.
    """

    pixeldq: np.ndarray
    read_noise_dn: np.ndarray
    gain_e_per_dn: np.ndarray
    saturation_dn: np.ndarray | None = None
    superbias_dn: np.ndarray | None = None
    linearity_coeffs: np.ndarray | None = None
    dark_dn_s: np.ndarray | None = None


@dataclass
class Stage1Options:
    """What to run and how (the parameters of the detector1 steps).

    ``refpix`` holds the keyword arguments of `measure_reference_offsets` (None skips refpix);
    ``jump_threshold`` the two-point-difference rejection threshold in sigma (None skips jump);
    ``fit_options`` keyword arguments of `fit_block` (``variance``, ``suppress_one_group``).
    """

    n_pix_grow_sat: int = 1
    read_pattern: list[list[float]] | None = None
    refpix: dict | None = field(default_factory=dict)
    jump_threshold: float | None = 4.0
    jump_options: dict = field(default_factory=dict)
    fit_options: dict = field(default_factory=dict)
    block_rows: int | None = None


@dataclass
class Stage1Result:
    """Slopes of the exposure and of each integration, and what happened on the way."""

    exposure: RampFitResult
    integrations: RampFitResult
    n_jumps: int
    refpix_applied: dict[str, bool]


def _empty_result(shape: tuple[int, ...]) -> RampFitResult:
    return RampFitResult(
        slope=np.full(shape, np.nan, np.float32),
        err=np.full(shape, np.nan, np.float32),
        var_poisson=np.full(shape, np.nan, np.float32),
        var_rnoise=np.full(shape, np.nan, np.float32),
        dq=np.zeros(shape, np.uint32),
    )


def _integration_view(result: RampFitResult, index: int) -> RampFitResult:
    return RampFitResult(
        *(getattr(result, name)[index] for name in ("slope", "err", "var_poisson", "var_rnoise", "dq"))
    )


def _correct_block(block, groupdq, rows, calibration, options, offsets, read_times_s) -> None:
    """Saturation flags and every enabled correction, in place, on one block of rows."""
    if calibration.saturation_dn is not None:
        bias = None if calibration.superbias_dn is None else calibration.superbias_dn[rows]
        flag_saturation(
            block, groupdq, calibration.saturation_dn[rows], options.n_pix_grow_sat,
            read_pattern=options.read_pattern, bias_dn=bias,
        )  # fmt: skip
    if calibration.superbias_dn is not None:
        subtract_superbias(block, calibration.superbias_dn[rows])
    if offsets is not None:
        apply_reference_offsets(block, offsets, first_row=rows.start)
    if calibration.linearity_coeffs is not None:
        apply_linearity(block, groupdq, calibration.linearity_coeffs[:, rows])
    if calibration.dark_dn_s is not None:
        subtract_dark(block, calibration.dark_dn_s[rows], read_times_s)


def run_stage1(
    reads,
    read_times_s,
    calibration: Stage1Calibration,
    options: Stage1Options,
    *,
    nframes: int = 1,
    data_offset: float = 0.0,
    first_column: int = 0,
    channel_width_pix: int = 64,
    corrected_ramp: np.ndarray | None = None,
    corrected_groupdq: np.ndarray | None = None,
    fit: bool = True,
) -> Stage1Result | None:
    """Correct and fit every integration of an exposure, streaming over blocks of rows.

    Parameters
    ----------
    reads : array-like
        Raw groups, (nints, ngroups, ny, nx): a memory-mapped uint16/int16 array (with
        ``data_offset``) or any numeric array. Never modified, never converted whole.
    read_times_s : array-like
        Mean time of each group since the reset, s.
    calibration : Stage1Calibration
        Prepared reference arrays; ``calibration.pixeldq`` is the input pixel DQ.
    options : Stage1Options
        Which corrections run, and their parameters.
    nframes : int
        Reads averaged in each group (their read noise adds as ``sigma^2 / nframes``).
    data_offset : float
        Added to stored values to get DN (32768 for FITS unsigned integers read unscaled).
    first_column : int
        0-based full-frame column of the window's first column (for output channels).
    channel_width_pix : int
        Columns per output channel.
    corrected_ramp, corrected_groupdq : np.ndarray, optional
        float32 and uint8 arrays shaped like ``reads`` to receive the corrected ramp and its
        group DQ (for saving ``_ramp`` products or fitting with stcal); costs their memory.
    fit : bool
        Fit slopes (False only corrects, into ``corrected_ramp``).

    Returns
    -------
    Stage1Result or None
        None when ``fit`` is False.
    """
    nints, ngroups, ny, nx = reads.shape
    read_times_s = np.asarray(read_times_s, dtype=np.float64)
    block_rows = options.block_rows or default_block_rows(ngroups, nx)
    halo = max(options.n_pix_grow_sat if calibration.saturation_dn is not None else 0,
               1 if options.jump_threshold is not None else 0)  # fmt: skip
    blocks = plan_blocks(ny, block_rows, halo)
    # Flat buffers viewed per block keep every block C-contiguous, the shorter last one included.
    buffer_size = ngroups * max(b.stop - b.start for b in blocks) * nx
    buffer = np.empty(buffer_size, dtype=np.float32)
    groupdq_buffer = np.empty(buffer_size, dtype=np.uint8)
    integrations = _empty_result((nints, ny, nx))
    n_jumps = 0
    refpix_applied = {"rows": False, "columns": False}
    for integration in range(nints):
        offsets = None
        if options.refpix is not None:
            offsets = measure_reference_offsets(
                reads[integration], calibration.pixeldq, first_column, channel_width_pix,
                bias_dn=calibration.superbias_dn, data_offset=data_offset, **options.refpix,
            )  # fmt: skip
            refpix_applied = offsets.applied
        out = _integration_view(integrations, integration)
        for blk in blocks:
            rows = slice(blk.start, blk.stop)
            block_shape = (ngroups, blk.stop - blk.start, nx)
            block = buffer[: np.prod(block_shape)].reshape(block_shape)
            groupdq = groupdq_buffer[: np.prod(block_shape)].reshape(block_shape)
            groupdq[...] = 0
            convert_rows(reads[integration], blk.start, data_offset, block)
            _correct_block(block, groupdq, rows, calibration, options, offsets, read_times_s)
            interior = slice(blk.halo_top, blk.stop - blk.start - blk.halo_bottom)
            if fit:
                n_jumps += fit_block(
                    block, groupdq, read_times_s, calibration.read_noise_dn[rows], calibration.gain_e_per_dn[rows],
                    out, blk.interior, nframes=nframes, jump_threshold=options.jump_threshold,
                    halo_top=blk.halo_top, halo_bottom=blk.halo_bottom, pixeldq_block=calibration.pixeldq[rows],
                    dark_dn_s=None if calibration.dark_dn_s is None else calibration.dark_dn_s[rows],
                    **options.jump_options, **options.fit_options,
                )  # fmt: skip
            elif options.jump_threshold is not None:
                _, found = detect_jumps(
                    block, groupdq, calibration.read_noise_dn[rows], calibration.gain_e_per_dn[rows], read_times_s,
                    nframes=nframes, rejection_threshold=options.jump_threshold, **options.jump_options,
                )  # fmt: skip
                n_jumps += found
            if corrected_ramp is not None:
                corrected_ramp[integration, :, blk.interior] = block[:, interior]
            if corrected_groupdq is not None:
                corrected_groupdq[integration, :, blk.interior] = groupdq[:, interior]
    if not fit:
        return None
    per_integration = [_integration_view(integrations, i) for i in range(nints)]
    if nints == 1:  # the exposure's slope is its integration's
        exposure = per_integration[0]
    else:
        exposure = combine_integrations(per_integration, variance=options.fit_options.get("variance", "exact"))
    return Stage1Result(exposure, integrations, n_jumps, refpix_applied)
