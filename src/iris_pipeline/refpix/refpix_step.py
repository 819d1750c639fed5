"""RefPixStep: subtract the per-read bias drifts measured on the reference pixels."""

from __future__ import annotations

import logging

from ..instruments import get_instrument
from ..stpipe import IrisStep
from .reference_pixels import subtract_reference_pixels

__all__ = ["RefPixStep"]

log = logging.getLogger(__name__)


class RefPixStep(IrisStep):
    """Reference-pixel correction (needs the ``REFERENCE_PIXEL`` flags set by ``dq_init``)."""

    class_alias = "refpix"
    spec = """
    odd_even_columns = boolean(default=True)  # separate drifts for even and odd columns
    use_side_ref_pixels = boolean(default=True)  # also remove the row drift seen by the side columns
    side_smoothing_length = integer(default=11, min=1)  # rows averaged in the side correction
    side_gain = float(default=1.0)  # multiplier of the side correction
    """

    def process(self, step_input):
        ramp = self.open_ramp(step_input)
        instrument = get_instrument(ramp.meta.instrument.name)
        detector = instrument.detectors[ramp.meta.instrument.detector]
        applied = subtract_reference_pixels(
            ramp.data,
            ramp.pixeldq,
            first_column=(ramp.meta.subarray.xstart or 1) - 1,
            channel_width_pix=detector.output_channel_width_pix,
            odd_even_columns=self.odd_even_columns,
            use_side_ref_pixels=self.use_side_ref_pixels,
            side_smoothing_length=self.side_smoothing_length,
            side_gain=self.side_gain,
        )
        if not any(applied.values()):
            log.warning("%s: no reference pixels in this window; nothing corrected", ramp.meta.filename)
        return ramp
