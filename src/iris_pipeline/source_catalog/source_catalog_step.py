"""SourceCatalogStep: detect sources in a mosaic and measure them (``_cat.ecsv``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import datamodels, dqflags
from ..datamodels import MosaicModel
from ..exceptions import InputFileError
from ..lib.atomic import atomic_path
from ..stpipe import IrisStep
from .catalog import GROWTH_MIN_SNR, GROWTH_MIN_STARS, make_source_catalog

__all__ = ["SourceCatalogStep", "write_catalog"]

log = logging.getLogger(__name__)


def write_catalog(catalog, path) -> str:
    """Write ``catalog`` as ECSV atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        catalog.write(tmp, format="ascii.ecsv", overwrite=True)
    return str(path)


def _parse_radii(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.replace(",", " ").split())


class SourceCatalogStep(IrisStep):
    """Segmentation detection, windowed centroids, sky positions and aperture photometry in Jy and AB mag."""

    class_alias = "source_catalog"
    spec = """
    snr_threshold = float(default=5.0, min=0)  # detection threshold per pixel of the smoothed image, in ERR
    npixels = integer(default=5, min=1)  # fewest connected pixels of a source
    deblend = boolean(default=True)  # split blended sources
    kernel_fwhm = float(default=None, min=0.5)  # PSF FWHM in mosaic pixels (default: measured)
    aperture_radii = string(default='1.0 2.0')  # aperture radii, in FWHM; the largest is the total-flux reference
    aperture_correction = boolean(default=True)  # correct to total flux by the stars' curve of growth
    annulus = string(default='7.0 10.0')  # inner and outer background-annulus radii, in FWHM
    fail_on_incomplete = boolean(default=False)  # fail (instead of a WARNING and S_SRCCAT=INCOMPLETE) when the aperture correction cannot be measured
    """  # noqa: E501

    def process(self, step_input):
        mosaic = datamodels.open(step_input)
        if not isinstance(mosaic, MosaicModel):
            raise InputFileError(
                mosaic.meta.filename,
                f"source_catalog needs a resampled image (MosaicModel), not {mosaic.meta.model_type}",
            )
        annulus = _parse_radii(self.annulus)
        if len(annulus) != 2 or annulus[0] >= annulus[1]:
            raise ValueError(f"source_catalog: annulus needs two increasing radii, got {self.annulus!r}")
        bad = ~np.isfinite(mosaic.data) | (mosaic.wht <= 0)
        if mosaic.dq is not None:
            bad |= (mosaic.dq & dqflags.PIXEL["NON_SCIENCE"]) > 0
        catalog, fwhm = make_source_catalog(
            mosaic.data,
            mosaic.err,
            mosaic.meta.wcs,
            mosaic.meta.photometry.pixelarea_steradians,
            bad=bad,
            fwhm_pix=self.kernel_fwhm,
            snr_threshold=self.snr_threshold,
            npixels=self.npixels,
            deblend=self.deblend,
            aperture_radii_fwhm=_parse_radii(self.aperture_radii),
            aperture_correction=self.aperture_correction,
            annulus_fwhm=annulus,
        )
        catalog.meta["mosaic"] = mosaic.meta.filename
        log.info(
            "source_catalog: %d sources, FWHM %.2f pixels, aperture correction %.4f from %d stars",
            len(catalog),
            fwhm,
            catalog.meta["aperture_correction"],
            catalog.meta["aperture_correction_stars"],
        )
        if self.aperture_correction and len(catalog) and not catalog.meta["aperture_correction_measured"]:
            message = (
                f"aperture correction not measured: fewer than {GROWTH_MIN_STARS} isolated stars with S/N > "
                f"{GROWTH_MIN_SNR:g} and a clean curve of growth"
                "; aper_total_flux is the "
                f"{catalog.meta['aperture_correction_radius_fwhm']:g}-FWHM aperture's flux, not corrected to total"
            )
            if self.fail_on_incomplete:
                raise InputFileError(mosaic.meta.filename, f"source_catalog: {message}")
            self.record_outcome("INCOMPLETE", f"{mosaic.meta.filename}: {message}")
        status = self._outcome or "COMPLETE"
        mosaic.meta.cal_step.source_catalog = status
        catalog.meta["S_SRCCAT"] = status
        if self.save_results:
            stem = Path(mosaic.meta.filename or "mosaic_i2d.fits").stem.removesuffix("_i2d")
            written = write_catalog(catalog, Path(self.output_dir or ".") / f"{stem}_cat.ecsv")
            log.info("Saved catalog in %s", written)
        return catalog
