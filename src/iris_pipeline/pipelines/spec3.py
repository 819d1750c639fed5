"""Stage 3 IFS: dithered ``_s3d`` cubes of one target -> combined cube, point-source spectra, source list."""

from __future__ import annotations

import logging
from pathlib import Path

from .. import datamodels
from ..ifs import CubeAlignStep, CubeCombineStep, CubeOutlierDetectionStep, CubeSkyMatchStep, IFSExtract1DStep
from ..ifs.spec3_steps import open_cubes
from ..lib.atomic import atomic_path
from ..stpipe import IrisPipeline
from ..stpipe.base import remove_known_suffix
from .spec2 import Spec2Pipeline

__all__ = ["Spec3Pipeline"]

log = logging.getLogger(__name__)


class Spec3Pipeline(IrisPipeline):
    """Combine the dithered cubes of one product (JWST's calwebb_spec3 for IFU data).

    Steps, in order: ``cube_align`` (relative alignment on the white-light images) ->
    ``cube_skymatch`` -> ``cube_outlier_detection`` -> ``cube_combine`` (3-D drizzle) ->
    ``ifs_extract_1d``. Input: an association JSON (the ``science`` members of its first product:
    ``_s3d`` cubes, or rate files that spec2 reduces first) or a list of cubes. Products, in
    ``output_dir``: ``<product>_s3d.fits``, ``<product>_x1d.fits``, ``<product>_cat.ecsv`` (the
    source list) and with ``quicklook`` ``<product>_s3d.png`` (white light with apertures) and
    ``<product>_x1d.png`` (spectra with errors).
    """

    class_alias = "spec3"
    spec = """
    quicklook = boolean(default=True)  # write the white-light image with apertures and the spectra as PNG
    """  # noqa: E501
    step_defs = {
        "cube_align": CubeAlignStep,
        "cube_skymatch": CubeSkyMatchStep,
        "cube_outlier_detection": CubeOutlierDetectionStep,
        "cube_combine": CubeCombineStep,
        "ifs_extract_1d": IFSExtract1DStep,
    }

    def process(self, step_input):
        models, product = open_cubes(step_input)
        cubes = [self._as_cube(model) for model in models]
        if product is None:
            product, _ = remove_known_suffix(Path(cubes[0].meta.filename or "spec3_s3d.fits").stem)
        log.info("spec3: product %s from %d cubes", product, len(cubes))
        cubes = self.cube_align.run(cubes)
        cubes = self.cube_skymatch.run(cubes)
        cubes = self.cube_outlier_detection.run(cubes)
        combined = self.cube_combine.run(cubes)
        combined.meta.filename = f"{product}_s3d.fits"
        if isinstance(step_input, str) and step_input.lower().endswith(".json"):
            combined.meta.association.name = Path(step_input).name
        spectra = self.ifs_extract_1d.run(combined, getattr(self.cube_combine, "combination", None))
        spectra.meta.filename = f"{product}_x1d.fits"
        self.spectra, self.sources = spectra, self.ifs_extract_1d.sources
        if self.save_results:
            self._write_products(combined, spectra, self.ifs_extract_1d.sources, product)
            # The products are written above; stpipe must not write the cube a second time.
            self.save_results = False
        return combined

    def _as_cube(self, model):
        if isinstance(model, datamodels.IFUCubeModel):
            return model
        log.info("spec3: %s is not a cube; reducing it with spec2", model.meta.filename)
        return Spec2Pipeline.call(model, refstore=self.refstore, quicklook=False)

    def _write_products(self, combined, spectra, sources, product):
        output_dir = Path(self.output_dir or ".")
        cube_path = Path(combined.save(output_dir / f"{product}_s3d.fits"))
        x1d_path = Path(spectra.save(output_dir / f"{product}_x1d.fits"))
        with atomic_path(output_dir / f"{product}_cat.ecsv") as tmp:
            sources.write(tmp, format="ascii.ecsv", overwrite=True)
        log.info("Saved %s, %s and %s_cat.ecsv", cube_path, x1d_path, product)
        if self.quicklook:
            from ..ifs.spec3_preview import write_spectra_preview, write_white_light_preview

            write_white_light_preview(combined, sources, spectra, output_dir / f"{product}_s3d.png")
            write_spectra_preview(spectra, output_dir / f"{product}_x1d.png")
