"""``open()``: read any IRIS/Liger file as the model named by its DATAMODL keyword."""

from __future__ import annotations

import math
import os
import re
import warnings
from contextlib import contextmanager
from pathlib import Path

from asdf.exceptions import ValidationError
from astropy.io import fits

from ..exceptions import InputFileError
from ._base import IrisDataModel

__all__ = ["model_classes", "open", "raw_reads"]


def model_classes(base: type[IrisDataModel] = IrisDataModel) -> dict[str, type[IrisDataModel]]:
    """Every subclass of `base` with a schema, by class name: a module adds models by defining them."""
    found = {}
    for subclass in base.__subclasses__():
        if subclass.schema_name:
            found[subclass.__name__] = subclass
        found.update(model_classes(subclass))
    return found


FITS_SIGNATURE = b"SIMPLE  =                    T"
BYTES_PER_READ_VALUE = 2  # uint16


def _read_primary_header(path: Path) -> fits.Header:
    if not path.exists():
        raise InputFileError(path, "file not found")
    if path.is_dir():
        raise InputFileError(path, "is a folder, not a FITS file")
    with path.open("rb") as stream:
        signature = stream.read(len(FITS_SIGNATURE))
    if signature != FITS_SIGNATURE:
        raise InputFileError(path, "not a FITS file (no SIMPLE = T card at the start)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fits.getheader(path, ext=0)
    except (OSError, ValueError) as err:
        raise InputFileError(path, f"unreadable FITS header ({err})") from None


# Keywords of a raw file that count or time something: (keyword, smallest valid value, whether
# the value must be above it rather than at least it).
RAW_POSITIVE_KEYWORDS = (
    ("NINTS", 1, False), ("NGROUPS", 1, False), ("NFRAMES", 1, False), ("GROUPGAP", 0, False),
    ("TFRAME", 0, True), ("TGROUP", 0, True), ("SUBSTRT1", 1, False), ("SUBSTRT2", 1, False),
    ("SUBSIZE1", 1, False), ("SUBSIZE2", 1, False),
)  # fmt: skip


def _check_raw_keywords(path: Path, header: fits.Header) -> None:
    """Counts and times of a raw header must be numbers in their range (TFRAME > 0, NGROUPS >= 1...)."""
    for keyword, limit, strictly in RAW_POSITIVE_KEYWORDS:
        value = header.get(keyword)
        integer = keyword not in ("TFRAME", "TGROUP")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or (integer and not float(value).is_integer()):
            kind = "an integer" if integer else "a number"
            raise InputFileError(path, f"keyword {keyword} = {value!r}: not {kind}")
        if value < limit or (strictly and value == limit):
            raise InputFileError(path, f"keyword {keyword} = {value!r}: must be {'>' if strictly else '>='} {limit}")


def _check_raw_data(path: Path) -> None:
    """Check that the SCI extension of a raw file is complete and agrees with its keywords."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with fits.open(path, memmap=True, do_not_scale_image_data=True) as hdul:
                header0 = hdul[0].header
                if "SCI" not in hdul:
                    raise InputFileError(path, "no SCI extension")
                sci = hdul["SCI"].header
                expected = tuple(header0[k] for k in ("NINTS", "NGROUPS", "SUBSIZE2", "SUBSIZE1"))
                shape = tuple(sci.get(f"NAXIS{i}", 0) for i in range(sci.get("NAXIS", 0), 0, -1))
                if shape != expected:
                    raise InputFileError(
                        path,
                        f"SCI shape {shape} does not match NINTS, NGROUPS, SUBSIZE2, SUBSIZE1 = {expected}",
                    )
                if sci.get("BITPIX") != 16:
                    raise InputFileError(path, f"SCI has BITPIX {sci.get('BITPIX')}, expected 16")
                sci_index = hdul.index_of("SCI")
                nbytes = hdul.fileinfo(sci_index)["datLoc"] + BYTES_PER_READ_VALUE * math.prod(expected)
        except InputFileError:
            raise
        except (OSError, ValueError, KeyError, IndexError) as err:
            raise InputFileError(path, f"unreadable FITS structure ({err})") from None
    if path.stat().st_size < nbytes:
        raise InputFileError(path, f"truncated: {path.stat().st_size} bytes, the SCI data needs {nbytes}")


def _physical_memory() -> int:
    """Bytes of memory of this machine (0 where the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return 0


def _detector_shape(header: fits.Header) -> tuple[int, int] | None:
    """Full-frame (ny, nx) of the detector named by INSTRUME/DETECTOR, or None if unknown."""
    from ..instruments import get_instrument

    try:
        detector = get_instrument(str(header.get("INSTRUME", ""))).detectors[str(header.get("DETECTOR", "")).upper()]
    except (KeyError, AttributeError):
        return None
    return tuple(detector.shape)


def check_declared_arrays(path, header: fits.Header, model_class, *, whole: bool = True) -> None:
    """Refuse a file whose extension headers declare arrays it cannot hold, before reading any.

    A sparse file can declare a 40000 x 40000 image in a few kilobytes on disk; reading it would
    allocate gigabytes and end in a MemoryError. Images of a detector-frame model (raw, ramp,
    rate, calibrated image, detector references) may not exceed their detector's full frame;
    with `whole` (the file is to be read whole, not streamed), its arrays together may not
    exceed this machine's memory.

    Raises
    ------
    InputFileError
        One line naming the file, the extension and its declared size.
    """
    path = Path(path)
    detector = _detector_shape(header) if getattr(model_class, "detector_frame", False) else None
    total = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
                for index, hdu in enumerate(hdul):
                    ext = hdu.header
                    naxes = [int(ext.get(f"NAXIS{i}", 0)) for i in range(int(ext.get("NAXIS", 0)), 0, -1)]
                    if not naxes:
                        continue
                    name = ext.get("EXTNAME", "PRIMARY" if index == 0 else str(index))
                    image = index == 0 or ext.get("XTENSION") == "IMAGE"
                    if detector and image and len(naxes) >= 2 and (naxes[-2] > detector[0] or naxes[-1] > detector[1]):
                        raise InputFileError(
                            path,
                            f"{name} declares {naxes[-2]} x {naxes[-1]} pixels, more than the "
                            f"{detector[0]} x {detector[1]} {header.get('DETECTOR')} detector",
                        )
                    itemsize = abs(int(ext.get("BITPIX", 8))) // 8
                    if "BZERO" in ext or "BSCALE" in ext:  # scaled integers are read as floats
                        itemsize = 8 if itemsize >= 4 else 4
                    total += math.prod(naxes) * itemsize
        except InputFileError:
            raise
        except (OSError, ValueError, KeyError, IndexError) as err:
            raise InputFileError(path, f"unreadable FITS structure ({err})") from None
    memory = _physical_memory()
    if whole and memory and total > memory:
        raise InputFileError(
            path, f"declares {total / 1e9:.1f} GB of arrays, more than this machine's {memory / 1e9:.1f} GB of memory"
        )


def open(init, *, read_data: bool = True, **kwargs) -> IrisDataModel:  # noqa: A001
    """Open a file (or pass through a model) as the data model named by its ``DATAMODL``.

    Parameters
    ----------
    init : str, os.PathLike or IrisDataModel
        A FITS file written by the pipeline, the simulator, or any program following
        ``docs/data-formats.md``; or an already open model, returned unchanged.
    read_data : bool
        False builds the model from the primary header only (metadata, no arrays): for raw
        ramps whose reads are streamed from the file with `raw_reads`.
    **kwargs
        Passed to the model class.

    Returns
    -------
    IrisDataModel
        An instance of the class named by the file's ``DATAMODL`` keyword.

    Raises
    ------
    InputFileError
        The file is missing, not FITS, has no or an unknown ``DATAMODL``, lacks a required
        keyword or has one of the wrong type or value, or its data are truncated or of the
        wrong shape. The message is one line naming the file and the problem.
    """
    if isinstance(init, IrisDataModel):
        return init
    kwargs.pop("asn_n_members", None)
    kwargs.pop("asn_exptypes", None)
    path = Path(init)
    header = _read_primary_header(path)
    model_name = header.get("DATAMODL")
    if model_name is None:
        raise InputFileError(path, "no DATAMODL keyword in the primary header")
    known = model_classes()
    model_class = known.get(model_name)
    if model_class is None:
        raise InputFileError(path, f"unknown DATAMODL {model_name!r}; known: {', '.join(known)}")
    required = getattr(model_class, "REQUIRED_KEYWORDS", ())
    missing = [key for key in required if key not in header]
    if missing:
        raise InputFileError(path, f"missing required keyword(s): {', '.join(missing)}")
    if required:
        _check_raw_keywords(path, header)
        _check_raw_data(path)
    check_declared_arrays(path, header, model_class, whole=read_data)
    if not read_data:
        model = _validated(model_class, fits.HDUList([fits.PrimaryHDU(header=header)]), path, kwargs)
        model.meta.filename = path.name
        return model
    try:
        return _validated(model_class, str(path), path, kwargs)
    except InputFileError:
        raise
    except (OSError, ValueError) as err:
        raise InputFileError(path, f"cannot be read as {model_name} ({err})") from None


def _validated(model_class, source, path: Path, kwargs: dict) -> IrisDataModel:
    """The model read from `source`, a keyword of the wrong type or value being the file's error.

    stdatamodels only warns (several lines each) and drops such a value, so that a raw file with
    ``NFRAMES = 'x'`` would be reduced as if NFRAMES were absent. Reading is strict; the model
    returned validates later assignments as usual (warnings).
    """
    strict = "strict_validation" not in kwargs
    try:
        model = model_class(source, **({"strict_validation": True} | kwargs))
    except ValidationError as err:
        raise InputFileError(path, _validation_problem(err)) from None
    if strict:
        model._strict_validation = False
    return model


def _validation_problem(err: ValidationError) -> str:
    """One line from stdatamodels' validation error: the FITS keyword, its value and what is wrong."""
    cause = err.__cause__ if isinstance(err.__cause__, ValidationError) else err
    schema = getattr(cause, "schema", None)
    keyword = schema.get("fits_keyword") if isinstance(schema, dict) else None
    message = str(getattr(cause, "message", "") or cause).splitlines()[0]
    if keyword is None:
        where = re.search(r"While validating (\S+)", str(err))
        return f"invalid {where.group(1) if where else 'metadata'}: {message}"
    return f"keyword {keyword}: {message}"


@contextmanager
def raw_reads(source):
    """The reads of a raw ramp without loading them: ``(reads, data_offset)``.

    For a file, ``reads`` is the SCI array memory-mapped as stored (int16 under the FITS unsigned
    convention) and ``data_offset`` its BZERO, so that DN = stored + offset; nothing is read
    until used. For a `RawRampModel` in memory, its data and 0.

    Parameters
    ----------
    source : str, os.PathLike or RawRampModel
        A raw file (already validated by `open`) or model.
    """
    if isinstance(source, IrisDataModel):
        yield source.data, 0.0
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(source, memmap=True, do_not_scale_image_data=True) as hdul:
            sci = hdul["SCI"]
            if sci.header.get("BSCALE", 1) != 1:
                raise InputFileError(source, f"SCI has BSCALE {sci.header['BSCALE']}; raw reads must be unscaled")
            yield sci.data, float(sci.header.get("BZERO", 0))
