"""Ramp-fitting benchmark: iris_pipeline's numba OLS (fit_ramps) against stcal's OLS_C, same data, same run.

For each case a synthetic uint16 ramp (Poisson + read noise, a few cosmic rays) is written to a raw file
in a temporary directory and memory-mapped. Every fit runs in its own subprocess so that its peak
resident memory (``ru_maxrss``) is its own:

* ours: ``fit_ramps`` on the memory map, exact variances, without and with jump detection, and with
  stcal's variances (which need the median of the differences, hence a sorting network per pixel);
* stcal: ``ramp_fit_data`` (OLS_C) on the ramp converted to float32 (1, ngroups, ny, nx), as it requires,
  with the CDS read noise it expects (the conversion is not timed).

Numba kernels are warmed up (loaded from the cache, or compiled) before timing; the warm-up time is
reported, and once per run the compile time with an empty cache. Memory is reported as the raw peak
RSS of the fitting process (VmHWM), the peak above its RSS just before the fit, and for ours that minus
the resident share of the memory-mapped input (pages of the raw file that the fit touched). The data
are written by another child process, so that the parent stays small. Before each timed fit the
child touches about the memory the fit will need (see :func:`prepare_memory`; ``--no-prepare``).

Usage::

    .venv/bin/python benchmarks/bench_ramp_fit.py                 # 4096^2x10, 2048^2x100, 4096^2x100
    .venv/bin/python benchmarks/bench_ramp_fit.py --quick         # small sizes, seconds
    .venv/bin/python benchmarks/bench_ramp_fit.py --sizes 2048x10 4096x10 --no-stcal
    # issue 14's figures: an in-memory uint16 array, outputs reused, bandwidth floors (docs/steps/ramp_fit.md)
    .venv/bin/python benchmarks/bench_ramp_fit.py --sizes 4096x10 4096x100 --in-memory --reuse-out --roofline
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FRAME_TIME_S = 1.47
READ_NOISE_DN = 6.0
GAIN = 2.3
BIAS_DN = 1200.0
DEFAULT_SIZES = ("4096x10", "2048x100", "4096x100")
QUICK_SIZES = ("256x10", "128x40")
STCAL_MAX_PIXEL_GROUPS = 2048 * 2048 * 100
"""Largest case stcal runs on (about 7 GB); larger ones are extrapolated in pixel count."""
OURS_VARIANTS = ("exact", "exact+jumps", "stcal-variances")


def read_times(ngroups: int) -> np.ndarray:
    return (np.arange(ngroups) + 1.0) * FRAME_TIME_S


# ----------------------------------------------------------------------------------------------
# Synthetic data
# ----------------------------------------------------------------------------------------------


def write_ramp(path: Path, size: int, ngroups: int, seed: int = 1) -> None:
    """uint16 (ngroups, size, size) ramp: sky of ~1-3 DN/s, sources up to saturation, cosmic rays.

    Poisson noise per group (normal approximation above 50 e-), read noise per read, written a group
    at a time so that memory stays at a few 2-D frames.
    """
    from numba import njit, prange

    @njit(parallel=True, cache=False)
    def add_group(level, flux_e, read_noise, cosmic, out, seed):
        ny, nx = level.shape
        for row in prange(ny):
            np.random.seed(seed + row)
            for col in range(nx):
                lam = flux_e[row, col]
                electrons = np.random.poisson(lam) if lam < 50 else lam + np.sqrt(lam) * np.random.normal()
                level[row, col] += electrons / GAIN + cosmic[row, col]
                value = level[row, col] + read_noise * np.random.normal()
                out[row, col] = min(max(value, 0.0), 65535.0)

    rng = np.random.default_rng(seed)
    flux_dn_s = rng.uniform(1.0, 3.0, (size, size)) + rng.pareto(1.5, (size, size)) * 0.5
    flux_e = (flux_dn_s * FRAME_TIME_S * GAIN).astype(np.float64)
    level = np.full((size, size), BIAS_DN)
    frame = np.empty((size, size), np.float64)
    raw = np.memmap(path, dtype=np.uint16, mode="w+", shape=(ngroups, size, size))
    for group in range(ngroups):
        # 1e-5 events per pixel per group (0.1 % of pixels in 100 groups): generous for a ground-based
        # detector (muons, radioactivity), enough to exercise the jump path.
        cosmic = np.where(rng.random((size, size)) < 1e-5, rng.exponential(300.0, (size, size)), 0.0)
        add_group(level, flux_e, READ_NOISE_DN, cosmic, frame, seed * 100003 + group * 7919)
        raw[group] = frame.astype(np.uint16)
    raw.flush()
    del raw


# ----------------------------------------------------------------------------------------------
# Child processes
# ----------------------------------------------------------------------------------------------


def status_bytes(field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, bytes.

    VmHWM rather than ``getrusage().ru_maxrss``: on Linux a child's ru_maxrss starts from its parent's
    peak (the high-water mark survives fork and exec), VmHWM is that of the child's own memory map.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def prepare_memory(gigabytes: float) -> None:
    """Touch and free ``gigabytes`` of memory just before a timed fit, then reset the peak RSS.

    On this kind of virtual machine (virtio-balloon free page reporting) memory freed by any process
    goes back to the host within seconds, and touching it again costs about 2 s per GB, far more than
    on bare metal. Touching it first makes the fit's allocations cheap, as on a real machine; the
    peak-RSS counter (VmHWM) is then reset so that it measures the fit alone. ``--no-prepare`` skips this.
    """
    if gigabytes > 0:
        block = np.ones(int(gigabytes * 2**30) // 8)
        del block
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def mapped_rss_bytes(path: Path) -> int:
    """Resident bytes of the mappings of ``path`` in this process."""
    total = 0
    inside = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:
                inside = fields[-1] == str(path)
            elif inside and fields[0] == "Rss:":
                total += int(fields[1]) * 1024
    return total


def warm_up_ours(variant: str) -> float:
    """Run every kernel of the variant once on a small ramp with a jump; returns the seconds taken."""
    from iris_pipeline.ramp_fitting.ols import fit_ramps

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    for ngroups in (4, 12):
        ramp = (BIAS_DN + np.cumsum(rng.poisson(20.0, (ngroups, 16, 16)), axis=0)).astype(np.uint16)
        ramp[ngroups // 2 :, 8, 8] += 800
        fit_ramps(ramp, read_times(ngroups), READ_NOISE_DN, GAIN, **variant_options(variant))
    return time.perf_counter() - start


def variant_options(variant: str) -> dict:
    return {
        "exact": {},
        "exact+jumps": {"jump_threshold": 4.0},
        "stcal-variances": {"variance": "stcal"},
    }[variant]


def load_input(path: Path, size: int, ngroups: int, in_memory: bool) -> np.ndarray:
    """The raw ramp: a read-only memory map of the file, or (``in_memory``) an array read from it."""
    if in_memory:
        return np.fromfile(path, dtype=np.uint16).reshape(ngroups, size, size)
    return np.memmap(path, dtype=np.uint16, mode="r", shape=(ngroups, size, size))


def touched_outputs(size: int):
    """Output arrays of a fit, written once (as those of a previous exposure would be)."""
    from iris_pipeline.ramp_fitting.result import RampFitResult

    arrays = {name: np.zeros((size, size), np.float32) for name in ("slope", "err", "var_poisson", "var_rnoise")}
    for array in arrays.values():
        array.fill(1.0)
    return RampFitResult(**arrays, dq=np.ones((size, size), np.uint32))


def child_ours(path: Path, size: int, ngroups: int, variant: str, slope_path: Path, prepare_gb: float,
               in_memory: bool = False, reuse_out: bool = False) -> dict:  # fmt: skip
    warm_up_s = warm_up_ours(variant)
    from iris_pipeline.ramp_fitting.ols import fit_ramps

    data = load_input(path, size, ngroups, in_memory)
    out = {"out": touched_outputs(size)} if reuse_out else {}
    prepare_memory(prepare_gb)
    baseline = status_bytes("VmRSS")
    start = time.perf_counter()
    result = fit_ramps(data, read_times(ngroups), READ_NOISE_DN, GAIN, **variant_options(variant), **out)
    seconds = time.perf_counter() - start
    peak = status_bytes("VmHWM")
    input_resident = data.nbytes if in_memory else mapped_rss_bytes(path)
    np.save(slope_path, result.slope)
    return {
        "seconds": seconds,
        "warm_up_s": warm_up_s,
        "peak_rss": peak,
        "baseline_rss": baseline,
        "input_resident": input_resident,
    }


def child_stcal(path: Path, size: int, ngroups: int, slope_path: Path, prepare_gb: float) -> dict:
    import logging
    import math

    from stcal.ramp_fitting.ramp_fit import ramp_fit_data
    from stcal.ramp_fitting.ramp_fit_class import RampData

    from iris_pipeline import dqflags

    logging.getLogger("stcal").setLevel(logging.WARNING)
    prepare_memory(prepare_gb)
    baseline = status_bytes("VmRSS")
    start = time.perf_counter()
    raw = np.memmap(path, dtype=np.uint16, mode="r", shape=(ngroups, size, size))
    data = np.empty((1, ngroups, size, size), dtype=np.float32)
    data[0] = raw
    del raw
    groupdq = np.zeros(data.shape, dtype=np.uint8)
    pixeldq = np.zeros((size, size), dtype=np.uint32)
    convert_s = time.perf_counter() - start
    ramp = RampData()
    ramp.set_arrays(data, groupdq, pixeldq, np.zeros((size, size), np.float32))
    ramp.set_meta(name="IRIS", frame_time=FRAME_TIME_S, group_time=FRAME_TIME_S, groupgap=0, nframes=1)
    ramp.algorithm = "OLS_C"
    ramp.set_dqflags(dqflags.PIXEL)
    ramp.start_row, ramp.num_rows = 0, size
    ramp.suppress_one_group_ramps = True
    # stcal wants the CDS read noise (sqrt(2) x one read) and modifies the array in place.
    cds = np.full((size, size), READ_NOISE_DN * math.sqrt(2.0), np.float32)
    gain = np.full((size, size), GAIN, np.float32)
    start = time.perf_counter()
    _, integrations, _ = ramp_fit_data(ramp, False, cds, gain, "OLS_C", "optimal", "none")
    seconds = time.perf_counter() - start
    peak = status_bytes("VmHWM")
    np.save(slope_path, integrations["slope"][0])
    return {"seconds": seconds, "convert_s": convert_s, "peak_rss": peak, "baseline_rss": baseline}


OUTPUT_BYTES_PER_PIXEL = 20
"""float32 slope, err, var_poisson, var_rnoise and uint32 dq."""


def flops_per_pixel(ngroups: int) -> int:
    """Arithmetic of the clean-pixel path (exact variances), counting a fused multiply-add as 2.

    Per first difference: two samples converted to DN (2 additions of the offset), a subtraction,
    the scaling by 1 / dt and a fused multiply-add into the slope (6); per pixel, the S/N class
    (about 12 operations in float64) and the variances and error (about 12, a division and a
    square root among them). The selects of the class coefficients are not counted.
    """
    return 6 * (ngroups - 1) + 24


def _floor_kernels():
    """Numba kernels that move the bytes a fit must move, with next to no arithmetic."""
    import numba

    @numba.njit(parallel=True, nogil=True, cache=True)
    def read_ramp(data):
        ngroups, ny, nx = data.shape
        total = 0
        for row in numba.prange(ny):
            row_sum = 0
            for group in range(ngroups):
                samples = data[group, row]
                for col in range(nx):
                    row_sum += samples[col]
            total += row_sum
        return total

    @numba.njit(parallel=True, nogil=True, cache=True)
    def read_ramp_write_outputs(data, slope, err, var_poisson, var_rnoise, dq):
        # The ramp read a row at a time over all groups, as the fit reads it, and the five outputs written.
        ngroups, ny, nx = data.shape
        for row in numba.prange(ny):
            acc = np.zeros(nx, np.float32)
            for group in range(ngroups):
                samples = data[group, row]
                for col in range(nx):
                    acc[col] += np.float32(samples[col])
            for col in range(nx):
                slope[row, col] = acc[col]
                err[row, col] = acc[col]
                var_poisson[row, col] = acc[col]
                var_rnoise[row, col] = acc[col]
                dq[row, col] = np.uint32(acc[col])

    return read_ramp, read_ramp_write_outputs


def child_roofline(path: Path, size: int, ngroups: int, repeat: int) -> dict:
    """Memory-bandwidth floors on the in-memory ramp and the fit (exact variances) measured beside them.

    Each figure is the fastest of ``max(repeat, 3)`` runs: seconds and the bytes that must cross
    the memory bus (outputs counted once, as written).
    """
    from iris_pipeline.ramp_fitting.ols import fit_ramps

    read_ramp, read_write = _floor_kernels()
    warm_up_ours("exact")
    data = load_input(path, size, ngroups, True)
    runs = max(repeat, 3)
    ramp_bytes = data.nbytes
    out_bytes = OUTPUT_BYTES_PER_PIXEL * size * size
    outputs = touched_outputs(size)
    arrays = (outputs.slope, outputs.err, outputs.var_poisson, outputs.var_rnoise, outputs.dq)
    copy = np.ones_like(data)

    def fastest(action) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            action()
            times.append(time.perf_counter() - start)
        return min(times)

    read_ramp(data[:, :8])
    read_write(data[:, :8], *(array[:8] for array in arrays))
    fit = {"times_s": read_times(ngroups)}
    results = {
        "read ramp (numba, 2 threads)": (ramp_bytes, fastest(lambda: read_ramp(data))),
        "copy ramp (numpy copyto)": (2 * ramp_bytes, fastest(lambda: np.copyto(copy, data))),
        "read ramp + write outputs (numba)": (ramp_bytes + out_bytes, fastest(lambda: read_write(data, *arrays))),
        "  same, new output arrays": (
            ramp_bytes + out_bytes,
            fastest(lambda: read_write(data, *(np.empty_like(array) for array in arrays))),
        ),
        "fit, outputs reused (out=)": (
            ramp_bytes + out_bytes,
            fastest(lambda: fit_ramps(data, fit["times_s"], READ_NOISE_DN, GAIN, out=outputs)),
        ),
        "fit, new output arrays": (
            ramp_bytes + out_bytes,
            fastest(lambda: fit_ramps(data, fit["times_s"], READ_NOISE_DN, GAIN)),
        ),
    }
    return {name: {"bytes": nbytes, "seconds": sec} for name, (nbytes, sec) in results.items()}


def print_roofline(row: dict) -> None:
    size, ngroups = row["size"], row["ngroups"]
    table = row["roofline"]
    peak = max(entry["bytes"] / entry["seconds"] for entry in table.values() if entry["bytes"])
    flops = flops_per_pixel(ngroups) * size * size
    print(f"# roofline {size}^2 x {ngroups}: ramp {2 * ngroups * size * size / 1e9:.3f} GB uint16, outputs "
          f"{OUTPUT_BYTES_PER_PIXEL * size * size / 1e9:.3f} GB, ~{flops / 1e9:.2f} GFLOP "
          f"({flops_per_pixel(ngroups)} per pixel); peak = the fastest bandwidth below")  # fmt: skip
    print(f"# {'':<36} {'GB moved':>8} {'time s':>7} {'GB/s':>6} {'% peak':>6} {'GFLOP/s':>8}")
    for name, entry in table.items():
        rate = entry["bytes"] / entry["seconds"] / 1e9 if entry["bytes"] else float("nan")
        gflops = f"{flops / entry['seconds'] / 1e9:8.1f}" if name.startswith("fit") else f"{'-':>8}"
        share = f"{100 * rate * 1e9 / peak:6.0f}" if entry["bytes"] else f"{'-':>6}"
        moved = f"{entry['bytes'] / 1e9:8.3f}" if entry["bytes"] else f"{'-':>8}"
        print(f"# {name:<36} {moved} {entry['seconds']:7.3f} {rate:6.1f} {share} {gflops}")


def run_child(args: list[str], env: dict | None = None) -> dict:
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", *args],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    if completed.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def cold_compile_seconds() -> float:
    """Warm-up of the jump variant (every kernel) with an empty numba cache, in a child."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        return run_child(["compile"], env)["warm_up_s"]


