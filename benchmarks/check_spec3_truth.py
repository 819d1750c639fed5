"""spec3 against the simulator's truth on dithered lenslet and slicer observations (issue 13's done-when).

Usage::

    .venv/bin/python benchmarks/check_spec3_truth.py [--modes LENSLET SLICER] [--spaxels 16 16]
        [--window 1024] [--band 2.05 2.25] [--dithers 4] [--pointing-error 0.1] [--cosmic-rays 8]
        [--seed 11] [--point-flux 2e-17] [--lamp-time 90] [--mosaic [--mosaic-step 7]] [--raw] [--workdir DIR]

For each mode: simulates a dithered observation (count rates; ``--dithers`` science exposures at
half-spaxel steps, each with its own sky, random pointing errors of ``--pointing-error`` spaxels
rms on all but the first, ``--cosmic-rays`` outliers injected in the third exposure), makes the
calibrations (create_rectmat for the lenslet, create_wavecal, create_ifs_flat), reduces every
exposure with its sky by spec2, runs spec3 on the association of the ``_s3d`` cubes, and prints:

- ``flux_ratio_point`` / ``flux_ratio_extended``: combined-cube flux in a 9 x 9 spaxel box around
  each source over the truth's, median over the planes (target: within 2 % of 1); the per-spaxel
  median ratio (S/N > 20) is printed for information: drizzling with pixfrac 1 smooths the cube
  by one spaxel, so it is not expected to be 1 spaxel by spaxel;
- ``centroid_error_spax``: the spec3 source list's point-source position (RA, Dec) against the
  truth, in spaxels of the reference frame (target < 0.1);
- ``outliers_remaining``: fraction of the injected outliers that stand more than 5 sigma above
  the local spectrum in the combined cube (target 0), with the same figure in the exposure they
  were injected in (``outliers_visible_single``, should be 1: the test has teeth);
- ``x1d_ratio`` (aperture and PSF-weighted): median over the band of the extracted spectrum over
  the truth spectrum (target within 2 % of 1), and ``x1d_pull_std``: std of (x1d - truth) / error
  (target within 10 % of 1); ``x1d_single_pull_std``: the same for the spectrum extracted from
  the first exposure's spec2 cube alone (target within 10 % of 1). ``--point-flux`` sets the
  source's brightness (S/N per plane ~10 at 2e-18, ~80 at the default 2e-17, ~500 at 4e-16), and
  ``--lamp-time`` the lamp exposures' (the flat's noise is part of every error and limits the S/N
  of bright sources: with the default 90 s, to about 500 per plane; 900 s reaches ~1000 at 2e-15);
- ``noise_gain``: noise of sky-dominated regions of a single exposure's cube over that of the
  combined cube, per spaxel and for 3 x 3 spaxel sums, against the factor expected for this
  dither geometry (the drizzle map's variance of the same sums for equal, independent input
  noise, which includes the covariance drizzling puts between neighbouring spaxels) and against
  sqrt(N) (target: within 10 % of the expected factor).

With ``--mosaic`` the four pointings are a 2 x 2 mosaic (`mosaic_offsets`: the field moved by
``n // 2 - 1`` spaxels in x, y and both; the combined cube about 1.5 fields on a side): the point
source where all four overlap, the extended source where two do, a corner of the first field
covered by it alone. ``coverage_*_box`` gives the exposure count over each flux box, and the noise
gain is also measured on sky covered by exactly N exposures (``noise_gain_*_covN``, same target).

With ``--raw`` every exposure (science, skies, flat, arc, lenslet scans) is simulated as raw
ramps (``level="raw"``: the detector model of stage 1, its reference files in the simulator's
reference store) and reduced by `Detector1Pipeline` first (``products/detector1``, with the spec2
associations rewritten on the rates); calibrations, spec2 and spec3 then run on those rates as
on the simulated ones. ``detector1_seconds`` is part of ``reduce_seconds``.

A PASS/FAIL line per target ends each mode (N/A for a noise gain without sky at that coverage).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from scipy.ndimage import map_coordinates, median_filter

BOX_HALF = 4
SKY_BOX = 3


def _reference_wcs(config, ra=150.0, dec=2.0):
    """Celestial WCS of the truth frame: the cube of the undithered pointing."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(config.nspax_x + 1) / 2.0, (config.nspax_y + 1) / 2.0]
    scale = config.scale_mas / 3.6e6
    wcs.wcs.cdelt = [-scale, scale]
    return wcs


