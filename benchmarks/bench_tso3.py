"""tso3 speed: per-integration photometry of 1000 integrations of a 256 x 256 subarray; with ``--ifs``
an IFS time series through spec2 (``_x1dints``) and tso3's white light.

Usage::

    .venv/bin/python benchmarks/bench_tso3.py [--nints 1000] [--size 256] [--repeat 3]
    .venv/bin/python benchmarks/bench_tso3.py --ifs [--nints 200] [--workdir DIR]

``--ifs`` simulates (not timed) the count rates of a transit on a 10 x 10-spaxel slicer field
(2.16-2.18 um, a 256^2 window; `iris_pipeline.simulate.ifs.tso`), writes them as ``_rateints``,
and times ``spec2`` (the six steps on the template, then extraction, resampling and aperture of
every integration) and ``tso3`` (white light, transit fit, plot) on the files, with the process's
peak resident set.

Simulates (not timed) a per-integration rate cube with `iris_pipeline.simulate.tso.simulate_tso_rates`
(a transit on a target at the centre, two comparison stars, 3 groups per integration), then times
the tso3 algorithm module on it, as `TsoPhotometryStep` runs it:

* ``photometry``: `measure_time_series` for the three stars (centroid, FWHM, annulus background,
  exact-overlap aperture sums with errors, DQ), from the arrays in memory;
* ``times``: integration mid-times and their BJD_TDB (astropy);
* ``transit fit``: `relative_flux` and `fit_transit` (known T14, T12).

Prints the fastest of ``--repeat`` runs of each, and the peak memory the photometry allocates
(`tracemalloc`, numpy arrays included) and the process's peak resident set (``VmHWM``, the
simulated cube included: 3 arrays of nints x size^2 x 4 bytes).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc


def vm_hwm_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nints", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ifs", action="store_true", help="IFS time series: spec2 -> _x1dints -> tso3 white light")
    parser.add_argument("--workdir", default=None, help="folder of the --ifs files (default: a temporary folder)")
    args = parser.parse_args()
    if args.ifs:
        ifs_main(args.nints if args.nints != 1000 else 200, args.workdir)
        return

    from iris_pipeline.instruments import get_instrument
    from iris_pipeline.simulate.tso import simulate_tso_rates
    from iris_pipeline.tso_photometry import (
        ApertureSettings,
        fit_transit,
        integration_mid_times_mjd,
        measure_time_series,
        mjd_utc_to_bjd_tdb,
        relative_flux,
    )

    size = args.size
    start = time.perf_counter()
    comparisons = ((0.25 * size, 0.75 * size), (0.75 * size, 0.25 * size))
    target = (size / 2 + 0.3, size / 2 - 0.2)
    sim = simulate_tso_rates(
        nints=args.nints, size=size, ngroups=3, target_xy=target, comparison_xy=comparisons, seed=1
    )
    cube_mb = (sim.data.nbytes + sim.err.nbytes + sim.dq.nbytes) / 2**20
    print(f"simulated {args.nints} x {size}^2 in {time.perf_counter() - start:.1f} s ({cube_mb:.0f} MB of arrays)")
    settings = ApertureSettings(radius_pix=5.0, annulus_inner_pix=8.0, annulus_outer_pix=12.0, centroid_radius_pix=5.0)
    measure_time_series(sim.data[:5], sim.err[:5], sim.dq[:5], sim.positions, settings)  # imports, warm-up

    timings = {"photometry": [], "times": [], "transit fit": []}
    peak_mb = 0.0
    for _ in range(args.repeat):
        tracemalloc.start()
        t0 = time.perf_counter()
        result = measure_time_series(sim.data, sim.err, sim.dq, sim.positions, settings)
        timings["photometry"].append(time.perf_counter() - t0)
        peak_mb = max(peak_mb, tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
        t0 = time.perf_counter()
        period_d = sim.integration_period_s / 86400.0
        mjd = integration_mid_times_mjd(args.nints, 63000.0, 63000.0 + args.nints * period_d)
        mjd_utc_to_bjd_tdb(mjd, 150.1, 2.2, get_instrument("IRIS").site)
        timings["times"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rel, rel_err = relative_flux(
            result.flux[:, 0], result.flux_err[:, 0], result.flux[:, 1:], result.flux_err[:, 1:]
        )
        fit = fit_transit(sim.mid_time_s / 86400.0, rel, rel_err, sim.transit.duration_s / 86400.0,
                          sim.transit.ingress_s / 86400.0)  # fmt: skip
        timings["transit fit"].append(time.perf_counter() - t0)
    total = sum(min(v) for v in timings.values())
    for name, values in timings.items():
        print(f"{name:12s} {min(values):7.2f} s  (fastest of {args.repeat})")
    print(f"{'total':12s} {total:7.2f} s for {args.nints} integrations of {size}^2 "
          f"({1e3 * total / args.nints:.2f} ms per integration)")  # fmt: skip
    print(f"photometry peak allocation {peak_mb:.0f} MB (tracemalloc); process peak RSS {vm_hwm_mb():.0f} MB "
          f"(the {cube_mb:.0f} MB simulated arrays included)")  # fmt: skip
    print(f"depth {fit.depth:.5f} +- {fit.depth_err:.5f} (truth {sim.transit.depth})")


def ifs_main(nints: int, workdir) -> None:
    import logging
    import tempfile
    from pathlib import Path

    from iris_pipeline.pipelines.spec2 import Spec2Pipeline
    from iris_pipeline.pipelines.tso3 import Tso3Pipeline
    from iris_pipeline.simulate.ifs import IFSConfiguration
    from iris_pipeline.simulate.ifs.tso import simulate_ifs_tso_rates, write_ifs_tso_rateints

    logging.getLogger("stpipe").setLevel(logging.WARNING)
    root = Path(workdir or tempfile.mkdtemp(prefix="bench_ifs_tso_"))
    config = IFSConfiguration.create("SLICER", spaxels=(10, 10), wave_range_um=(2.16, 2.18), window_size=256)
    start = time.perf_counter()
    sim = simulate_ifs_tso_rates(config, nints=nints, seed=1)
    paths = write_ifs_tso_rateints(root, config, sim)
    print(f"simulated {nints} integrations of a {config.window.nx}^2 window in {time.perf_counter() - start:.1f} s")
    t0 = time.perf_counter()
    Spec2Pipeline.call(str(paths["rateints"]), refstore=str(paths["refstore"]), output_dir=str(root / "out"),
                       save_results=True, steps={"tso_extract_1d": {"background_radius": 2.0}})  # fmt: skip
    spec2_s = time.perf_counter() - t0
    (x1dints,) = (root / "out").glob("*_x1dints.fits")
    t0 = time.perf_counter()
    pipeline = Tso3Pipeline.call(str(x1dints), output_dir=str(root / "out"), save_results=True,
                                 steps={"white_light": {"transit_duration": sim.transit.duration_s,
                                                        "transit_ingress": sim.transit.ingress_s}})  # fmt: skip
    tso3_s = time.perf_counter() - t0
    del pipeline
    print(f"spec2 (_rateints -> _x1dints) {spec2_s:7.2f} s ({1e3 * spec2_s / nints:.1f} ms per integration)")
    print(f"tso3  (_x1dints -> _whtlt)    {tso3_s:7.2f} s")
    print(f"process peak RSS {vm_hwm_mb():.0f} MB; products in {root / 'out'}")


if __name__ == "__main__":
    main()
