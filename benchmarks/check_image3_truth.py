"""Accuracy of stage 3 imaging against the simulator's truth (issue 6's done-when figures).

Simulates a 4-dither x 4-detector IRIS observation whose dither step is the detector pitch
(detector width plus gap), so that the corner windows of the four detectors see the same sky in
turn: a star in IMG4's window at the first position is seen by IMG3, IMG2 and IMG1 at the
next ones. Runs raw -> detector1 -> image2 -> image3 and prints:

- the mosaic catalog matched to the truth catalog (stars): median and scatter of the flux
  ratio (``aper_total_flux`` / truth), astrometric RMS in input pixels, overall, for sources
  whose reference aperture is fully covered (not cut by the mosaic's edge), and for sources
  seen by more than one detector;
- galaxies (``--n-galaxies``): the Kron, isophotal and aperture-total fluxes over truth, for
  Sersic n < 2 and n >= 2, and the Kron flux split in two: the fraction of the truth galaxy's
  light (its PSF-convolved Sersic profile on the mosaic's grid) inside the catalogue's own Kron
  ellipse, what the aperture can hold, and the Kron flux over that light, the measurement
  (background subtraction, deblending from neighbours, resampling);
- image2's subtracted sky (``BKGLEVEL``) over the simulated sky: light of sources that no mask
  separates from the sky raises it;
- cosmic rays: injected (science exposures), flagged in stage 1 (JUMP_DET) or by
  outlier_detection (OUTLIER), and surviving in the mosaic, i.e. a 5-sigma excess of the mosaic
  over the median of the single-exposure images at the CR's position; the same test at random
  positions gives the false-alarm rate. Counted by how many exposures cover the position: the
  median needs at least three to reject anything.

The simulated PSF is a Moffat profile cut at ``--psf-radius-fwhm`` (16 FWHM here, 8 by the
simulator's default): a real PSF is not cut, and the 0.13 % of a beta = 2.5 Moffat's light beyond
8 FWHM, which the catalogue's aperture correction extrapolates, would read as a +0.3 % flux error
(with the wing light it also assumes in the background annulus).

As a user's data would come (issue 11): ``--minimal-headers`` strips the raw files' optional
keywords that stage 3 does not need (program, observation, visit and exposure numbers, dither
pattern, exposure times), keeping those of `docs/data-formats.md` that stage 2 requires;
``--pointing-error-arcsec S`` moves each exposure's ``RA_REF``/``DEC_REF`` (all its detectors
alike) by a known random offset of RMS ``S`` arcsec, so that its WCS is that far off until
tweakreg corrects it; ``--refcat`` then gives tweakreg the truth stars as a reference catalogue
(absolute astrometry, as a Gaia export would), without which the mosaic is registered to the
reference exposure and inherits its error.

Usage::

    .venv/bin/python benchmarks/check_image3_truth.py [--size 256] [--n-stars 120] [--n-galaxies 8] [--workdir DIR]
        [--minimal-headers] [--pointing-error-arcsec 0.02] [--refcat]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from scipy.signal import fftconvolve

from iris_pipeline import datamodels
from iris_pipeline.associations import Association, write_association
from iris_pipeline.dqflags import PIXEL
from iris_pipeline.instruments import get_instrument
from iris_pipeline.outlier_detection import median_image
from iris_pipeline.pipelines import Detector1Pipeline, ProcessImagerL2Pipeline
from iris_pipeline.pipelines.image3 import Image3Pipeline
from iris_pipeline.resample import TanGrid
from iris_pipeline.resample.inputs import drizzle_input
from iris_pipeline.simulate import simulate_observation
from iris_pipeline.simulate.parameters import OpticsParameters
from iris_pipeline.simulate.photometry import psf_fwhm_arcsec
from iris_pipeline.simulate.scene import moffat_alpha_pix, sersic_shape

MATCH_RADIUS_PIX = 2.0
MIN_SNR = 20.0
SURVIVAL_SIGMA = 5.0
KRON_APERTURE_SCALE = 2.5
"""The catalogue's Kron ellipse in units of its ``kron_radius`` times the second-moment axes."""


