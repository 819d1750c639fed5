"""Drizzle images onto a `TanGrid` with stcal's resampling (the drizzle algorithm of Fruchter & Hook 2002).

Pure arrays in, arrays out: no files, no data models. Surface-brightness units (MJy/sr) are
preserved, which conserves flux because every output pixel's value is the weighted mean of the
input surface brightness over its area, provided the weights do not depend on the signal: the
``ivm`` weight is the inverse of each image's typical read-noise variance
(`read_noise_variance_level`), not of the per-pixel ``VAR_RNOISE``, which an optimally weighted
ramp fit makes grow with the signal (star cores would count less and fluxes come out low).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from stcal.resample import Resample
from stcal.resample.utils import calc_pixmap

from ..dqflags import PIXEL
from .grid import TanGrid, pixel_scale_arcsec

__all__ = [
    "DEFAULT_GOOD_BITS",
    "DrizzleInput",
    "DrizzleResult",
    "drizzle_images",
    "pixel_map",
    "read_noise_variance_level",
]

log = logging.getLogger(__name__)

# Pixels flagged DO_NOT_USE or NON_SCIENCE get no weight; other flags (JUMP_DET...) are informative.
DEFAULT_GOOD_BITS = "~DO_NOT_USE+NON_SCIENCE"
VARIANCE_NAMES = ("var_rnoise", "var_poisson", "var_flat")


@dataclass
class DrizzleInput:
    """One calibrated image to resample.

    Attributes
    ----------
    data_mjy_sr : np.ndarray
        Surface brightness (any unit; the output has the same unit), shape (ny, nx).
    dq : np.ndarray
        uint32 DQ flags (`iris_pipeline.dqflags`).
    wcs : gwcs.WCS
        Pixel (0-based) to ICRS degrees.
    var_rnoise, var_poisson, var_flat : np.ndarray, optional
        Variances in the data unit squared; ``var_rnoise`` drives the ``ivm`` weighting.
    exposure_time_s : float
        Effective exposure time.
    group_id : str
        Exposure identifier: inputs with the same ``group_id`` (the detectors of one exposure)
        count as one pointing and share one context plane.
    name : str
        For logs.
    start_mjd, end_mjd : float
        Exposure start and end.
    """

    data_mjy_sr: np.ndarray
    dq: np.ndarray
    wcs: object
    var_rnoise: np.ndarray | None = None
    var_poisson: np.ndarray | None = None
    var_flat: np.ndarray | None = None
    exposure_time_s: float = 1.0
    group_id: str = "0"
    name: str = ""
    start_mjd: float = 0.0
    end_mjd: float = 0.0


@dataclass
class DrizzleResult:
    """Resampled arrays on the output grid (``None`` where not computed)."""

    data: np.ndarray
    wht: np.ndarray
    con: np.ndarray | None
    err: np.ndarray | None
    var_rnoise: np.ndarray | None
    var_poisson: np.ndarray | None
    var_flat: np.ndarray | None
    dq: np.ndarray | None
    exposure_time_s: float
    pointings: int
    pixel_scale_ratio: float


def pixel_map(wcs_from, shape: Sequence[int], wcs_to) -> np.ndarray:
    """Pixel coordinates in ``wcs_to`` of every pixel of an image of ``shape`` (ny, nx) in ``wcs_from``.

    Returns an array (ny, nx, 2) of (x, y), NaN where the mapping is undefined.
    """
    return calc_pixmap(wcs_from, wcs_to, tuple(shape))


def read_noise_variance_level(var_rnoise: np.ndarray | None, dq: np.ndarray) -> float | None:
    """Signal-independent read-noise variance of an image: the median ``VAR_RNOISE`` of its usable pixels.

    Returns None without a usable (finite, positive) read-noise variance.
    """
    if var_rnoise is None:
        return None
    usable = np.isfinite(var_rnoise) & (var_rnoise > 0) & ((dq & (PIXEL["DO_NOT_USE"] | PIXEL["NON_SCIENCE"])) == 0)
    if not np.any(usable):
        return None
    return float(np.median(var_rnoise[usable]))


def _stcal_model(image: DrizzleInput, enable_var: bool, weight_type: str) -> dict:
    shape = image.data_mjy_sr.shape
    pixel_area_sr = np.deg2rad(pixel_scale_arcsec(image.wcs, shape) / 3600.0) ** 2
    model = {
        "data": np.asarray(image.data_mjy_sr, dtype=np.float32),
        "dq": np.asarray(image.dq, dtype=np.uint32),
        "wcs": image.wcs,
        "filename": image.name,
        "group_id": image.group_id,
        "exposure_time": float(image.exposure_time_s),
        "measurement_time": float(image.exposure_time_s),
        "start_time": float(image.start_mjd),
        "end_time": float(image.end_mjd),
        "duration": float(image.exposure_time_s),
        "pixelarea_steradians": float(pixel_area_sr),
        "pixelarea_arcsecsq": float(pixel_area_sr * np.rad2deg(1.0) ** 2 * 3600.0**2),
        "level": 0.0,
        "subtracted": True,
    }
    for name in VARIANCE_NAMES:
        variance = getattr(image, name)
        if variance is not None:
            model[name] = np.asarray(variance, dtype=np.float32)
        elif enable_var:
            model[name] = np.zeros(shape, dtype=np.float32)
    if weight_type == "ivm":
        # stcal's "ivm-sky" weighs by 1 / var_sky: here the image's signal-independent read-noise level.
        level = read_noise_variance_level(image.var_rnoise, model["dq"])
        model["var_sky"] = np.full(shape, level if level is not None else 1.0, dtype=np.float32)
    return model


def drizzle_images(
    images: Sequence[DrizzleInput],
    grid: TanGrid,
    pixfrac: float = 1.0,
    kernel: str = "square",
    fillval: str | float = "NaN",
    weight_type: str = "ivm",
    good_bits: str | int | None = DEFAULT_GOOD_BITS,
    enable_var: bool = True,
    enable_ctx: bool = True,
    propagate_dq: bool = True,
) -> DrizzleResult:
    """Drizzle images onto ``grid`` and combine them with per-pixel weights.

    Parameters
    ----------
    images : sequence of DrizzleInput
        The inputs; at least one.
    grid : TanGrid
        Output grid.
    pixfrac : float
        Linear fraction of an input pixel that its flux is dropped onto (1: whole pixel).
    kernel : str
        Drizzle kernel (``square``, ``point``, ``turbo``...; only ``square``, ``point`` and
        ``turbo`` conserve flux).
    fillval : str or float
        Value of output pixels without input (``'NaN'`` by default).
    weight_type : str
        ``ivm``: the inverse of each image's signal-independent read-noise variance
        (`read_noise_variance_level`; 1 without ``var_rnoise``), as JWST's ivm weighs by a
        read-noise variance that does not grow with the signal; ``exptime``: the exposure time.
    good_bits : str, int or None
        DQ flags that do not exclude a pixel (see stcal's ``Resample``); the default excludes
        ``DO_NOT_USE`` and ``NON_SCIENCE`` pixels.
    enable_var : bool
        Resample the variances and compute ERR from them.
    enable_ctx : bool
        Build the context array.
    propagate_dq : bool
        OR the DQ of contributing input pixels into an output DQ.

    Returns
    -------
    DrizzleResult
    """
    if not images:
        raise ValueError("no images to resample")
    output_wcs = {"wcs": grid.to_gwcs(), "pixel_scale": grid.pixel_scale_arcsec}
    driz = Resample(
        output_wcs,
        n_input_models=len(images),
        pixfrac=pixfrac,
        kernel=kernel,
        fillval=fillval,
        weight_type="ivm-sky" if weight_type == "ivm" else weight_type,
        good_bits=good_bits,
        enable_ctx=enable_ctx,
        enable_var=enable_var,
        compute_err="from_var" if enable_var else None,
        propagate_dq=propagate_dq,
    )
    driz.dq_flag_name_map = PIXEL
    with warnings.catch_warnings():
        # All-NaN output pixels (no input) are expected where the footprints leave gaps.
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        for image in images:
            driz.add_model(_stcal_model(image, enable_var, weight_type))
        driz.finalize()
    out = driz.output_model
    return DrizzleResult(
        data=out["data"],
        wht=out["wht"],
        con=out.get("con"),
        err=out.get("err"),
        var_rnoise=out.get("var_rnoise"),
        var_poisson=out.get("var_poisson"),
        var_flat=out.get("var_flat"),
        dq=out.get("dq"),
        exposure_time_s=float(out["exposure_time"]),
        pointings=int(out["pointings"]),
        pixel_scale_ratio=float(out.get("pixel_scale_ratio") or 1.0),
    )
