"""Base classes: stdatamodels' DataModel with IRIS metadata helpers and atomic saving."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from stdatamodels import DataModel

from .. import __version__
from ..lib.atomic import atomic_path
from .integration import SCHEMA_URI_PREFIX

__all__ = ["IrisDataModel", "ReferenceFileModel"]

# Metadata paths that identify an exposure's configuration; they drive reference selection
# and are passed to CRDS when that back end is used.
SELECTION_PATHS = (
    "meta.instrument.name",
    "meta.instrument.detector",
    "meta.instrument.filter",
    "meta.instrument.ifs_mode",
    "meta.instrument.ifs_scale",
    "meta.instrument.resolving_power",
    "meta.exposure.type",
    "meta.exposure.readmode",
    "meta.subarray.name",
    "meta.subarray.xstart",
    "meta.subarray.ystart",
    "meta.subarray.xsize",
    "meta.subarray.ysize",
    "meta.observation.date_obs",
)


class IrisDataModel(DataModel):
    """Base of every IRIS/Liger data model.

    Saving is atomic: the file is written under a temporary name in the destination folder and
    renamed when complete, so a failed write never leaves a half-written product and never
    destroys an existing good one.
    """

    schema_name: str | None = None
    # Whether the model's images are in detector pixels (no larger than the detector's full
    # frame): `open` refuses a file declaring larger ones before reading it.
    detector_frame: bool = False

    def __init__(self, init=None, **kwargs):
        super().__init__(init, **kwargs)
        if self.shape is not None:
            for name in self.image_array_names():
                if getattr(self, name) is None:
                    setattr(self, name, self.get_default(name))

    def image_array_names(self) -> list[str]:
        """Top-level image arrays of the schema (tables excluded); created with the primary array."""
        properties = self._schema.get("properties", {})
        return [name for name, sub in properties.items() if "ndim" in sub and not isinstance(sub.get("datatype"), list)]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.schema_name:
            cls.schema_url = f"{SCHEMA_URI_PREFIX}{cls.schema_name}.schema"

    @property
    def crds_observatory(self) -> str:
        """Observatory name given to CRDS by stpipe (``tmt`` or ``keck``)."""
        return "keck" if self.meta.instrument.name == "LIGER" else "tmt"

    def get_crds_parameters(self) -> dict:
        """Selection metadata as a flat ``{'meta.x.y': value}`` dict (stpipe/CRDS protocol)."""
        params = {}
        for path in SELECTION_PATHS:
            value = self.get_meta_value(path)
            if value is not None:
                params[path] = value
        return params

    def get_meta_value(self, dotted_path: str):
        """Value at a dotted metadata path such as ``meta.instrument.name``, or None."""
        node = self
        for part in dotted_path.split("."):
            node = getattr(node, part, None)
            if node is None:
                return None
        return node

    def on_save(self, path=None):
        super().on_save(path)
        final_name = getattr(self, "_final_name", None)
        if final_name:
            self.meta.filename = final_name
        self.meta.date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        self.meta.calibration_software_version = __version__
        self.meta.origin = "iris-pipeline"

    def save(self, path, dir_path=None, *args, **kwargs):
        if callable(path):
            path = path(self.meta.filename)
        final = Path(dir_path, Path(path).name) if dir_path else Path(path)
        self._final_name = final.name
        try:
            with atomic_path(final) as tmp:
                super().save(str(tmp), None, *args, **kwargs)
        finally:
            self._final_name = None
        return str(final)


class ReferenceFileModel(IrisDataModel):
    """Base of the reference-file models (selection keywords in ``meta``)."""