# ----------------------------------------------------------------------------------------------
# Parent
# ----------------------------------------------------------------------------------------------


def slope_agreement(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float]:
    """Max relative difference where |stcal slope| > 1 DN/s, and max absolute difference (DN/s)."""
    ours = ours.astype(np.float64)
    theirs = theirs.astype(np.float64)
    both = np.isfinite(ours) & np.isfinite(theirs)
    bright = both & (np.abs(theirs) > 1.0)
    relative = float(np.max(np.abs(ours[bright] - theirs[bright]) / np.abs(theirs[bright]))) if bright.any() else 0.0
    return relative, float(np.max(np.abs(ours[both] - theirs[both])))


def gb(value: float) -> str:
    return f"{value / 1e9:6.2f}"


def run_case(
    workdir: Path,
    size: int,
    ngroups: int,
    with_stcal: bool,
    stcal_reference: dict | None,
    prepare: bool,
    repeat: int,
    input_options: tuple[str, str] = ("map", "fresh"),
    roofline: bool = False,
) -> list[dict]:
    path = workdir / f"ramp_{size}x{ngroups}.u16"
    start = time.perf_counter()
    run_child(["write", str(path), str(size), str(ngroups)])
    print(f"# {size}^2 x {ngroups}: wrote {path.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - start:.1f} s",
          flush=True)  # fmt: skip
    stcal = None
    stcal_slope = workdir / "stcal_slope.npy"
    if with_stcal:
        # stcal holds the float32 ramp, its group DQ and work arrays: about 17 bytes per sample.
        prepare_gb = (17 * size * size * ngroups + 1e8) / 2**30 if prepare else 0.0
        stcal = run_child(["stcal", str(path), str(size), str(ngroups), str(stcal_slope), str(prepare_gb)])
        stcal["extrapolated"] = False
    elif stcal_reference is not None:
        scale = (size * size) / stcal_reference["pixels"]
        stcal = {
            "seconds": stcal_reference["seconds"] * scale,
            "peak_rss": stcal_reference["peak_rss"] * scale,
            "extrapolated": True,
        }
    rows = []
    for variant in OURS_VARIANTS:
        slope_path = workdir / "ours_slope.npy"
        # One float32 block buffer and its group DQ, the 2-D outputs, some slack.
        prepare_gb = 1.2 * (2 * 48e6 + 24 * size * size) / 2**30 if prepare else 0.0
        runs = [
            run_child(
                ["ours", str(path), str(size), str(ngroups), variant, str(slope_path), str(prepare_gb), *input_options]
            )  # fmt: skip
            for _ in range(repeat)
        ]
        # The machine may be shared: the fastest run is the one least disturbed by other work.
        ours = dict(min(runs, key=lambda run: run["seconds"]), median_s=float(np.median([r["seconds"] for r in runs])))
        agreement = (float("nan"), float("nan"))
        # With jump detection the slopes differ from stcal's fit without it by design.
        if with_stcal and variant != "exact+jumps":
            agreement = slope_agreement(np.load(slope_path), np.load(stcal_slope))
        rows.append({"size": size, "ngroups": ngroups, "variant": variant, "ours": ours, "stcal": stcal,
                     "agreement": agreement, "load_average": os.getloadavg()[0]})  # fmt: skip
        print_row(rows[-1])
    if roofline:
        rows[0]["roofline"] = run_child(["roofline", str(path), str(size), str(ngroups), str(repeat)])
        print_roofline(rows[0])
    path.unlink()
    return rows


