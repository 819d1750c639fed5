"""Source catalogs of resampled images (stage 3 imaging)."""

from .catalog import AB_ZERO_POINT_JY, FLAGS, jy_to_ab_mag, make_source_catalog, moffat_enclosed
from .source_catalog_step import SourceCatalogStep, write_catalog

__all__ = [
    "AB_ZERO_POINT_JY",
    "FLAGS",
    "SourceCatalogStep",
    "jy_to_ab_mag",
    "make_source_catalog",
    "moffat_enclosed",
    "write_catalog",
]
