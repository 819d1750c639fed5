"""Base classes for every step and pipeline of the package.

stpipe normally asks CRDS for step parameters and reference files; CRDS knows only the JWST,
HST and Roman observatories. These classes route both requests to the package instead: step
parameters come from the class ``spec`` and parameter files (``.cfg``/``.asdf``) only, and
reference files from the configured back end (`iris_pipeline.references.get_backend`), by default
the local reference store.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from stpipe import Pipeline, Step
from stpipe.config_parser import ConfigObj

from .. import datamodels
from ..associations import is_association, read_association, science_exposures
from ..datamodels import (
    CubeModel,
    IFUCubeModel,
    ImageModel,
    IrisDataModel,
    RampModel,
    RateIntsModel,
    RateModel,
    ReferenceFileModel,
)
from ..dqflags import PIXEL
from ..exceptions import InputFileError, IrisPipelineError, ReferenceFileError, first_line
from ..lib.refcache import prepared_references
from ..lib.subarray import Window, reference_cutout
from ..references import ReferenceMatch, get_backend, sha256_of

__all__ = ["IrisPipeline", "IrisStep", "copy_provenance", "provenance_of"]

log = logging.getLogger(__name__)

NOT_APPLICABLE = "N/A"
DO_NOT_USE = PIXEL["DO_NOT_USE"]

REFERENCE_MODEL_CLASSES = {
    cls.reftype: cls
    for cls in vars(datamodels).values()
    if isinstance(cls, type) and issubclass(cls, ReferenceFileModel) and hasattr(cls, "reftype")
}

PRODUCT_SUFFIXES = ("uncal", "ramp", "rate", "rateints", "cal", "calints", "s3d", "i2d", "cat", "x1d", "phot",
                    "x1dints", "whtlt")  # fmt: skip


def _known_suffixes() -> set[str]:
    from .integration import STEP_CLASSES

    return set(PRODUCT_SUFFIXES) | {alias for _, alias, _ in STEP_CLASSES}


def remove_known_suffix(name: str) -> tuple[str, str | None]:
    """Strip product and step suffixes (``_uncal``, ``_rate``, ``_dq_init``...) from a file stem.

    Returns the stem and ``'_'`` when a suffix was removed, else the name and None (stpipe's
    ``remove_suffix`` protocol).
    """
    known = sorted(_known_suffixes(), key=len, reverse=True)
    stem, separator = name, None
    while True:
        suffix = next((s for s in known if stem.endswith(f"_{s}") and len(stem) > len(s) + 1), None)
        if suffix is None:
            break
        stem, separator = stem[: -len(suffix) - 1], "_"
    return stem, separator


@functools.cache
def _fits_extension(model_class, attribute: str) -> str:
    """EXTNAME that holds ``attribute`` in files of ``model_class`` (from its schema)."""
    return model_class()._schema["properties"][attribute]["fits_hdu"]


def _unscaled(stored: np.ndarray, header) -> np.ndarray:
    """Physical values of stored FITS data (BZERO/BSCALE applied; unsigned integers kept exact)."""
    bzero, bscale = header.get("BZERO", 0), header.get("BSCALE", 1)
    if bscale == 1 and stored.dtype.kind == "i" and bzero == 2 ** (8 * stored.dtype.itemsize - 1):
        unsigned = np.dtype(f"u{stored.dtype.itemsize}")
        return (stored.astype(stored.dtype.newbyteorder("=")).view(unsigned) ^ unsigned.type(bzero)).copy()
    if bzero == 0 and bscale == 1:
        return np.array(stored, dtype=stored.dtype.newbyteorder("="))
    return stored * np.float64(bscale) + bzero


def _native_arrays(model: IrisDataModel) -> IrisDataModel:
    """Give the model's image arrays native byte order (FITS stores big-endian; numba needs native)."""
    for name in model.image_array_names():
        array = getattr(model, name)
        if array is None or array.dtype.isnative:
            continue
        if array.flags.writeable and array.flags.owndata:
            # In place: no second copy of a 64 MB array, which is most of the conversion's cost.
            setattr(model, name, array.byteswap(inplace=True).view(array.dtype.newbyteorder("=")))
        else:
            setattr(model, name, array.astype(array.dtype.newbyteorder("="), copy=False))
    return model


