"""TweakRegStep: alignment of the exposures of a stage-3 imaging product (relative, optionally absolute)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from astropy.table import Table

from .. import dqflags
from ..exceptions import InputFileError, IrisPipelineError
from ..resample.grid import pixel_scale_arcsec
from ..resample.inputs import ImageListStep, exposure_group_id, open_images
from ..stpipe import IrisStep
from .align import AlignmentError, ExposureSources, apply_sky_correction, detect_point_sources, relative_align

__all__ = ["AlignmentFailedError", "TweakRegStep", "read_reference_catalog"]

log = logging.getLogger(__name__)

UNUSABLE = dqflags.PIXEL["DO_NOT_USE"] | dqflags.PIXEL["NON_SCIENCE"]
RA_COLUMNS = ("ra", "RA", "RA_ICRS", "RAJ2000", "ra_icrs")
DEC_COLUMNS = ("dec", "DEC", "Dec", "DE_ICRS", "DEJ2000", "dec_icrs")


class AlignmentFailedError(IrisPipelineError):
    """Some exposures could not be aligned and the step was asked to fail (``fail_on_unaligned``)."""


def read_reference_catalog(path) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec (ICRS degrees) of a reference catalog file (ECSV, FITS table, VOTable...).

    The columns are ``ra``/``dec`` (Gaia's names) or ``RA``/``DEC``, ``RA_ICRS``/``DE_ICRS``,
    ``RAJ2000``/``DEJ2000``; in degrees or with angle units. Proper motions are not applied: the
    catalog should be at the epoch of the observation.
    """
    try:
        table = Table.read(path)
    except (OSError, ValueError) as err:
        raise InputFileError(path, f"unreadable reference catalog ({err})") from None
    ra_name = next((name for name in RA_COLUMNS if name in table.colnames), None)
    dec_name = next((name for name in DEC_COLUMNS if name in table.colnames), None)
    if ra_name is None or dec_name is None:
        raise InputFileError(path, f"reference catalog without RA/Dec columns (has {', '.join(table.colnames[:8])})")
    ra, dec = (
        np.asarray(column.quantity.to_value("deg") if column.unit else column, float)
        for column in (table[ra_name], table[dec_name])
    )
    good = np.isfinite(ra) & np.isfinite(dec)
    if not np.any(good):
        raise InputFileError(path, "reference catalog has no valid RA/Dec")
    return np.asarray(ra, float)[good], np.asarray(dec, float)[good]


class TweakRegStep(ImageListStep, IrisStep):
    """Detect point sources in every image, match them between exposures, correct each exposure's WCS.

    All detectors of one exposure share one correction (a shift and, by default, a rotation on
    the sky), fitted with those of all other exposures in one least-squares fit over every
    matched pair, so that sources seen by different detectors in different exposures tie the
    whole mosaic together and the result does not depend on the input order. With
    ``abs_refcat`` the exposures are tied to a reference catalog (absolute astrometry).
    Exposures that could not be aligned are logged as WARNINGs and make the step
    ``INCOMPLETE`` (or fail, with ``fail_on_unaligned``).
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
    minobj = integer(default=5, min=2)  # fewest matched sources that tie two exposures
    nclip = integer(default=3, min=0)  # clipping iterations of the fit
    sigma = float(default=3.0, min=0)  # clipping threshold of the fit, in RMS
    enforce_user_order = boolean(default=False)  # first exposure is the reference (else the one with most sources)
    abs_refcat = string(default=None)  # reference catalog file (ECSV/FITS with RA/Dec, e.g. a Gaia export) for absolute astrometry
    fail_on_unaligned = boolean(default=False)  # fail (instead of continuing with a WARNING) when an exposure cannot be aligned
    output_use_model = boolean(default=True)  # save each image under its own name with the step's suffix
    """  # noqa: E501

    #: The last run's `AlignmentResult` (None when the step had nothing to align).
    alignment = None

    def process(self, step_input):
        images, _ = open_images(step_input)
        self.alignment = None
        reference_catalog = read_reference_catalog(self.abs_refcat) if self.abs_refcat else None
        groups: dict[str, list[int]] = {}
        for index, image in enumerate(images):
            groups.setdefault(exposure_group_id(image), []).append(index)
        if len(groups) < 2 and reference_catalog is None:
            return self.nothing_to_do(images, "a single exposure; nothing to align")
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
            names = "+".join(str(images[i].meta.filename) for i in members)
            exposures.append(ExposureSources(names, catalogs, [images[i].meta.wcs for i in members]))
            log.info("tweakreg: exposure %s (%s): %d sources", group_id, names, sum(len(c) for c in catalogs))
        scale = float(np.median([pixel_scale_arcsec(image.meta.wcs, image.data.shape) for image in images]))
        try:
            alignment = relative_align(
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
                reference_catalog=reference_catalog,
            )
        except AlignmentError as error:
            if self.fail_on_unaligned:
                raise AlignmentFailedError(f"tweakreg: {error}") from None
            return self.nothing_to_do(images, f"{error}: no exposure aligned, every WCS left unchanged")
        self.alignment = alignment
        for correction, members, aligned in zip(alignment.corrections, groups.values(), alignment.aligned, strict=True):
            if aligned:
                for i in members:
                    images[i].meta.wcs = apply_sky_correction(images[i].meta.wcs, correction)
        log.info("tweakreg: reference %s, residual RMS %.4f arcsec", alignment.reference, alignment.rms_arcsec)
        # An RMS without matched pairs is NaN, which a FITS header cannot hold: it is left out.
        for image in images:
            if np.isfinite(alignment.rms_arcsec):
                image.meta.alignment.relative_rms_arcsec = float(alignment.rms_arcsec)
            if reference_catalog is not None:
                image.meta.alignment.refcat = Path(self.abs_refcat).name
                image.meta.alignment.refcat_matches = int(alignment.reference_matches)
                if np.isfinite(alignment.reference_rms_arcsec):
                    image.meta.alignment.refcat_rms_arcsec = float(alignment.reference_rms_arcsec)
        if reference_catalog is not None:
            log.info(
                "tweakreg: %d sources matched to %s, RMS %.4f arcsec",
                alignment.reference_matches,
                Path(self.abs_refcat).name,
                alignment.reference_rms_arcsec,
            )
        failed = alignment.unaligned
        for index in failed:
            log.warning(
                "tweakreg: exposure %s NOT ALIGNED (%s): its WCS is left unchanged",
                exposures[index].name,
                alignment.reasons[index],
            )
        if failed:
            message = f"{len(failed)} of {len(exposures)} exposures could not be aligned"
            if self.fail_on_unaligned:
                raise AlignmentFailedError(f"tweakreg: {message} (first: {exposures[failed[0]].name}: {alignment.reasons[failed[0]]})")
            return self.incomplete(images, message)
        return images
