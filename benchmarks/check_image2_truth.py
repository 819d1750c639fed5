"""Accuracy of the imaging chain against the simulator's truth (issue 4's done-when figures).

Simulates a dithered 4-detector IRIS observation with darks, lamp flats and a sky exposure, then
runs raw -> create_dark / create_flat (when those pipelines are installed; else the simulator's
reference files are used) -> detector1 -> image2 (science + sky association) and measures on the
``_cal`` images:

- point-source fluxes: photutils aperture photometry of isolated stars in an aperture of
  ``APERTURE_FWHM`` FWHM, divided by the enclosed energy of the simulated PSF (a Moffat profile
  truncated at ``psf_stamp_radius_fwhm``, so its enclosed energy is analytic), compared with the
  truth flux in Jy; the median ratio and the scatter of ``(measured - truth) / error`` (1 when
  the scatter is what the noise predicts). Two errors are used: the ERR array propagated
  through the aperture, and that error plus the excess variance measured in the same aperture
  at random source-free positions of the same image (the noise that is correlated between
  pixels, which a per-pixel ERR cannot describe);
- positions: 2-D Gaussian centroids of the same stars through each file's gWCS, compared with
  the truth sky coordinates, RMS in pixels (nominal pixel scale), over all four detectors;
- the recovered flat against the simulated one, when create_flat ran.

Usage::

    .venv/bin/python benchmarks/check_image2_truth.py [--size 512] [--ndithers 2] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from photutils.aperture import CircularAperture, aperture_photometry
from photutils.centroids import centroid_2dg

from iris_pipeline import datamodels
from iris_pipeline.associations import Association, write_association
from iris_pipeline.dqflags import PIXEL
from iris_pipeline.instruments import get_instrument
from iris_pipeline.pipelines import Detector1Pipeline, ProcessImagerL2Pipeline
from iris_pipeline.simulate import simulate_observation
from iris_pipeline.simulate.parameters import OpticsParameters
from iris_pipeline.simulate.photometry import psf_fwhm_arcsec
from iris_pipeline.simulate.scene import psf_enclosed_energy

CENTROID_BOX_PIX = 11
MIN_SNR = 20.0
APERTURE_FWHM = 3.0


def run_calibrations(manifest, refstore: Path, products: Path) -> dict:
    """create_dark and create_flat into `refstore`, if installed; returns what ran."""
    try:
        from iris_pipeline.pipelines.calibration import CreateDarkPipeline, CreateFlatPipeline
    except ImportError:
        return {}
    ran = {}
    by_detector = {}
    for kind, paths in (("dark", manifest.darks), ("flat", manifest.flats)):
        for path in paths:
            detector = fits.getval(path, "DETECTOR")
            by_detector.setdefault((kind, detector), []).append(str(path))
    for (kind, _), paths in sorted(by_detector.items()):
        pipeline = CreateDarkPipeline if kind == "dark" else CreateFlatPipeline
        pipeline.call(paths, refstore=str(refstore), output_dir=str(products), configure_log=False)
        ran.setdefault(kind, 0)
        ran[kind] += 1
    return ran


def flat_recovery(refstore: Path, truth_dir: Path) -> dict:
    """Ratio statistics of each created flat over the simulator's flat of the same detector."""
    stats = {}
    truth_flats = {fits.getval(p, "DETECTOR"): p for p in (truth_dir / "flat").glob("*.fits")}
    for path in sorted(refstore.rglob("*flat*.fits")):
        if path.parent == truth_dir / "flat" or fits.getval(path, "DATAMODL") != "FlatModel":
            continue
        detector = fits.getval(path, "DETECTOR")
        if detector not in truth_flats or Path(truth_flats[detector]).resolve() == path.resolve():
            continue
        made, made_dq = fits.getdata(path, "SCI"), fits.getdata(path, "DQ")
        truth = fits.getdata(truth_flats[detector], "SCI")
        x0, y0 = fits.getval(path, "SUBSTRT1", default=1) - 1, fits.getval(path, "SUBSTRT2", default=1) - 1
        truth = truth[y0 : y0 + made.shape[0], x0 : x0 + made.shape[1]] if truth.shape != made.shape else truth
        good = ((made_dq & PIXEL["DO_NOT_USE"]) == 0) & np.isfinite(made)
        ratio = made[good] / truth[good]
        ratio /= np.median(ratio)
        stats[detector] = {
            "rms_percent": float(100 * np.std(ratio)),
            "p99_abs_percent": float(100 * np.percentile(np.abs(ratio - 1), 99)),
        }
    return stats


