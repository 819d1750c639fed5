"""Associations: JSON files that group exposures for a pipeline (see ``docs/associations.md``)."""

from .builder import (
    build_associations,
    calibration_association,
    calibration_groups,
    expand_inputs,
    stage2_association,
    stage3_association,
    stage3_groups,
    write_associations,
)
from .io import (
    MEMBER_TYPES,
    SKY_MEMBER_TYPES,
    Association,
    AssociationMember,
    AssociationProduct,
    ScienceExposure,
    is_association,
    read_association,
    science_exposures,
    stage3_members,
    write_association,
)
from .rules import ExposureInfo, background_members, calibration_key, read_exposure_info, stage3_key

__all__ = [
    "MEMBER_TYPES",
    "SKY_MEMBER_TYPES",
    "Association",
    "AssociationMember",
    "AssociationProduct",
    "ScienceExposure",
    "ExposureInfo",
    "background_members",
    "build_associations",
    "calibration_association",
    "calibration_groups",
    "calibration_key",
    "expand_inputs",
    "is_association",
    "read_association",
    "science_exposures",
    "stage3_members",
    "read_exposure_info",
    "stage2_association",
    "stage3_association",
    "stage3_groups",
    "stage3_key",
    "write_association",
    "write_associations",
]
