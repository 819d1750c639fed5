"""Stage 1's ERR against the real scatter, pixel by pixel and over sums of pixels.

Simulates two exposures of an empty sky (no sources, no cosmic rays; the simulator shifts a
second dither position by a fraction of a pixel, which would make the images of sources differ)
on one imager detector window, so that they differ by their noise alone, runs detector1 on both
and compares their difference ``a - b`` with ``sqrt(ERR_a^2 + ERR_b^2)``:

- per pixel: the robust std of the pulls (1 when ERR is right);
- over blocks of pixels (rows x columns): the std of the block sums' pulls; noise common to many
  pixels, which no per-pixel ERR can hold, makes it grow with the block;
- per output channel (``output_channel_width_pix`` columns read by one amplifier): the mean
  difference and its pull; the block figures again with those channel constants removed.

The reference-pixel correction's estimate of each channel's offset comes from the window's few
reference rows and is common to the whole channel. Pulls of 1 per pixel that grow with the
block, and fall back to 1 once the channel constants are removed, say that this per-channel
noise is the part of the error that ERR does not describe (it matters for sums along a channel:
aperture photometry of faint extended sources, dispersed IFS spectra).

Usage::

    .venv/bin/python benchmarks/check_stage1_noise.py [--size 512] [--ngroups 5] [--seed 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

from iris_pipeline.instruments import get_instrument
from iris_pipeline.pipelines import Detector1Pipeline
from iris_pipeline.simulate import simulate_observation

DETECTOR = "IMG1"
BLOCKS = ((1, 1), (1, 8), (8, 1), (1, 64), (64, 1), (16, 16), (32, 32))


def robust_std(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def block_pull_std(difference, variance, good, rows: int, columns: int) -> dict:
    """Std of the pulls of the sums over ``rows x columns`` blocks whose pixels are all good."""
    ny, nx = (difference.shape[0] // rows) * rows, (difference.shape[1] // columns) * columns

    def blocks(array):
        return array[:ny, :nx].reshape(ny // rows, rows, nx // columns, columns)

    sums = blocks(difference).sum(axis=(1, 3))
    variances = blocks(variance).sum(axis=(1, 3))
    complete = blocks(good).all(axis=(1, 3))
    pulls = sums[complete] / np.sqrt(variances[complete])
    return {"n": int(pulls.size), "pull_std": float(np.std(pulls)), "pull_robust_std": robust_std(pulls)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="detector window side (pixels)")
    parser.add_argument("--ngroups", type=int, default=5)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--workdir", default=None, help="keep the files here (default: a temporary folder)")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="check_stage1_noise_"))
    start = time.perf_counter()
    manifest = simulate_observation(
        workdir / "sim", instrument="IRIS", detectors=[DETECTOR], size=args.size, ngroups=args.ngroups,
        ndithers=2, dither_step_arcsec=0.0, n_stars=0, n_galaxies=0, ndarks=0, nflats=0,
        cosmic_ray_rate_per_pix_s=0.0, seed=args.seed,
    )  # fmt: skip
    rates = []
    for raw in manifest.science:
        Detector1Pipeline.call(str(raw), output_dir=str(workdir / "rate"), save_results=True,
                               refstore=str(manifest.reference_dir), configure_log=False)  # fmt: skip
        rates.append(workdir / "rate" / raw.name.replace("_uncal", "_rate"))
    with fits.open(rates[0]) as first, fits.open(rates[1]) as second:
        a, err_a, dq_a = (first[name].data.astype(float) for name in ("SCI", "ERR", "DQ"))
        b, err_b, dq_b = (second[name].data.astype(float) for name in ("SCI", "ERR", "DQ"))
        first_column = int(first[0].header.get("SUBSTRT1", 1)) - 1
    good = (dq_a == 0) & (dq_b == 0) & (err_a > 0) & (err_b > 0) & np.isfinite(a) & np.isfinite(b)
    difference = np.where(good, a - b, 0.0)
    variance = np.where(good, err_a**2 + err_b**2, 0.0)
    pulls = difference[good] / np.sqrt(variance[good])

    width = get_instrument("IRIS").detectors[DETECTOR].output_channel_width_pix
    channel = (first_column + np.arange(a.shape[1])) // width
    constants, constant_pulls = [], []
    without_channels = difference.copy()
    for number in np.unique(channel):
        columns = channel == number
        count = np.count_nonzero(good[:, columns])
        mean = difference[:, columns].sum() / count
        constants.append(mean)
        constant_pulls.append(mean / (np.sqrt(variance[:, columns].sum()) / count))
        without_channels[:, columns] -= np.where(good[:, columns], mean, 0.0)

    result = {
        "pixels": int(np.count_nonzero(good)),
        "pixel_pull_robust_std": robust_std(pulls),
        "output_channels": len(constants),
        "channel_mean_difference_rms_dn_s": float(np.sqrt(np.mean(np.square(constants)))),
        "channel_mean_pull_rms": float(np.sqrt(np.mean(np.square(constant_pulls)))),
        "pixel_error_median_dn_s": float(np.median(np.sqrt(variance[good]))),
        "block_sums": {f"{r}x{c}": block_pull_std(difference, variance, good, r, c) for r, c in BLOCKS},
        "block_sums_channel_constants_removed": {
            f"{r}x{c}": block_pull_std(without_channels, variance, good, r, c) for r, c in BLOCKS
        },
        "wall_s": time.perf_counter() - start,
    }
    print(json.dumps(result, indent=2))
    print(f"files kept in {workdir}")


if __name__ == "__main__":
    main()