def blank_aperture_excess_variance(sci, err, bad, sources_xy, aperture_pix, rng) -> float:
    """Variance of blank-sky aperture sums beyond what ERR predicts (0 if none), in SCI units squared."""
    ny, nx = sci.shape
    margin = aperture_pix + 2
    xs = rng.uniform(margin, nx - margin, 4000)
    ys = rng.uniform(margin, ny - margin, 4000)
    nearest = np.min(np.hypot(sources_xy[:, 0][None, :] - xs[:, None], sources_xy[:, 1][None, :] - ys[:, None]), axis=1)
    keep = nearest > 3 * aperture_pix
    if keep.sum() < 30:
        return 0.0
    phot = aperture_photometry(sci, CircularAperture(np.c_[xs[keep], ys[keep]], aperture_pix), error=err, mask=bad)
    sums = np.asarray(phot["aperture_sum"])
    predicted = np.asarray(phot["aperture_sum_err"])
    clipped = sums[np.abs(sums - np.median(sums)) < 5 * 1.4826 * np.median(np.abs(sums - np.median(sums)))]
    return max(float(np.var(clipped) - np.mean(predicted**2)), 0.0)


def measure_stars(cal_path: Path, positions: Table, catalog: Table, aperture_pix: float, enclosed: float) -> list[dict]:
    """Flux and sky-position measurements of the isolated stars of one cal file."""
    raw_name = cal_path.name.replace("_cal.fits", "_uncal.fits")
    here = positions[positions["file"] == raw_name]
    if len(here) == 0:
        return []
    model = datamodels.open(cal_path)
    sci, err, dq = model.data, model.err, model.dq
    ny, nx = sci.shape
    bad = (dq & PIXEL["DO_NOT_USE"]) != 0
    pixar_sr = model.meta.photometry.pixelarea_steradians
    kinds = {row["id"]: row for row in catalog}
    results = []
    xy = np.stack([here["x_pix"], here["y_pix"]], axis=1)
    excess = blank_aperture_excess_variance(sci, err, bad, xy, aperture_pix, np.random.default_rng(0))
    for row in here:
        truth = kinds[row["id"]]
        if truth["kind"] != "star":
            continue
        x, y = float(row["x_pix"]), float(row["y_pix"])
        if not (aperture_pix <= x < nx - aperture_pix and aperture_pix <= y < ny - aperture_pix):
            continue
        distances = np.hypot(xy[:, 0] - x, xy[:, 1] - y)
        if np.sum(distances < 2 * aperture_pix) > 1:
            continue
        px, py = model.meta.wcs.world_to_pixel_values(truth["ra_deg"], truth["dec_deg"])
        half = CENTROID_BOX_PIX // 2
        ix, iy = int(round(px)), int(round(py))
        cutout = sci[iy - half : iy + half + 1, ix - half : ix + half + 1]
        cutout_bad = bad[iy - half : iy + half + 1, ix - half : ix + half + 1]
        if cutout_bad.any():
            continue
        cx, cy = centroid_2dg(cutout)
        mx, my = ix - half + cx, iy - half + cy
        ra, dec = model.meta.wcs(mx, my)
        offset_deg = np.hypot((ra - truth["ra_deg"]) * np.cos(np.radians(dec)), dec - truth["dec_deg"])
        phot = aperture_photometry(sci, CircularAperture((mx, my), aperture_pix), error=err, mask=bad)
        flux_jy = float(phot["aperture_sum"][0]) * pixar_sr * 1e6 / enclosed
        to_jy = pixar_sr * 1e6 / enclosed
        error_jy = float(phot["aperture_sum_err"][0]) * to_jy
        total_error_jy = float(np.sqrt(phot["aperture_sum_err"][0] ** 2 + excess)) * to_jy
        results.append(
            {
                "file": cal_path.name,
                "id": int(row["id"]),
                "detector": model.meta.instrument.detector,
                "flux_ratio": flux_jy / float(truth["flux_jy"]),
                "chi": (flux_jy - float(truth["flux_jy"])) / error_jy,
                "chi_total": (flux_jy - float(truth["flux_jy"])) / total_error_jy,
                "snr": flux_jy / error_jy,
                "offset_pix": float(offset_deg * 3600.0 / model.meta.photometry.pixelarea_arcsecsq**0.5),
                "wcs_prediction_pix": float(np.hypot(px - x, py - y)),
            }
        )
    model.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="detector window side (pixels)")
    parser.add_argument("--ndithers", type=int, default=2)
    parser.add_argument("--n-stars", type=int, default=80)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", default=None, help="keep the files here (default: a temporary folder)")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="check_image2_"))
    start = time.perf_counter()
    manifest = simulate_observation(
        workdir / "sim", instrument="IRIS", size=args.size, ngroups=5, ndithers=args.ndithers,
        n_stars=args.n_stars, n_galaxies=5, ndarks=4, nflats=4, nskies=1, seed=args.seed,
    )  # fmt: skip
    print(f"simulated {len(manifest.science)} science, {len(manifest.skies)} sky, {len(manifest.darks)} dark, "
          f"{len(manifest.flats)} flat exposures in {time.perf_counter() - start:.0f} s")  # fmt: skip
    refstore = workdir / "refstore"
    shutil.copytree(manifest.reference_dir, refstore, dirs_exist_ok=True)
    products = workdir / "products"
    calibrations = run_calibrations(manifest, refstore, products)
    print("calibration pipelines:", calibrations or "not installed; using the simulator's references")
    for path in manifest.science + manifest.skies:
        Detector1Pipeline.call(str(path), output_dir=str(products), save_results=True, refstore=str(refstore),
                               configure_log=False)  # fmt: skip
    rate = {p: products / p.name.replace("_uncal", "_rate") for p in manifest.science + manifest.skies}
    sky_of = {fits.getval(p, "DETECTOR"): rate[p] for p in manifest.skies}
    for path in manifest.science:
        detector = fits.getval(path, "DETECTOR")
        skies = [sky_of[detector]] if detector in sky_of else []
        association = Association.from_files("image2", rate[path].stem.replace("_rate", ""), [rate[path]],
                                             background=skies)  # fmt: skip
        asn_path = write_association(association, products / f"{rate[path].stem}_asn.json")
        ProcessImagerL2Pipeline.call(str(asn_path), output_dir=str(products), save_results=True,
                                     refstore=str(refstore), configure_log=False)  # fmt: skip

    instrument = get_instrument("IRIS")
    optics = OpticsParameters()
    scale = instrument.detectors["IMG1"].pixel_scale_arcsec
    fwhm_pix = psf_fwhm_arcsec(instrument, "Kbb", optics.airy_fwhm_lambda_over_d) / scale
    aperture_pix = APERTURE_FWHM * fwhm_pix
    enclosed = psf_enclosed_energy(aperture_pix, fwhm_pix, optics.psf_moffat_beta, optics.psf_stamp_radius_fwhm)
    positions, catalog = Table.read(manifest.positions), Table.read(manifest.catalog)
    stars = []
    for cal in sorted(products.glob("*_cal.fits")):
        stars += measure_stars(cal, positions, catalog, aperture_pix, enclosed)
    table = Table(rows=stars)
    bright = table[table["snr"] > MIN_SNR]
    detectors = sorted(set(bright["detector"]))
    result = {
        "stars_measured": len(table),
        "stars_snr_gt_20": len(bright),
        "detectors": detectors,
        "flux_ratio_median": float(np.median(bright["flux_ratio"])),
        "flux_chi_std_err_array": float(np.std(bright["chi"])),
        "flux_chi_std_with_correlated_noise": float(np.std(bright["chi_total"])),
        "flux_chi_robust_std_with_correlated_noise": float(
            1.4826 * np.median(np.abs(bright["chi_total"] - np.median(bright["chi_total"])))
        ),
        "position_rms_pix": float(np.sqrt(np.mean(bright["offset_pix"] ** 2))),
        "position_rms_pix_by_detector": {
            d: float(np.sqrt(np.mean(bright["offset_pix"][bright["detector"] == d] ** 2))) for d in detectors
        },
        "wcs_inverse_vs_truth_pixel_max": float(np.max(table["wcs_prediction_pix"])),
        "flat_recovery": flat_recovery(refstore, Path(manifest.reference_dir)),
        "references_used_by_science": sorted(
            {fits.getval(cal, key) for cal in products.glob("*_cal.fits") for key in ("R_DARK", "R_FLAT", "R_MASK")}
        ),
        "wall_s": time.perf_counter() - start,
    }
    print(json.dumps(result, indent=2))
    print(f"files kept in {workdir}")


if __name__ == "__main__":
    main()
