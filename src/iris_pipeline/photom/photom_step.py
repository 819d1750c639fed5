"""PhotomStep: flux-calibrate an imager exposure to MJy/sr from the PHOTOM reference."""

from __future__ import annotations

import logging

from ..exceptions import ReferenceFileError
from ..instruments import get_instrument
from ..stpipe import IrisStep
from .photom import ARCSEC2_PER_SR, ab_zeropoint_for_unit_sum, apply_conversion, select_conversion

__all__ = ["PhotomStep"]

log = logging.getLogger(__name__)

CALIBRATED_UNITS = "MJy/sr"


class PhotomStep(IrisStep):
    """Multiply by the filter's PHOTMJSR; set BUNIT, PHOTMJSR, PIXAR_SR/A2 and PHOTZPAB.

    See ``docs/steps/photom.md``.
    """

    class_alias = "photom"
    spec = """
    """
    reference_file_types = ["photom"]

    def process(self, step_input):
        model = self.open_image(step_input, integrations=True)
        if model.meta.bunit_data == CALIBRATED_UNITS:
            raise ReferenceFileError(f"{model.meta.filename}: already flux-calibrated (BUNIT {CALIBRATED_UNITS})")
        reference = self.get_reference_model(model, "photom")
        with reference:
            table = reference.photom_table
            try:
                conversion = select_conversion(
                    table["FILTER"], table["PHOTMJSR"], table["UNCERTAINTY"], table["ZEROPOINT_AB"],
                    model.meta.instrument.filter or "",
                )  # fmt: skip
            except (KeyError, ValueError) as err:
                raise ReferenceFileError(f"{reference.meta.filename}: {err.args[0]}") from None
        detector = get_instrument(model.meta.instrument.name).detectors[model.meta.instrument.detector]
        area_arcsec2 = detector.pixel_area_arcsec2
        apply_conversion(
            conversion.photmjsr, model.data, model.err, model.var_poisson, model.var_rnoise, model.var_flat
        )
        photometry = model.meta.photometry
        photometry.conversion_megajanskys = conversion.photmjsr
        photometry.conversion_uncertainty = conversion.uncertainty
        photometry.pixelarea_arcsecsq = area_arcsec2
        photometry.pixelarea_steradians = area_arcsec2 / ARCSEC2_PER_SR
        photometry.zeropoint_ab = ab_zeropoint_for_unit_sum(photometry.pixelarea_steradians)
        model.meta.bunit_data = CALIBRATED_UNITS
        model.meta.bunit_err = CALIBRATED_UNITS
        log.info("%s: PHOTMJSR %.4g MJy/sr per DN/s (%s)", model.meta.filename, conversion.photmjsr,
                 conversion.filter_name)  # fmt: skip
        return model