def detector_pitch_arcsec(instrument) -> float:
    """Distance between the centres of neighbouring imager detectors (IMG1 to IMG2)."""
    return abs(
        instrument.detectors["IMG2"].focal_plane_offset_arcsec[0]
        - instrument.detectors["IMG1"].focal_plane_offset_arcsec[0]
    )


OPTIONAL_KEYWORDS = ("PROGRAM", "OBS_ID", "OBSERVTN", "VISIT", "EXPOSURE", "PATTTYPE", "PATT_NUM", "NUMDTHPT",
                     "XOFFSET", "YOFFSET", "EXPSTART", "EXPMID", "EXPEND", "EFFEXPTM", "NREADS")  # fmt: skip


def degrade_headers(manifest, minimal: bool, pointing_error_arcsec: float, seed: int) -> dict:
    """Strip optional keywords and/or move each exposure's pointing; the offsets applied, arcsec."""
    rng = np.random.default_rng(seed)
    offsets = {}
    for path in manifest.science:
        with fits.open(path, mode="update") as hdul:
            header = hdul[0].header
            exposure = (header.get("EXPSTART"), header.get("DATE-OBS"))
            if pointing_error_arcsec > 0:
                if exposure not in offsets:
                    offsets[exposure] = rng.normal(0.0, pointing_error_arcsec, 2)
                d_ra, d_dec = offsets[exposure]
                header["DEC_REF"] = header["DEC_REF"] + d_dec / 3600.0
                header["RA_REF"] = header["RA_REF"] + d_ra / 3600.0 / np.cos(np.radians(header["DEC_REF"]))
            if minimal:
                for keyword in OPTIONAL_KEYWORDS:
                    header.remove(keyword, ignore_missing=True, remove_all=True)
    return {str(key[1]): [float(v) for v in value] for key, value in offsets.items()}


def run_chain(manifest, products: Path, margin_pix: int, full_mosaic: bool, refcat: Path | None = None) -> Path:
    """detector1 and image2 for every science exposure, image3 on all of them; the i2d path.

    Unless ``full_mosaic``, the mosaic is the sky of IMG4's window at the first position (seen
    by all four detectors) plus ``margin_pix``: the full mosaic of corner windows a detector
    pitch apart is a ~8800^2 grid, almost empty, that needs ~10 GB.
    """
    refstore = str(manifest.reference_dir)
    cal = []
    for path in manifest.science:
        Detector1Pipeline.call(str(path), output_dir=str(products), save_results=True, refstore=refstore,
                               configure_log=False)  # fmt: skip
        rate = products / path.name.replace("_uncal", "_rate")
        ProcessImagerL2Pipeline.call(str(rate), output_dir=str(products), save_results=True, refstore=refstore,
                                     configure_log=False)  # fmt: skip
        cal.append(products / path.name.replace("_uncal", "_cal"))
    association = Association.from_files("image3", "iris_image3_check", cal)
    asn_path = write_association(association, products / "iris_image3_check_asn.json")
    steps = {"tweakreg": {"abs_refcat": str(refcat)}} if refcat else {}
    if not full_mosaic:
        first_img4 = next(p for p in cal if p.name.endswith("_e001_img4_cal.fits"))
        with datamodels.open(first_img4) as model:
            ny, nx = model.data.shape
            ra, dec = model.meta.wcs((nx - 1) / 2.0, (ny - 1) / 2.0)
        shape = [nx + 2 * margin_pix, ny + 2 * margin_pix]
        steps["resample"] = {"crval": [float(ra), float(dec)], "output_shape": shape}
    Image3Pipeline.call(str(asn_path), output_dir=str(products), save_results=True, save_crf=True, steps=steps,
                        configure_log=False)  # fmt: skip
    return products / "iris_image3_check_i2d.fits"


