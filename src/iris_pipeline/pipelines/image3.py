"""Stage 3 imaging: calibrated dithered exposures -> mosaic (``_i2d``), source catalog (``_cat``), preview."""

from __future__ import annotations

import logging
from pathlib import Path

from ..outlier_detection import OutlierDetectionStep
from ..resample import ResampleStep
from ..resample.grid import check_grid_memory
from ..resample.inputs import open_images, product_name, science_images
from ..skymatch import SkyMatchStep
from ..source_catalog import SourceCatalogStep, write_catalog
from ..stpipe import IrisPipeline
from ..tweakreg import TweakRegStep

__all__ = ["Image3Pipeline"]

log = logging.getLogger(__name__)


class Image3Pipeline(IrisPipeline):
    """Combine the calibrated exposures of one product (JWST's calwebb_image3).

    Steps, in order: ``tweakreg`` (relative alignment) -> ``skymatch`` -> ``outlier_detection``
    -> ``resample`` (drizzle) -> ``source_catalog``. Input: an association JSON (the ``science``
    members of its first product) or a list of ``_cal`` files. Products, in ``output_dir``:
    ``<product>_i2d.fits``, ``<product>_cat.ecsv``, ``<product>_i2d.png`` (``quicklook``) and,
    with ``save_crf``, each input with its outlier flags as ``<input>_crf.fits``.
    """

    class_alias = "image3"
    spec = """
    save_crf = boolean(default=False)  # save each input with its outlier DQ flags (_crf)
    quicklook = boolean(default=True)  # write a PNG preview of the mosaic with the catalog
    """  # noqa: E501
    step_defs = {
        "tweakreg": TweakRegStep,
        "skymatch": SkyMatchStep,
        "outlier_detection": OutlierDetectionStep,
        "resample": ResampleStep,
        "source_catalog": SourceCatalogStep,
    }

    def process(self, step_input):
        images, product = open_images(step_input)
        images = science_images(images, "image3")
        product = self.resample.output_product or product or product_name(images)
        log.info("image3: product %s from %d images", product, len(images))
        # Before any work: a grid too large for memory (members far apart) fails in a second.
        check_grid_memory(self.resample.output_grid(images), len(images), self.resample.allowed_memory, "image3")
        images = self.tweakreg.run(images)
        images = self.skymatch.run(images)
        if self.outlier_detection.crval is None and self.outlier_detection.output_shape is None:
            # The median is computed on the mosaic's grid unless configured otherwise.
            self.outlier_detection.crval = self.resample.crval
            self.outlier_detection.output_shape = self.resample.output_shape
        images = self.outlier_detection.run(images)
        output_dir = Path(self.output_dir or ".")
        if self.save_crf:
            for image in images:
                stem = Path(image.meta.filename or "image_cal.fits").stem.removesuffix("_cal")
                image.save(output_dir / f"{stem}_crf.fits")
        self.resample.output_product = product
        mosaic = self.resample.run(images)
        if isinstance(step_input, str) and step_input.lower().endswith(".json"):
            mosaic.meta.association.name = Path(step_input).name
        catalog = self.source_catalog.run(mosaic)
        if self.save_results:
            i2d_path = Path(mosaic.save(output_dir / f"{product}_i2d.fits"))
            catalog_path = write_catalog(catalog, output_dir / f"{product}_cat.ecsv")
            log.info("Saved %s and %s", i2d_path, catalog_path)
            if self.quicklook:
                from ..quicklook import write_mosaic_preview

                write_mosaic_preview(i2d_path, output_dir / f"{product}_i2d.png", catalog=catalog)
            # The products are written above (the preview needs the saved mosaic); stpipe must not
            # write the mosaic a second time under its own name.
            self.save_results = False
        return mosaic
