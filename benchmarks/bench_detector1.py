"""Stage 1 end to end: this package's streaming detector1 against a JWST-style stcal chain, same data.

Usage::

    .venv/bin/python benchmarks/bench_detector1.py [--size 4096] [--ngroups 10] [--workdir DIR] [--skip-stcal]

Simulates one IRIS detector (once; reused from --workdir), then, each in its own subprocess so
that peak memory is measured separately:

* ``ours``: ``Detector1Pipeline`` on the raw file (memory-mapped, streamed), writing rate and
  rateints products;
* ``stcal``: the JWST way on the same raw file and references, without writing anything: the
  ramp converted whole to float32, stcal saturation, superbias, our refpix, stcal linearity, dark,
  stcal jump detection and stcal OLS_C ramp fitting.

Prints wall times, their ratio, peak resident memory and the agreement of the two rate images,
and what verifying the references' SHA-256 checksums costs: the time to hash every reference file
the rate records (``R_*``), as the first run after a reference is written does (later runs and
exposures reuse the digest, in memory and on disk, while the file's inode, size and mtime are
unchanged), as a fraction of detector1's time (measured on the second run, digests cached).
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

RUNNERS = {}


def runner(function):
    RUNNERS[function.__name__] = function
    return function


@runner
def ours(raw, refstore, output_dir):
    from iris_pipeline.pipelines import Detector1Pipeline

    Detector1Pipeline.call(str(raw), refstore=str(refstore), output_dir=str(output_dir), save_results=True)
    return str(Path(output_dir) / raw.name.replace("_uncal", "_rate"))


@runner
def stcal(raw, refstore, output_dir):
    import numpy as np
    from astropy.io import fits
    from stcal.jump.jump import detect_jumps_data
    from stcal.jump.jump_class import JumpData
    from stcal.linearity.linearity import linearity_correction
    from stcal.ramp_fitting.ramp_fit import ramp_fit_data
    from stcal.ramp_fitting.ramp_fit_class import RampData
    from stcal.saturation.saturation import flag_saturated_pixels

    from iris_pipeline import datamodels, dqflags
    from iris_pipeline.instruments import get_instrument
    from iris_pipeline.references import ExposureSelectors, ReferenceStore
    from iris_pipeline.refpix import subtract_reference_pixels

    model = datamodels.open(raw)
    store = ReferenceStore(refstore)
    exposure = ExposureSelectors.from_model(model)

    def ref(reftype, extension):
        return fits.getdata(store.select(reftype, exposure).path, extension).astype(np.float32)

    data = fits.getdata(raw, "SCI").astype(np.float32)
    nints, ngroups, ny, nx = data.shape
    gdq = np.zeros(data.shape, np.uint8)
    pdq = fits.getdata(store.select("mask", exposure).path, "DQ").astype(np.uint32)
    gdq, pdq, _ = flag_saturated_pixels(
        data, gdq, pdq, ref("saturation", "SCI"), np.zeros_like(pdq), 65535, dqflags.PIXEL
    )
    data -= ref("superbias", "SCI")
    detector = get_instrument("IRIS").detectors[model.meta.instrument.detector]
    subtract_reference_pixels(data, pdq, 0, detector.output_channel_width_pix)
    coeffs = fits.getdata(store.select("linearity", exposure).path, "COEFFS").astype(np.float32)
    data, pdq, _ = linearity_correction(data, gdq, pdq, coeffs, np.zeros_like(pdq), dqflags.PIXEL)
    meta = model.meta.exposure
    times = (np.arange(ngroups) + 1) * meta.group_time
    data -= ref("dark", "SCI")[None, None] * times[None, :, None, None].astype(np.float32)
    read_noise = ref("readnoise", "SCI")
    gain = ref("gain", "SCI")
    jump = JumpData(gain2d=gain, rnoise2d=read_noise * np.float32(np.sqrt(2)), dqflags=dqflags.PIXEL)
    jump.init_arrays_from_arrays(data, gdq, pdq)
    jump.nframes = meta.nframes
    jump.dt_group = np.ones(1)
    jump.n_reads_groupdiff = np.ones(1) * 2 * meta.nframes
    jump.max_cores = "none"
    gdq, pdq, *_ = detect_jumps_data(jump)
    ramp = RampData()
    ramp.set_arrays(data, gdq, pdq, np.zeros((ny, nx), np.float32))
    ramp.set_meta(
        name="IRIS",
        frame_time=meta.frame_time,
        group_time=meta.group_time,
        groupgap=meta.groupgap,
        nframes=meta.nframes,
    )
    ramp.algorithm = "OLS_C"
    ramp.set_dqflags(dqflags.PIXEL)
    ramp.start_row, ramp.num_rows = 0, ny
    ramp.suppress_one_group_ramps = True
    image, _, _ = ramp_fit_data(ramp, False, read_noise * np.float32(np.sqrt(2)), gain, "OLS_C", "optimal", "none")
    out = Path(output_dir) / "stcal_rate.npy"
    np.save(out, image["slope"])
    return str(out)


def child(name, raw, refstore, output_dir):
    start = time.perf_counter()
    product = RUNNERS[name](Path(raw), Path(refstore), Path(output_dir))
    seconds = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"seconds": seconds, "peak_gb": peak_gb, "product": product}))


def run_child(name, raw, refstore, output_dir):
    result = subprocess.run(
        [sys.executable, __file__, "--child", name, str(raw), str(refstore), str(output_dir)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def report_checksum_cost(ours: dict, refstore: Path) -> None:
    from astropy.io import fits

    from iris_pipeline.references import sha256_of

    header = fits.getheader(ours["product"])
    names = {value for key, value in header.items() if key.startswith("R_") and value != "N/A"}
    paths = [path for path in refstore.rglob("*.fits") if path.name in names]
    start = time.perf_counter()
    for path in paths:
        sha256_of(path)
    seconds = time.perf_counter() - start
    megabytes = sum(path.stat().st_size for path in paths) / 1e6
    print(f"reference checksums: {len(paths)} files, {megabytes:.0f} MB hashed in {seconds:.2f} s "
          f"= {100 * seconds / ours['seconds']:.1f} % of detector1, paid once per version of the files")  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096, help="detector window size (4096: full frame)")
    parser.add_argument("--ngroups", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "iris_bench_detector1")
    parser.add_argument("--skip-stcal", action="store_true", help="time only this package")
    args = parser.parse_args()

    import numpy as np

    from iris_pipeline import datamodels
    from iris_pipeline.simulate import simulate_observation

    sim_dir = args.workdir / f"sim_{args.size}_{args.ngroups}"
    manifest_path = sim_dir / "manifest.json"
    if not manifest_path.exists():
        print(f"simulating IRIS IMG1 {args.size}^2 x {args.ngroups} groups in {sim_dir} ...", flush=True)
        start = time.perf_counter()
        simulate_observation(
            sim_dir, detectors=["IMG1"], size=None if args.size == 4096 else args.size, ngroups=args.ngroups,
            ndithers=1, ndarks=0, nflats=0, seed=1,
        )  # fmt: skip
        print(f"  simulated in {time.perf_counter() - start:.1f} s")
    manifest = json.loads(manifest_path.read_text())
    raw = sim_dir / manifest["science"][0]
    refstore = sim_dir / manifest["reference_dir"]
    output_dir = args.workdir / "out"
    output_dir.mkdir(parents=True, exist_ok=True)

    run_child("ours", raw, refstore, output_dir)  # compile and cache the numba kernels
    results = {"ours": run_child("ours", raw, refstore, output_dir)}
    if not args.skip_stcal:
        results["stcal"] = run_child("stcal", raw, refstore, output_dir)

    print(f"\ndetector1, IRIS IMG1 {args.size}^2 x {args.ngroups} groups, raw file {raw.stat().st_size / 1e6:.0f} MB")
    print(f"{'':8} {'wall s':>8} {'peak GB':>8}")
    for name, result in results.items():
        print(f"{name:8} {result['seconds']:8.2f} {result['peak_gb']:8.2f}")
    report_checksum_cost(results["ours"], refstore)
    if "stcal" in results:
        ratio = results["stcal"]["seconds"] / results["ours"]["seconds"]
        print(f"speed-up (stcal chain time / ours): {ratio:.1f}x")
        with datamodels.open(results["ours"]["product"]) as rate:
            theirs = np.load(results["stcal"]["product"])
            both = np.isfinite(rate.data) & np.isfinite(theirs) & (rate.dq == 0)
            diff = np.abs(rate.data[both] - theirs[both]) / np.maximum(np.abs(theirs[both]), 1.0)
            print(f"rate agreement on {both.sum()} clean pixels: median |diff|/max(|rate|,1) = {np.median(diff):.2e}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
    else:
        main()
