"""RefPixStep: subtract the per-read bias drifts measured on the reference pixels."""

from __future__ import annotations

import logging

from ..instruments import get_instrument
from ..streaming import ExposureContext, Stage1Unit
from ..streaming.step import Stage1Step
from .reference_pixels import apply_reference_offsets, measure_reference_offsets

__all__ = ["RefPixStep", "RefPixUnit"]

log = logging.getLogger(__name__)


class RefPixUnit(Stage1Unit):
    """Measures the drifts of each integration on its reference pixels, then subtracts them from blocks.

    The measurement reads the input integration before its blocks are corrected: only the
    superbias (``context.subtracted_bias_dn``) may be subtracted earlier in the same pass. The
    reference pixels to use are those of the pixel DQ as it stands when the unit is prepared, so
    that flags added by later steps' references do not change them.
    """

    def __init__(self, context: ExposureContext, channel_width_pix: int, options: dict):
        self.context = context
        self.pixeldq = context.pixeldq.copy()
        self.channel_width_pix = channel_width_pix
        self.options = options
        self.offsets = None
        self.applied = {"rows": False, "columns": False}

    def begin_integration(self, reads, data_offset):
        self.offsets = measure_reference_offsets(
            reads, self.pixeldq, self.context.first_column, self.channel_width_pix,
            bias_dn=self.context.subtracted_bias_dn, data_offset=data_offset, **self.options,
        )  # fmt: skip
        self.applied = self.offsets.applied

    def apply_block(self, block_dn, groupdq, rows):
        apply_reference_offsets(block_dn, self.offsets, first_row=rows.start)


class RefPixStep(Stage1Step):
    """Reference-pixel correction (needs the ``REFERENCE_PIXEL`` flags set by ``dq_init``)."""

    class_alias = "refpix"
    spec = """
    odd_even_columns = boolean(default=True)  # separate drifts for even and odd columns
    use_side_ref_pixels = boolean(default=True)  # also remove the row drift seen by the side columns
    side_smoothing_length = integer(default=11, min=1)  # rows averaged in the side correction
    side_gain = float(default=1.0)  # multiplier of the side correction
    """

    def stage1_unit(self, model, context: ExposureContext) -> RefPixUnit:
        detector = get_instrument(model.meta.instrument.name).detectors[model.meta.instrument.detector]
        options = {
            "odd_even_columns": self.odd_even_columns,
            "use_side_ref_pixels": self.use_side_ref_pixels,
            "side_smoothing_length": self.side_smoothing_length,
            "side_gain": self.side_gain,
        }
        return RefPixUnit(context, detector.output_channel_width_pix, options)

    def report(self, ramp, unit: RefPixUnit) -> None:
        if not any(unit.applied.values()):
            self.record_outcome("SKIPPED", f"{ramp.meta.filename}: no reference pixels in this window; nothing corrected")
