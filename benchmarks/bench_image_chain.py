"""Wall time of one full IRIS imaging exposure, raw -> cal, on this machine (issue 4).

Simulates one exposure of the four 4096 x 4096 imager detectors (10 reads, UTR) with its
reference files, warms the numba kernels on a small window, then runs detector1 and image2 on
each detector in turn in this process and prints the time of each stage and the total. It then
reduces the same four files as `iris-pipeline process` does, on a local dask cluster of two
single-threaded workers (each warmed up first), two detectors at a time.

The one algorithm of image2 written here rather than taken from a library, the mesh background,
is timed against the library it replaces, `photutils.background.Background2D` (same box size,
sigma clipping and SExtractor mode estimator, its default 3 x 3 mesh filter), on the same
detector frame, and the ratio printed. It was written for its edges (a gradient reaches the
frame edge instead of being held flat), so the ratio shows what that costs or saves.

Usage::

    .venv/bin/python benchmarks/bench_image_chain.py [--workdir DIR] [--ngroups 10]

The simulation (about 6 GB of files) is kept in ``--workdir`` and reused by later runs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.stats import SigmaClip
from photutils.background import Background2D, SExtractorBackground

from iris_pipeline import datamodels
from iris_pipeline.background.mesh import mesh_background
from iris_pipeline.pipelines import Detector1Pipeline, ProcessImagerL2Pipeline
from iris_pipeline.simulate import SimulationManifest, simulate_observation

DETECTORS = ["IMG1", "IMG2", "IMG3", "IMG4"]
BOX_PIX = 64


def simulate(workdir: Path, ngroups: int, size: int | None) -> SimulationManifest:
    manifest_path = workdir / "manifest.json"
    if manifest_path.exists():
        return SimulationManifest.read(manifest_path)
    return simulate_observation(
        workdir, instrument="IRIS", detectors=DETECTORS, size=size, ngroups=ngroups, ndithers=1,
        n_stars=400, n_galaxies=40, ndarks=0, nflats=0, seed=5,
    )  # fmt: skip


def reduce(raw: Path, refstore: Path, products: Path) -> dict:
    """detector1 then image2 on one raw file; seconds of each."""
    start = time.perf_counter()
    Detector1Pipeline.call(str(raw), output_dir=str(products), save_results=True, refstore=str(refstore),
                           configure_log=False)  # fmt: skip
    stage1 = time.perf_counter()
    rate = products / raw.name.replace("_uncal", "_rate")
    ProcessImagerL2Pipeline.call(str(rate), output_dir=str(products), save_results=True, refstore=str(refstore),
                                 configure_log=False)  # fmt: skip
    return {"detector1_s": stage1 - start, "image2_s": time.perf_counter() - stage1}


def engine_wall_time(raw_files, refstore: Path, output_dir: Path, warm_raw: Path, warm_refstore: Path) -> float:
    """Seconds to reduce the files through stage 2 on 2 local workers x 1 thread (warmed up)."""
    from distributed import Client

    from iris_pipeline.execution import OK, build_plan, local_cluster, run_plan

    with local_cluster(2, 1) as cluster, Client(cluster) as client:
        client.run(_warm_worker, str(warm_raw), str(warm_refstore), str(output_dir.parent))
        plan = build_plan([str(p) for p in raw_files], output_dir, refstore=str(refstore), last_stage=2)
        start = time.perf_counter()
        report = run_plan(plan, client=client, force=True, progress=False)
        wall = time.perf_counter() - start
    failed = [r for r in report.results.values() if r.status != OK]
    if failed:
        raise SystemExit(f"{len(failed)} tasks failed, e.g. {failed[0].task_id}: {failed[0].error}")
    return wall


def _warm_worker(raw: str, refstore: str, folder: str) -> None:
    """Load the numba kernels and imports in a worker on a small exposure."""
    import os

    from iris_pipeline.execution import build_plan, run_plan

    plan = build_plan([raw], Path(folder) / f"warm-{os.getpid()}", refstore=refstore, last_stage=2)
    run_plan(plan, workers=0, force=True, progress=False)


def background_ratio(rate_path: Path) -> dict:
    """Seconds of our mesh background and of photutils' Background2D on the same frame."""
    with datamodels.open(rate_path) as rate:
        data = np.asarray(rate.data, np.float32)
        good = np.isfinite(data) & ((rate.dq & 1) == 0)
    start = time.perf_counter()
    ours = mesh_background(data, good, BOX_PIX)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    library = Background2D(
        data, BOX_PIX, mask=~good, filter_size=3, sigma_clip=SigmaClip(sigma=3.0, maxiters=10),
        bkg_estimator=SExtractorBackground(),
    )  # fmt: skip
    library_s = time.perf_counter() - start
    difference = np.nanmedian(np.abs(ours - library.background)[good])
    return {
        "mesh_background_s": ours_s,
        "photutils_background2d_s": library_s,
        "speedup": library_s / ours_s,
        "median_abs_difference_dn_s": float(difference),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=None, help="simulation folder, kept and reused")
    parser.add_argument("--ngroups", type=int, default=10)
    parser.add_argument("--size", type=int, default=None, help="window size (default: full 4096 frame)")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_image_chain_"))
    start = time.perf_counter()
    manifest = simulate(workdir / "sim", args.ngroups, args.size)
    print(f"simulation ready in {time.perf_counter() - start:.0f} s: {len(manifest.science)} raw files")

    warm = simulate(workdir / "warm", 3, 128)
    reduce(warm.science[0], warm.reference_dir, workdir / "warm_products")

    products = workdir / "products"
    per_detector = {}
    total_start = time.perf_counter()
    for raw in manifest.science:
        per_detector[raw.name] = reduce(raw, manifest.reference_dir, products)
        print(raw.name, {k: round(v, 2) for k, v in per_detector[raw.name].items()}, flush=True)
    total = time.perf_counter() - total_start
    engine = engine_wall_time(
        manifest.science, manifest.reference_dir, workdir / "engine_products", warm.science[0], warm.reference_dir
    )
    result = {
        "raw_to_cal_4_detectors_s": total,
        "raw_to_cal_4_detectors_engine_2_workers_s": engine,
        "detector1_s": sum(v["detector1_s"] for v in per_detector.values()),
        "image2_s": sum(v["image2_s"] for v in per_detector.values()),
        "background": background_ratio(products / manifest.science[0].name.replace("_uncal", "_rate")),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
