"""SkyMatchStep: match (and subtract) the sky levels of overlapping images."""

from __future__ import annotations

import logging

import numpy as np

from .. import dqflags
from ..resample.drizzle import pixel_map
from ..resample.grid import mosaic_grid, pixel_scale_arcsec
from ..resample.inputs import ImageListStep, open_images
from ..stpipe import IrisStep
from .match import SKY_METHODS, SkyInput, match_sky

__all__ = ["SkyMatchStep"]

log = logging.getLogger(__name__)

UNUSABLE = dqflags.PIXEL["DO_NOT_USE"] | dqflags.PIXEL["NON_SCIENCE"]


class SkyMatchStep(ImageListStep, IrisStep):
    """Find each image's sky offset from its overlaps with the others and subtract it from SCI."""

    class_alias = "skymatch"
    spec = f"""
    skymethod = option({", ".join(repr(m) for m in SKY_METHODS)}, default='global+match')  # what is subtracted
    match_down = boolean(default=True)  # match to the lowest sky (offsets >= 0)
    binning = integer(default=4, min=1)  # input pixels per side of the cells compared between images
    nsigma = float(default=3.0, min=0.5)  # clipping threshold of the medians
    output_use_model = boolean(default=True)  # save each image under its own name with the step's suffix
    """  # noqa: E501

    def process(self, step_input):
        images, _ = open_images(step_input)
        shapes = [image.data.shape for image in images]
        wcs_list = [image.meta.wcs for image in images]
        scale = float(np.median([pixel_scale_arcsec(w, s) for w, s in zip(wcs_list, shapes, strict=True)]))
        grid = mosaic_grid(wcs_list, shapes, scale)
        grid_wcs = grid.to_gwcs()
        inputs = [
            SkyInput(
                image.data,
                (image.dq & UNUSABLE) == 0 if image.dq is not None else np.ones(image.data.shape, bool),
                pixel_map(image.meta.wcs, image.data.shape, grid_wcs),
            )
            for image in images
        ]
        result = match_sky(inputs, grid.shape, self.skymethod, self.match_down, self.binning, self.nsigma)
        for image, sky in zip(images, result.sky, strict=True):
            log.info("skymatch: %s sky %.6g %s subtracted", image.meta.filename, sky, image.meta.bunit_data or "")
            image.data = (image.data - np.float32(sky)).astype(np.float32)
        if len(result.connected_groups) > 1 and self.skymethod != "local":
            log.warning("skymatch: %d groups of images do not overlap one another", len(result.connected_groups))
        return images
