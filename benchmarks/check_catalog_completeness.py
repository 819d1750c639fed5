"""Completeness and false detections of the source catalogue against truth (issue 11's done-when).

Draws fields of isolated Gaussian stars on white noise of known ERR, with total fluxes chosen so
that their aperture S/N (flux in the reference aperture, radius 2 FWHM, over the noise in that
aperture) spans 5 to 200, and runs the catalogue's algorithm
(`iris_pipeline.source_catalog.make_source_catalog`, default parameters) on each. A star is found
when a catalogue source lies within 1.5 pixels of it. Pure-noise fields of the same noise count
the false sources per 1000^2 pixels. Prints completeness per aperture S/N bin and the false
source rate, summed over the seeds. Detection thresholds the PSF-smoothed image at 5 sigma of
its own noise: a Gaussian star's matched-filter S/N is ``sqrt(A / (4 pi s^2))`` (about 2.4) times
its S/N in the 2-FWHM aperture of area ``A``, so completeness should fall through 50 % near an
aperture S/N of 5 / 2.4 = 2.1.

Usage::

    .venv/bin/python benchmarks/check_catalog_completeness.py [--size 1024] [--seeds 5] [--fwhm 3.0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.special import erf

from iris_pipeline.resample import TanGrid
from iris_pipeline.source_catalog import make_source_catalog

NOISE_MJY_SR = 1.0
PIXEL_SCALE_ARCSEC = 0.004
REFERENCE_RADIUS_FWHM = 2.0
MATCH_RADIUS_PIX = 1.5
SNR_RANGE = (1.0, 200.0)
SNR_BINS = ((1, 2), (2, 3), (3, 5), (5, 10), (10, 20), (20, 50), (50, 200))


def aperture_fraction(radius_pix: float, fwhm_pix: float) -> float:
    """Fraction of a circular Gaussian's flux inside ``radius_pix``."""
    sigma = fwhm_pix / 2.3548
    return 1.0 - np.exp(-(radius_pix**2) / (2 * sigma**2))


def star_field(size: int, fwhm_pix: float, seed: int):
    """Image (MJy/sr) of isolated stars on a jittered grid, their positions and aperture S/N."""
    rng = np.random.default_rng(seed)
    spacing = int(12 * fwhm_pix)
    centres = np.arange(spacing, size - spacing + 1, spacing, dtype=float)
    x0, y0 = (grid.ravel() + rng.uniform(-0.5, 0.5, grid.size) for grid in np.meshgrid(centres, centres))
    radius = REFERENCE_RADIUS_FWHM * fwhm_pix
    aperture_noise = NOISE_MJY_SR * np.sqrt(np.pi * radius**2)
    snr = 10 ** rng.uniform(*np.log10(SNR_RANGE), x0.size)
    total = snr * aperture_noise / aperture_fraction(radius, fwhm_pix)
    sigma = fwhm_pix / 2.3548
    image = rng.normal(0.0, NOISE_MJY_SR, (size, size))
    half = int(4 * fwhm_pix)
    edges = np.arange(-half, half + 2) - 0.5
    for x, y, flux in zip(x0, y0, total, strict=True):
        ix, iy = int(round(x)), int(round(y))
        # Pixel-integrated Gaussian: the flux falling in each pixel.
        cx = np.diff(erf((ix + edges - x) / (np.sqrt(2) * sigma))) / 2
        cy = np.diff(erf((iy + edges - y) / (np.sqrt(2) * sigma))) / 2
        image[iy - half : iy + half + 1, ix - half : ix + half + 1] += flux * np.outer(cy, cx)
    return image, x0, y0, snr


def found_fraction(catalog, x0, y0) -> np.ndarray:
    if len(catalog) == 0:
        return np.zeros(x0.size, bool)
    dx = np.asarray(catalog["xcentroid"])[None, :] - x0[:, None]
    dy = np.asarray(catalog["ycentroid"])[None, :] - y0[:, None]
    return np.hypot(dx, dy).min(axis=1) < MATCH_RADIUS_PIX


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--fwhm", type=float, default=3.0)
    args = parser.parse_args()
    shape = (args.size, args.size)
    grid = TanGrid((150.0, 2.0), (args.size / 2, args.size / 2), PIXEL_SCALE_ARCSEC, 0.0, shape)
    wcs, pixel_area_sr = grid.to_gwcs(), grid.pixel_area_steradians()
    err = np.full(shape, NOISE_MJY_SR)
    snr_all, found_all = [], []
    false_sources = 0
    start = time.perf_counter()
    for seed in range(args.seeds):
        image, x0, y0, snr = star_field(args.size, args.fwhm, seed)
        catalog, _ = make_source_catalog(image, err, wcs, pixel_area_sr)
        snr_all.append(snr)
        found_all.append(found_fraction(catalog, x0, y0))
        noise = np.random.default_rng(1000 + seed).normal(0.0, NOISE_MJY_SR, shape)
        false_sources += len(make_source_catalog(noise, err, wcs, pixel_area_sr, fwhm_pix=args.fwhm)[0])
    snr, found = np.concatenate(snr_all), np.concatenate(found_all)
    print(f"{args.seeds} fields of {args.size}^2 pixels, FWHM {args.fwhm} pix, {snr.size} stars "
          f"({time.perf_counter() - start:.1f} s)")  # fmt: skip
    print(f"{'aperture S/N':>14} {'stars':>6} {'found':>6} {'completeness':>13}")
    for low, high in SNR_BINS:
        inside = (snr >= low) & (snr < high)
        print(f"{low:>6} - {high:<5} {inside.sum():6d} {found[inside].sum():6d} {found[inside].mean():13.3f}")
    area_mpix = args.seeds * args.size**2 / 1e6
    print(f"pure noise: {false_sources} false sources in {area_mpix:.2f} Mpix "
          f"= {false_sources / area_mpix:.2f} per 1000^2 pixels")  # fmt: skip


if __name__ == "__main__":
    main()