def _read_only(arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    for array in arrays:
        array.setflags(write=False)
    return arrays


def provenance_of(model) -> tuple[dict, dict]:
    """The reference files (type -> ``{'name', 'sha256'}``, ``R_*``/``H_*``) and step statuses
    (``S_*``) a model records, as plain dictionaries that outlive the model."""
    import copy

    refs = model.meta.ref_file.instance if model.meta.hasattr("ref_file") else {}
    steps = model.meta.cal_step.instance if model.meta.hasattr("cal_step") else {}
    return copy.deepcopy(dict(refs or {})), dict(steps or {})


def copy_provenance(target: IrisDataModel, sources, what: str = "", warn: bool = True) -> None:
    """Record in `target` (a reference made by a calibration pipeline) the reference files and
    step statuses its inputs were processed with, as products record theirs.

    Parameters
    ----------
    target : IrisDataModel
        The new model; its ``R_*``/``H_*``/``S_*`` are set.
    sources : iterable of (dict, dict) or IrisDataModel
        What each input recorded (`provenance_of`), or the input models themselves.
    what : str
        Name used in the WARNING when inputs disagree (the first input's record is kept).
    warn : bool
        Whether to warn when they do.
    """
    records: dict[str, dict] = {}
    statuses: dict[str, str] = {}
    for source in sources:
        refs, steps = source if isinstance(source, tuple) else provenance_of(source)
        for reftype, record in refs.items():
            if not isinstance(record, dict) or not record.get("name"):
                continue
            kept = records.setdefault(reftype, record)
            if warn and kept.get("sha256") != record.get("sha256"):
                log.warning("%s: inputs were processed with different %s references (%s, %s); %s recorded",
                            what or target.meta.filename, reftype.upper(), kept.get("name"), record.get("name"),
                            kept.get("name"))  # fmt: skip
        for step, status in steps.items():
            statuses.setdefault(step, status)
    ref_file_types = target.meta.ref_file._schema.get("properties", {})
    for reftype, record in records.items():
        if reftype in ref_file_types:
            node = getattr(target.meta.ref_file, reftype)
            node.name, node.sha256 = record["name"], record.get("sha256", NOT_APPLICABLE)
    cal_steps = target.meta.cal_step._schema.get("properties", {})
    for step, status in statuses.items():
        if step in cal_steps:
            setattr(target.meta.cal_step, step, status)


def _strun_options():
    """stpipe's parsed ``strun`` options when this step is being run by ``strun``, else None."""
    from stpipe import _cmdline

    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is _cmdline.step_from_cmdline.__code__:
            return frame.f_locals.get("known")
        frame = frame.f_back
    return None


def _flag_non_finite(image: ImageModel) -> ImageModel:
    """``DO_NOT_USE`` on every pixel whose value is NaN or infinite (a rate written by another
    program may leave its DQ at 0 there), with a WARNING giving the count."""
    bad = ~np.isfinite(image.data) & ((image.dq & DO_NOT_USE) == 0)
    if bad.any():
        log.warning("%s: %d non-finite pixels without DO_NOT_USE; flagged DO_NOT_USE", image.meta.filename,
                    int(bad.sum()))  # fmt: skip
        image.dq = image.dq | np.where(bad, DO_NOT_USE, 0).astype(image.dq.dtype)
    return image


@contextlib.contextmanager
def _no_full_collection():
    """A ``gc.collect()`` in the block looks at no object made before it (`gc.freeze`), and costs
    next to nothing; the objects are collectable again after it. Nothing is frozen when
    something else (a worker's start-up) froze objects already: the collection is then cheap."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class IrisStep(Step):
    """Base class of the package's steps.

    Every step gets the ``refstore`` parameter (the reference store folder), and records in its
    output the name and SHA-256 of each reference file it used (``R_<TYPE>``/``H_<TYPE>``) and
    its completion status (``S_<STEP>``): ``COMPLETE``, or what the step called `record_outcome`
    with when it could not do its whole job (``SKIPPED``: nothing done; ``INCOMPLETE``: part).
    """

    _outcome: str | None = None
    _excluded_references: frozenset[str] = frozenset()

    spec = """
    output_ext = string(default='.fits')  # file extension of saved products
    refstore = string(default=None)  # reference store folder (default: $IRIS_REFSTORE or ~/.iris_pipeline/refstore)
    """  # noqa: E501

    @contextlib.contextmanager
    def excluding_references(self, names):
        """References selected in the block are never the files ``names``: a calibration reads the
        store's best reference of a type it makes, but never its own earlier product of it."""
        previous, self._excluded_references = self._excluded_references, frozenset(names)
        try:
            yield
        finally:
            self._excluded_references = previous

    def record_outcome(self, status: str, message: str, *, by_design: bool = False) -> None:
        """Record ``status`` (SKIPPED or INCOMPLETE) instead of COMPLETE and log why.

        The message is a WARNING (the step could not do its job), or INFO when ``by_design``
        (the step does not apply to this input, e.g. background on a time series).
        """
        log.log(logging.INFO if by_design else logging.WARNING, "%s %s: %s", self.class_alias, status, message)
        self._outcome = status

    def conclude(self, notes: list[str], filename: str | None) -> str:
        """The status of a step that did its job but for ``notes``: COMPLETE when there are none.

        Otherwise the notes are one WARNING and the status INCOMPLETE (`record_outcome`), or, when
        the step's ``fail_on_incomplete`` parameter is set, an `InputFileError` naming ``filename``.
        """
        if not notes:
            return "COMPLETE"
        message = "; ".join(notes)
        if getattr(self, "fail_on_incomplete", False):
            raise InputFileError(filename, f"{self.class_alias}: {message}")
        self.record_outcome("INCOMPLETE", message)
        return "INCOMPLETE"

    @classmethod
    def _datamodels_open(cls, init, **kwargs):
        return datamodels.open(init, **kwargs)

    def run(self, *args, **kwargs):
        """stpipe's ``run``, with a fresh outcome (`record_outcome`) for each call.

        Run by ``strun``, a bad input or reference (our own errors) ends the command with one
        line on stderr, ``strun: error: FILE: problem``, and status 1 instead of stpipe's box and
        traceback (``strun --debug`` keeps them). Called from Python, the error propagates as usual.

        stpipe starts every run with a full ``gc.collect()``, ~0.2 s in a process that has imported
        astropy, scipy and numba; a step run by a pipeline skips it (`_no_full_collection`): the
        pipeline's own run has just collected, and what its steps leave is collected by the next.
        """
        self._outcome = None
        try:
            with _no_full_collection() if self.parent is not None else contextlib.nullcontext():
                return super().run(*args, **kwargs)
        except IrisPipelineError as err:
            if self.parent is not None:
                raise
            options = _strun_options()
            if options is None or getattr(options, "debug", False):
                raise
            print(f"strun: error: {first_line(err)}", file=sys.stderr)
            raise SystemExit(1) from None

    @staticmethod
    def remove_suffix(name):
        return remove_known_suffix(name)

    def default_suffix(self):
        """Products of a step run alone are named by its alias (``x_saturation.fits``)."""
        return self.class_alias or super().default_suffix()

    @classmethod
    def get_config_from_reference(cls, dataset, disable=None, crds_observatory=None):
        """Parameters come from the spec and parameter files only, never from CRDS."""
        return ConfigObj()

    @classmethod
    def _get_crds_parameters(cls, dataset):
        """Selection metadata of the input, from the primary header only.

        stpipe asks for it before every run; reading the arrays for it would double the I/O. A
        list or an association gives the metadata of its first (science) member.
        """
        if isinstance(dataset, list | tuple) and dataset:
            return cls._get_crds_parameters(dataset[0])
        if isinstance(dataset, str | Path) and is_association(dataset):
            products = read_association(dataset).products
            members = products[0].members_of("science") or [m.path for m in products[0].members]
            return cls._get_crds_parameters(members[0])
        if isinstance(dataset, str | Path):
            with datamodels.open(dataset, read_data=False) as model:
                return model.get_crds_parameters(), model.crds_observatory
        return super()._get_crds_parameters(dataset)

    def _precache_references(self, input_file):
        """Reference files are local; nothing to prefetch."""

    def open_ramp(self, step_input) -> RampModel:
        """Open the input as a `RampModel`, or fail with a one-line error saying what to run first."""
        model = datamodels.open(step_input)
        if not isinstance(model, RampModel):
            raise InputFileError(
                model.meta.filename,
                f"{self.class_alias} needs a RampModel, not {model.meta.model_type}; run dq_init first",
            )
        return model

    def open_image(self, step_input, integrations: bool = False) -> ImageModel | CubeModel:
        """Open the input as an `ImageModel`; a rate image becomes one (``VAR_FLAT`` zero, ``AREA`` one).

        With ``integrations`` a per-integration input is accepted too: a `CubeModel` as it is,
        a `RateIntsModel` (``_rateints``) converted to a `CubeModel` (the time-series path of
        stage 2, ``_calints``).

        Raises
        ------
        InputFileError
            If the input is neither a rate nor a calibrated image (nor, with ``integrations``,
            their per-integration cubes).
        """
        model = datamodels.open(step_input)
        if isinstance(model, ImageModel) or (integrations and isinstance(model, CubeModel)):
            return _flag_non_finite(_native_arrays(model))
        accepted = (RateModel, RateIntsModel) if integrations else (RateModel,)
        if not isinstance(model, accepted):
            cubes = " (or their per-integration cubes)" if integrations else ""
            wanted = f"a rate or calibrated image, not {model.meta.model_type}{cubes}"
            raise InputFileError(model.meta.filename, f"{self.class_alias} needs {wanted}")
        image = CubeModel() if isinstance(model, RateIntsModel) else ImageModel()
        image.update(model)
        image.meta.filename = model.meta.filename
        for name in ("data", "dq", "err", "var_poisson", "var_rnoise"):
            setattr(image, name, getattr(model, name))
        image.var_flat = np.zeros_like(image.data)
        image.area = np.ones(image.data.shape[-2:], dtype=np.float32)
        if model is not step_input:
            model.close()
        return _flag_non_finite(_native_arrays(image))

    def get_reference_model(self, model, reference_file_type):
        """The reference file of ``reference_file_type`` for the model, opened as its data model.

        Raises
        ------
        ReferenceFileError
            If the file is not a reference of that type, or the reference is overridden as
            ``N/A`` (the step cannot run without it).
        """
        path = self.get_reference_file(model, reference_file_type)
        if path == NOT_APPLICABLE:
            raise ReferenceFileError(
                f"{model.meta.filename}: {self.class_alias} needs a {reference_file_type.upper()} reference, not N/A"
            )
        expected = REFERENCE_MODEL_CLASSES[reference_file_type]
        reference = datamodels.open(path)
        if not isinstance(reference, expected):
            reference.close()
            raise ReferenceFileError(
                f"{Path(path).name}: DATAMODL {reference.meta.model_type!r}, expected {expected.__name__}"
            )
        return reference

    def get_reference_arrays(self, model, reference_file_type, *names, shape=None, prepare=None):
        """Arrays of a reference file cut to the model's detector window (read-only, native byte order).

        The arrays are read from the FITS extensions that the reference model's schema names,
        memory-mapped, so that only the exposure's window of a full-frame reference is read. They
        are kept in this process's cache (`iris_pipeline.lib.refcache`), keyed by the file's
        SHA-256, the arrays and the window, so the next exposure of a long-lived worker does not
        read them again; they are read-only because they are shared.

        Parameters
        ----------
        model : IrisDataModel
            The exposure.
        reference_file_type : str
            Reference type (``'saturation'``, ``'gain'``...).
        *names : str
            Array attributes of the reference model (``'data'``, ``'dq'``, ``'coeffs'``).
        shape : tuple, optional
            Shape of the exposure's data (default ``model.data.shape``).
        prepare : callable, optional
            A function of the arrays that depends on them alone (a module-level function: its
            name is part of the key), returning a tuple of arrays: what it returns is kept and
            returned instead of the arrays, so that the work is done once per reference file.

        Returns
        -------
        tuple of np.ndarray, or None
            The arrays (or what `prepare` made of them), or None when the reference is
            overridden as ``N/A``.
        """
        path = self.get_reference_file(model, reference_file_type)
        if path == NOT_APPLICABLE:
            return None
        window = Window.from_model(model, shape if shape is not None else model.data.shape)
        match = self._reference_files_used[-1][1]
        key = (match.sha256, reference_file_type, names, (window.xstart, window.ystart, window.xsize, window.ysize))
        if prepare is None:
            return prepared_references.get(
                key, lambda: self._read_reference_arrays(path, reference_file_type, names, window)
            )
        return prepared_references.get(
            (*key, f"{prepare.__module__}.{prepare.__qualname__}"),
            lambda: _read_only(prepare(*self._read_reference_arrays(path, reference_file_type, names, window))),
        )

    @staticmethod
    def _read_reference_arrays(path, reference_file_type, names, window) -> tuple[np.ndarray, ...]:
        model_class = REFERENCE_MODEL_CLASSES[reference_file_type]
        name = Path(path).name
        with fits.open(path, memmap=True, do_not_scale_image_data=True) as hdul:
            header = hdul[0].header
            if header.get("DATAMODL") != model_class.__name__:
                found = header.get("DATAMODL")
                raise ReferenceFileError(f"{name}: DATAMODL {found!r}, expected {model_class.__name__}")
            arrays = []
            for attribute in names:
                extension = _fits_extension(model_class, attribute)
                if extension not in hdul or hdul[extension].data is None or hdul[extension].data.ndim < 2:
                    raise ReferenceFileError(f"{name}: no {extension} image in this {reference_file_type} reference")
                array = hdul[extension].data
                ref_window = Window(
                    header.get("SUBSTRT1", 1), header.get("SUBSTRT2", 1), array.shape[-1], array.shape[-2]
                )
                cut = _unscaled(reference_cutout(array, ref_window, window, name), hdul[extension].header)
                cut.setflags(write=False)
                arrays.append(cut)
        return tuple(arrays)

    def get_reference_file(self, input_file, reference_file_type):
        """Path of the reference file of ``reference_file_type`` for the input.

        An ``override_<type>`` parameter wins; ``N/A`` there means "do not use one" and is
        returned as ``'N/A'``. Otherwise the configured back end selects the file.
        """
        override = self.get_ref_override(reference_file_type)
        if override is not None:
            if isinstance(override, str) and override.strip().upper() == NOT_APPLICABLE:
                self._reference_files_used.append((reference_file_type, None))
                return NOT_APPLICABLE
            path = Path(getattr(override, "override_handle", override))
            if not path.exists():
                raise FileNotFoundError(f"{path}: override_{reference_file_type} file not found")
            match = ReferenceMatch(reference_file_type, path, sha256_of(path))
        else:
            model = datamodels.open(input_file)
            store = self.search_attr("refstore")
            match = get_backend(store).select(reference_file_type, model, exclude=self._excluded_references)
        log.info("Using %s reference file %s", reference_file_type.upper(), match.path)
        self._reference_files_used.append((reference_file_type, match))
        return str(match.path)

    def finalize_result(self, result, reference_files_used):
        """Record reference files and step status in the result's metadata."""
        if not isinstance(result, IrisDataModel):
            return
        for reftype, match in reference_files_used:
            record = getattr(result.meta.ref_file, reftype, None)
            if record is None:
                continue
            record.name = match.name if match is not None else NOT_APPLICABLE
            record.sha256 = match.sha256 if match is not None else NOT_APPLICABLE
        cal_step = result.meta.cal_step
        if self.class_alias and self.class_alias in cal_step._schema.get("properties", {}):
            if not self.skip:
                setattr(cal_step, self.class_alias, self._outcome or "COMPLETE")
            elif getattr(cal_step, self.class_alias, None) is None:
                setattr(cal_step, self.class_alias, "SKIPPED")


class IrisPipeline(Pipeline, IrisStep):
    """Base class of the package's pipelines (``step_defs`` give the order of steps).

    With ``quicklook`` set, every 2-D image or cube product a pipeline saves gets a PNG preview
    beside it (``<product>.png``; `iris_pipeline.quicklook`).
    """

    spec = """
    quicklook = boolean(default=False)  # write a PNG preview beside each saved image or cube product
    """  # noqa: E501

    def _precache_references(self, input_file):
        """Reference files are local; nothing to prefetch."""

    def per_science_exposure(self, step_input, suffix: str, reduce):
        """Stage-2 pattern: `reduce` each science exposure of the input (`science_exposures`).

        Each product is saved under its own model's name with `suffix`; one product is returned
        as it is, several as a list.
        """
        self.output_use_model = True
        self.suffix = suffix
        results = [reduce(exposure) for exposure in science_exposures(step_input)]
        return results[0] if len(results) == 1 else results

    def save_model(self, model, *args, **kwargs):
        output_path = super().save_model(model, *args, **kwargs)
        if self.quicklook and isinstance(output_path, str) and output_path.endswith(".fits"):
            self._write_preview(model, output_path)
        return output_path

    @staticmethod
    def _write_preview(model, output_path: str) -> None:
        from ..quicklook import write_cube_preview, write_image_preview

        png = str(Path(output_path).with_suffix(".png"))
        ndim = getattr(getattr(model, "data", None), "ndim", 0)  # spectra (_x1dints) have no image
        if isinstance(model, IFUCubeModel) and ndim == 3:
            write_cube_preview(output_path, png)
        elif ndim == 2:
            write_image_preview([output_path], png, show_dq=True, layout=False)
        else:
            return
        log.info("Preview %s", png)

    @classmethod
    def get_config_from_reference(cls, dataset, disable=None, crds_observatory=None):
        """Parameters come from the spec and parameter files only, never from CRDS."""
        return ConfigObj()
