"""TweakRegStep: relative alignment of the exposures of a stage-3 imaging product."""

from __future__ import annotations

import logging

import numpy as np

from .. import dqflags
from ..resample.grid import pixel_scale_arcsec
from ..resample.inputs import ImageListStep, exposure_group_id, open_images
from ..stpipe import IrisStep
from .align import AlignmentError, ExposureSources, apply_sky_correction, detect_point_sources, relative_align

__all__ = ["TweakRegStep"]

log = logging.getLogger(__name__)

UNUSABLE = dqflags.PIXEL["DO_NOT_USE"] | dqflags.PIXEL["NON_SCIENCE"]


class TweakRegStep(ImageListStep, IrisStep):
    """Detect point sources in every image, match them between exposures, correct each exposure's WCS.

    All detectors of one exposure share one correction (a shift and, by default, a rotation on
    the sky), so that sources seen by different detectors in different exposures tie the whole
    mosaic together.
    """

    class_alias = "tweakreg"
    spec = """
    snr_threshold = float(default=10.0, min=0)  # detection threshold, in background sigma
    kernel_fwhm = float(default=3.0, min=0.5)  # FWHM of the DAOFIND kernel, input pixels
    brightest = integer(default=200, min=1)  # brightest sources kept per image
    searchrad = float(default=0.1, min=0)  # search radius of a match, arcsec
    separation = float(default=0.02, min=0)  # minimum separation of sources in a catalog, arcsec
    tolerance = float(default=0.008, min=0)  # matching tolerance after the initial offset, arcsec
    use2dhist = boolean(default=True)  # find the initial offset with a 2-D histogram of offsets
    fitgeometry = option('shift', 'rshift', 'rscale', 'general', default='rshift')  # fitted transformation
    minobj = integer(default=5, min=2)  # fewest matched sources to correct an exposure
    nclip = integer(default=3, min=0)  # clipping iterations of the fit
    sigma = float(default=3.0, min=0)  # clipping threshold of the fit, in RMS
    enforce_user_order = boolean(default=False)  # first exposure is the reference (else the one with most sources)
    output_use_model = boolean(default=True)  # save each image under its own name with the step's suffix
    """  # noqa: E501

    def process(self, step_input):
        images, _ = open_images(step_input)
        groups: dict[str, list[int]] = {}
        for index, image in enumerate(images):
            groups.setdefault(exposure_group_id(image), []).append(index)
        if len(groups) < 2:
            log.warning("tweakreg: a single exposure; nothing to align (step skipped)")
            return self.nothing_to_do(images)
        exposures = []
        for group_id, members in groups.items():
            catalogs = [
                detect_point_sources(
                    images[i].data,
                    (images[i].dq & UNUSABLE) > 0 if images[i].dq is not None else None,
                    self.kernel_fwhm,
                    self.snr_threshold,
                    self.brightest,
                )
                for i in members
            ]
            exposures.append(ExposureSources(group_id, catalogs, [images[i].meta.wcs for i in members]))
            log.info("tweakreg: exposure %s: %d sources", group_id, sum(len(c) for c in catalogs))
        scale = float(np.median([pixel_scale_arcsec(image.meta.wcs, image.data.shape) for image in images]))
        try:
            corrections = relative_align(
                exposures,
                searchrad_arcsec=self.searchrad,
                separation_arcsec=self.separation,
                tolerance_arcsec=self.tolerance,
                use2dhist=self.use2dhist,
                fitgeometry=self.fitgeometry,
                minobj=self.minobj,
                nclip=self.nclip,
                sigma=self.sigma,
                pixel_scale_arcsec=scale,
                enforce_user_order=self.enforce_user_order,
            )
        except AlignmentError as error:
            log.warning("tweakreg: %s (step skipped)", error)
            return self.nothing_to_do(images)
        for correction, members in zip(corrections, groups.values(), strict=True):
            for i in members:
                images[i].meta.wcs = apply_sky_correction(images[i].meta.wcs, correction)
        return images
