"""ASDF entry point: makes the package's YAML schemas resolvable by their URIs."""

from importlib import resources

from asdf.resource import DirectoryResourceMapping

SCHEMA_URI_PREFIX = "http://iris-pipeline.org/schemas/datamodels/"


def get_resource_mappings():
    """Return the resource mapping of ``datamodels/schemas`` (``asdf.resource_mappings`` entry point)."""
    schemas = resources.files("iris_pipeline.datamodels") / "schemas"
    return [DirectoryResourceMapping(schemas, SCHEMA_URI_PREFIX)]
