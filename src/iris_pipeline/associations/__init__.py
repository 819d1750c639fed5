"""Associations: JSON files that group exposures for a pipeline (see ``docs/associations.md``)."""

from .io import (
    MEMBER_TYPES,
    Association,
    AssociationMember,
    AssociationProduct,
    is_association,
    read_association,
    write_association,
)

__all__ = [
    "MEMBER_TYPES",
    "Association",
    "AssociationMember",
    "AssociationProduct",
    "is_association",
    "read_association",
    "write_association",
]
