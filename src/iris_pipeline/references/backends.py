"""Where reference files come from: the local store (default) or a CRDS server (optional).

``IRIS_REF_BACKEND=crds`` selects CRDS; it needs the ``crds`` package, a CRDS server
(``CRDS_SERVER_URL``, ``CRDS_PATH``) and an observatory plugin for TMT/Keck on that server. The
CRDS client shipped for JWST/Roman accepts only its own observatories, so the default back end,
and every test, uses the local store.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..exceptions import ReferenceFileError
from .selection import ExposureSelectors, ReferenceMatch
from .store import ReferenceStore, sha256_of

__all__ = ["BACKEND_ENV", "CrdsBackend", "LocalBackend", "get_backend"]

BACKEND_ENV = "IRIS_REF_BACKEND"
CRDS_OBSERVATORY_ENV = "IRIS_CRDS_OBSERVATORY"
CRDS_CONTEXT_ENV = "IRIS_CRDS_CONTEXT"


class LocalBackend:
    """Reference selection from a `ReferenceStore` folder."""

    def __init__(self, store_path=None):
        self.store = ReferenceStore(store_path)

    def select(self, reftype: str, model, exclude=()) -> ReferenceMatch:
        """Best reference of ``reftype`` for ``model``, never one of the files named in ``exclude``."""
        try:
            exposure = ExposureSelectors.from_model(model)
        except ValueError as err:
            raise ReferenceFileError(f"{model.meta.filename}: {err}") from None
        return self.store.select(reftype, exposure, exclude=exclude)


class CrdsBackend:
    """Reference selection by a CRDS server, for observatories that run one.

    Parameters
    ----------
    observatory : str, optional
        CRDS observatory name (default ``$IRIS_CRDS_OBSERVATORY`` or the model's
        ``crds_observatory``).
    context : str, optional
        CRDS context (``.pmap``) to use; default: the server's operational context.
    """

    def __init__(self, observatory: str | None = None, context: str | None = None):
        self.observatory = observatory or os.environ.get(CRDS_OBSERVATORY_ENV)
        self.context = context or os.environ.get(CRDS_CONTEXT_ENV)

    def select(self, reftype: str, model, exclude=()) -> ReferenceMatch:
        """Ask CRDS for the best reference of ``reftype`` for ``model`` (``exclude``: the local
        store's own products, which CRDS never serves)."""
        try:
            import crds
        except ImportError:
            raise ReferenceFileError(
                "the CRDS back end needs the crds package: pip install 'iris-pipeline[crds]'"
            ) from None
        observatory = self.observatory or model.crds_observatory
        try:
            result = crds.getreferences(
                model.get_crds_parameters(),
                reftypes=[reftype],
                context=self.context,
                observatory=observatory,
            )
        except Exception as err:  # crds raises many types, including AssertionError
            raise ReferenceFileError(
                f"CRDS could not select a {reftype} reference for {model.meta.filename} "
                f"(observatory {observatory}): {err}"
            ) from None
        path = Path(result[reftype])
        return ReferenceMatch(reftype=reftype, path=path, sha256=sha256_of(path))


def get_backend(store_path=None):
    """The configured back end: CRDS when ``$IRIS_REF_BACKEND`` is ``crds``, else the local store."""
    choice = os.environ.get(BACKEND_ENV, "local").lower()
    if choice == "crds":
        return CrdsBackend()
    if choice != "local":
        raise ReferenceFileError(f"{BACKEND_ENV}={choice!r}: expected 'local' or 'crds'")
    return LocalBackend(store_path)