def catalog_figures(catalog: Table, truth: Table, positions: Table, input_scale_arcsec: float) -> dict:
    """Flux ratio and astrometric RMS of the catalog sources matched to truth stars."""
    stars = truth[truth["kind"] == "star"]
    found = SkyCoord(catalog["ra"], catalog["dec"], unit="deg")
    index, separation, _ = found.match_to_catalog_sky(SkyCoord(stars["ra_deg"], stars["dec_deg"], unit="deg"))
    offset_pix = separation.arcsec / input_scale_arcsec
    snr = np.asarray(catalog["aper_total_flux"]) / np.asarray(catalog["aper_total_flux_err"])
    matched = (offset_pix < MATCH_RADIUS_PIX) & (snr > MIN_SNR)
    clean = matched & (np.asarray(catalog["flags"]) == 0)
    detectors_per_source = {}
    for row in positions:
        detectors_per_source.setdefault(int(row["id"]), set()).add(str(row["detector"]))
    ids = np.asarray(stars["id"])[index]
    multi = np.array([len(detectors_per_source.get(int(i), ())) > 1 for i in ids])
    ratio = np.asarray(catalog["aper_total_flux"]) / np.asarray(stars["flux_jy"])[index]

    def figures(selection):
        if not np.any(selection):
            return {"n": 0}
        return {
            "n": int(np.count_nonzero(selection)),
            "flux_ratio_median": float(np.median(ratio[selection])),
            "flux_ratio_robust_std": float(1.4826 * np.median(np.abs(ratio[selection] - np.median(ratio[selection])))),
            "astrometric_rms_input_pix": float(np.sqrt(np.mean(offset_pix[selection] ** 2))),
        }

    partial = (np.asarray(catalog["flags"]) & 1) > 0
    return {
        "catalog_sources": len(catalog),
        "truth_stars": len(stars),
        "matched_snr_gt_20": figures(matched),
        "matched_snr_gt_20_full_coverage": figures(matched & ~partial),
        "matched_unflagged": figures(clean),
        "matched_on_several_detectors": figures(matched & multi),
        "truth_stars_on_several_detectors": int(sum(len(v) > 1 for v in detectors_per_source.values())),
    }


