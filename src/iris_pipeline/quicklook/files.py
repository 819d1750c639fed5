"""Reading products for the previews (astropy.io.fits, read-only, memory-mapped) and atomic writing."""

from __future__ import annotations

import contextlib
from pathlib import Path

from astropy.io import fits

from ..exceptions import InputFileError, IrisPipelineError
from ..lib.atomic import atomic_path

__all__ = ["atomic_output", "extension_data", "open_product"]


@contextlib.contextmanager
def open_product(path):
    """Open a FITS product read-only; any failure is a one-line `InputFileError`.

    Arrays stored unscaled (float SCI) are memory-mapped; scaled ones (uint32 DQ is stored as int32
    with ``BZERO``) are read into memory when accessed, which astropy cannot avoid.

    Yields
    ------
    astropy.io.fits.HDUList
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file not found")
    try:
        hdulist = fits.open(path, mode="readonly", lazy_load_hdus=False)
    except (OSError, ValueError) as err:
        raise InputFileError(path, f"not a readable FITS file ({_one_line(err)})") from None
    try:
        yield hdulist
    finally:
        hdulist.close()


def extension_data(hdulist, path, name: str, ndim: int | tuple[int, ...], required: bool = True):
    """Data of extension ``name`` checked to have ``ndim`` dimensions (None when absent and optional).

    Raises
    ------
    InputFileError
        The extension is missing (when required), has no data, or has the wrong number of axes.
    """
    if name not in hdulist:
        if required:
            raise InputFileError(path, f"no {name} extension")
        return None
    try:
        data = hdulist[name].data
    except (OSError, ValueError, TypeError) as err:
        raise InputFileError(path, f"{name} extension cannot be read ({_one_line(err)})") from None
    wanted = (ndim,) if isinstance(ndim, int) else ndim
    if data is None or data.ndim not in wanted:
        found = "no data" if data is None else f"{data.ndim}-D data"
        expected = " or ".join(f"{n}-D" for n in wanted)
        raise InputFileError(path, f"{name} extension has {found}, expected {expected}")
    return data


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary name next to ``path``; rename it to ``path`` only if the block succeeds.

    A failure leaves neither a partial file nor a temporary one, and an existing ``path`` intact.

    Raises
    ------
    IrisPipelineError
        The destination folder cannot be created or written (one line naming ``path``).
    """
    with contextlib.ExitStack() as stack:
        try:
            tmp = stack.enter_context(atomic_path(path))
        except OSError as err:
            raise IrisPipelineError(f"{path}: cannot write ({err.strerror or _one_line(err)})") from None
        yield tmp


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__
