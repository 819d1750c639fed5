"""Scaling of the execution engine: 8 small exposures on 1 and 2 local dask workers, one run.

Usage::

    .venv/bin/python benchmarks/bench_scaling.py [--size 512] [--ngroups 6] [--workdir DIR]

Simulates 8 IRIS exposures (2 dithers x 4 detectors, ``size`` x ``size`` windows, no skies,
darks or flats) and reduces them through detector1 (and image2 when it is registered) with
``iris_pipeline.execution.run_plan`` (stages 1 and 2 only: stage 3 is one task) on three
local clusters, each started and warmed up (every worker reduces one exposure first, so
imports and numba's cache load are not timed):

* 1 worker x 1 thread (the reference),
* 2 workers x 1 thread,
* 1 worker x 2 threads (dask runs two tasks at once in threads; numba kernels get 2 threads).

Numba kernels use as many threads as the worker has (``NUMBA_NUM_THREADS``), so 1 x 1 against
2 x 1 compares the same total number of threads. Prints each wall time and its ratio to 1 x 1,
with the load average after each run: on a shared machine other processes take cores too, and
the 2-worker speed-up can only approach 2 when both cores are free.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

CONFIGURATIONS = ((1, 1), (2, 1), (1, 2))


def warm_up(raw: str, refstore: str, folder: str) -> float:
    """Reduce one exposure in this worker (imports, numba cache loads); returns the seconds it took."""
    import os

    from iris_pipeline.execution import build_plan, run_plan

    start = time.perf_counter()
    plan = build_plan([raw], Path(folder) / f"warm-{os.getpid()}", refstore=refstore, last_stage=2)
    run_plan(plan, workers=0, force=True, progress=False)
    return time.perf_counter() - start


def timed_run(files, refstore: str, output_dir: Path, workers: int, threads: int) -> tuple[float, int]:
    """Wall time of one forced run of the plan on a fresh, warmed-up local cluster."""
    from distributed import Client

    from iris_pipeline.execution import OK, build_plan, local_cluster, run_plan

    with local_cluster(workers, threads) as cluster, Client(cluster) as client:
        client.run(warm_up, str(files[0]), refstore, str(output_dir.parent))
        plan = build_plan(files, output_dir, refstore=refstore, last_stage=2)
        start = time.perf_counter()
        report = run_plan(plan, client=client, force=True, progress=False)
        wall = time.perf_counter() - start
    failed = [r for r in report.results.values() if r.status != OK]
    if failed:
        raise SystemExit(f"{len(failed)} tasks failed, e.g. {failed[0].task_id}: {failed[0].error}")
    return wall, len(report.results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="detector window size (default 512)")
    parser.add_argument("--ngroups", type=int, default=6, help="groups per ramp (default 6)")
    parser.add_argument("--workdir", help="folder for data and products (default: a temporary folder)")
    args = parser.parse_args()

    from iris_pipeline.execution import available_pipelines
    from iris_pipeline.simulate import simulate_observation

    with tempfile.TemporaryDirectory(prefix="bench_scaling_") as temporary:
        work = Path(args.workdir or temporary)
        manifest = simulate_observation(
            work / "simulated", detectors=["IMG1", "IMG2", "IMG3", "IMG4"], size=args.size, ngroups=args.ngroups,
            ndithers=2, ndarks=0, nflats=0, seed=3,
        )  # fmt: skip
        files = list(manifest.science)
        refstore = str(manifest.reference_dir)
        stages = "detector1 + image2" if "image2" in available_pipelines() else "detector1"
        print(f"{len(files)} exposures of {args.size} x {args.size} x {args.ngroups} groups through {stages}")
        timings = {}
        for workers, threads in CONFIGURATIONS:
            wall, ntasks = timed_run(files, refstore, work / f"out_{workers}x{threads}", workers, threads)
            timings[(workers, threads)] = wall
            load = os.getloadavg()[0]
            print(f"  {workers} worker(s) x {threads} thread(s): {wall:7.1f} s for {ntasks} tasks "
                  f"(load average {load:.1f} on {os.cpu_count()} cores just after)")  # fmt: skip
        reference = timings[(1, 1)]
        for (workers, threads), wall in timings.items():
            print(f"  speed-up of {workers} x {threads} over 1 x 1: {reference / wall:.2f}x")


if __name__ == "__main__":
    main()