def galaxy_light_fractions(wcs, shape, galaxy, ellipse, optics: OpticsParameters, psf_fwhm_arcsec: float,
                           oversample: int = 3):  # fmt: skip
    """Fractions of a truth galaxy's light inside a mosaic ellipse and inside the mosaic.

    The galaxy is the simulator's truncated Sersic profile, defined on the sky (``pa_deg`` East
    of North), sampled ``oversample`` times per mosaic pixel and axis and convolved with the
    simulator's PSF (a truncated Moffat profile of FWHM ``psf_fwhm_arcsec``); the drizzle's own
    blur is left out. ``ellipse`` is ``(x, y, a, b, theta_deg)`` in mosaic pixels, ``theta``
    counter-clockwise from +x.
    """
    light_fraction = optics.galaxy_light_fraction
    b_n, truncation = sersic_shape(float(galaxy["sersic_n"]), light_fraction)
    n, r_eff = float(galaxy["sersic_n"]), float(galaxy["r_eff_arcsec"])
    q, pa = float(galaxy["axis_ratio"]), math.radians(float(galaxy["pa_deg"]))
    ra0, dec0 = float(galaxy["ra_deg"]), float(galaxy["dec_deg"])
    x0, y0 = wcs.invert(ra0, dec0)
    ra_x, dec_x = wcs(x0 + 1.0, y0)
    scale_arcsec = 3600.0 * math.hypot((ra_x - ra0) * math.cos(math.radians(dec0)), dec_x - dec0)
    reach = truncation * r_eff / scale_arcsec + optics.psf_stamp_radius_fwhm * psf_fwhm_arcsec / scale_arcsec + 2
    sub = (np.arange(oversample) + 0.5) / oversample - 0.5
    ys = (np.arange(math.floor(y0 - reach), math.ceil(y0 + reach) + 1)[:, None] + sub).ravel()
    xs = (np.arange(math.floor(x0 - reach), math.ceil(x0 + reach) + 1)[:, None] + sub).ravel()
    xx, yy = np.meshgrid(xs, ys)
    ra, dec = wcs(xx, yy, with_bounding_box=False)
    east = (ra - ra0) * math.cos(math.radians(dec0)) * 3600.0
    north = (dec - dec0) * 3600.0
    along = east * math.sin(pa) + north * math.cos(pa)
    across = east * math.cos(pa) - north * math.sin(pa)
    radius = np.hypot(along, across / q) / r_eff
    # Normalised on the samples, as the simulator normalises its sampled stamps.
    profile = np.where(radius <= truncation, np.exp(-b_n * radius ** (1.0 / n)), 0.0)
    fwhm_samples = psf_fwhm_arcsec / scale_arcsec * oversample
    psf_reach = math.ceil(optics.psf_stamp_radius_fwhm * fwhm_samples)
    offsets = np.arange(-psf_reach, psf_reach + 1)
    psf_radius_sq = offsets[:, None] ** 2 + offsets[None, :] ** 2
    alpha = moffat_alpha_pix(fwhm_samples, optics.psf_moffat_beta)
    psf = np.where(psf_radius_sq <= psf_reach**2, (1.0 + psf_radius_sq / alpha**2) ** -optics.psf_moffat_beta, 0.0)
    profile = fftconvolve(profile, psf, mode="same")
    profile /= profile.sum()
    ny, nx = shape
    in_mosaic = (xx >= -0.5) & (xx < nx - 0.5) & (yy >= -0.5) & (yy < ny - 0.5)
    x_c, y_c, a, b, theta = ellipse
    cos_t, sin_t = math.cos(math.radians(theta)), math.sin(math.radians(theta))
    u = (xx - x_c) * cos_t + (yy - y_c) * sin_t
    v = -(xx - x_c) * sin_t + (yy - y_c) * cos_t
    inside = in_mosaic & ((u / a) ** 2 + (v / b) ** 2 <= 1.0)
    return float(profile[inside].sum()), float(profile[in_mosaic].sum())


