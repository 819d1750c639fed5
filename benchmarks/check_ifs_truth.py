"""IFS accuracy against the simulator's truth, both modes: the figures of issue 5.

Usage::

    .venv/bin/python benchmarks/check_ifs_truth.py [--spaxels 16 32] [--window 2048]
        [--band 2.0 2.3] [--workdir DIR] [--seed 7]

For each mode, simulates an observation (count rates; science, sky, flat, arc and, for the lenslet,
scans), makes the calibrations with the calibration pipelines (create_wavecal, create_ifs_flat,
create_rectmat), files them in the simulated store, reduces the science exposure with its sky by
spec2, and prints:

- the median cube/truth flux ratio over spaxels with S/N > 20 (target: within 2 % of 1);
- the crosstalk into unlit neighbours of the lenslet scan exposures reduced by spec2's extraction
  (target < 1 %), and of Horne's estimator alone for comparison;
- the arc-line residual RMS of the wavelength solution (target < 0.05 pixel);
- the point-source centroid error in the white-light image (target < 0.1 spaxel);
- the Br gamma centroid errors (target < 0.1 resolution element);
- the OH scale factor found by the sky subtraction against the simulated one.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np
from astropy.table import Table


def check_mode(mode, spaxels, window, band, workdir: Path, seed: int) -> dict:
    from iris_pipeline import datamodels
    from iris_pipeline.ifs import SpectralFormat, extract_spectra
    from iris_pipeline.pipelines.ifs_calibration import (
        CreateIFSFlatPipeline,
        CreateRectmatPipeline,
        CreateWavecalPipeline,
    )
    from iris_pipeline.pipelines.spec2 import Spec2Pipeline
    from iris_pipeline.simulate.ifs import IFSConfiguration, IFSScene, simulate_ifs_observation
    from iris_pipeline.simulate.ifs.truth import flux_ratio, line_centroid_errors, point_source_centroid

    oh_variation = 1.08
    config = IFSConfiguration.create(mode, spaxels=tuple(spaxels), wave_range_um=tuple(band), window_size=window)
    sim = simulate_ifs_observation(workdir / "sim", config, IFSScene(), seed=seed, oh_variation=oh_variation)
    products = workdir / "products"
    # Each calibration pipeline writes its reference in output_dir and adds it to the store.
    wavecal = CreateWavecalPipeline.call(sim.arc, refstore=sim.refstore, output_dir=str(products))
    figures = {"mode": mode, "arc_rms_pix": wavecal.meta.wavecal.rms_pix, "arc_lines": wavecal.meta.wavecal.nlines}
    with datamodels.IFSTraceModel(next(Path(sim.refstore).glob("ifs_trace/*truth.fits"))) as truth_trace:
        truth_format = SpectralFormat.from_model(truth_trace)
    if mode == "LENSLET":
        trace = CreateRectmatPipeline.call(sim.scans, refstore=sim.refstore, output_dir=str(products))
        measured = SpectralFormat.from_model(trace)
        figures["trace_centre_max_error_pix"] = float(np.max(np.abs(measured.trace[:, 0] - truth_format.trace[:, 0])))
        figures["profile_width_max_error"] = float(np.max(np.abs(measured.sigma / truth_format.sigma - 1)))
        figures.update(_scan_crosstalk(sim.scans, measured, extract_spectra, datamodels))
    CreateIFSFlatPipeline.call(sim.flat, refstore=sim.refstore, output_dir=str(products))
    cube = Spec2Pipeline.call(sim.association, refstore=sim.refstore, output_dir=str(products), save_results=True)
    path = products / cube.meta.filename
    figures["flux_ratio_median"], figures["flux_ratio_spaxels"], ratios = flux_ratio(path, sim.truth_dir, 20)
    sources = Table.read(Path(sim.truth_dir) / "sources.ecsv")
    true_xy = (float(sources["x_spax"][0]), float(sources["y_spax"][0]))
    found = point_source_centroid(np.nansum(cube.data, axis=0), true_xy)
    figures["point_source_centroid_error_spax"] = float(np.hypot(found[0] - true_xy[0], found[1] - true_xy[1]))
    errors = line_centroid_errors(path, sim.truth_dir, "Br_gamma", config.resolving_power, min_snr=30)
    figures["br_gamma_spaxels"] = int(errors.size)
    figures["br_gamma_centroid_max_error_resel"] = float(np.max(np.abs(errors))) if errors.size else float("nan")
    figures["br_gamma_centroid_rms_error_resel"] = float(np.sqrt(np.mean(errors**2))) if errors.size else float("nan")
    figures["oh_scale"] = cube.meta.oh_scale
    figures["oh_scale_truth"] = oh_variation
    return figures


def _scan_crosstalk(scans, spectral_format, extract_spectra, datamodels) -> dict:
    worst = {"optimal": 0.0, "deblend": 0.0}
    for path in scans:
        rate = datamodels.open(path)
        variance = rate.var_poisson + rate.var_rnoise
        bad = np.zeros(rate.data.shape, dtype=bool)
        for name, bandwidth in (("optimal", 0), ("deblend", 2)):
            flux, _, _ = extract_spectra(rate.data, variance, bad, spectral_format, 0, 0, bandwidth)
            level = np.nanmedian(flux, axis=1)
            lit = level > 0.3 * np.nanmax(level)
            neighbours = np.zeros_like(lit)
            neighbours[1:] |= lit[:-1]
            neighbours[:-1] |= lit[1:]
            neighbours &= ~lit
            worst[name] = max(worst[name], float(np.nanmax(np.abs(level[neighbours])) / np.nanmedian(level[lit])))
    return {"crosstalk_deblended": worst["deblend"], "crosstalk_horne_alone": worst["optimal"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaxels", type=int, nargs=2, default=[16, 32])
    parser.add_argument("--window", type=int, default=2048)
    parser.add_argument("--band", type=float, nargs=2, default=[2.0, 2.3])
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="check_ifs_"))
    targets = {"flux_ratio_median": "within 0.02 of 1", "crosstalk_deblended": "< 0.01", "arc_rms_pix": "< 0.05",
               "point_source_centroid_error_spax": "< 0.1", "br_gamma_centroid_max_error_resel": "< 0.1"}  # fmt: skip
    for mode in ("LENSLET", "SLICER"):
        figures = check_mode(mode, args.spaxels, args.window, args.band, workdir / mode.lower(), args.seed)
        print(f"== {mode}")
        for key, value in figures.items():
            note = f"   (target {targets[key]})" if key in targets else ""
            print(f"  {key:36s} {value:.4f}{note}" if isinstance(value, float) else f"  {key:36s} {value}{note}")


if __name__ == "__main__":
    main()
