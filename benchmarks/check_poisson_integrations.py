"""Which rate should the Poisson variance of each integration use: its own, or the exposure's mean?

stcal's OLS_C gives every integration the Poisson variance of the mean of all integrations' median
rates; this package's ``variance='stcal'`` uses each integration's own median rate, and the default
``variance='exact'`` each integration's own slope. Simulated exposures whose integrations collect
different counts (a source varying between integrations, or integrations of one flux) are fitted
by all three; the table gives the std of (slope - truth) / ERR of the integrations (rateints, truth
the integration's flux) and of the exposure (rate, truth the weighted mean of the fluxes with the
combination's weights 1 / var_rnoise), which is 1 for a calibrated ERR.

Usage: .venv/bin/python benchmarks/check_poisson_integrations.py
"""

import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from _ramps import GAIN, READ_NOISE_DN, read_times, simulate
from test_ramp_fit_ols import stcal_fit

from iris_pipeline.ramp_fitting.ols import combine_integrations, fit_ramps

NGROUPS = 10
NPIX = 20000
CASES = {
    "same flux 100 DN/s": [100.0, 100.0, 100.0, 100.0],
    "varying 30-3000 DN/s": [30.0, 300.0, 1000.0, 3000.0],
    "varying 3-300 DN/s": [3.0, 10.0, 100.0, 300.0],
}


def z_std(result, truth):
    return float(np.std((result.slope.astype(np.float64) - truth) / result.err))


def weighted_truth(var_rnoise, fluxes):
    """The flux an exposure's slope estimates: the integrations' fluxes weighted by 1 / var_rnoise."""
    weights = 1.0 / np.asarray(var_rnoise, np.float64)
    return (weights * fluxes[:, None, None]).sum(axis=0) / weights.sum(axis=0)


def measure(fluxes, seed=1):
    rng = np.random.default_rng(seed)
    fluxes = np.asarray(fluxes)
    data = np.stack([simulate(np.full((1, NPIX), f), NGROUPS, rng) for f in fluxes]).astype(np.float32)
    times = read_times(NGROUPS)
    rows = {}
    for variance in ("exact", "stcal"):
        per_integration = [fit_ramps(d, times, READ_NOISE_DN, GAIN, variance=variance) for d in data]
        exposure = combine_integrations(per_integration, variance=variance)
        ints = [z_std(r, f) for r, f in zip(per_integration, fluxes, strict=True)]
        name = "exact (own slope)" if variance == "exact" else "own median rate"
        truth = weighted_truth([r.var_rnoise for r in per_integration], fluxes)
        rows[name] = (ints, z_std(exposure, truth))
    groupdq = np.zeros(data.shape, np.uint8)
    image, integrations = stcal_fit(data, groupdq, np.zeros((1, NPIX), np.uint32), READ_NOISE_DN, GAIN)
    ints = [float(np.std((integrations.slope[i] - f) / integrations.err[i])) for i, f in enumerate(fluxes)]
    rows["stcal OLS_C (mean of medians)"] = (ints, z_std(image, weighted_truth(integrations.var_rnoise, fluxes)))
    return rows


def main():
    logging.getLogger("stcal").setLevel(logging.WARNING)
    print(f"{NGROUPS} groups, {NPIX} pixels, 4 integrations; std of (slope - truth) / ERR")
    for case, fluxes in CASES.items():
        print(f"\n{case}: integrations {fluxes}")
        print(f"{'variance':32s} {'rateints (per integration)':>36s} {'rate':>6s}")
        for name, (ints, rate) in measure(fluxes).items():
            print(f"{name:32s} {' '.join(f'{v:8.3f}' for v in ints):>36s} {rate:6.3f}")


if __name__ == "__main__":
    main()
