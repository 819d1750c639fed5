"""The concrete data models. Each class validates against ``schemas/<schema_name>.schema.yaml``."""

from __future__ import annotations

from ._base import IrisDataModel, ReferenceFileModel

__all__ = [
    "CubeModel",
    "DarkModel",
    "DistortionModel",
    "FlatModel",
    "GainModel",
    "IFUCubeModel",
    "ImageModel",
    "LinearityModel",
    "MaskModel",
    "MultiSpecIntsModel",
    "MultiSpecModel",
    "PhotomModel",
    "RampModel",
    "RateIntsModel",
    "RateModel",
    "RawRampModel",
    "ReadnoiseModel",
    "SaturationModel",
    "SuperBiasModel",
]


class RawRampModel(IrisDataModel):
    """Raw reads of one exposure: ``data`` uint16 DN, shape (nints, ngroups, ny, nx).

    The public raw format (``*_uncal.fits``); ``REQUIRED_KEYWORDS`` must all be present.
    """

    schema_name = "rawramp"
    detector_frame = True
    REQUIRED_KEYWORDS = (
        "TELESCOP", "INSTRUME", "DETECTOR", "EXP_TYPE", "READMODE", "NINTS", "NGROUPS",
        "NFRAMES", "GROUPGAP", "TFRAME", "TGROUP", "DATE-OBS", "SUBARRAY", "SUBSTRT1",
        "SUBSTRT2", "SUBSIZE1", "SUBSIZE2", "FILTER",
    )  # fmt: skip


class RampModel(IrisDataModel):
    """Ramp in float32 DN with pixel and group DQ, between stage-1 corrections."""

    schema_name = "ramp"
    detector_frame = True


class RateModel(IrisDataModel):
    """Count-rate image of one exposure (DN/s) with Poisson and read-noise variances."""

    schema_name = "rate"
    detector_frame = True


class RateIntsModel(IrisDataModel):
    """Count rate of each integration (DN/s), shape (nints, ny, nx)."""

    schema_name = "rateints"
    detector_frame = True


class ImageModel(IrisDataModel):
    """Calibrated image of one exposure (stage 2)."""

    schema_name = "image"
    detector_frame = True


class CubeModel(IrisDataModel):
    """Calibrated image of each integration of one exposure (stage 2 of a time series, ``_calints``),
    shape (nints, ny, nx); ``area`` is common to all integrations."""

    schema_name = "cube"


class IFUCubeModel(IrisDataModel):
    """IFS data cube, shape (nwave, ny, nx), with the wavelength of each plane in um."""

    schema_name = "ifucube"


class MultiSpecModel(IrisDataModel):
    """Extracted 1-D spectra (``_x1d``): one EXTRACT1D table per source, as JWST's x1d."""

    schema_name = "x1d"


class MultiSpecIntsModel(IrisDataModel):
    """Extracted 1-D spectrum of the target in every integration of a time series (``_x1dints``):
    one EXTRACT1D table per integration (keyword INT_NUM) and the INT_TIMES table, as JWST's x1dints."""

    schema_name = "x1dints"


class MaskModel(ReferenceFileModel):
    """Bad-pixel mask reference file."""

    schema_name = "mask"
    detector_frame = True
    reftype = "mask"


class SaturationModel(ReferenceFileModel):
    """Saturation-level reference file (raw DN, bias included)."""

    schema_name = "saturation"
    detector_frame = True
    reftype = "saturation"


class SuperBiasModel(ReferenceFileModel):
    """Bias-level reference file (DN)."""

    schema_name = "superbias"
    detector_frame = True
    reftype = "superbias"


class GainModel(ReferenceFileModel):
    """Gain reference file (e-/DN)."""

    schema_name = "gain"
    detector_frame = True
    reftype = "gain"


class ReadnoiseModel(ReferenceFileModel):
    """Read-noise reference file: the noise of a single read, DN."""

    schema_name = "readnoise"
    detector_frame = True
    reftype = "readnoise"


class LinearityModel(ReferenceFileModel):
    """Classical linearity correction polynomials, coefficients (ncoeffs, ny, nx)."""

    schema_name = "linearity"
    detector_frame = True
    reftype = "linearity"


class DarkModel(ReferenceFileModel):
    """Dark-current reference file (DN/s)."""

    schema_name = "dark"
    detector_frame = True
    reftype = "dark"


class FlatModel(ReferenceFileModel):
    """Pixel-flat reference file, normalised to a median of 1."""

    schema_name = "flat"
    detector_frame = True
    reftype = "flat"


class PhotomModel(ReferenceFileModel):
    """Imager photometric conversion per filter."""

    schema_name = "photom"
    reftype = "photom"


class DistortionModel(ReferenceFileModel):
    """Polynomial distortion of one imager detector (pixels to focal-plane arcsec)."""

    schema_name = "distortion"
    reftype = "distortion"
