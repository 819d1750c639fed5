"""ResampleStep: drizzle one calibrated image, or many, onto a distortion-free TAN grid (``_i2d``)."""

from __future__ import annotations

import logging

import numpy as np

from ..datamodels import MosaicModel
from ..stpipe import IrisStep
from .drizzle import DEFAULT_GOOD_BITS, drizzle_images
from .grid import check_grid_memory, mosaic_grid, pixel_scale_arcsec
from .inputs import drizzle_input, open_images, product_name, science_images

__all__ = ["ResampleStep", "make_mosaic_model"]

log = logging.getLogger(__name__)


def make_mosaic_model(images, result, grid, product: str, parameters: dict) -> MosaicModel:
    """A `MosaicModel` from the drizzle result, with the first input's observation metadata."""
    mosaic = MosaicModel(result.data.shape)
    mosaic.update(images[0], only="PRIMARY")
    mosaic.data = result.data.astype(np.float32)
    mosaic.wht = result.wht.astype(np.float32)
    if result.con is not None:
        mosaic.con = result.con.astype(np.int32)
    if result.dq is not None:
        mosaic.dq = result.dq.astype(np.uint32)
    for name in ("err", "var_rnoise", "var_poisson", "var_flat"):
        value = getattr(result, name)
        if value is not None:
            setattr(mosaic, name, value.astype(np.float32))
    mosaic.meta.wcs = grid.to_gwcs()
    for key, value in grid.fits_keywords().items():
        setattr(mosaic.meta.wcsinfo, key, value)
    # Tools written for JWST products (jdaviz's Imviz aligning by WCS) read the fiducial point here.
    mosaic.meta.wcsinfo.ra_ref, mosaic.meta.wcsinfo.dec_ref = map(float, grid.crval_deg)
    # One alignment serves every input: its residuals describe the mosaic's astrometry.
    alignment = images[0].meta.alignment.instance
    if alignment:
        mosaic.meta.alignment = dict(alignment)
    detectors = sorted({image.meta.instrument.detector for image in images if image.meta.instrument.detector})
    mosaic.meta.instrument.detector = detectors[0] if len(detectors) == 1 else "MULTIPLE"
    mosaic.meta.bunit_data = images[0].meta.bunit_data or "MJy/sr"
    mosaic.meta.bunit_err = images[0].meta.bunit_err or mosaic.meta.bunit_data
    mosaic.meta.photometry.pixelarea_steradians = grid.pixel_area_steradians()
    mosaic.meta.photometry.pixelarea_arcsecsq = grid.pixel_scale_arcsec**2
    mosaic.meta.exposure.effective_exposure_time = result.exposure_time_s
    starts = [image.meta.exposure.start_time for image in images if image.meta.exposure.start_time is not None]
    ends = [image.meta.exposure.end_time for image in images if image.meta.exposure.end_time is not None]
    if starts:
        mosaic.meta.exposure.start_time = min(starts)
    if ends:
        mosaic.meta.exposure.end_time = max(ends)
    mosaic.meta.resample.pixfrac = parameters["pixfrac"]
    mosaic.meta.resample.kernel = parameters["kernel"]
    mosaic.meta.resample.fillval = str(parameters["fillval"])
    mosaic.meta.resample.weight_type = parameters["weight_type"]
    mosaic.meta.resample.pixel_scale_ratio = result.pixel_scale_ratio
    mosaic.meta.resample.pointings = result.pointings
    mosaic.meta.resample.ninputs = len(images)
    mosaic.meta.filename = f"{product}_i2d.fits"
    return mosaic


class ResampleStep(IrisStep):
    """Drizzle calibrated images onto one TAN grid: one exposure -> its ``_i2d``, several -> a mosaic.

    The output grid is North-up (or ``rotation`` degrees), its pixel is ``pixel_scale`` arcsec or
    ``pixel_scale_ratio`` times the input pixel, and it just covers every input footprint.
    """

    class_alias = "resample"
    spec = """
    pixfrac = float(default=1.0, min=0, max=1)  # linear fraction of an input pixel its flux is dropped onto
    kernel = option('square', 'point', 'turbo', 'gaussian', 'lanczos2', 'lanczos3', default='square')  # drizzle kernel
    fillval = string(default='NaN')  # value of output pixels without input
    weight_type = option('ivm', 'exptime', default='ivm')  # weighting of the inputs
    pixel_scale_ratio = float(default=1.0, min=0)  # output pixel over input pixel (ignored if pixel_scale is set)
    pixel_scale = float(default=None, min=0)  # output pixel side, arcsec
    rotation = float(default=None)  # position angle of output +y, deg E of N (default 0: North up)
    crval = float_list(min=2, max=2, default=None)  # tangent point RA, Dec (default: centre of the inputs)
    output_shape = int_list(min=2, max=2, default=None)  # output nx, ny centred on crval (default: cover all inputs)
    good_bits = string(default='~DO_NOT_USE+NON_SCIENCE')  # DQ flags still usable
    output_product = string(default=None)  # product name (default: from the association or the inputs)
    allowed_memory = float(default=None, min=0)  # fraction of the available memory the output may use (default: env DMODEL_ALLOWED_MEMORY, else 0.5)
    output_use_model = boolean(default=True)  # save as <product>_i2d.fits, not after the input file
    """  # noqa: E501

    def default_suffix(self):
        return "i2d"

    def output_grid(self, images):
        """The output `TanGrid` that this step's parameters define for ``images``."""
        shapes = [image.data.shape for image in images]
        wcs_list = [image.meta.wcs for image in images]
        input_scale = float(np.median([pixel_scale_arcsec(w, s) for w, s in zip(wcs_list, shapes, strict=True)]))
        scale = self.pixel_scale or input_scale * self.pixel_scale_ratio
        shape = tuple(self.output_shape[::-1]) if self.output_shape else None
        return mosaic_grid(wcs_list, shapes, scale, self.rotation or 0.0, self.crval, shape)

    def process(self, step_input):
        images, product = open_images(step_input)
        images = science_images(images, "resample")
        product = self.output_product or product or product_name(images)
        grid = self.output_grid(images)
        check_grid_memory(grid, len(images), self.allowed_memory, "resample")
        scale = grid.pixel_scale_arcsec
        log.info("resample: %d images onto a %d x %d grid of %.5f arcsec pixels", len(images), *grid.shape[::-1], scale)
        parameters = {
            "pixfrac": self.pixfrac,
            "kernel": self.kernel,
            "fillval": self.fillval,
            "weight_type": self.weight_type,
        }
        result = drizzle_images(
            [drizzle_input(image) for image in images],
            grid,
            good_bits=self.good_bits or DEFAULT_GOOD_BITS,
            **parameters,
        )
        return make_mosaic_model(images, result, grid, product, parameters)
