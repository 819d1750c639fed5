"""Optimally weighted least-squares ramp fitting (stcal's OLS_C algorithm) in numba, a block of rows at a time.

Slopes (stcal ``ramp_fitting/src/slope_fitter.c``, one integration, per pixel):

* **Segments.** Runs of good groups (no flag but ``PERSISTENCE``); a group flagged exactly
  ``JUMP_DET`` starts the next segment. A ``SATURATED`` first group, or every group ``SATURATED`` or
  ``DO_NOT_USE``, gives no slope. One-group segments are dropped when a longer segment exists;
  otherwise only the first is used (slope = value / group time). With ``suppress_one_group`` a ramp
  with a single good group gives no slope.
* **Segment slope.** Least squares with Fixsen et al. (2000) weights ``|(t - t_mid) / t_half|**P``,
  the exponent ``P`` from the segment's signal-to-noise ``S = s g / sqrt(R_e**2 + s g)`` (``s`` the
  signal over the segment in DN, ``g`` the gain, ``R_e`` the group read noise in electrons):
  ``P`` = 0, 0.4, 1, 3, 6, 10 for ``S`` < 5, 10, 20, 50, 100, >= 100. Two-group segments are the
  difference over the time between them.
* **Combination of segments**: weights ``sum((t - t_mean)**2)`` per segment, i.e. ``1 / var_R`` of
  stcal's read-noise variance (stcal's JP-4318 weighting).

Times are the groups' mean times, so unevenly spaced groups (MCDS, Fowler, averaged reads) are
fitted with the right abscissae; for even spacing this is stcal's arithmetic, and slopes equal
stcal's within float32 rounding.

Variances (``variance=``), with ``R**2 = read_noise**2 / nframes`` the read variance of a group:

* ``"exact"`` (default): the variances of the slope actually computed. Writing the segment slope as
  ``sum_k c_k y_k``, ``var_R = R**2 sum(c**2)`` and ``var_P = (rate / g) sum_j dt_j (sum_{k>j} c_k)**2``
  (independent Poisson increments between groups), with ``rate`` the pixel's slope (0 if negative);
  segments and integrations combine as ``sum(w**2 var) / sum(w)**2`` with their slope weights ``w``;
  ``err = sqrt(var_poisson + var_rnoise)``. This ERR matches the scatter of the slopes within 2 %
  from 1 to 10^4 DN/s (``tests/test_ramp_fit_ols.py``); as the rate is the slope itself, err grows a
  little with upward noise and ``(slope - true) / err`` has a mean of -0.02 to -0.04 at faint
  fluxes. The Poisson covariance of reads averaged within a group is neglected (a slightly
  conservative ``var_P`` for ``nframes > 1``). stcal's formulas below hold only for unweighted fits
  (``var_R``) or end-point fits (``var_P``), and its median rate is very noisy for many-group ramps:
  with 100 groups of 1.47 s at 1 DN/s (read noise 6 DN, gain 2.3 e-/DN) slopes scatter 1.29 times
  stcal's ERR, 1.57 times at 0.3 DN/s (exact: 1.01 at both).
* ``"stcal"``: stcal's numbers. Per segment ``var_R = R**2 / sum((t - t_mean)**2)``
  (``12 R**2 / ((n**3 - n) dt**2)`` for even spacing) and ``var_P = median_rate / (g T)``, ``T`` the
  segment's time span and ``median_rate`` the median of the first differences (usable groups, a
  difference into a ``JUMP_DET`` group left out; 0 if not positive); ``var_rnoise = 1 / sum(1 / var_R)``,
  ``var_poisson = 1 / sum(1 / var_P)`` and per integration ``err = sqrt(1 / sum(1 / (var_P + var_R)))``.

DQ: output dq is ``pixeldq``, plus ``NO_GAIN_VALUE | DO_NOT_USE`` for a gain that is not positive,
``JUMP_DET`` / ``PERSISTENCE`` when any group has it, ``DO_NOT_USE`` (and ``SATURATED``) when no slope
can be made, ``SATURATED`` when any group is saturated. A pixel whose dq has ``DO_NOT_USE`` or
``SATURATED`` before that last step gets a NaN slope and zero variances and error (stcal's convention).

Deliberate differences from stcal 1.20 besides the exact variances (pinned by
``tests/test_ramp_fit_ols.py``):

1. No ``LARGE_VARIANCE_THRESHOLD``: stcal sets variances of 1e6 (DN/s)^2 or more to 0.
2. A pixel left with no segment although not all its groups are ``SATURATED``/``DO_NOT_USE`` (for
   instance every group ``OUTLIER``, or a lone ``JUMP_DET`` group), or with a non-finite slope (NaN
   samples), gets a NaN slope and ``DO_NOT_USE``; stcal reports a slope of 0, or replaces NaN samples by 0.
3. With ``variance='stcal'`` each integration's Poisson variance uses its own median rate; stcal uses
   the mean of all integrations' medians (a NaN median counting as 0) for every integration, and
   combines integrations as ``1 / sum(1 / var_poisson_i)``. Measured on simulated exposures whose
   integrations collect different counts (``benchmarks/check_poisson_integrations.py``), the own
   rate gives calibrated rateints ERR where stcal's is off by factors of 0.2 to 1.7, and the
   exposure's Poisson variance here is that of the weighted mean, ``sum(w**2 var_poisson_i) / sum(w)**2``.
4. ``UNRELIABLE_SLOPE`` is never set (stcal's OLS_C does not set it either). No ZEROFRAME or
   CHARGELOSS read-noise recomputation (unused by IRIS/Liger). The dark current subtracted before
   the fit (``dark_dn_s``) adds its shot noise as stcal's average dark current does: in ``'stcal'``
   mode ``(max(median_rate, 0) + dark) / (g T)``, in ``'exact'`` mode the rate is ``max(slope + dark, 0)``.

Jump detection, when ``jump_threshold`` is given, is :mod:`iris_pipeline.jump`'s, run in the same
pass: detection for every row of the block (halo rows included), then neighbour flags, so that a
neighbour's flag takes part in its fit.
"""

