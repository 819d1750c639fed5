"""BackgroundStep: subtract the sky, from associated sky exposures or from the frame itself."""

from __future__ import annotations

import logging

import numpy as np

from ..exceptions import InputFileError
from ..stpipe import IrisStep
from .background import self_background, sky_frame_background

__all__ = ["BackgroundStep"]

log = logging.getLogger(__name__)


class BackgroundStep(IrisStep):
    """Subtract a background; see ``docs/steps/background.md``.

    ``step.run(science, skies)``: with sky exposures (models or files, calibrated to the same
    level as the science, i.e. flat-fielded when the science is), their combination matched by
    ``sky_match``; without, a 2-D background of the science frame with its sources masked.
    """

    class_alias = "background"
    spec = """
    sky_match = option('scale', 'offset', 'none', default='scale')  # how sky frames are matched to the science level
    box_size = integer(default=64, min=8)  # self background: box side (pixels) of the sigma-clipped medians
    nsigma = float(default=3.0, min=0.5)  # sources: pixels this many RMS above the background
    mask_grow_pix = integer(default=2, min=0)  # sources: mask grown by this many pixels
    """  # noqa: E501

    def process(self, step_input, sky_inputs=None):
        model = self.open_image(step_input, integrations=True)
        if model.data.ndim == 3:
            # A time series (_rateints): the background of each integration is measured where
            # it matters, in an annulus about each star, by tso3.
            skies = "sky exposures not used" if sky_inputs else "no sky exposure"
            self.record_outcome("SKIPPED", f"{model.meta.filename}: per-integration exposure; background left to "
                                f"tso3's local annulus ({skies})", by_design=True)  # fmt: skip
            return model
        skies = [self.open_image(sky) for sky in (sky_inputs or [])]
        for sky in skies:
            if sky.data.shape != model.data.shape or sky.meta.instrument.detector != model.meta.instrument.detector:
                raise InputFileError(
                    sky.meta.filename,
                    f"sky exposure {sky.meta.instrument.detector} {sky.data.shape} does not match the science "
                    f"exposure {model.meta.filename} ({model.meta.instrument.detector} {model.data.shape})",
                )
        try:
            if skies:
                estimate = sky_frame_background(
                    model.data, model.dq, [s.data for s in skies], [s.dq for s in skies],
                    [s.var_poisson for s in skies], [s.var_rnoise for s in skies],
                    self.sky_match, self.nsigma, self.mask_grow_pix,
                )  # fmt: skip
            else:
                estimate = self_background(model.data, model.dq, self.box_size, self.nsigma, self.mask_grow_pix)
        except ValueError as err:
            raise InputFileError(model.meta.filename, f"background: {err}") from None
        model.data -= estimate.background
        if estimate.variance_poisson is not None:
            model.var_poisson += estimate.variance_poisson
            model.var_rnoise += estimate.variance_rnoise
            np.sqrt(model.var_poisson + model.var_rnoise + model.var_flat, out=model.err)
        model.meta.background.level = estimate.level
        model.meta.background.method = estimate.method
        model.meta.background.subtracted = True
        log.info("%s: background %s, level %.4g %s", model.meta.filename, estimate.method, estimate.level,
                 model.meta.bunit_data or "")  # fmt: skip
        return model