HEADER = (
    f"{'size':>6} {'reads':>5} {'ours: variant':<16} {'time s':>7} {'median':>7} {'stcal s':>9} {'ratio':>7}  "
    f"{'peak GB':>7} {'>base':>6} {'>base-input':>11} {'stcal GB':>9}  {'max rel dslope':>14} {'max |d| DN/s':>12}"
    f" {'load':>5}"
)


def print_row(row: dict) -> None:
    ours, stcal = row["ours"], row["stcal"]
    stcal_s = ratio = stcal_gb = "-"
    if stcal is not None:
        mark = "~" if stcal["extrapolated"] else ""
        stcal_s = f"{mark}{stcal['seconds']:.2f}"
        ratio = f"{mark}{stcal['seconds'] / ours['seconds']:.1f}x"
        stcal_gb = f"{mark}{stcal['peak_rss'] / 1e9:.2f}"
    above = ours["peak_rss"] - ours["baseline_rss"]
    relative, absolute = (f"{value:.2e}" if np.isfinite(value) else "-" for value in row["agreement"])
    print(
        f"{row['size']:>6} {row['ngroups']:>5} {row['variant']:<16} {ours['seconds']:7.2f} {ours['median_s']:7.2f} "
        f"{stcal_s:>9} {ratio:>7}  {gb(ours['peak_rss']):>7} {gb(above):>6} {gb(above - ours['input_resident']):>11} "
        f"{stcal_gb:>9}  {relative:>14} {absolute:>12} {row['load_average']:5.2f}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", help=f"cases as SIZExREADS (default: {' '.join(DEFAULT_SIZES)})")
    parser.add_argument("--quick", action="store_true", help=f"small cases only ({' '.join(QUICK_SIZES)})")
    parser.add_argument("--no-stcal", action="store_true", help="do not run stcal")
    parser.add_argument("--workdir", type=Path, help="directory for the raw files (default: a temporary one)")
    parser.add_argument("--no-prepare", action="store_true", help="do not touch memory before each timed fit")
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs of each of our fits, fastest shown (default 3; 1 quick)"
    )
    parser.add_argument(
        "--in-memory",
        action="store_true",
        help="fit an array read from the raw file before timing (default: its memory map)",
    )
    parser.add_argument(
        "--reuse-out",
        action="store_true",
        help="fit into output arrays written before (fit_ramps(out=)); default: new arrays",
    )
    parser.add_argument(
        "--roofline",
        action="store_true",
        help="also measure this machine's memory bandwidth and print where the fit's time goes",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "compile":
            result = {"warm_up_s": warm_up_ours("exact+jumps")}
        elif kind == "write":
            path, size, ngroups = rest
            write_ramp(Path(path), int(size), int(ngroups))
            result = {}
        elif kind == "ours":
            path, size, ngroups, variant, slope, prepare_gb, source, outputs = rest
            result = child_ours(Path(path), int(size), int(ngroups), variant, Path(slope), float(prepare_gb),
                                source == "memory", outputs == "reuse")  # fmt: skip
        elif kind == "roofline":
            path, size, ngroups, repeat = rest
            result = child_roofline(Path(path), int(size), int(ngroups), int(repeat))
        else:
            path, size, ngroups, slope, prepare_gb = rest
            result = child_stcal(Path(path), int(size), int(ngroups), Path(slope), float(prepare_gb))
        print(json.dumps(result))
        return 0

    args.repeat = args.repeat or (1 if args.quick else 3)
    cases = [tuple(int(v) for v in case.split("x")) for case in (args.sizes or (QUICK_SIZES if args.quick else
                                                                                   DEFAULT_SIZES))]  # fmt: skip
    import numba

    print(f"# input: {'array in memory' if args.in_memory else 'memory map of the raw file'}; outputs: "
          f"{'reused (out=)' if args.reuse_out else 'new arrays'}", flush=True)  # fmt: skip
    print(f"# numba {numba.__version__}, {numba.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}; read noise {READ_NOISE_DN} DN, gain {GAIN} e-/DN, "
          f"frame time {FRAME_TIME_S} s", flush=True)  # fmt: skip
    if not args.quick:
        print(f"# numba compile time with an empty cache (all kernels): {cold_compile_seconds():.1f} s", flush=True)
    results = []
    stcal_reference = None
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        workdir = Path(tmp)
        print(HEADER)
        for size, ngroups in cases:
            with_stcal = not args.no_stcal and size * size * ngroups <= STCAL_MAX_PIXEL_GROUPS
            reference = stcal_reference if stcal_reference and stcal_reference["ngroups"] == ngroups else None
            input_options = ("memory" if args.in_memory else "map", "reuse" if args.reuse_out else "fresh")
            rows = run_case(workdir, size, ngroups, with_stcal, reference, not args.no_prepare, args.repeat,
                            input_options, args.roofline)  # fmt: skip
            results.extend(rows)
            if with_stcal:
                stcal_reference = dict(rows[0]["stcal"], pixels=size * size, ngroups=ngroups)
    warm = [row["ours"]["warm_up_s"] for row in results]
    print(f"# warm-up (numba cache load) per child: {min(warm):.2f}-{max(warm):.2f} s, not in the times above")
    print("# ~: stcal extrapolated linearly in pixel count from the largest case it ran with the same reads")
    print("# peak GB: raw peak RSS; >base: above the process just before the fit; >base-input: minus the")
    print("# resident pages of the memory-mapped raw file. ratio = stcal time / our fastest time; median: of our")
    print(f"# {args.repeat} runs; load: 1-minute load average after the runs (the machine may be shared).")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
