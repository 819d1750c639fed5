"""AssignWcsStep: attach the imager gWCS, its FITS TAN-SIP approximation and the pixel-area map."""

from __future__ import annotations

import logging

from ..exceptions import InputFileError, ReferenceFileError
from ..instruments import get_instrument
from ..stpipe import IrisStep
from .imager_wcs import DistortionPolynomial, ImagerPointing, imager_wcs, pixel_area_ratio, sip_header_cards

__all__ = ["AssignWcsStep"]

log = logging.getLogger(__name__)

POINTING_KEYWORDS = {"ra_ref": "RA_REF", "dec_ref": "DEC_REF", "pa_aper": "PA_APER"}


def add_header_cards(model, extension: str, cards) -> None:
    """Put FITS cards in an extension's header through the model's ``extra_fits`` (replacing same keys)."""
    extra = model.extra_fits._instance if "extra_fits" in model.instance else {}
    header = [card for card in extra.get(extension, {}).get("header", []) if card[0] not in {c[0] for c in cards}]
    extra.setdefault(extension, {})["header"] = header + [list(card) for card in cards]
    model.extra_fits = extra


class AssignWcsStep(IrisStep):
    """Attach the exposure's WCS from its pointing keywords and the DISTORTION reference.

    Sets ``meta.wcs`` (gWCS: ``detector`` -> ``focal_plane`` -> ``world``), the TAN-SIP keywords
    of the SCI header, and the ``AREA`` array (pixel area relative to the nominal pixel). See
    ``docs/steps/assign_wcs.md``.
    """

    class_alias = "assign_wcs"
    spec = """
    sip_max_pix_error = float(default=0.01, min=0)  # largest error of the FITS TAN-SIP approximation (pixels)
    """  # noqa: E501
    reference_file_types = ["distortion"]

    def process(self, step_input):
        model = self.open_image(step_input, integrations=True)
        pointing = model.meta.pointing
        missing = [key for attr, key in POINTING_KEYWORDS.items() if getattr(pointing, attr, None) is None]
        if missing:
            raise InputFileError(model.meta.filename, f"no {', '.join(missing)} keyword: cannot assign a WCS")
        reference = self.get_reference_model(model, "distortion")
        with reference:
            table = reference.distortion_table
            try:
                polynomial = DistortionPolynomial.from_table(
                    table["AXIS"], table["XPOW"], table["YPOW"], table["COEFF"],
                    reference.meta.nx_full, reference.meta.ny_full,
                )  # fmt: skip
            except (ValueError, TypeError, KeyError) as err:
                raise ReferenceFileError(f"{reference.meta.filename}: unusable DISTORTION table ({err})") from None
        shape = model.data.shape[-2:]  # one WCS for all integrations of a _rateints cube
        origin = ((model.meta.subarray.xstart or 1) - 1, (model.meta.subarray.ystart or 1) - 1)
        wcs, inverse_error = imager_wcs(
            polynomial, ImagerPointing(pointing.ra_ref, pointing.dec_ref, pointing.pa_aper), shape, origin
        )
        log.info("%s: inverse distortion accurate to %.1e pixel", model.meta.filename, inverse_error)
        model.meta.wcs = wcs
        detector = get_instrument(model.meta.instrument.name).detectors[model.meta.instrument.detector]
        model.area = pixel_area_ratio(polynomial, shape, origin, detector.pixel_area_arcsec2)
        add_header_cards(model, "SCI", sip_header_cards(wcs, shape, self.sip_max_pix_error))
        return model