from __future__ import annotations

import numba
import numpy as np

from ..lib import twopoint as tp
from ..lib.blocks import BLOCK_BYTES, convert_rows, default_block_rows, dynamic_schedule, plan_blocks
from . import _kernels as kern
from .result import RampFitResult

__all__ = ["VARIANCE_MODES", "combine_integrations", "fit_block", "fit_ramps"]

VARIANCE_MODES = ("exact", "stcal")
THREE_GROUP_REJECTION_THRESHOLD = 6.0
FOUR_GROUP_REJECTION_THRESHOLD = 5.0

_OUTPUTS = ("slope", "err", "var_poisson", "var_rnoise", "dq")
_DUMMY_GROUPDQ = np.zeros((1, 1, 1), dtype=np.uint8)
_DUMMY_PIXELDQ = np.zeros((1, 1), dtype=np.uint32)
_IN_PLACE_DTYPES = tuple(np.dtype(t) for t in ("uint16", "int16", "uint32", "int32", "float32", "float64"))
"""Stored types read in place (each compiles the kernels once more)."""


def _clean_ramp_tables(times_s: np.ndarray, exact: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per S/N class, the slope and variance factors of a flag-free ramp (one segment, all groups).

    With the weights ``w`` of the fit, ``slope = sum_k c_k y_k``, ``c_k = w_k (S0 x_k - S1) / (S0 S2 - S1**2)``;
    since ``sum(c) = 0``, ``slope = sum_j coef_j d_j`` over the first differences ``d_j`` (DN/s) with
    ``coef_j = dt_j sum_{k > j} c_k``. Variance factors (see :func:`._kernels.store_clean_results`):
    exact, ``sum(c**2)`` and ``sum_j coef_j**2 / dt_j``; stcal, ``1 / sum((t - t_mean)**2)`` and ``1 / T``.

    Returns
    -------
    coefficients : np.ndarray
        float32 (6, ngroups - 1).
    variance_factors : np.ndarray
        float64 (2, 6).
    """
    ngroups = times_s.size
    coefficients = np.zeros((kern.NCLASSES, max(ngroups - 1, 1)), dtype=np.float32)
    factors = np.zeros((2, kern.NCLASSES))
    if ngroups < 2:
        return coefficients, factors
    x = times_s - times_s[0]
    dt = np.diff(times_s)
    mid = 0.5 * x[-1]
    u = (np.abs(x - mid) / mid).astype(np.float32)
    for level, power in enumerate(kern.POWERS):
        # As stcal: powf in single precision; a two-group segment is not weighted.
        w = np.ones(ngroups) if ngroups == 2 else (u ** np.float32(power)).astype(np.float64)
        s0, s1, s2 = w.sum(), (w * x).sum(), (w * x * x).sum()
        c = w * (s0 * x - s1) / (s0 * s2 - s1 * s1)
        coef = dt * np.cumsum(c[::-1])[::-1][1:]
        coefficients[level] = coef
        if exact:
            factors[:, level] = (c * c).sum(), (coef * coef / dt).sum()
        else:
            factors[:, level] = 1.0 / np.sum((times_s - times_s.mean()) ** 2), 1.0 / x[-1]
    return coefficients, factors


def _make_settings(read_times, ngroups: int, nframes, suppress_one_group, variance, jump_threshold, jump_options):
    """Validated fit and jump settings; ``jump_options`` = (three_group, four_group, flag_4_neighbors, max, min)."""
    times_s = np.asarray(read_times, dtype=np.float64)
    if times_s.shape != (ngroups,):
        raise ValueError(f"read_times must give one mean time (s) per group: {ngroups} values")
    if ngroups > 1 and not np.all(np.diff(times_s) > 0):
        raise ValueError("read_times must increase strictly")
    if variance not in VARIANCE_MODES:
        raise ValueError(f"variance must be one of {VARIANCE_MODES}, got {variance!r}")
    if int(nframes) < 1:
        raise ValueError("nframes must be at least 1")
    three_group, four_group, flag_4_neighbors, max_ratio, min_ratio = jump_options
    detect = jump_threshold is not None
    exact = variance == "exact"
    dt, inv_dt = tp.time_steps(times_s)
    group_time = times_s[1] - times_s[0] if ngroups > 1 else times_s[0]
    coefficients, variance_factors = _clean_ramp_tables(times_s, exact)
    fit = kern.FitSettings(
        times_s, dt, inv_dt, np.array([times_s[0], group_time]), coefficients, variance_factors, int(nframes),
        bool(suppress_one_group), exact, detect,
    )  # fmt: skip
    jump = tp.make_jump_settings(jump_threshold if detect else np.inf, three_group, four_group, min_ratio, max_ratio,
                                 detect and flag_4_neighbors)  # fmt: skip
    return fit, jump


def _run_block(fit, jump, block, maps, first_row, last_row, out) -> int:
    """Both passes of :mod:`._kernels` over one contiguous block; the number of primary jumps."""
    ngroups, nrows, nx = (block.data.shape[0], block.nrows, block.data.shape[2]) if isinstance(
        block, tp.RampRows) else block.shape  # fmt: skip
    # Neighbour masks (rows first, C-contiguous), whether a pixel has one, and jumps per row.
    shape = (nrows, nx) if fit.detect else (1, 1)
    neighbours = kern.NeighbourMasks(
        np.empty(shape + ((ngroups + 63) // 64,), dtype=np.uint64), np.zeros(shape, dtype=np.uint8)
    )
    row_jumps = np.zeros(nrows, dtype=np.int64)
    networks = tp.make_networks(max(ngroups - 1, 1), nx)
    if fit.exact and not fit.detect:
        # No medians, so no (ndiffs, tile) arrays to keep in L2: whole rows, fewer passes over the groups.
        networks = networks._replace(tile=nx)
    with dynamic_schedule():
        kern.fit_rows(block, maps, fit, jump, networks, first_row, last_row, neighbours, row_jumps, out,
                      max(1, min(nrows, 8 * numba.get_num_threads())))  # fmt: skip
    if jump.flag_neighbours and neighbours.has_mask.any():
        kern.refit_neighbour_rows(block, maps, fit, first_row, last_row, neighbours, out)
    return int(row_jumps[first_row:last_row].sum())


def _rows_2d(value, name: str, nrows: int, nx: int) -> np.ndarray:
    """A float32 C-contiguous (nrows, nx) array from a 2-D array, or (1, nx) from a scalar (see ``kern.map_row``)."""
    array = np.asarray(value, dtype=np.float32)
    if array.ndim == 0:
        return np.full((1, nx), array, dtype=np.float32)
    if array.shape != (nrows, nx):
        raise ValueError(f"{name} has shape {array.shape}, expected a scalar or {(nrows, nx)}")
    return np.ascontiguousarray(array)


def _check_out(out: RampFitResult, out_rows: slice, nrows: int, nx: int) -> kern.FitOutputs:
    arrays = []
    for name in _OUTPUTS:
        array = getattr(out, name)
        dtype = np.uint32 if name == "dq" else np.float32
        if array.dtype != dtype or array.ndim != 2:
            raise ValueError(f"out.{name} must be a 2-D {np.dtype(dtype).name} array")
        part = array[out_rows]
        if part.shape != (nrows, nx) or not part.flags.c_contiguous:
            raise ValueError(f"out.{name}[out_rows] must be a C-contiguous {(nrows, nx)} array, got {part.shape}")
        arrays.append(part)
    return kern.FitOutputs(*arrays)


def fit_block(
    block_dn: np.ndarray,
    groupdq_block: np.ndarray | None,
    read_times,
    read_noise_dn,
    gain_e_per_dn,
    out: RampFitResult,
    out_rows: slice,
    *,
    nframes: int = 1,
    jump_threshold: float | None = None,
    flag_4_neighbors: bool = True,
    max_jump_to_flag_neighbors: float = 200.0,
    min_jump_to_flag_neighbors: float = 10.0,
    halo_top: int = 0,
    halo_bottom: int = 0,
    pixeldq_block: np.ndarray | None = None,
    variance: str = "exact",
    suppress_one_group: bool = True,
    three_group_rejection_threshold: float = THREE_GROUP_REJECTION_THRESHOLD,
    four_group_rejection_threshold: float = FOUR_GROUP_REJECTION_THRESHOLD,
    dark_dn_s=None,
) -> int:
    """Fit the ramps of a block of rows (optionally finding jumps first) into rows of full-size outputs.

    Parameters
    ----------
    block_dn : np.ndarray or iris_pipeline.lib.twopoint.RampRows
        float32 (ngroups, nrows, nx) ramp in DN, not modified. Another dtype or layout is converted
        (a copy of the block). A ``RampRows`` (rows of a stored integration) is read in place.
    groupdq_block : np.ndarray or None
        uint8 (ngroups, nrows, nx) group flags; JUMP_DET is added in place on interior rows when
        jumps are searched (halo rows are left to the block that fits them). ``None``: no flags
        (jumps found then show in ``out.dq`` only).
    read_times : array_like
        Mean time of each group, s, increasing.
    read_noise_dn : float or np.ndarray
        Noise of one read, DN, for the block's rows (nrows, nx).
    gain_e_per_dn : float or np.ndarray
        Gain, e-/DN, (nrows, nx).
    out : RampFitResult
        Full-size 2-D outputs: float32 slope, err, var_poisson, var_rnoise and uint32 dq.
    out_rows : slice
        Rows of ``out`` that the block's interior rows fill.
    nframes : int
        Reads averaged per group (the read-noise variance of a group is ``read_noise**2 / nframes``).
    jump_threshold : float or None
        Rejection threshold of jump detection, sigma; ``None`` for no detection.
    flag_4_neighbors, max_jump_to_flag_neighbors, min_jump_to_flag_neighbors
        Neighbour flagging of jumps whose ratio (sigma) lies strictly between the two values.
    halo_top, halo_bottom : int
        Rows at the top / bottom of the block that are context for neighbour flagging only.
    pixeldq_block : np.ndarray or None
        uint32 (nrows, nx) pixel flags.
    variance : {'exact', 'stcal'}
        Variances of the computed slope, or stcal's (see the module docstring).
    suppress_one_group : bool
        Ramps with a single good group give no slope (stcal's ``suppress_one_group``).
    three_group_rejection_threshold, four_group_rejection_threshold : float
        Jump thresholds for ramps of 3 and 4 usable groups (stcal's defaults 6 and 5).
    dark_dn_s : float or np.ndarray, optional
        Dark current already subtracted from the block, DN/s, scalar or (nrows, nx): its shot noise
        goes into ``var_poisson`` (stcal's average dark current). ``None``: no dark term.

    Returns
    -------
    int
        Number of primary jumps flagged in the interior rows (neighbour flags not counted).
    """
    if isinstance(block_dn, tp.RampRows):
        block = block_dn
        ngroups, nrows, nx = block.data.shape[0], block.nrows, block.data.shape[2]
    else:
        block = np.ascontiguousarray(block_dn, dtype=np.float32)
        if block.ndim != 3:
            raise ValueError(f"block_dn must be (ngroups, nrows, nx), got shape {block.shape}")
        ngroups, nrows, nx = block.shape
    last_row = nrows - halo_bottom
    if halo_top < 0 or halo_bottom < 0 or last_row <= halo_top:
        raise ValueError(f"halo_top={halo_top} and halo_bottom={halo_bottom} leave no interior rows of {nrows}")
    fit, jump = _make_settings(
        read_times, ngroups, nframes, suppress_one_group, variance, jump_threshold,
        (three_group_rejection_threshold, four_group_rejection_threshold, flag_4_neighbors,
         max_jump_to_flag_neighbors, min_jump_to_flag_neighbors),
    )  # fmt: skip
    outputs = _check_out(out, out_rows, last_row - halo_top, nx)
    shape = (ngroups, nrows, nx)
    if groupdq_block is not None and (groupdq_block.shape != shape or groupdq_block.dtype != np.uint8):
        raise ValueError(f"groupdq_block must be uint8 {shape}, got {groupdq_block.dtype} {groupdq_block.shape}")
    if groupdq_block is None:
        groupdq = np.zeros(shape, dtype=np.uint8) if fit.detect else _DUMMY_GROUPDQ
    elif fit.detect and not groupdq_block.flags.writeable:
        raise ValueError("groupdq_block must be writeable to receive JUMP_DET flags")
    else:
        # The kernels take one writeable C-contiguous type (a read-only array would compile another).
        groupdq = np.require(groupdq_block, requirements=("C", "W"))
    if pixeldq_block is not None and np.shape(pixeldq_block) != (nrows, nx):
        raise ValueError(f"pixeldq_block has shape {np.shape(pixeldq_block)}, expected {(nrows, nx)}")
    pixeldq = _DUMMY_PIXELDQ if pixeldq_block is None else np.ascontiguousarray(pixeldq_block, dtype=np.uint32)
    maps = kern.PixelMaps(
        _rows_2d(read_noise_dn, "read_noise_dn", nrows, nx), _rows_2d(gain_e_per_dn, "gain_e_per_dn", nrows, nx),
        _rows_2d(0.0 if dark_dn_s is None else dark_dn_s, "dark_dn_s", nrows, nx), pixeldq, pixeldq_block is not None,
        groupdq, groupdq_block is not None or fit.detect,
    )  # fmt: skip
    njumps = _run_block(fit, jump, block, maps, halo_top, last_row, outputs)
    if groupdq_block is not None and groupdq is not groupdq_block and fit.detect:
        groupdq_block[:, halo_top:last_row] = groupdq[:, halo_top:last_row]
    return njumps


def fit_ramps(
    data: np.ndarray,
    read_times,
    read_noise,
    gain,
    groupdq: np.ndarray | None = None,
    pixeldq: np.ndarray | None = None,
    *,
    nframes: int = 1,
    jump_threshold: float | None = None,
    flag_4_neighbors: bool = True,
    max_jump_to_flag_neighbors: float = 200.0,
    min_jump_to_flag_neighbors: float = 10.0,
    data_offset: float = 0,
    block_rows: int | None = None,
    variance: str = "exact",
    suppress_one_group: bool = True,
    three_group_rejection_threshold: float = THREE_GROUP_REJECTION_THRESHOLD,
    four_group_rejection_threshold: float = FOUR_GROUP_REJECTION_THRESHOLD,
    dark_dn_s=None,
    out: RampFitResult | None = None,
) -> RampFitResult:
    """Fit the ramps of one integration (optimally weighted OLS, stcal's OLS_C; see the module docstring).

    The integration is read a block of rows at a time, in place when it is a C-contiguous array
    (or memory map) of native byte order, otherwise converted into one reused float32 buffer, so a
    memory map of a raw file is never converted, copied or transposed whole. Every block goes
    through :func:`fit_block`'s code.

    Parameters
    ----------
    data : np.ndarray
        (ngroups, ny, nx) uint16, int16, float32 or float64, possibly a ``np.memmap`` of any byte order.
    read_times : array_like
        Mean time of each group, s, increasing (not necessarily evenly spaced).
    read_noise : float or np.ndarray
        Noise of ONE read, DN, scalar or (ny, nx). A group averaging ``nframes`` reads has read-noise
        variance ``read_noise**2 / nframes``. Not modified.
    gain : float or np.ndarray
        e-/DN, scalar or (ny, nx).
    groupdq : np.ndarray, optional
        uint8 (ngroups, ny, nx) group flags. Not modified unless jumps are searched; then JUMP_DET
        is added in place (without ``groupdq``, jumps show in the output dq only).
    pixeldq : np.ndarray, optional
        uint32 (ny, nx) pixel flags, ORed into the output dq.
    nframes : int
        Reads averaged per group.
    jump_threshold : float, optional
        Jump rejection threshold, sigma (4 is stcal's default); ``None``: no jump detection.
    flag_4_neighbors, max_jump_to_flag_neighbors, min_jump_to_flag_neighbors
        Neighbour flagging (see :func:`iris_pipeline.jump.detect_jumps`).
    data_offset : float
        Added to the stored values: true DN = stored + ``data_offset`` (32768 for FITS-unsigned int16).
    block_rows : int, optional
        Interior rows per block; default so that the float32 buffer is about 48 MB.
    variance : {'exact', 'stcal'}
        Variances of the computed slope, or stcal's (see the module docstring).
    suppress_one_group : bool
        Ramps with a single good group give no slope.
    three_group_rejection_threshold, four_group_rejection_threshold : float
        Jump thresholds for ramps of 3 and 4 usable groups.
    dark_dn_s : float or np.ndarray, optional
        Dark current already subtracted from ``data``, DN/s, scalar or (ny, nx): its shot noise goes
        into ``var_poisson``.
    out : RampFitResult, optional
        Arrays to fill (float32 (ny, nx) slope, err, var_poisson, var_rnoise, uint32 dq,
        C-contiguous), for instance those of the previous integration or exposure once written:
        fresh arrays cost a page fault per 4 KiB on first touch, about as long as the fit of a
        10-group ramp. New arrays when ``None``.

    Returns
    -------
    RampFitResult
        float32 (ny, nx) slope (DN/s), err, var_poisson, var_rnoise ((DN/s)^2) and uint32 dq
        (``out`` when given).
    """
    if data.ndim != 3:
        raise ValueError(f"data must be one integration (ngroups, ny, nx), got shape {data.shape}")
    ngroups, ny, nx = data.shape
    if groupdq is not None and (groupdq.shape != data.shape or groupdq.dtype != np.uint8):
        raise ValueError(f"groupdq must be uint8 {data.shape}, got {groupdq.dtype} {groupdq.shape}")
    if pixeldq is not None and np.shape(pixeldq) != (ny, nx):
        raise ValueError(f"pixeldq has shape {np.shape(pixeldq)}, expected {(ny, nx)}")
    stored = data.view(np.ndarray) if isinstance(data, np.memmap) else data
    in_place = stored.dtype.isnative and stored.dtype in _IN_PLACE_DTYPES and stored.flags.c_contiguous
    detect = jump_threshold is not None
    with_groupdq = groupdq is not None or detect
    if block_rows is not None:
        rows = int(block_rows)
    elif not in_place:
        rows = default_block_rows(ngroups, nx)
    else:
        # Read in place, a block needs buffers only for its group DQ (1 byte a sample): each block
        # costs a few ms of set-up, so they are as large as that buffer allows.
        rows = default_block_rows(ngroups, nx, 4 * BLOCK_BYTES) if with_groupdq else ny
    if rows < 1:
        raise ValueError("block_rows must be positive")
    halo = 1 if detect and flag_4_neighbors else 0
    max_rows = min(rows + 2 * halo, ny)
    read_noise_rows = _RowSource(read_noise, "read_noise", ny, nx)
    gain_rows = _RowSource(gain, "gain", ny, nx)
    dark_rows = _RowSource(0.0 if dark_dn_s is None else dark_dn_s, "dark_dn_s", ny, nx)
    pixeldq = None if pixeldq is None else np.ascontiguousarray(pixeldq, dtype=np.uint32)
    if out is None:
        out = RampFitResult(
            **{name: np.empty((ny, nx), np.uint32 if name == "dq" else np.float32) for name in _OUTPUTS}
        )
    else:
        _check_out(out, slice(0, ny), ny, nx)
    # Flat buffers viewed per block keep every block C-contiguous, the last (shorter) one included.
    buffer = None if in_place else np.empty(ngroups * max_rows * nx, dtype=np.float32)
    gdq_buffer = np.empty(ngroups * max_rows * nx, dtype=np.uint8) if with_groupdq else None
    options = dict(
        nframes=nframes, jump_threshold=jump_threshold, flag_4_neighbors=flag_4_neighbors,
        max_jump_to_flag_neighbors=max_jump_to_flag_neighbors, min_jump_to_flag_neighbors=min_jump_to_flag_neighbors,
        variance=variance, suppress_one_group=suppress_one_group,
        three_group_rejection_threshold=three_group_rejection_threshold,
        four_group_rejection_threshold=four_group_rejection_threshold,
    )  # fmt: skip
    for blk in plan_blocks(ny, rows, halo):
        nrows = blk.stop - blk.start
        if in_place:
            block = tp.ramp_rows(stored, blk.start, nrows, data_offset)
        else:
            block = buffer[: ngroups * nrows * nx].reshape(ngroups, nrows, nx)
            convert_rows(data, blk.start, data_offset, block)
        gdq = None
        if gdq_buffer is not None:
            gdq = gdq_buffer[: ngroups * nrows * nx].reshape(ngroups, nrows, nx)
            if groupdq is None:
                gdq.fill(0)
            else:
                gdq[...] = groupdq[:, blk.start : blk.stop]
        fit_block(
            block, gdq, read_times, read_noise_rows.rows(blk.start, blk.stop), gain_rows.rows(blk.start, blk.stop),
            out, blk.interior, halo_top=blk.halo_top, halo_bottom=blk.halo_bottom,
            pixeldq_block=None if pixeldq is None else pixeldq[blk.start : blk.stop],
            dark_dn_s=dark_rows.rows(blk.start, blk.stop), **options,
        )  # fmt: skip
        if detect and groupdq is not None:
            groupdq[:, blk.interior] = gdq[:, blk.halo_top : nrows - blk.halo_bottom]
    return out


class _RowSource:
    """Rows of a float32 (ny, nx) map, or a scalar that holds for every row."""

    def __init__(self, value, name: str, ny: int, nx: int):
        array = np.asarray(value, dtype=np.float32)
        if array.ndim != 0 and array.shape != (ny, nx):
            raise ValueError(f"{name} has shape {array.shape}, expected a scalar or {(ny, nx)}")
        self.array = array if array.ndim == 0 else np.ascontiguousarray(array)

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self.array if self.array.ndim == 0 else self.array[start:stop]


def combine_integrations(results: list[RampFitResult], variance: str = "exact") -> RampFitResult:
    """The exposure's slope from the slopes of its integrations, as stcal combines them.

    Integrations are weighted by ``w = 1 / var_rnoise`` (stcal's JP-4318 weighting, independent of
    the signal so that the mean is unbiased); integrations without a slope are left out;
    ``var_rnoise = 1 / sum(w)``. With exact variances, ``var_rnoise`` is the exact read-noise variance,
    so integrations of different S/N classes are weighted slightly differently from stcal (equal
    integrations give stcal's slope). ``var_poisson = sum(w**2 var_poisson_i) / sum(w)**2``, the Poisson
    variance of this weighted mean, in both variance modes; ``err = sqrt(var_poisson + var_rnoise)``.
    (stcal's ``1 / sum(1 / var_poisson_i)`` is that variance only when every integration has the same
    Poisson variance, as stcal's mean-of-medians rate makes them; with each integration's own rate it
    underestimates the exposure's ERR up to 3 times: see ``docs/steps/ramp_fit.md``.)
    The dq is the OR of the integrations' flags, with ``DO_NOT_USE`` only when every integration
    has it; pixels without any slope get NaN and zero variances.

    Parameters
    ----------
    results : list of RampFitResult
        One (ny, nx) result per integration, from :func:`fit_ramps` with the same ``variance``.
    variance : {'exact', 'stcal'}
        The mode the integrations were fitted with (checked; both combine alike).

    Returns
    -------
    RampFitResult
        float32 (ny, nx) slope, err, var_poisson, var_rnoise and uint32 dq.
    """
    if not results:
        raise ValueError("no integrations to combine")
    if variance not in VARIANCE_MODES:
        raise ValueError(f"variance must be one of {VARIANCE_MODES}, got {variance!r}")
    shape = results[0].slope.shape
    sum_w = np.zeros(shape)
    sum_ws = np.zeros(shape)
    sum_p = np.zeros(shape)
    dq_any = np.zeros(shape, dtype=np.uint32)
    dnu_all = np.ones(shape, dtype=bool)
    dnu = kern.PIXEL_DO_NOT_USE
    for result in results:
        usable = np.isfinite(result.slope) & (result.var_rnoise > 0)
        weight = np.where(usable, 1.0 / np.where(usable, result.var_rnoise, 1.0), 0.0)
        var_p = np.where(usable, result.var_poisson, 0.0).astype(np.float64)
        sum_w += weight
        sum_ws += weight * np.where(usable, result.slope, 0.0)
        sum_p += weight * weight * var_p
        dq_any |= result.dq & ~dnu
        dnu_all &= (result.dq & dnu) != 0
    has_slope = sum_w > 0
    safe_w = np.where(has_slope, sum_w, 1.0)
    var_rnoise = np.where(has_slope, 1.0 / safe_w, 0.0)
    var_poisson = np.where(has_slope, sum_p / safe_w**2, 0.0)
    return RampFitResult(
        slope=np.where(has_slope, sum_ws / safe_w, np.nan).astype(np.float32),
        err=np.sqrt(var_poisson + var_rnoise).astype(np.float32),
        var_poisson=var_poisson.astype(np.float32),
        var_rnoise=var_rnoise.astype(np.float32),
        dq=(dq_any | np.where(dnu_all | ~has_slope, dnu, np.uint32(0))).astype(np.uint32),
    )
