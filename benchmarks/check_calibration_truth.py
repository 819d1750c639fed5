"""The calibration pipelines against the simulator's truth, on a larger window.

    .venv/bin/python benchmarks/check_calibration_truth.py [--size 1024] [--ngroups 20] [--ndarks 4]
        [--nflats 5] [--workdir DIR]

Simulates one IRIS detector window with darks and lamp flats, runs ``create_dark``,
``create_flat`` (twice: large scales from the store's FLAT, the default for lamp flats, and
``large_scale='keep'``) and ``create_mask`` on a copy of the simulated reference store, and
prints, against the simulator's DARK, FLAT, MASK and READNOISE references:

- the flat ratio (recovered / true) over pixels good in both: median, RMS and 99th percentile of
  ``|ratio - 1|``, next to the median ERR of the flat (the noise-limited expectation);
- the dark: RMS of ``(recovered - true) / ERR``;
- hot pixels: completeness over all true hot pixels and over those detectable (true dark above
  the threshold by 7 of the measured ERR), and false positives;
- the mask: true, found and common pixels for each flag;
- the read noise: median and RMS of recovered / true, with true taken as is and with the 1/12 DN^2
  quantisation of the simulator's rounded reads added; the statistical RMS of a variance from n
  consecutive (correlation -1/2) differences is ``sqrt(3 / (4 (n - 1)))``, 1.22 times that of n
  independent ones.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

from iris_pipeline import dqflags
from iris_pipeline.pipelines.calibration import CreateDarkPipeline, CreateFlatPipeline, CreateMaskPipeline
from iris_pipeline.simulate import simulate_observation

PIXEL = dqflags.PIXEL
HOT_THRESHOLD_DN_S = CreateDarkPipeline().hot_threshold_dn_s


def truth(reference_dir: Path, reftype: str, extension: str = "SCI") -> np.ndarray:
    (path,) = sorted((reference_dir / reftype).glob(f"*_{reftype}_0001.fits"))
    return fits.getdata(path, extension)


def ratio_statistics(recovered: np.ndarray, true: np.ndarray, good: np.ndarray) -> str:
    ratio = recovered[good] / true[good]
    deviation = np.abs(ratio - 1)
    return (
        f"median {np.median(ratio):.5f}  RMS {np.std(ratio - 1) * 100:.3f} %  "
        f"99th pct |ratio-1| {np.percentile(deviation, 99) * 100:.3f} %  max {deviation.max() * 100:.2f} %  "
        f"({good.sum()} pixels)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--ngroups", type=int, default=20)
    parser.add_argument("--ndarks", type=int, default=4)
    parser.add_argument("--nflats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the files here (default: a temporary folder)")
    args = parser.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="check_calibration_"))
    start = time.perf_counter()
    manifest = simulate_observation(
        root / "sim",
        instrument="IRIS",
        detectors=["IMG1"],
        size=args.size,
        ngroups=args.ngroups,
        ndarks=args.ndarks,
        nflats=args.nflats,
        ndithers=1,
        n_stars=5,
        n_galaxies=0,
        seed=args.seed,
    )
    simulated = time.perf_counter()
    store, out = root / "store", root / "out"
    shutil.rmtree(store, ignore_errors=True)
    shutil.copytree(manifest.reference_dir, store)
    common = {"refstore": str(store), "output_dir": str(out), "configure_log": False}
    dark, readnoise = CreateDarkPipeline.call([str(p) for p in manifest.darks], **common)
    flat = CreateFlatPipeline.call([str(p) for p in manifest.flats], save_results=True, **common)
    rates = [str(p) for p in sorted(out.glob("*_flat_e*_rate.fits"))]
    kept = CreateFlatPipeline.call(rates, large_scale="keep", add_to_store=False, **common)
    mask = CreateMaskPipeline.call([str(out / dark.meta.filename), str(out / flat.meta.filename)], **common)
    reduced = time.perf_counter()

    refs = manifest.reference_dir
    print(
        f"IRIS IMG1 SUB{args.size}, {args.ngroups} groups, {args.ndarks} darks, {args.nflats} lamp flats, "
        f"seed {args.seed}: simulated in {simulated - start:.0f} s, calibrated in {reduced - simulated:.0f} s"
    )
    true_flat, true_flat_dq = truth(refs, "flat"), truth(refs, "flat", "DQ")
    good = (true_flat_dq == 0) & (flat.dq == 0)
    print(f"\nflat (large scales from the store's FLAT): {ratio_statistics(flat.data, true_flat, good)}")
    print(f"  median ERR of the flat {np.median(flat.err[good]) * 100:.3f} % (noise-limited RMS expectation)")
    good_kept = (true_flat_dq == 0) & (kept.dq == 0)
    print(f"flat (large_scale='keep', lamp pattern in): {ratio_statistics(kept.data, true_flat, good_kept)}")

    true_dark, true_dark_dq = truth(refs, "dark"), truth(refs, "dark", "DQ")
    light = (dark.dq & PIXEL["REFERENCE_PIXEL"]) == 0
    pull = (dark.data - true_dark)[light] / dark.err[light]
    print(f"\ndark: RMS of (recovered - true) / ERR = {np.std(pull):.3f}, median ERR {np.median(dark.err):.4f} DN/s")
    true_hot = (true_dark_dq & PIXEL["HOT"]) != 0
    found_hot = (dark.dq & PIXEL["HOT"]) != 0
    detectable = true_hot & (true_dark > HOT_THRESHOLD_DN_S + 7 * dark.err)
    print(
        f"hot pixels: {true_hot.sum()} true, {found_hot.sum()} found; completeness {found_hot[true_hot].mean():.3f} "
        f"overall, {found_hot[detectable].mean() if detectable.any() else float('nan'):.3f} of the "
        f"{detectable.sum()} detectable; false positives {(found_hot & ~true_hot).sum()}"
    )

    true_mask = truth(refs, "mask", "DQ")
    print("\nmask flag         true   found  common")
    for name in ("REFERENCE_PIXEL", "DEAD", "HOT", "LOW_QE", "DO_NOT_USE"):
        a, b = (true_mask & PIXEL[name]) != 0, (mask.dq & PIXEL[name]) != 0
        print(f"  {name:<15} {a.sum():>6} {b.sum():>7} {(a & b).sum():>7}")

    true_noise = truth(refs, "readnoise")
    ndifferences = args.ndarks * (args.ngroups - 1)
    for label, reference in (("as is", true_noise), ("+ 1/12 DN^2 rounding", np.sqrt(true_noise**2 + 1 / 12))):
        ratio = readnoise.data / reference
        print(
            f"\nread noise / truth ({label}): median {np.median(ratio):.4f}, RMS {np.std(ratio):.4f} "
            f"(statistical {np.sqrt(0.75 / (ndifferences - 1)):.4f} from {ndifferences} consecutive differences)"
        )
    print(f"\nfiles in {root}")


if __name__ == "__main__":
    main()
