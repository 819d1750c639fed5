"""Small products for the viewer tests, written with astropy alone (no pipeline run)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

DETECTOR_SIDE_PIX = 4096
WINDOW_STARTS = {"IMG1": "inner", "IMG2": "x", "IMG3": "y", "IMG4": "origin"}
"""Where each window sits so that the four lie around the focal-plane centre, across the gaps."""


def tan_wcs(crval_deg, crpix) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = crval_deg
    wcs.wcs.crpix = crpix
    wcs.wcs.cdelt = [-0.004 / 3600, 0.004 / 3600]
    return wcs


def write_image(path, sci, dq=None, *, detector="IMG1", xstart=1, ystart=1, wcs=None, **keywords) -> Path:
    """A 2-D product with IRIS keywords, step status and a reference file, written atomically."""
    primary = fits.PrimaryHDU()
    primary.header.update(
        DATAMODL="ImageModel", TELESCOP="TMT", INSTRUME="IRIS", DETECTOR=detector, EXP_TYPE="IRIS_IMAGE",
        FILTER="Kbb", SUBSTRT1=xstart, SUBSTRT2=ystart, S_DQINIT="COMPLETE", S_FLAT="SKIPPED",
        R_DARK="iris_dark_0001.fits", H_DARK="0123456789abcdef", BKGLEVEL=1.5, **{"DATE-OBS": "2026-12-05T01:02:03"},
    )  # fmt: skip
    primary.header.update(keywords)
    sci_hdu = fits.ImageHDU(np.asarray(sci, np.float32), header=None if wcs is None else wcs.to_header(), name="SCI")
    sci_hdu.header["BUNIT"] = "DN/s"
    hdus = [primary, sci_hdu]
    if dq is not None:
        hdus.append(fits.ImageHDU(np.asarray(dq, np.uint32), name="DQ"))
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    fits.HDUList(hdus).writeto(tmp)
    os.replace(tmp, path)
    return path


def gaussian_source(shape, x, y, sigma_pix, amplitude) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return amplitude * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma_pix**2))


def star_field(side, nstars, seed) -> np.ndarray:
    """A ``side`` x ``side`` rate-like image: sky 100 +- 5, ``nstars`` stars (peaks 30 to 20 000, sigma 1.3
    to 2 pixels), saturated hot pixels (60 000) and NaN pixels, one of each per 5000 pixels."""
    rng = np.random.default_rng(seed)
    image = rng.normal(100.0, 5.0, (side, side)).astype(np.float32)
    yy, xx = np.mgrid[-10:11, -10:11]
    for _ in range(nstars):
        x, y = rng.integers(10, side - 10, 2)
        peak, sigma = 10 ** rng.uniform(1.5, 4.3), rng.uniform(1.3, 2.0)
        image[y - 10 : y + 11, x - 10 : x + 11] += peak * np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    for value in (6.0e4, np.nan):
        rows, columns = rng.integers(0, side, (2, side * side // 5000))
        image[rows, columns] = value
    return image


def four_detector_exposure(folder, side=64, seed=1, stem="exp1", kind="rate") -> list[Path]:
    """Four ``side`` x ``side`` windows at the inner corners of IMG1..IMG4, each with a star and a WCS."""
    rng = np.random.default_rng(seed)
    inner = DETECTOR_SIDE_PIX - side + 1
    starts = {"IMG1": (inner, inner), "IMG2": (1, inner), "IMG3": (inner, 1), "IMG4": (1, 1)}
    paths = []
    for number, (detector, (xstart, ystart)) in enumerate(starts.items(), start=1):
        sci = rng.normal(10.0 * number, 1.0, (side, side)) + gaussian_source((side, side), 20, 30, 1.5, 200.0)
        dq = np.zeros(sci.shape, np.uint32)
        dq[5, 5:10] = 1
        wcs = tan_wcs([150.0 + number * 0.001, 2.0], [10.0, 12.0])
        paths.append(write_image(Path(folder) / f"{stem}_{detector.lower()}_{kind}.fits", sci, dq, detector=detector,
                                 xstart=xstart, ystart=ystart, wcs=wcs))  # fmt: skip
    return paths


def write_cube(path, nwave=40, ny=12, nx=10, seed=2) -> Path:
    """An IFS cube (SCI, ERR, DQ, WAVELENGTH in um) with a rising-continuum source at spaxel (x=3, y=7)."""
    rng = np.random.default_rng(seed)
    wave_um = np.linspace(1.55, 1.65, nwave)
    sci = rng.normal(1.0, 0.1, (nwave, ny, nx)).astype(np.float32)
    sci[:, 7, 3] += np.linspace(2.0, 6.0, nwave, dtype=np.float32)
    err = rng.uniform(0.05, 0.2, sci.shape).astype(np.float32)
    dq = np.zeros(sci.shape, np.uint32)
    dq[3, 2, 2] = 1
    primary = fits.PrimaryHDU()
    primary.header.update(INSTRUME="IRIS", DETECTOR="IFS", EXP_TYPE="IRIS_LENSLET", FILTER="Hbb", IFSMODE="LENSLET",
                          DATAMODL="IFUCubeModel", S_CUBE="COMPLETE")  # fmt: skip
    hdus = [primary, fits.ImageHDU(sci, name="SCI"), fits.ImageHDU(err, name="ERR"), fits.ImageHDU(dq, name="DQ"),
            fits.ImageHDU(wave_um, name="WAVELENGTH")]  # fmt: skip
    hdus[1].header["BUNIT"] = "MJy/sr"
    fits.HDUList(hdus).writeto(path)
    return Path(path)