def galaxy_figures(catalog: Table, truth: Table, input_scale_arcsec: float, i2d_path: Path, optics: OpticsParameters,
                   psf_fwhm_arcsec: float) -> dict:  # fmt: skip
    """Isophotal, Kron and aperture-total fluxes of the catalogue sources matched to truth galaxies.

    A galaxy is matched to the nearest catalogue source within `MATCH_RADIUS_PIX` of its centre,
    with a flux S/N above `MIN_SNR`; figures are given for disc-like (Sersic n < 2) and
    bulge-like (n >= 2) profiles, whose Kron apertures miss different fractions of the light.
    The Kron flux over truth is split in two: the fraction of the truth galaxy's light inside
    the catalogue's own Kron ellipse (what the aperture can hold) and the Kron flux over that
    light (the measurement: background subtraction, neighbours, resampling).
    """
    galaxies = truth[truth["kind"] == "galaxy"]
    if len(galaxies) == 0 or len(catalog) == 0:
        return {"truth_galaxies": len(galaxies)}
    found = SkyCoord(catalog["ra"], catalog["dec"], unit="deg")
    index, separation, _ = SkyCoord(galaxies["ra_deg"], galaxies["dec_deg"], unit="deg").match_to_catalog_sky(found)
    snr = np.asarray(catalog["kron_flux"]) / np.asarray(catalog["kron_flux_err"])
    matched = (separation.arcsec / input_scale_arcsec < MATCH_RADIUS_PIX) & (snr[index] > MIN_SNR)
    in_kron = np.full(len(galaxies), np.nan)
    in_mosaic = np.full(len(galaxies), np.nan)
    with datamodels.open(i2d_path) as model:
        shape = model.data.shape
        for row in np.flatnonzero(matched):
            source = catalog[index[row]]
            kron_scale = KRON_APERTURE_SCALE * float(source["kron_radius"])
            ellipse = (float(source["xcentroid"]), float(source["ycentroid"]),
                       kron_scale * float(source["semimajor_axis"]), kron_scale * float(source["semiminor_axis"]),
                       float(source["orientation"]))  # fmt: skip
            in_kron[row], in_mosaic[row] = galaxy_light_fractions(model.meta.wcs, shape, galaxies[row], ellipse,
                                                                  optics, psf_fwhm_arcsec)  # fmt: skip
    sersic_n = np.asarray(galaxies["sersic_n"])
    truth_flux = np.asarray(galaxies["flux_jy"])
    kron_ratio = np.asarray(catalog["kron_flux"])[index] / truth_flux
    result = {"truth_galaxies": len(galaxies)}
    for label, selection in (("all", matched), ("sersic_n_lt_2", matched & (sersic_n < 2)),
                             ("sersic_n_ge_2", matched & (sersic_n >= 2))):  # fmt: skip
        if not np.any(selection):
            result[label] = {"n": 0}
            continue
        rows = index[selection]
        measured = {name: np.asarray(catalog[f"{name}_flux"])[rows] for name in ("kron", "isophotal", "aper_total")}
        result[label] = (
            {"n": int(np.count_nonzero(selection))}
            | {
                f"{name}_flux_ratio_median": float(np.median(flux / truth_flux[selection]))
                for name, flux in measured.items()
            }
            | {
                "truth_light_in_kron_ellipse_median": float(np.median(in_kron[selection])),
                "kron_flux_over_truth_in_ellipse_median": float(np.median(kron_ratio[selection] / in_kron[selection])),
                "truth_light_in_mosaic_median": float(np.median(in_mosaic[selection])),
            }
        )
    return result


def sky_figures(products: Path, manifest) -> dict:
    """image2's subtracted background against the simulated sky, per detector frame.

    ``BKGLEVEL`` is the median background in flat-fielded DN/s; the simulated sky is
    ``sky_e_s`` over the gain. Light of sources that no mask can separate from the sky (the
    faint outer wings of galaxies and stars) raises the estimate.
    """
    gain = float(get_instrument(manifest.instrument).detector_defaults["gain_e_per_dn"])
    excess = []
    for path in sorted(products.glob("*_cal.fits")):
        header = fits.getheader(path)
        if "BKGLEVEL" in header:
            sky_dn_s = manifest.truth["sky_e_s"][header["DETECTOR"]] / gain
            excess.append(header["BKGLEVEL"] / sky_dn_s - 1.0)
    if not excess:
        return {"frames": 0}
    return {"frames": len(excess), "background_over_sky_minus_1_median": float(np.median(excess)),
            "background_over_sky_minus_1_max": float(np.max(excess))}  # fmt: skip