def _to_frame(x, y, from_wcs, to_wcs):
    world = from_wcs.wcs_pix2world(np.column_stack([np.ravel(x), np.ravel(y)]), 0)
    pix = to_wcs.wcs_world2pix(world, 0)
    return pix[:, 0].reshape(np.shape(x)), pix[:, 1].reshape(np.shape(y))


def _truth_in_frame(truth_ref, ref_wcs, cube_wcs, shape):
    """Truth cube (reference frame) sampled at the spaxel centres of another cube (bilinear)."""
    nwave, ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx].astype(float)
    xr, yr = _to_frame(x, y, cube_wcs, ref_wcs)
    out = np.empty(shape)
    for k in range(nwave):
        out[k] = map_coordinates(truth_ref[k], [yr, xr], order=1, cval=np.nan)
    return out


def _box_ratio(data, truth, cx, cy, half):
    ny, nx = data.shape[1:]
    x0, x1 = max(int(round(cx)) - half, 0), min(int(round(cx)) + half + 1, nx)
    y0, y1 = max(int(round(cy)) - half, 0), min(int(round(cy)) + half + 1, ny)
    d = data[:, y0:y1, x0:x1]
    t = truth[:, y0:y1, x0:x1]
    use = np.isfinite(d) & np.isfinite(t)
    num, den = np.where(use, d, 0).sum(axis=(1, 2)), np.where(use, t, 0).sum(axis=(1, 2))
    good = den > 0
    return float(np.median(num[good] / den[good]))


def _box_coverage(coverage, truth, cx, cy, half):
    """Smallest and largest exposure count over the spaxels of a flux box that enter its ratio."""
    ny, nx = coverage.shape
    x0, x1 = max(int(round(cx)) - half, 0), min(int(round(cx)) + half + 1, nx)
    y0, y1 = max(int(round(cy)) - half, 0), min(int(round(cy)) + half + 1, ny)
    counted = np.isfinite(truth[:, y0:y1, x0:x1]).any(axis=0) & np.isfinite(coverage[y0:y1, x0:x1])
    values = coverage[y0:y1, x0:x1][counted]
    return float(values.min()), float(values.max())


