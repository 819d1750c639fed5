"""FlatFieldStep: divide a rate image by the pixel flat of its detector and filter."""

from __future__ import annotations

import logging

from ..stpipe import IrisStep
from .flat_field import apply_flat

__all__ = ["FlatFieldStep"]

log = logging.getLogger(__name__)


class FlatFieldStep(IrisStep):
    """Divide by the FLAT reference (normalised pixel response); see ``docs/steps/flat_field.md``."""

    class_alias = "flat_field"
    spec = """
    min_flat = float(default=0.05, min=0)  # flat values below this are unusable: pixel flagged, not divided
    """  # noqa: E501
    reference_file_types = ["flat"]

    def process(self, step_input):
        model = self.open_image(step_input, integrations=True)
        flat, flat_err, flat_dq = self.get_reference_arrays(model, "flat", "data", "err", "dq",
                                                            shape=model.data.shape[-2:])  # fmt: skip
        arrays = (model.data, model.dq, model.var_poisson, model.var_rnoise, model.var_flat, model.err)
        if model.data.ndim == 2:
            n_unusable = apply_flat(*arrays, flat, flat_err, flat_dq, self.min_flat)
        else:  # a cube of integrations (_rateints): the same flat for every plane, in place
            n_unusable = 0
            for planes in zip(*arrays, strict=True):
                n_unusable = apply_flat(*planes, flat, flat_err, flat_dq, self.min_flat)
        log.info("%s: flat unusable at %d pixels (flagged NO_FLAT_FIELD)", model.meta.filename, n_unusable)
        return model
