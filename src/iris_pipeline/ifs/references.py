"""Choice of IFS reference files: the store's rules, then the exposure's IFS configuration.

The store's selection rules match instrument, detector, filter (the IFS grating) and date. An IFS
reference is valid for one mode, plate scale and resolving power too (IFSMODE, IFSSCALE,
RESPOWER in its primary header); among the files the rules allow, best first, the first whose
configuration equals the exposure's is used.
"""

from __future__ import annotations

import warnings

from astropy.io import fits

from ..exceptions import ReferenceFileError
from ..references import ReferenceMatch
from ..references.selection import ExposureSelectors
from ..references.store import ReferenceStore, sha256_of

__all__ = ["configuration_of", "select_ifs_reference"]


def configuration_of(model) -> tuple[str, float, int]:
    """(IFSMODE, IFSSCALE, RESPOWER) of a data model."""
    instrument = model.meta.instrument
    return (
        str(instrument.ifs_mode or "").upper(),
        float(instrument.ifs_scale or 0.0),
        int(instrument.resolving_power or 0),
    )


def _header_configuration(path) -> tuple[str, float, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header = fits.getheader(path, ext=0)
    return (str(header.get("IFSMODE", "")).upper(), float(header.get("IFSSCALE", 0.0)), int(header.get("RESPOWER", 0)))


def select_ifs_reference(store_path, reftype: str, model) -> ReferenceMatch:
    """Best reference of ``reftype`` in the local store for an IFS exposure.

    Raises
    ------
    ReferenceFileError
        One line naming the exposure, the configuration and the store, when none applies.
    """
    store = ReferenceStore(store_path)
    name = model.meta.filename
    try:
        exposure = ExposureSelectors.from_model(model)
    except ValueError as err:
        raise ReferenceFileError(f"{name}: {err}") from None
    wanted = configuration_of(model)
    for _, entry in reversed(store.candidates(reftype, exposure)):
        path = store.root / entry.file
        if path.exists() and _header_configuration(path) == wanted:
            return ReferenceMatch(reftype=reftype, path=path, sha256=entry.sha256 or sha256_of(path), entry=entry)
    mode, scale, power = wanted
    raise ReferenceFileError(
        f"{name}: no {reftype} reference for IFS mode {mode or '?'} {scale:g} mas R={power} "
        f"grating {exposure.filter} in {store.root}"
    )
