"""Latency of ``iris-pipeline watch``: from a raw file's completion to its ``_cal.fits``, cold and warm.

Simulates dithered exposures of the four 4096 x 4096 IRIS imager detectors (10 reads, UTR, by
default), starts a `Watch` on an empty raw folder with a local cluster of two single-threaded
workers, then copies the exposures in one by one, one exposure (its four detector files) every
``--cadence`` seconds (default: the exposure's own duration, NGROUPS x TGROUP, as the instrument
would deliver them). For each exposure it prints the latency from the completion of its last
raw file (modification time once fully copied) to its last ``_cal.fits`` (modification time),
the first exposure separately (it pays for the workers' start-up: imports, numba kernels, the
first reading of the references), then the median and maximum of the others, the throughput
(exposures per hour while the watch is busy) and each worker's peak memory (max RSS).

Usage::

    .venv/bin/python benchmarks/bench_watch.py [--workdir DIR] [--exposures 4] [--size N]
        [--cadence S] [--stage 2]

The simulation is kept in ``--workdir`` and reused by later runs.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from astropy.io import fits

from iris_pipeline.execution.watch import Watch
from iris_pipeline.simulate import SimulationManifest, simulate_observation

DETECTORS = ["IMG1", "IMG2", "IMG3", "IMG4"]


def simulate(workdir: Path, exposures: int, ngroups: int, size: int | None) -> SimulationManifest:
    manifest_path = workdir / "manifest.json"
    if manifest_path.exists():
        return SimulationManifest.read(manifest_path)
    return simulate_observation(
        workdir, instrument="IRIS", detectors=DETECTORS, size=size, ngroups=ngroups, ndithers=exposures,
        n_stars=400, n_galaxies=40, ndarks=0, nflats=0, seed=5,
    )  # fmt: skip


def exposures_of(raw_files) -> dict[str, list[Path]]:
    """Raw files grouped by exposure (their names without the detector)."""
    groups = defaultdict(list)
    for path in sorted(raw_files):
        detector = str(fits.getval(path, "DETECTOR", 0)).lower()
        groups[re.sub(f"_{re.escape(detector)}(?=_)", "", path.stem, count=1)].append(path)
    return dict(groups)


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _wait_for(paths, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(p.exists() for p in paths):
        if time.monotonic() > deadline:
            missing = [p.name for p in paths if not p.exists()]
            raise SystemExit(f"timed out waiting for {missing}")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=None, help="simulation folder, kept and reused")
    parser.add_argument("--exposures", type=int, default=4, help="dithered exposures (4 detector files each)")
    parser.add_argument("--ngroups", type=int, default=10)
    parser.add_argument("--size", type=int, default=None, help="window size (default: full 4096 frame)")
    parser.add_argument("--cadence", type=float, default=None,
                        help="seconds between exposures (default: NGROUPS x TGROUP)")  # fmt: skip
    parser.add_argument("--stage", type=int, default=2, choices=(2, 3), help="last stage the watch runs (default 2)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for one exposure's products")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_watch_"))
    start = time.perf_counter()
    manifest = simulate(workdir / "sim", args.exposures, args.ngroups, args.size)
    print(f"simulation ready in {time.perf_counter() - start:.0f} s: {len(manifest.science)} raw files", flush=True)
    exposures = exposures_of(manifest.science)
    header = fits.getheader(manifest.science[0])
    cadence = args.cadence if args.cadence is not None else header["NGROUPS"] * header["TGROUP"]

    run = workdir / f"run-{time.time_ns()}"
    raw, products = run / "raw", run / "products"
    raw.mkdir(parents=True)
    watch = Watch(raw, products, refstore=str(manifest.reference_dir), workers=args.workers, last_stage=args.stage)
    stop = threading.Event()
    thread = threading.Thread(target=watch.run, args=(stop,))
    thread.start()
    while watch.client is None or len(watch.client.scheduler_info().get("workers", {})) < args.workers:
        time.sleep(0.2)
    time.sleep(2)  # the workers' warm-up (imports) is part of start-up, not of the first exposure
    print(f"watch started; one exposure every {cadence:.1f} s", flush=True)

    latencies = {}
    complete_at = {}
    try:
        for number, (name, files) in enumerate(exposures.items()):
            due = time.time()
            for source in files:
                shutil.copyfile(source, raw / source.name)  # written in place, as the instrument does
            complete_at[name] = max((raw / f.name).stat().st_mtime for f in files)
            if number + 1 < len(exposures):
                time.sleep(max(0.0, due + cadence - time.time()))
        for name, files in exposures.items():
            cals = [products / f.name.replace("_uncal.fits", "_cal.fits") for f in files]
            _wait_for(cals, args.timeout)
            latencies[name] = max(c.stat().st_mtime for c in cals) - complete_at[name]
            print(f"{name}: {latencies[name]:6.1f} s from raw complete to last _cal.fits", flush=True)
        peaks = watch.client.run(_peak_rss_mb)
    finally:
        stop.set()
        thread.join()
    values = list(latencies.values())
    warm = values[1:]
    busy_s = max(latencies[n] + complete_at[n] for n in latencies) - min(complete_at.values())
    result = {
        "exposures": len(values),
        "detector_size": args.size or 4096,
        "ngroups": args.ngroups,
        "cadence_s": cadence,
        "workers": args.workers,
        "last_stage": args.stage,
        "first_exposure_latency_s": values[0],
        "warm_median_latency_s": statistics.median(warm) if warm else None,
        "warm_max_latency_s": max(warm) if warm else None,
        "exposures_per_hour": 3600 * len(values) / busy_s,
        "worker_peak_rss_mb": {worker: round(mb) for worker, mb in peaks.items()},
        "failed_tasks": [t for t, r in watch.stats.results.items() if r.status != "OK"],
    }
    print(json.dumps(result, indent=2))
    shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    main()
