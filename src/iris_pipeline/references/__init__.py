"""Reference files: a local store with selection rules, and an optional CRDS back end.

The pipeline never needs a server: by default reference files come from a folder with a rules
file (``refstore.yaml``, see ``docs/reference-files.md``). The folder is, in order of precedence,
the ``refstore`` step parameter (or ``--refstore`` on the command line), the ``IRIS_REFSTORE``
environment variable, or the built-in default ``~/.iris_pipeline/refstore``.
"""

from .backends import CrdsBackend, get_backend
from .selection import ExposureSelectors, ReferenceMatch
from .store import (
    DEFAULT_STORE_PATH,
    REFSTORE_ENV,
    RULES_FILENAME,
    ReferenceStore,
    resolve_store_path,
    sha256_of,
)

__all__ = [
    "DEFAULT_STORE_PATH",
    "REFSTORE_ENV",
    "RULES_FILENAME",
    "CrdsBackend",
    "ExposureSelectors",
    "ReferenceMatch",
    "ReferenceStore",
    "get_backend",
    "resolve_store_path",
    "sha256_of",
]
