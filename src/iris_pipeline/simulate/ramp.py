"""Read-by-read simulation of one integration ramp of one detector window.

Every read of the pattern is simulated, including the reads dropped between groups: charge
accumulates as Poisson increments of the detected rate (light times response, plus dark
current), cosmic rays add charge from the read after they hit, and each read is digitised as
``bias + drifts + nonlinear(signal) + read noise``, clipped at the saturation level and at
65535 DN and rounded. Groups are the on-board mean of ``NFRAMES`` consecutive reads, rounded.
Only 2-D float work arrays are kept; the output is written into a preallocated uint16 array.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

from iris_pipeline.instruments import READ_MODES, InstrumentDescription, read_pattern_times

from .detector import ADC_MAX_DN, DetectorModel

__all__ = ["RampResult", "ReadPattern", "make_read_pattern", "simulate_ramp"]

DEFAULT_UTR_NGROUPS = 10
DEFAULT_FOWLER_N = 4
COSMIC_RAY_COLUMNS = ("integration", "group", "read", "x_pix", "y_pix", "charge_e")
NEIGHBOUR_OFFSETS = ((0, 1), (0, -1), (1, 0), (-1, 0))


@dataclass(frozen=True)
class ReadPattern:
    """Read pattern of an integration (the READMODE, NGROUPS, NFRAMES, GROUPGAP, TFRAME keywords).

    Read ``j`` (0-based, reset read excluded) ends ``(j + 1) * frame_time_s`` after the reset;
    group ``k`` is the mean of reads ``k * (nframes + groupgap) + 0 .. nframes - 1``.
    """

    read_mode: str
    ngroups: int
    nframes: int
    groupgap: int
    frame_time_s: float

    @property
    def group_time_s(self) -> float:
        """TGROUP: ``(NFRAMES + GROUPGAP) * TFRAME``, seconds."""
        return (self.nframes + self.groupgap) * self.frame_time_s

    @property
    def nreads(self) -> int:
        """NREADS: reads per integration, dropped reads included, reset read excluded."""
        return self.ngroups * self.nframes + (self.ngroups - 1) * self.groupgap

    @property
    def effective_exposure_time_s(self) -> float:
        """EFFEXPTM: ``(NGROUPS - 1) * TGROUP``, seconds."""
        return (self.ngroups - 1) * self.group_time_s

    def group_times_s(self) -> np.ndarray:
        """Mean time of each group since the reset, s (`instruments.read_pattern_times`)."""
        return np.array(read_pattern_times(self.ngroups, self.nframes, self.groupgap, self.frame_time_s))

    def group_reads(self) -> np.ndarray:
        """Read indices averaged into each group, shape ``(ngroups, nframes)``."""
        period = self.nframes + self.groupgap
        return np.arange(self.ngroups)[:, None] * period + np.arange(self.nframes)[None, :]

    def first_group_after_read(self, read: int) -> int:
        """Index of the first group that contains read ``read`` or a later read."""
        period = self.nframes + self.groupgap
        group, within = divmod(int(read), period)
        return group if within < self.nframes else group + 1


def make_read_pattern(
    instrument: InstrumentDescription,
    read_mode: str,
    nrows: int,
    ngroups: int | None = None,
    nframes: int | None = None,
    groupgap: int | None = None,
) -> ReadPattern:
    """Validate a read mode and its group structure.

    Parameters
    ----------
    instrument : InstrumentDescription
        Gives the frame time of ``nrows`` rows.
    read_mode : str
        ``'CDS'``, ``'MCDS'`` or ``'UTR'`` (any case).
    nrows : int
        Rows read (the window height).
    ngroups, nframes, groupgap : int, optional
        Group structure; None takes the value fixed by the read mode
        (`iris_pipeline.instruments.READ_MODES`) or the default: `DEFAULT_UTR_NGROUPS` groups
        for UTR, `DEFAULT_FOWLER_N` reads per group for MCDS, one read per group otherwise,
        no gap.

    Returns
    -------
    ReadPattern

    Raises
    ------
    ValueError
        For an unknown read mode or a group structure the mode does not allow.
    """
    mode = str(read_mode).upper()
    if mode not in READ_MODES:
        raise ValueError(f"unknown read mode {read_mode!r}; known read modes: {', '.join(READ_MODES)}")
    fixed = READ_MODES[mode]
    defaults = {
        "ngroups": DEFAULT_UTR_NGROUPS,
        "nframes": DEFAULT_FOWLER_N if mode == "MCDS" else 1,
        "groupgap": 0,
    }
    chosen = {"ngroups": ngroups, "nframes": nframes, "groupgap": groupgap}
    values = {}
    for name, value in chosen.items():
        if value is None:
            value = fixed.get(name, defaults[name])
        elif name in fixed and value != fixed[name]:
            raise ValueError(f"read mode {mode} has {name.upper()} = {fixed[name]}, got {value}")
        values[name] = value
    minimum = {"ngroups": 2, "nframes": 1, "groupgap": 0}
    for name, value in values.items():
        if int(value) != value or value < minimum[name]:
            raise ValueError(f"{name} must be an integer >= {minimum[name]}, got {value!r}")
    return ReadPattern(
        mode,
        int(values["ngroups"]),
        int(values["nframes"]),
        int(values["groupgap"]),
        instrument.read_time_s(nrows),
    )


@dataclass(frozen=True, eq=False)
class RampResult:
    """A simulated exposure of one detector window, with its truth.

    Attributes
    ----------
    data : numpy.ndarray
        Raw groups, uint16 DN, shape ``(nints, ngroups, ny, nx)``.
    detected_rate_e_s : numpy.ndarray
        Noiseless detected rate of each pixel (light times ``qe`` plus dark current), e-/s.
    cosmic_rays : astropy.table.Table
        One row per cosmic ray: ``integration`` and ``group`` (0-based, the first group that
        contains charge of the hit), ``read`` (first read with the charge), ``x_pix``,
        ``y_pix`` (array coordinates of the central pixel), ``charge_e`` (total charge).
    bias_drifts_dn : numpy.ndarray
        Bias drift of every read and output channel, DN, shape ``(nints, nreads, nchannels)``.
    """

    data: np.ndarray = field(repr=False)
    detected_rate_e_s: np.ndarray = field(repr=False)
    cosmic_rays: Table
    bias_drifts_dn: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class _CosmicRays:
    read: np.ndarray
    x: np.ndarray
    y: np.ndarray
    charge_e: np.ndarray


def _draw_cosmic_rays(
    model: DetectorModel, pattern: ReadPattern, rate_per_pix_s: float, rng: np.random.Generator
) -> _CosmicRays:
    """Hits of one integration on collecting pixels, uniform in time, sorted by read."""
    params = model.params
    collecting = model.collecting
    duration_s = pattern.nreads * pattern.frame_time_s
    count = rng.poisson(rate_per_pix_s * np.count_nonzero(collecting) * duration_s)
    xs, ys = np.empty(0, dtype=int), np.empty(0, dtype=int)
    ny, nx = collecting.shape
    while xs.size < count:
        x = rng.integers(0, nx, count - xs.size)
        y = rng.integers(0, ny, count - ys.size)
        keep = collecting[y, x]
        xs, ys = np.concatenate([xs, x[keep]]), np.concatenate([ys, y[keep]])
    hit_time_s = rng.uniform(0.0, duration_s, count)
    read = np.ceil(hit_time_s / pattern.frame_time_s).astype(int) - 1
    charge = rng.lognormal(np.log(params.cosmic_ray_charge_median_e), params.cosmic_ray_charge_sigma_ln, count)
    order = np.argsort(read, kind="stable")
    return _CosmicRays(np.maximum(read, 0)[order], xs[order], ys[order], charge[order])


def _deposit(
    charge: np.ndarray,
    collecting: np.ndarray,
    hits: _CosmicRays,
    selected,
    neighbour_fraction: float,
) -> None:
    """Add the charge of the ``selected`` hits to their pixel and its four neighbours."""
    ny, nx = charge.shape
    for x, y, total in zip(hits.x[selected], hits.y[selected], hits.charge_e[selected], strict=True):
        charge[y, x] += total * (1.0 - len(NEIGHBOUR_OFFSETS) * neighbour_fraction)
        for dy, dx in NEIGHBOUR_OFFSETS:
            yy, xx = y + dy, x + dx
            if 0 <= yy < ny and 0 <= xx < nx and collecting[yy, xx]:
                charge[yy, xx] += total * neighbour_fraction


def _digitise(
    model: DetectorModel,
    charge: np.ndarray,
    drift_columns: np.ndarray,
    noise: np.ndarray | None,
    out: np.ndarray,
) -> None:
    """One read in DN (float, integer-valued) from the accumulated charge, into ``out``."""
    np.minimum(charge, model.full_well_e, out=out)
    out /= model.gain_e_per_dn
    out -= model.nonlinearity_per_dn * out * out
    out += model.bias_dn
    out += drift_columns[None, :]
    if noise is not None:
        noise *= model.read_noise_dn
        out += noise
    np.minimum(out, model.saturation_dn, out=out)
    np.clip(out, 0.0, ADC_MAX_DN, out=out)
    np.rint(out, out=out)


def _simulate_integration(
    model: DetectorModel,
    rate_e_s: np.ndarray,
    pattern: ReadPattern,
    hits: _CosmicRays,
    drifts_dn: np.ndarray,
    noise: bool,
    rng: np.random.Generator,
    out: np.ndarray,
) -> None:
    """Fill ``out`` (ngroups, ny, nx) with one integration; ``drifts_dn`` is (nreads, nch)."""
    shape = model.window.shape
    collecting = model.collecting
    channel = model.output_channel_of_columns()
    charge = np.zeros(shape, dtype=np.float32)
    read_dn = np.empty(shape, dtype=np.float32)
    group_sum = np.empty(shape, dtype=np.float64)
    expected = np.empty(shape, dtype=np.float64)
    last_read = -1
    for group, reads in enumerate(pattern.group_reads()):
        group_sum[...] = 0.0
        for read in reads:
            np.multiply(rate_e_s, (read - last_read) * pattern.frame_time_s, out=expected)
            charge += rng.poisson(expected) if noise else expected
            _deposit(
                charge,
                collecting,
                hits,
                (hits.read > last_read) & (hits.read <= read),
                model.params.cosmic_ray_neighbour_fraction,
            )
            read_noise = rng.standard_normal(shape, dtype=np.float32) if noise else None
            _digitise(model, charge, drifts_dn[read][channel], read_noise, read_dn)
            group_sum += read_dn
            last_read = read
        group_sum /= pattern.nframes
        out[group] = np.rint(group_sum)


def simulate_ramp(
    model: DetectorModel,
    illumination_e_s: np.ndarray,
    pattern: ReadPattern,
    rng: np.random.Generator,
    nints: int = 1,
    cosmic_ray_rate_per_pix_s: float = 0.0,
    noise: bool = True,
) -> RampResult:
    """Simulate the raw groups of one exposure of one detector window (no I/O).

    Parameters
    ----------
    model : DetectorModel
        Per-pixel truth of the detector window.
    illumination_e_s : numpy.ndarray
        Incident light in e-/s per pixel at nominal QE (sources and background), shape
        ``model.window.shape``; multiplied by ``model.qe``.
    pattern : ReadPattern
        Read mode and group structure.
    rng : numpy.random.Generator
        Source of all random draws of the exposure.
    nints : int
        Number of integrations.
    cosmic_ray_rate_per_pix_s : float
        Cosmic-ray hits per light-sensitive pixel per second.
    noise : bool
        False for a noiseless ramp: charge accumulates as ``rate * time`` exactly, with no read
        noise and no bias drifts (cosmic rays are still drawn; rounding to DN remains).
        Drift amplitudes and the cosmic-ray charges come from ``model.params``.

    Returns
    -------
    RampResult
    """
    params = model.params
    if illumination_e_s.shape != model.window.shape:
        raise ValueError(
            f"illumination shape {illumination_e_s.shape} does not match the detector window {model.window.shape}"
        )
    if int(nints) != nints or nints < 1:
        raise ValueError(f"nints must be a positive integer, got {nints!r}")
    rate_e_s = (illumination_e_s * model.qe + model.dark_e_s).astype(np.float32)
    rate_e_s[~model.collecting] = 0.0
    n_channels = model.n_output_channels
    data = np.empty((nints, pattern.ngroups, *model.window.shape), dtype=np.uint16)
    drifts = np.zeros((nints, pattern.nreads, n_channels))
    rows = []
    for integration in range(nints):
        hits = _draw_cosmic_rays(model, pattern, cosmic_ray_rate_per_pix_s, rng)
        if noise:
            common = rng.normal(0.0, params.drift_common_sigma_dn, (pattern.nreads, 1))
            per_channel = rng.normal(0.0, params.drift_channel_sigma_dn, (pattern.nreads, n_channels))
            drifts[integration] = common + per_channel
        _simulate_integration(
            model,
            rate_e_s,
            pattern,
            hits,
            drifts[integration],
            noise,
            rng,
            data[integration],
        )
        rows += [
            (integration, pattern.first_group_after_read(r), int(r), int(x), int(y), float(q))
            for r, x, y, q in zip(hits.read, hits.x, hits.y, hits.charge_e, strict=True)
        ]
    cosmic_rays = Table(rows=rows or None, names=COSMIC_RAY_COLUMNS, dtype=(int, int, int, int, int, float))
    return RampResult(data, rate_e_s, cosmic_rays, drifts)
