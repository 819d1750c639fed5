"""Data models of IRIS and Liger files, on stdatamodels with the package's YAML schemas.

``open(path)`` reads any IRIS/Liger FITS file and returns the model class named by its
``DATAMODL`` keyword. See ``docs/data-formats.md`` for the file formats.
"""

from ._base import IrisDataModel, ReferenceFileModel
from ._ifs import IFSFlatModel, IFSPhotomModel, IFSSpectraModel, IFSTraceModel, IFSWavecalModel
from ._models import (
    CubeModel,
    DarkModel,
    DistortionModel,
    FlatModel,
    GainModel,
    IFUCubeModel,
    ImageModel,
    LinearityModel,
    MaskModel,
    MultiSpecIntsModel,
    MultiSpecModel,
    PhotomModel,
    RampModel,
    RateIntsModel,
    RateModel,
    RawRampModel,
    ReadnoiseModel,
    SaturationModel,
    SuperBiasModel,
)
from ._mosaic import MosaicModel
from ._open import model_classes, open, raw_reads  # noqa: A004

# Model modules define their classes above; the DATAMODL registry sees all of them.
MODEL_CLASSES = model_classes()

__all__ = [
    "MODEL_CLASSES",
    "CubeModel",
    "DarkModel",
    "DistortionModel",
    "FlatModel",
    "GainModel",
    "IFSFlatModel",
    "IFSPhotomModel",
    "IFSSpectraModel",
    "IFSTraceModel",
    "IFSWavecalModel",
    "IFUCubeModel",
    "ImageModel",
    "IrisDataModel",
    "LinearityModel",
    "MaskModel",
    "MultiSpecIntsModel",
    "MultiSpecModel",
    "MosaicModel",
    "PhotomModel",
    "RampModel",
    "RateIntsModel",
    "RateModel",
    "RawRampModel",
    "ReadnoiseModel",
    "ReferenceFileModel",
    "SaturationModel",
    "SuperBiasModel",
    "model_classes",
    "open",
    "raw_reads",
]
