"""Inputs of the stage-3 imaging steps: a list of calibrated images from files, models or an association."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import datamodels, exptypes
from ..associations import stage3_members
from ..datamodels import ImageModel
from ..exceptions import InputFileError, NoPipelineError
from ..stpipe.base import remove_known_suffix
from .drizzle import DrizzleInput

__all__ = [
    "ImageListStep",
    "drizzle_input",
    "exposure_group_id",
    "open_images",
    "product_name",
    "science_images",
]

log = logging.getLogger(__name__)


def _open_image(item) -> ImageModel:
    model = item if isinstance(item, datamodels.IrisDataModel) else datamodels.open(item)
    name = model.meta.filename or str(item)
    if not isinstance(model, ImageModel):
        raise InputFileError(name, f"stage-3 imaging needs calibrated images (ImageModel), not {model.meta.model_type}")
    if model.meta.wcs is None:
        raise InputFileError(name, "no WCS (meta.wcs); run image2 (assign_wcs) first")
    if model.data is None or model.data.ndim != 2:
        raise InputFileError(name, "no 2-D SCI array")
    return model


def open_images(step_input) -> tuple[list[ImageModel], str | None]:
    """The calibrated images of a step's input and the product name, if the input names one.

    Parameters
    ----------
    step_input : str, os.PathLike, ImageModel or sequence of them
        An association JSON (its first product's ``science`` members), one file or model, or a
        list of files or models.

    Returns
    -------
    images : list of ImageModel
    product : str or None
        The association product's name.
    """
    members, product = stage3_members(step_input)
    if not members:
        raise InputFileError("<input list>", "no input images")
    return [_open_image(member) for member in members], product


def science_images(images: Sequence[ImageModel], what: str = "image3") -> list[ImageModel]:
    """The images whose EXP_TYPE has a stage-3 imaging product; the others are left out with a WARNING.

    Dedicated sky (``*_SKY``), dark and flat exposures are never mosaicked with the science
    (their pointing can be arcminutes away). Images without EXP_TYPE, or with a type unknown
    to ``data/exp_types.yaml``, are kept.

    Raises
    ------
    InputFileError
        No image is left.
    """
    kept = []
    for image in images:
        exp_type = image.meta.exposure.type
        try:
            stage3 = exptypes.pipelines_for(exp_type, image.meta.observation.tso_visit).stage3 if exp_type else None
        except NoPipelineError:
            stage3 = None
        if stage3 == exptypes.NO_PIPELINE:
            log.warning("%s: %s is EXP_TYPE %s, not science: left out of the mosaic", what, image.meta.filename, exp_type)
            continue
        kept.append(image)
    if not kept:
        names = ", ".join(str(image.meta.filename) for image in images)
        raise InputFileError(names, f"{what}: no science exposure to combine (EXP_TYPE of every member has no stage 3)")
    return kept


def product_name(images: Sequence[ImageModel]) -> str:
    """Common leading ``_``-separated tokens of the inputs' file names (``iris_p001_o001``).

    A single input gives its own name without the product suffix (``x_cal.fits`` -> ``x``).
    """
    stems = [Path(image.meta.filename or "image").stem.split("_") for image in images]
    common = []
    for tokens in zip(*stems, strict=False):
        if len(set(tokens)) != 1:
            break
        common.append(tokens[0])
    name = "_".join(common)
    if len(images) == 1:
        name = remove_known_suffix(name)[0]
    return name or "image3"


def exposure_group_id(model: ImageModel) -> str:
    """Identifier shared by the detectors of one exposure, from what every raw file has.

    The exposure start (``EXPSTART``, else the required ``DATE-OBS``) and the pointing
    (``RA_REF``, ``DEC_REF``, ``PA_APER``, which assign_wcs requires), prefixed by the optional
    program, observation, visit and exposure numbers when present. Images with none of these
    (models built in memory) are their own exposure.
    """
    observation = model.meta.observation
    pointing = model.meta.pointing
    ids = [observation.program, observation.observation_number, observation.visit_number, observation.exposure_number]
    parts = [str(part) for part in ids if part is not None]
    start = model.meta.exposure.start_time
    if start is not None:
        parts.append(f"t{start:.7f}")
    elif observation.date_obs:
        parts.append(str(observation.date_obs))
    pointing_values = [pointing.ra_ref, pointing.dec_ref, pointing.pa_aper]
    if all(value is not None for value in pointing_values):
        parts.append("p{:.7f},{:.7f},{:.4f}".format(*pointing_values))
    return "_".join(parts) if parts else str(model.meta.filename)


def drizzle_input(model: ImageModel) -> DrizzleInput:
    """The arrays and metadata of a calibrated image that drizzling needs."""
    exposure = model.meta.exposure
    exposure_time = exposure.effective_exposure_time or 1.0
    start = exposure.start_time or 0.0
    end = exposure.end_time if exposure.end_time is not None else start
    return DrizzleInput(
        data_mjy_sr=model.data,
        dq=model.dq if model.dq is not None else np.zeros(model.data.shape, np.uint32),
        wcs=model.meta.wcs,
        var_rnoise=model.var_rnoise,
        var_poisson=model.var_poisson,
        var_flat=model.var_flat,
        exposure_time_s=float(exposure_time),
        group_id=exposure_group_id(model),
        name=model.meta.filename or "",
        start_mjd=float(start),
        end_mjd=float(end),
    )


class ImageListStep:
    """Mixin of the steps whose result is a list of images: provenance is recorded in each.

    A step that finds nothing to do (a single exposure, no sources) calls `nothing_to_do`;
    its outputs then record ``SKIPPED`` instead of ``COMPLETE``. A step that did only part of
    its job (some exposures not aligned) calls `incomplete`: ``INCOMPLETE``. Both log the
    reason as a WARNING (`IrisStep.record_outcome`).
    """

    def nothing_to_do(self, images, reason: str):
        self.record_outcome("SKIPPED", reason)
        return images

    def incomplete(self, images, reason: str):
        self.record_outcome("INCOMPLETE", reason)
        return images

    def finalize_result(self, result, reference_files_used):
        # stpipe calls this once per model of a list result.
        for model in result if isinstance(result, list | tuple) else [result]:
            super().finalize_result(model, reference_files_used)
