"""OutlierDetectionStep: flag cosmic-ray residuals and other outliers of dithered images."""

from __future__ import annotations

import logging

import numpy as np

from .. import dqflags
from ..resample.drizzle import DEFAULT_GOOD_BITS
from ..resample.grid import check_grid_memory, mosaic_grid, pixel_scale_arcsec
from ..resample.inputs import ImageListStep, drizzle_input, open_images
from ..stpipe import IrisStep
from .outliers import detect_outliers

__all__ = ["OutlierDetectionStep"]

log = logging.getLogger(__name__)

OUTLIER_FLAGS = np.uint32(dqflags.PIXEL["OUTLIER"] | dqflags.PIXEL["DO_NOT_USE"])


def _pair(text: str, name: str) -> tuple[float, float]:
    values = [float(v) for v in text.replace(",", " ").split()]
    if len(values) != 2:
        raise ValueError(f"outlier_detection: {name} needs two numbers, got {text!r}")
    return values[0], values[1]


class OutlierDetectionStep(ImageListStep, IrisStep):
    """Median of the single-exposure drizzled images, blotted back; flag pixels that disagree.

    Flagged pixels get ``OUTLIER`` and ``DO_NOT_USE`` in DQ (JWST's convention), so that
    resampling ignores them. Products of this step alone are the ``_crf`` files.
    """

    class_alias = "outlier_detection"
    spec = """
    snr = string(default='5.0 4.0')  # thresholds in ERR before and after smoothing the first mask
    scale = string(default='1.2 0.7')  # multipliers of the blotted median's derivative
    maskpt = float(default=0.7, min=0, max=1)  # fraction of the typical weight needed to enter the median
    backg = float(default=0.0)  # background left in the data
    pixfrac = float(default=1.0, min=0, max=1)  # drizzle pixfrac of the single-exposure images
    kernel = string(default='square')  # drizzle kernel of the single-exposure images
    weight_type = option('ivm', 'exptime', default='ivm')  # drizzle weighting
    good_bits = string(default='~DO_NOT_USE+NON_SCIENCE')  # DQ flags still usable
    crval = float_list(min=2, max=2, default=None)  # tangent point of the median grid (default: centre of the inputs)
    output_shape = int_list(min=2, max=2, default=None)  # median grid nx, ny centred on crval (default: cover all inputs)
    allowed_memory = float(default=None, min=0)  # fraction of the available memory the median grid may use (default: env DMODEL_ALLOWED_MEMORY, else 0.5)
    output_use_model = boolean(default=True)  # save each image under its own name with the step's suffix
    """  # noqa: E501

    def default_suffix(self):
        return "crf"

    def process(self, step_input):
        images, _ = open_images(step_input)
        inputs = [drizzle_input(image) for image in images]
        if len({item.group_id for item in inputs}) < 2:
            return self.nothing_to_do(images, "a single exposure; no median to compare with")
        shapes = [image.data.shape for image in images]
        wcs_list = [image.meta.wcs for image in images]
        scale = float(np.median([pixel_scale_arcsec(w, s) for w, s in zip(wcs_list, shapes, strict=True)]))
        shape = tuple(self.output_shape[::-1]) if self.output_shape else None
        grid = mosaic_grid(wcs_list, shapes, scale, 0.0, self.crval, shape)
        check_grid_memory(grid, len(images), self.allowed_memory, "outlier_detection")
        result = detect_outliers(
            inputs,
            [image.err if image.err is not None else np.zeros(image.data.shape, np.float32) for image in images],
            grid,
            snr=_pair(self.snr, "snr"),
            scale=_pair(self.scale, "scale"),
            maskpt=self.maskpt,
            backg=self.backg,
            pixfrac=self.pixfrac,
            kernel=self.kernel,
            weight_type=self.weight_type,
            good_bits=self.good_bits or DEFAULT_GOOD_BITS,
        )
        for image, mask in zip(images, result.masks, strict=True):
            image.dq = image.dq | np.where(mask, OUTLIER_FLAGS, np.uint32(0))
            log.info("outlier_detection: %s: %d pixels flagged", image.meta.filename, int(np.count_nonzero(mask)))
        return images
