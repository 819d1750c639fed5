"""spec3 speed and memory on four full-field lenslet cubes (issue 13).

Writes four dithered ``_s3d`` cubes of the full lenslet field (112 x 128 spaxels, 4 mas) over the
K band at R = 4000 (about 1600 planes, Nyquist sampled), each a point source on noise with a
residual background, then runs ``Spec3Pipeline`` on them in a child process (alignment, sky
matching, outlier detection, drizzle combination, 1-D extraction; products written) and prints
its wall time and peak resident memory.

Usage::

    .venv/bin/python benchmarks/bench_spec3.py [--workdir DIR] [--planes N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DITHERS_SPAX = [(0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (0.5, 0.5)]
NOISE_MJY_SR = 40.0


def write_cubes(folder: Path, planes: int) -> list[Path]:
    from iris_pipeline import datamodels
    from iris_pipeline.ifs.combine import CubeGeometry
    from iris_pipeline.ifs.cube import spaxel_solid_angle_sr
    from iris_pipeline.ifs.point_source import psf_image
    from iris_pipeline.ifs.spec3_steps import set_cube_wcs
    from iris_pipeline.instruments import get_instrument

    ifs = get_instrument("IRIS").ifs
    nx, ny = ifs["modes"]["LENSLET"]["spaxels_full"]
    scale_mas = float(ifs["modes"]["LENSLET"]["plate_scales_mas"][0])
    low, high = ifs["gratings"]["K"]
    wave = np.linspace(low, high, planes)
    frame = CubeGeometry(150.0, 2.0, 0.0, scale_mas, nx, ny)
    rng = np.random.default_rng(3)
    paths = []
    for k, (dx, dy) in enumerate(DITHERS_SPAX):
        commanded = frame.pixel_to_world(0.5 * (nx - 1) + dx, 0.5 * (ny - 1) + dy)
        psf = psf_image((ny, nx), 0.4 * nx - dx, 0.55 * ny - dy, 1.2)
        source = 2e-3 * 1e-6 / spaxel_solid_angle_sr(scale_mas) * psf
        cube = datamodels.IFUCubeModel((planes, ny, nx))
        cube.data = (source[None] + 10.0 * k + rng.normal(0.0, NOISE_MJY_SR, (planes, ny, nx))).astype(np.float32)
        cube.err = np.full((planes, ny, nx), NOISE_MJY_SR, np.float32)
        cube.dq = np.zeros((planes, ny, nx), np.uint32)
        cube.wavelength = wave.astype(np.float32)
        cube.meta.bunit_data = cube.meta.bunit_err = "MJy/sr"
        cube.meta.instrument.name = "IRIS"
        cube.meta.instrument.ifs_mode, cube.meta.instrument.ifs_scale = "LENSLET", scale_mas
        cube.meta.instrument.filter, cube.meta.instrument.resolving_power = "K", 4000
        cube.meta.exposure.effective_exposure_time = 900.0
        cube.meta.filename = f"full{k}_s3d.fits"
        set_cube_wcs(cube, CubeGeometry(float(commanded[0]), float(commanded[1]), 0.0, scale_mas, nx, ny))
        paths.append(Path(cube.save(folder / cube.meta.filename)))
    return paths


def child(output_dir: str, *paths: str) -> None:
    from iris_pipeline.pipelines.spec3 import Spec3Pipeline

    start = time.perf_counter()
    pipeline = Spec3Pipeline()
    pipeline.output_dir = output_dir
    pipeline.save_results = True
    pipeline.run(list(paths))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "iris_bench_spec3")
    parser.add_argument("--planes", type=int, default=1600, help="wavelength planes per cube")
    args = parser.parse_args()
    cubes = args.workdir / f"cubes_{args.planes}"
    cubes.mkdir(parents=True, exist_ok=True)
    paths = sorted(cubes.glob("full*_s3d.fits")) or write_cubes(cubes, args.planes)
    size_mb = sum(path.stat().st_size for path in paths) / 1e6
    result = subprocess.run([sys.executable, __file__, "--child", str(args.workdir / "out"), *map(str, paths)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"spec3 failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"spec3 on {len(paths)} full-field lenslet cubes ({args.planes} planes, {size_mb:.0f} MB on disk): "
          f"{figures['seconds']:.1f} s, peak memory {figures['peak_gb']:.2f} GB")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
    else:
        main()