def cosmic_ray_figures(i2d_path: Path, products: Path, cosmic_rays: Table, rng) -> dict:
    """Cosmic rays flagged by stage 1 and stage 3, and those surviving in the mosaic."""
    mosaic = datamodels.open(i2d_path)
    crf = {p.name.replace("_crf.fits", ""): datamodels.open(p) for p in sorted(products.glob("*_crf.fits"))}
    wcsinfo = mosaic.meta.wcsinfo
    grid = TanGrid(
        (wcsinfo.crval1, wcsinfo.crval2),
        (wcsinfo.crpix1, wcsinfo.crpix2),
        float(np.sqrt(mosaic.meta.photometry.pixelarea_arcsecsq)),
        0.0,
        mosaic.data.shape,
    )
    median = median_image([drizzle_input(m) for m in crf.values()], grid, good_bits="~DO_NOT_USE+NON_SCIENCE")
    ny, nx = mosaic.data.shape

    def excess_sigma(x, y):
        if not (np.isfinite(x) and np.isfinite(y)):
            return np.nan
        ix, iy = int(round(x)), int(round(y))
        if not (1 <= ix < nx - 1 and 1 <= iy < ny - 1):
            return np.nan
        box = np.s_[iy - 1 : iy + 2, ix - 1 : ix + 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            significance = (mosaic.data[box] - median[box]) / mosaic.err[box]
        return float(np.nanmax(significance)) if np.any(np.isfinite(significance)) else np.nan

    rows = []
    science = cosmic_rays[cosmic_rays["exp_type"] == "IRIS_IMAGE"]
    for cr in science:
        stem = str(cr["file"]).replace("_uncal.fits", "")
        model = crf.get(stem)
        if model is None:
            continue
        x, y = int(cr["x_pix"]), int(cr["y_pix"])
        dq = int(model.dq[y, x])
        ra, dec = model.meta.wcs(float(x), float(y))
        mx, my = mosaic.meta.wcs.invert(ra, dec)
        rows.append(
            {
                "jump": bool(dq & PIXEL["JUMP_DET"]),
                "outlier": bool(dq & PIXEL["OUTLIER"]),
                "excess_sigma": excess_sigma(mx, my),
                "exposures": len(_exposures_covering(crf.values(), ra, dec)),
            }
        )
    table = Table(rows=rows)
    false_outliers = 0
    for stem, model in crf.items():
        flagged = (model.dq & PIXEL["OUTLIER"]) > 0
        hits = science[[str(f).replace("_uncal.fits", "") == stem for f in science["file"]]]
        near_cr = np.zeros(flagged.shape, bool)
        for cr in hits:
            near_cr[
                max(int(cr["y_pix"]) - 1, 0) : int(cr["y_pix"]) + 2, max(int(cr["x_pix"]) - 1, 0) : int(cr["x_pix"]) + 2
            ] = True
        false_outliers += int(np.count_nonzero(flagged & ~near_cr))
    in_mosaic = np.isfinite(np.asarray(table["excess_sigma"], dtype=float))
    random_x = rng.uniform(0, nx, 2000)
    random_y = rng.uniform(0, ny, 2000)
    control = np.array([excess_sigma(x, y) for x, y in zip(random_x, random_y, strict=True)])
    control = control[np.isfinite(control)]
    survived = np.nan_to_num(np.asarray(table["excess_sigma"]), nan=0.0) > SURVIVAL_SIGMA
    by_coverage = {}
    for n in sorted(set(table["exposures"][in_mosaic])):
        here = in_mosaic & (np.asarray(table["exposures"]) == n)
        by_coverage[f"covered_by_{n}"] = {"injected": int(here.sum()), "surviving": int((survived & here).sum())}
    return {
        "injected_in_science_exposures": len(table),
        "injected_inside_the_mosaic": int(in_mosaic.sum()),
        "flagged_jump_stage1": int(np.sum(table["jump"])),
        "flagged_outlier_stage3": int(np.sum(table["outlier"])),
        "inside_the_mosaic_flagged_jump_or_outlier": int(np.sum(in_mosaic & (table["jump"] | table["outlier"]))),
        "surviving_in_mosaic": int(survived.sum()),
        "outlier_pixels_not_at_a_cosmic_ray": false_outliers,
        "by_exposure_coverage": by_coverage,
        "false_alarm_fraction_at_random_positions": float(np.mean(control > SURVIVAL_SIGMA)) if control.size else None,
    }


def _exposures_covering(models, ra, dec) -> set:
    covering = set()
    for model in models:
        x, y = model.meta.wcs.invert(ra, dec)
        ny, nx = model.data.shape
        if np.isfinite(x) and np.isfinite(y) and 0 <= x < nx and 0 <= y < ny:
            covering.add(model.meta.observation.exposure_number)
    return covering


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="detector window side (pixels)")
    parser.add_argument("--n-stars", type=int, default=120, help="stars over the four windows")
    parser.add_argument("--n-galaxies", type=int, default=8, help="galaxies over the four windows")
    parser.add_argument("--psf-radius-fwhm", type=float, default=16.0,
                        help="radius at which the simulated PSF is cut, in FWHM (simulator default 8)")  # fmt: skip
    parser.add_argument("--groupgap", type=int, default=100, help="reads dropped between groups (exposure length)")
    parser.add_argument("--cr-rate", type=float, default=1e-5, help="cosmic rays per pixel per second")
    parser.add_argument(
        "--read-mode", choices=("UTR", "CDS"), default="UTR", help="CDS: no jump detection, CRs left to stage 3"
    )
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--margin", type=int, default=24, help="mosaic margin around IMG4's window (pixels)")
    parser.add_argument("--full-mosaic", action="store_true", help="mosaic of every window (~10 GB of memory)")
    parser.add_argument("--workdir", default=None, help="keep the files here (default: a temporary folder)")
    parser.add_argument("--minimal-headers", action="store_true", help="strip the raw files' optional keywords")
    parser.add_argument("--pointing-error-arcsec", type=float, default=0.0, help="RMS pointing error per exposure")
    parser.add_argument("--refcat", action="store_true", help="align to the truth stars as a reference catalogue")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="check_image3_"))
    instrument = get_instrument("IRIS")
    optics = OpticsParameters(psf_stamp_radius_fwhm=args.psf_radius_fwhm)
    start = time.perf_counter()
    manifest = simulate_observation(
        workdir / "sim", instrument="IRIS", size=args.size, read_mode=args.read_mode,
        ngroups=5 if args.read_mode == "UTR" else 2, groupgap=args.groupgap, ndithers=4,
        n_stars=args.n_stars, n_galaxies=args.n_galaxies, ndarks=0, nflats=0, seed=args.seed,
        cosmic_ray_rate_per_pix_s=args.cr_rate, optics=optics,
        dither_step_arcsec=detector_pitch_arcsec(instrument),
    )  # fmt: skip
    print(f"simulated {len(manifest.science)} science exposures in {time.perf_counter() - start:.0f} s")
    offsets = degrade_headers(manifest, args.minimal_headers, args.pointing_error_arcsec, args.seed)
    refcat = None
    if args.refcat:
        truth = Table.read(manifest.catalog)
        stars = truth[truth["kind"] == "star"]
        refcat = workdir / "reference_catalog.ecsv"
        Table({"ra": stars["ra_deg"], "dec": stars["dec_deg"]}).write(refcat, overwrite=True)
    products = workdir / "products"
    i2d = run_chain(manifest, products, args.margin, args.full_mosaic, refcat)
    chain_s = time.perf_counter() - start
    catalog = Table.read(i2d.with_name(i2d.name.replace("_i2d.fits", "_cat.ecsv")))
    scale = instrument.detectors["IMG1"].pixel_scale_arcsec
    result = {
        "catalog": catalog_figures(catalog, Table.read(manifest.catalog), Table.read(manifest.positions), scale),
        "galaxies": galaxy_figures(
            catalog,
            Table.read(manifest.catalog),
            scale,
            i2d,
            optics,
            psf_fwhm_arcsec(instrument, manifest.filter_name, optics.airy_fwhm_lambda_over_d),
        ),
        "image2_sky": sky_figures(products, manifest),
        "cosmic_rays": cosmic_ray_figures(i2d, products, Table.read(manifest.cosmic_rays), np.random.default_rng(1)),
        "wall_s_simulation_and_chain": chain_s,
        "pointing_offsets_arcsec": offsets,
        "mosaic_header": {
            key: fits.getval(i2d, key)
            for key in ("S_TWKREG", "ALNRMS", "ALNCATN", "ALNCATRM")
            if key in fits.getheader(i2d)
        },
    }
    print(json.dumps(result, indent=2))
    print(f"files kept in {workdir}")


if __name__ == "__main__":
    main()
