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
RSS, the peak above the process's RSS just before the fit, and for ours that minus the resident share
of the memory-mapped input (pages of the raw file that the fit touched).

Usage::

    .venv/bin/python benchmarks/bench_ramp_fit.py                 # 4096^2x10, 2048^2x100, 4096^2x100
    .venv/bin/python benchmarks/bench_ramp_fit.py --quick         # small sizes, seconds
    .venv/bin/python benchmarks/bench_ramp_fit.py --sizes 2048x10 4096x10 --no-stcal
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
        cosmic = np.where(rng.random((size, size)) < 2e-4, rng.exponential(300.0, (size, size)), 0.0)
        add_group(level, flux_e, READ_NOISE_DN, cosmic, frame, seed * 100003 + group * 7919)
        raw[group] = frame.astype(np.uint16)
    raw.flush()
    del raw


# ----------------------------------------------------------------------------------------------
# Child processes
# ----------------------------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


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


def child_ours(path: Path, size: int, ngroups: int, variant: str, slope_path: Path | None) -> dict:
    warm_up_s = warm_up_ours(variant)
    from iris_pipeline.ramp_fitting.ols import fit_ramps

    data = np.memmap(path, dtype=np.uint16, mode="r", shape=(ngroups, size, size))
    baseline = rss_bytes()
    start = time.perf_counter()
    result = fit_ramps(data, read_times(ngroups), READ_NOISE_DN, GAIN, **variant_options(variant))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    input_resident = mapped_rss_bytes(path)
    if slope_path is not None:
        np.save(slope_path, result.slope)
    return {
        "seconds": seconds,
        "warm_up_s": warm_up_s,
        "peak_rss": peak,
        "baseline_rss": baseline,
        "input_resident": input_resident,
    }


def child_stcal(path: Path, size: int, ngroups: int, slope_path: Path | None) -> dict:
    import logging
    import math

    from stcal.ramp_fitting.ramp_fit import ramp_fit_data
    from stcal.ramp_fitting.ramp_fit_class import RampData

    from iris_pipeline import dqflags

    logging.getLogger("stcal").setLevel(logging.WARNING)
    baseline = rss_bytes()
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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if slope_path is not None:
        np.save(slope_path, integrations["slope"][0])
    return {"seconds": seconds, "convert_s": convert_s, "peak_rss": peak, "baseline_rss": baseline}


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


def prewarm_memory(gigabytes: float) -> None:
    """Touch and free memory once: on a fresh virtual machine the first touch of each page costs the
    host a fault, which would land on whichever process happens to run first."""
    if gigabytes > 0:
        block = np.ones(int(gigabytes * 2**30) // 8)
        del block


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


def run_case(workdir: Path, size: int, ngroups: int, with_stcal: bool, stcal_reference: dict | None) -> list[dict]:
    path = workdir / f"ramp_{size}x{ngroups}.u16"
    start = time.perf_counter()
    write_ramp(path, size, ngroups)
    print(f"# {size}^2 x {ngroups}: wrote {path.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - start:.1f} s",
          flush=True)  # fmt: skip
    stcal = None
    stcal_slope = workdir / "stcal_slope.npy"
    if with_stcal:
        stcal = run_child(["stcal", str(path), str(size), str(ngroups), str(stcal_slope)])
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
        ours = run_child(["ours", str(path), str(size), str(ngroups), variant, str(slope_path)])
        agreement = (float("nan"), float("nan"))
        # With jump detection the slopes differ from stcal's fit without it by design.
        if with_stcal and variant != "exact+jumps":
            agreement = slope_agreement(np.load(slope_path), np.load(stcal_slope))
        rows.append({"size": size, "ngroups": ngroups, "variant": variant, "ours": ours, "stcal": stcal,
                     "agreement": agreement})  # fmt: skip
        print_row(rows[-1])
    path.unlink()
    return rows


HEADER = (
    f"{'size':>6} {'reads':>5} {'ours: variant':<16} {'time s':>7} {'stcal s':>9} {'ratio':>7}  "
    f"{'peak GB':>7} {'>base':>6} {'>base-input':>11} {'stcal GB':>9}  {'max rel dslope':>14} {'max |d| DN/s':>12}"
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
        f"{row['size']:>6} {row['ngroups']:>5} {row['variant']:<16} {ours['seconds']:7.2f} {stcal_s:>9} {ratio:>7}  "
        f"{gb(ours['peak_rss']):>7} {gb(above):>6} {gb(above - ours['input_resident']):>11} {stcal_gb:>9}  "
        f"{relative:>14} {absolute:>12}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", help=f"cases as SIZExREADS (default: {' '.join(DEFAULT_SIZES)})")
    parser.add_argument("--quick", action="store_true", help=f"small cases only ({' '.join(QUICK_SIZES)})")
    parser.add_argument("--no-stcal", action="store_true", help="do not run stcal")
    parser.add_argument("--workdir", type=Path, help="directory for the raw files (default: a temporary one)")
    parser.add_argument("--prewarm-gb", type=float, default=None, help="memory touched once first (default 8; 0 quick)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "compile":
            result = {"warm_up_s": warm_up_ours("exact+jumps")}
        elif kind == "ours":
            path, size, ngroups, variant, slope = rest
            result = child_ours(Path(path), int(size), int(ngroups), variant, Path(slope))
        else:
            path, size, ngroups, slope = rest
            result = child_stcal(Path(path), int(size), int(ngroups), Path(slope))
        print(json.dumps(result))
        return 0

    cases = [tuple(int(v) for v in case.split("x")) for case in (args.sizes or (QUICK_SIZES if args.quick else
                                                                                   DEFAULT_SIZES))]  # fmt: skip
    prewarm_memory(args.prewarm_gb if args.prewarm_gb is not None else (0.0 if args.quick else 8.0))
    import numba

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
            rows = run_case(workdir, size, ngroups, with_stcal, reference)
            results.extend(rows)
            if with_stcal:
                stcal_reference = dict(rows[0]["stcal"], pixels=size * size, ngroups=ngroups)
    warm = [row["ours"]["warm_up_s"] for row in results]
    print(f"# warm-up (numba cache load) per child: {min(warm):.2f}-{max(warm):.2f} s, not in the times above")
    print("# ~: stcal extrapolated linearly in pixel count from the largest case it ran with the same reads")
    print("# peak GB: raw peak RSS; >base: above the process just before the fit; >base-input: minus the")
    print("# resident pages of the memory-mapped raw file. ratio = stcal time / our time.")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