def mosaic_offsets(nx: int, ny: int, step=None) -> list[tuple[float, float]]:
    """Four pointings on a 2 x 2 mosaic: the field moved by ``-step`` spaxels in x, y and both.

    The default step, ``n // 2 - 1`` spaxels (7 for 16 spaxels), leaves a corner of the first
    field (``n - step`` spaxels square, 9 x 9) covered by all four exposures, where the point
    source lies, two sides covered by two and the opposite corner by the first exposure alone;
    the combined cube is ``n + step`` spaxels square (23 x 23).
    """
    sx, sy = (nx // 2 - 1, ny // 2 - 1) if step is None else (step, step)
    return [(0.0, 0.0), (-float(sx), 0.0), (0.0, -float(sy)), (-float(sx), -float(sy))]


def _significance(spectrum, truth, error, wave, centre_um, window_planes=2):
    """Largest |spectrum - truth - running median| / error within ``window_planes`` of ``centre_um``.

    The truth removes the sources' emission lines (which a running median would leave), the running
    median of the difference what remains of the continuum. The error is the cube's ERR, rescaled
    by the robust scatter of (residual / ERR) on the planes around (OH-line residuals and noise are
    both in it).
    """
    spectrum = spectrum - np.where(np.isfinite(truth), truth, 0.0)
    filled = np.where(np.isfinite(spectrum), spectrum, np.nanmedian(spectrum))
    residual = (filled - median_filter(filled, size=15, mode="nearest")) / error
    k = int(np.argmin(np.abs(wave - centre_um)))
    near = np.abs(np.arange(wave.size) - k) <= window_planes
    side = (np.abs(np.arange(wave.size) - k) > 4) & (np.abs(np.arange(wave.size) - k) <= 60) & np.isfinite(residual)
    scale = 1.4826 * np.median(np.abs(residual[side] - np.median(residual[side])))
    return float(np.nanmax(np.abs(residual[near])) / scale)


def _robust_std(values):
    values = values[np.isfinite(values)]
    return 1.4826 * np.median(np.abs(values - np.median(values)))


@dataclass
class _NoiseComparison:
    """Residuals (cube - truth) of one exposure (reference frame) and of the combined cube.

    ``x_comb, y_comb``: the combined cube's spaxel nearest each reference-frame spaxel.
    """

    single_residual: np.ndarray
    single_err: np.ndarray
    combined_residual: np.ndarray
    combined_err: np.ndarray
    x_comb: np.ndarray
    y_comb: np.ndarray
    combination: object


def _noise_figures(noise: _NoiseComparison, sky: np.ndarray) -> dict:
    """Noise gain of one exposure over the combined cube on the reference-frame spaxels ``sky``.

    Per spaxel and for 3 x 3 spaxel sums, measured (robust std of the residuals) and expected for
    equal, independent input noise (the drizzle map's variance of the same sums, which includes
    the covariance drizzling puts between neighbouring spaxels). Keys carry ``{suffix}``.
    """
    from iris_pipeline.ifs.combine import linear_combination_variance

    ny_ref, nx_ref = sky.shape
    xc_, yc_ = noise.x_comb, noise.y_comb
    boxes = [(y, x) for y in range(0, ny_ref - SKY_BOX + 1, SKY_BOX) for x in range(0, nx_ref - SKY_BOX + 1, SKY_BOX)
             if sky[y:y + SKY_BOX, x:x + SKY_BOX].all()]  # fmt: skip
    figures = {"sky_spaxels{suffix}": int(sky.sum()), "sky_boxes{suffix}": len(boxes)}
    if not sky.any():
        return figures
    resid_single, resid_comb = noise.single_residual, noise.combined_residual
    per_spaxel = _robust_std(resid_single[:, sky]) / _robust_std(resid_comb[:, yc_[sky], xc_[sky]])
    box_single = np.concatenate(
        [resid_single[:, y : y + SKY_BOX, x : x + SKY_BOX].sum(axis=(1, 2)) for y, x in boxes] + [np.zeros(0)]
    )
    box_comb = np.concatenate([resid_comb[:, yc_[y, x]:yc_[y, x] + SKY_BOX, xc_[y, x]:xc_[y, x] + SKY_BOX]
                               .sum(axis=(1, 2)) for y, x in boxes] + [np.zeros(0)])  # fmt: skip
    figures["noise_gain_per_spaxel{suffix}"] = float(per_spaxel)
    figures["noise_gain_box3{suffix}"] = (
        float(_robust_std(box_single) / _robust_std(box_comb)) if boxes else float("nan")
    )
    combination = noise.combination
    unit = [np.ones(v.shape) for v in combination.variances]
    shape = resid_comb.shape
    for label, size, cells in (("per_spaxel", 1, [(y, x) for y, x in zip(*np.nonzero(sky), strict=True)][:6]),
                               ("box3", SKY_BOX, boxes[:6])):  # fmt: skip
        gains = []
        for y, x in cells:
            coefficients = np.zeros(shape)
            coefficients[:, yc_[y, x] : yc_[y, x] + size, xc_[y, x] : xc_[y, x] + size] = 1.0
            var = np.median(linear_combination_variance(coefficients, combination.drizzle_map, unit,
                                                        combination.goods))  # fmt: skip
            gains.append(np.sqrt(size * size / var))
        figures[f"noise_gain_expected_{label}{{suffix}}"] = float(np.mean(gains)) if gains else float("nan")
    figures["sky_pull_std_single{suffix}"] = float(_robust_std((resid_single / noise.single_err)[:, sky]))
    figures["sky_pull_std_combined{suffix}"] = float(
        _robust_std((resid_comb / noise.combined_err)[:, yc_[sky], xc_[sky]])
    )
    combined_err = np.nanmedian(noise.combined_err[:, yc_[sky], xc_[sky]])
    figures["err_gain_median{suffix}"] = float(np.nanmedian(noise.single_err[:, sky]) / combined_err)
    return figures


def detector1_rates(sim, folder: Path):
    """Detector1 on every raw exposure of ``sim`` (science, skies, lamps, scans): ``sim`` on the rates.

    The spec2 associations are rewritten next to the rates (same members, ``_rate`` for ``_uncal``);
    the reference store stays the simulator's (detector and IFS reference files).
    """
    from dataclasses import replace

    from iris_pipeline.pipelines import Detector1Pipeline

    folder.mkdir(parents=True, exist_ok=True)
    rates = {}

    def rate(path):
        if not path:
            return path
        if path not in rates:
            Detector1Pipeline.call(path, output_dir=str(folder), save_results=True, refstore=sim.refstore,
                                   configure_log=False)  # fmt: skip
            rates[path] = str(folder / Path(path).name.replace("_uncal", "_rate"))
        return rates[path]

    associations = []
    for science, sky, original in zip(sim.dithers, sim.dither_skies, sim.dither_associations, strict=True):
        name = json.loads(Path(original).read_text())["products"][0]["name"]
        document = {"asn_type": "spec2", "asn_rule": "iris_spec2", "asn_id": "a0001", "program": "001",
                    "target": "SIMULATED",
                    "products": [{"name": name, "members": [
                        {"expname": Path(rate(science)).name, "exptype": "science"},
                        {"expname": Path(rate(sky)).name, "exptype": "sky"}]}]}  # fmt: skip
        path = folder / Path(original).name
        path.write_text(json.dumps(document, indent=2))
        associations.append(str(path))
    return replace(sim, science=rate(sim.science), sky=rate(sim.sky), flat=rate(sim.flat), arc=rate(sim.arc),
                   scans=[rate(p) for p in sim.scans], dithers=[rate(p) for p in sim.dithers],
                   dither_skies=[rate(p) for p in sim.dither_skies], dither_associations=associations)  # fmt: skip


def check_mode(mode, args, workdir: Path) -> dict:
    from iris_pipeline import datamodels
    from iris_pipeline.associations.io import Association, AssociationMember, AssociationProduct, write_association
    from iris_pipeline.ifs.spec3_steps import IFSExtract1DStep
    from iris_pipeline.pipelines.ifs_calibration import (
        CreateIFSFlatPipeline,
        CreateRectmatPipeline,
        CreateWavecalPipeline,
    )
    from iris_pipeline.pipelines.spec2 import Spec2Pipeline
    from iris_pipeline.pipelines.spec3 import Spec3Pipeline
    from iris_pipeline.simulate.ifs import IFSConfiguration, IFSScene, simulate_ifs_observation
    from iris_pipeline.simulate.ifs.truth import point_source_centroid, truth_on_grid

    start = time.perf_counter()
    nx, ny = args.spaxels
    config = IFSConfiguration.create(mode, spaxels=(nx, ny), wave_range_um=tuple(args.band), window_size=args.window)
    # 8.5 spaxels apart, the extended source's light in the point source's box is < 0.3 % of the latter's.
    scene = IFSScene(point_xy_spax=(0.2 * (nx - 1) + 0.23, 0.3 * (ny - 1) + 0.31),
                     extended_xy_spax=(0.8 * (nx - 1), 0.3 * (ny - 1) - 0.4), extended_sigma_spax=(1.2, 1.0),
                     extended_peak_w_m2_um=3e-18, line_flux_peak_w_m2=1.5e-20,
                     point_flux_w_m2_um=args.point_flux)  # fmt: skip
    offsets = mosaic_offsets(nx, ny, args.mosaic_step) if args.mosaic else None
    ndithers = len(offsets) if args.mosaic else args.dithers
    cr_exposure = min(2, ndithers - 1)
    sim = simulate_ifs_observation(workdir / "sim", config, scene, seed=args.seed, dithers=ndithers,
                                   dither_offsets_spax=offsets, pointing_error_spax=args.pointing_error,
                                   cosmic_rays=args.cosmic_rays, cosmic_ray_exposure=cr_exposure,
                                   lamp_exposure_time_s=args.lamp_time,
                                   level="raw" if args.raw else "rate")  # fmt: skip
    products = workdir / "products"
    detector1_seconds = 0.0
    if args.raw:
        detector1_start = time.perf_counter()
        sim = detector1_rates(sim, products / "detector1")
        detector1_seconds = time.perf_counter() - detector1_start
    calibrate = {"refstore": sim.refstore, "output_dir": str(products), "save_results": True}
    if mode == "LENSLET":
        CreateRectmatPipeline.call(sim.scans, **calibrate)
    CreateWavecalPipeline.call(sim.arc, **calibrate)
    CreateIFSFlatPipeline.call(sim.flat, **calibrate)
    cubes = []
    for association in sim.dither_associations:
        cube = Spec2Pipeline.call(association, refstore=sim.refstore, output_dir=str(products), save_results=True,
                                  quicklook=False)  # fmt: skip
        cubes.append(products / cube.meta.filename)
    members = [AssociationMember(str(path), "science") for path in cubes]
    product = f"{mode.lower()}_dithered"
    association = Association(asn_type="spec3", products=[AssociationProduct(product, members)],
                              asn_rule="check_spec3_truth")  # fmt: skip
    asn = write_association(association, products / f"{product}_spec3_asn.json")
    pipeline = Spec3Pipeline()
    pipeline.output_dir = str(products / "spec3")
    pipeline.save_results = True
    pipeline.quicklook = False
    for step in args.skip:
        getattr(pipeline, step).skip = True
    combined = pipeline.run(str(asn))
    figures = {"mode": mode, "level": "raw" if args.raw else "rate", "exposures": len(cubes),
               "detector1_seconds": detector1_seconds, "reduce_seconds": time.perf_counter() - start,
               "cube_align": combined.meta.cal_step.cube_align,
               "cube_outlier_detection": combined.meta.cal_step.cube_outlier_detection}  # fmt: skip

    # Frames: the truth's (reference), the combined cube's and the first exposure's (= reference).
    truth_dir = Path(sim.truth_dir)
    ref_wcs = _reference_wcs(config)
    with fits.open(products / "spec3" / f"{product}_s3d.fits") as hdul:
        comb_wcs = WCS(hdul["SCI"].header).celestial
    wave = combined.wavelength.astype(float)
    data = np.where((combined.dq & 1) == 0, combined.data.astype(float), np.nan)
    err = combined.err.astype(float)
    truth_ref = truth_on_grid(truth_dir, wave)
    truth_comb = _truth_in_frame(truth_ref, ref_wcs, comb_wcs, data.shape)
    single = datamodels.open(cubes[0])
    single_data = np.where((single.dq & 1) == 0, single.data.astype(float), np.nan)
    sources = Table.read(truth_dir / "sources.ecsv")
    (px, py), (ex, ey) = [(float(r["x_spax"]), float(r["y_spax"])) for r in sources]

    # 1. Flux: 9 x 9 spaxel boxes (flux conservation), in the combined cube and, for comparison, one exposure.
    pcx, pcy = _to_frame(np.array([px]), np.array([py]), ref_wcs, comb_wcs)
    ecx, ecy = _to_frame(np.array([ex]), np.array([ey]), ref_wcs, comb_wcs)
    figures["flux_ratio_point"] = _box_ratio(data, truth_comb, pcx[0], pcy[0], BOX_HALF)
    figures["flux_ratio_extended"] = _box_ratio(data, truth_comb, ecx[0], ecy[0], BOX_HALF)
    figures["flux_ratio_point_single"] = _box_ratio(single_data, truth_ref, px, py, BOX_HALF)
    coverage = np.nanmedian(combined.exposure_map, axis=0)
    figures["combined_spaxels_xy"] = f"{data.shape[2]} x {data.shape[1]} (one field: {nx} x {ny})"
    for name, (cx, cy) in (("point", (pcx[0], pcy[0])), ("extended", (ecx[0], ecy[0]))):
        low, high = _box_coverage(coverage, truth_comb, cx, cy, BOX_HALF)
        figures[f"coverage_{name}_box"] = (
            f"{low:.2f}-{high:.2f} exposures (centre {coverage[round(cy), round(cx)]:.2f})"
        )
    use = np.isfinite(data) & np.isfinite(truth_comb)
    flux = np.where(use, data, 0).sum(axis=0)
    noise = np.sqrt(np.where(use, err**2, 0).sum(axis=0))
    tflux = np.where(use, truth_comb, 0).sum(axis=0)
    bright = (flux > 20 * noise) & (tflux > 0)
    figures["flux_ratio_per_spaxel_info"] = float(np.median(flux[bright] / tflux[bright]))

    # 2. Centroid: the source list's RA, Dec, and a fit on the white light, in reference-frame spaxels.
    catalog = pipeline.sources
    nearest = int(np.argmin([np.hypot(*(np.array(ref_wcs.wcs_world2pix([[r["ra"], r["dec"]]], 0)[0]) - (px, py)))
                             for r in catalog]))  # fmt: skip
    cx, cy = ref_wcs.wcs_world2pix([[catalog[nearest]["ra"], catalog[nearest]["dec"]]], 0)[0]
    figures["centroid_error_spax"] = float(np.hypot(cx - px, cy - py))
    fx, fy = point_source_centroid(np.nansum(data, axis=0), (pcx[0], pcy[0]))
    fx, fy = _to_frame(np.array([fx]), np.array([fy]), comb_wcs, ref_wcs)
    figures["centroid_error_fit_spax"] = float(np.hypot(fx[0] - px, fy[0] - py))

    # 3. Outliers: significance at their known positions, in the combined cube and in their own exposure.
    outliers = Table.read(truth_dir / "outliers.ecsv") if args.cosmic_rays else Table()
    remaining, visible, covered = [], [], []
    injected = datamodels.open(cubes[cr_exposure])
    injected_data = np.where((injected.dq & 1) == 0, injected.data.astype(float), np.nan)
    for row in outliers:
        y, x = int(row["spax_y"]), int(row["spax_x"])
        # The truth where this spaxel of the injected exposure looked (its dither and pointing error).
        where = [np.arange(wave.size), np.full(wave.size, float(row["y_ref"])), np.full(wave.size, float(row["x_ref"]))]
        truth_here = map_coordinates(truth_ref, where, order=1, cval=np.nan)
        visible.append(_significance(injected_data[:, y, x], truth_here, injected.err[:, y, x], wave,
                                     row["wavelength_um"]))  # fmt: skip
        ox, oy = _to_frame(np.array([row["x_ref"]]), np.array([row["y_ref"]]), ref_wcs, comb_wcs)
        worst = 0.0
        for yy in range(int(np.floor(oy[0])), int(np.floor(oy[0])) + 2):
            for xx in range(int(np.floor(ox[0])), int(np.floor(ox[0])) + 2):
                if 0 <= yy < data.shape[1] and 0 <= xx < data.shape[2] and np.isfinite(data[:, yy, xx]).sum() > 100:
                    significance = _significance(data[:, yy, xx], truth_comb[:, yy, xx], err[:, yy, xx], wave,
                                                 row["wavelength_um"])  # fmt: skip
                    worst = max(worst, significance)
        remaining.append(worst)
        # Outlier detection needs the median of at least 3 cubes (min_cubes): not so at the grid's edges.
        nearest_cover = coverage[min(max(int(round(oy[0])), 0), data.shape[1] - 1),
                                 min(max(int(round(ox[0])), 0), data.shape[2] - 1)]  # fmt: skip
        covered.append(nearest_cover >= 2.99)
        if args.verbose:
            print(f"    outlier spaxel ({x}, {y}) of exposure {row['exposure']} at {row['wavelength_um']:.4f} um -> "
                  f"combined ({ox[0]:.2f}, {oy[0]:.2f}), coverage {nearest_cover:.2f} exposures: "
                  f"{visible[-1]:.1f} sigma alone, {worst:.1f} sigma combined")  # fmt: skip
    remaining, covered = np.asarray(remaining), np.asarray(covered, dtype=bool)
    figures["outliers_injected"] = len(outliers)
    figures["outliers_covered_by_3"] = int(covered.sum())
    figures["outliers_visible_single"] = float(np.mean(np.asarray(visible) > 5)) if visible else float("nan")
    figures["outliers_remaining"] = float(np.mean(remaining[covered] > 5)) if covered.any() else float("nan")
    figures["outliers_remaining_all"] = float(np.mean(remaining > 5)) if remaining.size else float("nan")
    figures["outlier_max_sigma_covered"] = float(np.max(remaining[covered])) if covered.any() else float("nan")

    # 4. Extracted spectrum of the point source against the truth spectrum.
    truth_spectrum = Table.read(truth_dir / "point_spectrum.ecsv")
    spectra = pipeline.spectra
    spectrum = spectra.spec[nearest].spec_table
    truth_jy = np.interp(spectrum["WAVELENGTH"], truth_spectrum["wavelength_um"], truth_spectrum["flux_jy"])
    good = (spectrum["DQ"] == 0) & np.isfinite(spectrum["FLUX"])
    for method in ("APERTURE", "PSF"):
        f, e = np.asarray(spectrum[f"FLUX_{method}"]), np.asarray(spectrum[f"FLUX_{method}_ERROR"])
        figures[f"x1d_ratio_{method.lower()}"] = float(np.median(f[good] / truth_jy[good]))
        figures[f"x1d_pull_std_{method.lower()}"] = float(np.std((f[good] - truth_jy[good]) / e[good]))
        figures[f"x1d_pull_mean_{method.lower()}"] = float(np.mean((f[good] - truth_jy[good]) / e[good]))
    snr = np.asarray(spectrum["FLUX"])[good] / np.asarray(spectrum["FLUX_ERROR"])[good]
    figures["x1d_snr_median"] = float(np.median(snr))
    # The same from the first exposure's cube alone (spec2's errors, no combination).
    single_extract = IFSExtract1DStep()
    single_spectra = single_extract.run(str(cubes[0]))
    single_nearest = int(np.argmin([np.hypot(r["x"] - px, r["y"] - py) for r in single_extract.sources]))
    alone = single_spectra.spec[single_nearest].spec_table
    alone_truth = np.interp(alone["WAVELENGTH"], truth_spectrum["wavelength_um"], truth_spectrum["flux_jy"])
    alone_good = (alone["DQ"] == 0) & np.isfinite(alone["FLUX"])
    for method in ("APERTURE", "PSF"):
        f, e = np.asarray(alone[f"FLUX_{method}"]), np.asarray(alone[f"FLUX_{method}_ERROR"])
        pull = (f[alone_good] - alone_truth[alone_good]) / e[alone_good]
        figures[f"x1d_single_pull_std_{method.lower()}"] = float(np.std(pull))
    figures["x1d_single_snr_median"] = float(np.median(np.asarray(alone["FLUX"])[alone_good]
                                                       / np.asarray(alone["FLUX_ERROR"])[alone_good]))  # fmt: skip

    # 5. Noise: sky-dominated spaxels of the first exposure (the reference field), single vs combined,
    # by how many exposures cover them (all of them on the default pattern; 1, 2 and 4 in a mosaic).
    ny_ref, nx_ref = single_data.shape[1:]
    single_err = np.nanmedian(single.err, axis=0)
    faint = np.nanmax(truth_ref, axis=0) < 0.05 * single_err
    yr, xr = np.mgrid[0:ny_ref, 0:nx_ref]
    xc_, yc_ = _to_frame(xr.astype(float), yr.astype(float), ref_wcs, comb_wcs)
    xc_, yc_ = np.rint(xc_).astype(int), np.rint(yc_).astype(int)
    inside = (xc_ >= 0) & (xc_ < data.shape[2]) & (yc_ >= 0) & (yc_ < data.shape[1])
    # Median over planes: voxels flagged as outliers lower the exposure map on a few planes only.
    ref_coverage = np.full(faint.shape, np.nan)
    ref_coverage[inside] = coverage[yc_[inside], xc_[inside]]
    combination = pipeline.cube_combine.combination
    noise = _NoiseComparison(single_data - truth_ref, single.err, data - truth_comb, err, xc_, yc_, combination)
    full = _noise_figures(noise, faint & (ref_coverage > len(cubes) - 0.01))
    for key, value in full.items():
        figures[key.format(suffix="")] = value
    figures["noise_gain_sqrt_n"] = float(np.sqrt(len(cubes)))
    if args.mosaic:
        # Whole spaxels covered by exactly c exposures (pointing errors leave fractional rows between).
        for count in range(1, len(cubes)):
            level = faint & (np.abs(ref_coverage - count) < 0.01)
            for key, value in _noise_figures(noise, level).items():
                figures[key.format(suffix=f"_cov{count}")] = value
    figures["seconds"] = time.perf_counter() - start
    return figures


TARGETS = {
    "flux_ratio_point": ("within 2 % of 1", lambda f: abs(f["flux_ratio_point"] - 1) < 0.02),
    "flux_ratio_extended": ("within 2 % of 1", lambda f: abs(f["flux_ratio_extended"] - 1) < 0.02),
    "centroid_error_spax": ("< 0.1 spaxel", lambda f: f["centroid_error_spax"] < 0.1),
    "outliers_remaining": ("0 above 5 sigma where the nearest spaxel has >= 3 exposures; all > 5 sigma alone",
                           lambda f: f["outliers_remaining"] == 0 and f["outliers_visible_single"] == 1),
    "x1d_ratio_aperture": ("within 2 % of 1", lambda f: abs(f["x1d_ratio_aperture"] - 1) < 0.02),
    "x1d_pull_std_aperture": ("within 10 % of 1", lambda f: abs(f["x1d_pull_std_aperture"] - 1) < 0.1),
    "x1d_ratio_psf": ("within 2 % of 1", lambda f: abs(f["x1d_ratio_psf"] - 1) < 0.02),
    "x1d_pull_std_psf": ("within 10 % of 1", lambda f: abs(f["x1d_pull_std_psf"] - 1) < 0.1),
    "x1d_single_pull_std_aperture": ("within 10 % of 1", lambda f: abs(f["x1d_single_pull_std_aperture"] - 1) < 0.1),
    "x1d_single_pull_std_psf": ("within 10 % of 1", lambda f: abs(f["x1d_single_pull_std_psf"] - 1) < 0.1),
    "noise_gain_box3": ("within 10 % of the expected factor",
                        lambda f: abs(f["noise_gain_box3"] / f["noise_gain_expected_box3"] - 1) < 0.1),
    "noise_gain_per_spaxel": ("within 10 % of the expected factor",
                              lambda f: abs(f["noise_gain_per_spaxel"] / f["noise_gain_expected_per_spaxel"] - 1)
                              < 0.1),
}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", nargs="+", default=["LENSLET", "SLICER"], type=str.upper)
    parser.add_argument("--spaxels", type=int, nargs=2, default=[16, 16])
    parser.add_argument("--window", type=int, default=1024)
    parser.add_argument("--band", type=float, nargs=2, default=[2.05, 2.25])
    parser.add_argument("--dithers", type=int, default=4)
    parser.add_argument("--pointing-error", type=float, default=0.1, help="rms per axis, spaxels")
    parser.add_argument("--cosmic-rays", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--point-flux", type=float, default=2e-17, help="point source, W m-2 um-1 at the band centre")
    parser.add_argument("--lamp-time", type=float, default=None,
                        help="exposure time of the lamp exposures, s (default: the simulator's, 90 s; the flat's "
                             "noise limits the S/N of bright sources)")  # fmt: skip
    parser.add_argument(
        "--mosaic",
        action="store_true",
        help="four pointings a little under half a field apart in x and y (a 2 x 2 mosaic, "
        "see mosaic_offsets) instead of the half-spaxel pattern; --dithers is ignored",
    )
    parser.add_argument(
        "--mosaic-step",
        type=float,
        default=None,
        help="offset between mosaic pointings, spaxels (default: spaxels // 2 - 1)",
    )
    parser.add_argument("--raw", action="store_true",
                        help="simulate raw ramps, run detector1 on every exposure (science, skies, lamps) "
                             "with the simulator's references; then calibrations, spec2, spec3")  # fmt: skip
    parser.add_argument("--verbose", action="store_true", help="print every outlier")
    parser.add_argument("--skip", nargs="*", default=[], help="spec3 steps to skip (diagnosis), e.g. cube_skymatch")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="check_spec3_"))
    failures = 0
    for mode in args.modes:
        figures = check_mode(mode, args, workdir / mode.lower())
        print(f"== {mode}  ({workdir / mode.lower()})")
        for key, value in figures.items():
            note = f"   (target {TARGETS[key][0]})" if key in TARGETS else ""
            print(f"  {key:34s} {value:.4f}{note}" if isinstance(value, float) else f"  {key:34s} {value}{note}")
        targets = dict(TARGETS)
        # A mosaic's noise gain is also checked where fewer exposures cover the sky.
        for key in figures:
            if key.startswith(("noise_gain_box3_cov", "noise_gain_per_spaxel_cov")) and np.isfinite(figures[key]):
                expected = key.replace("noise_gain_", "noise_gain_expected_")
                targets[key] = ("within 10 % of the expected factor",
                                lambda f, k=key, e=expected: abs(f[k] / f[e] - 1) < 0.1)  # fmt: skip
        for key, (text, test) in targets.items():
            if key.startswith("noise_gain") and np.isnan(figures[key]):
                # A mosaic's fully covered corner holds the point source: no sky box to measure there.
                print(f"  N/A  {mode} {key}: no sky spaxels or 3 x 3 boxes at this coverage")
                continue
            ok = bool(test(figures))
            failures += not ok
            print(f"  {'PASS' if ok else 'FAIL'} {mode} {key} = {figures[key]:.4f} ({text})")
    print("ALL PASS" if failures == 0 else f"{failures} FAIL")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
