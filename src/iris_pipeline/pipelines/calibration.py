"""Calibration pipelines: dark, flat and bad-pixel-mask reference files from calibration exposures.

``create_dark`` (`CreateDarkPipeline`), ``create_flat`` (`CreateFlatPipeline`; the original design's
name ``preprocess_flatfield``, `ProcessFlatfieldL2`) and ``create_mask`` (`CreateMaskPipeline`) take a
list of exposures or an association, run stage 1 on the raw ones, combine them per detector window
with the algorithms of `iris_pipeline.calibration`, write the reference files atomically in
``output_dir`` and add them to the reference store, where they win over older files for later
exposures of the same configuration (USEAFTER = 24 hours before the first DATE-OBS of their
inputs, so that a night's calibrations serve all of that night's science, taken before or after
them, and the next night's until newer calibrations arrive).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np

from .. import datamodels, dqflags
from ..associations import is_association, read_association
from ..calibration import (
    channel_drift,
    combine_masks,
    find_bad_response,
    find_hot_pixels,
    fit_smooth_surface,
    normalize_flat,
    read_noise_from_differences,
    reference_pixel_flags,
    sigma_clipped_combine,
)
from ..datamodels import ReferenceFileModel
from ..exceptions import InputFileError, ReferenceFileError
from ..instruments import get_instrument
from ..references import ExposureSelectors, ReferenceStore, sha256_of
from ..references.selection import parse_date
from ..stpipe import IrisPipeline
from ..stpipe.base import copy_provenance, provenance_of
from .detector1 import Detector1Pipeline

__all__ = ["CreateDarkPipeline", "CreateFlatPipeline", "CreateMaskPipeline", "ProcessFlatfieldL2"]

log = logging.getLogger(__name__)

PIXEL = dqflags.PIXEL
UNUSABLE_RATE = np.uint32(PIXEL["DO_NOT_USE"] | PIXEL["SATURATED"])
NO_DARK = np.uint32(PIXEL["DO_NOT_USE"] | PIXEL["UNRELIABLE_DARK"])
NO_FLAT = np.uint32(PIXEL["DO_NOT_USE"] | PIXEL["NO_FLAT_FIELD"])
WILDCARD = "ANY"
RATE_MODELS = ("RateModel",)
# Bytes of group differences held at once when measuring the read noise.
READ_NOISE_BLOCK_BYTES = 256 * 2**20


# References made from calibration exposures apply from this long before the first of them: a
# night's calibrations serve the science of that whole night, whether taken before or after it.
CALIBRATION_LEAD = timedelta(hours=24)


@dataclass
class CalibrationExposure:
    """One calibration exposure: its file and its metadata (no data)."""

    path: Path
    meta_model: datamodels.IrisDataModel

    @property
    def is_raw(self) -> bool:
        """True for a raw ramp (stage 1 to run), False for a rate file."""
        return self.meta_model.meta.model_type == "RawRampModel"

    def window_key(self) -> tuple:
        """Instrument, detector and detector window: exposures combined together share it."""
        meta = self.meta_model.meta
        sub = meta.subarray
        return (
            meta.instrument.name,
            meta.instrument.detector,
            (sub.name or "FULL").upper(),
            sub.xstart or 1,
            sub.ystart or 1,
            sub.xsize,
            sub.ysize,
        )


@dataclass
class RateStack:
    """Stage-1 rates of one configuration, (nexposures, ny, nx).

    Attributes
    ----------
    rates_dn_s, errors_dn_s : numpy.ndarray
        float32 count rates and their ERR, DN/s (divided by each exposure's median for flats).
    usable : numpy.ndarray
        bool, False where the rate's DQ has ``DO_NOT_USE`` or ``SATURATED``.
    """

    rates_dn_s: np.ndarray
    errors_dn_s: np.ndarray
    usable: np.ndarray


@dataclass
class ConfigurationGroup:
    """The exposures of one configuration (detector window, and filter for flats)."""

    key: tuple
    exposures: list[CalibrationExposure] = field(default_factory=list)
    # What each exposure's rate records (`provenance_of`): the references and step statuses of
    # its stage 1, recorded in turn by the references made from the group (R_*/H_*/S_*).
    processed_with: list[tuple[dict, dict]] = field(default_factory=list)

    @property
    def first(self) -> datamodels.IrisDataModel:
        """Metadata of the first exposure (the group's instrument, detector and window)."""
        return self.exposures[0].meta_model

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx) of the window."""
        return self.first.meta.subarray.ysize, self.first.meta.subarray.xsize

    def useafter(self) -> str:
        """`CALIBRATION_LEAD` before the earliest DATE-OBS of the exposures, to the second (ISO 8601)."""
        earliest = min(parse_date(e.meta_model.meta.observation.date_obs) for e in self.exposures)
        return (earliest - CALIBRATION_LEAD).strftime("%Y-%m-%dT%H:%M:%S")


def _exp_type_suffix(model) -> str:
    exp_type = (model.meta.exposure.type or "").upper()
    instrument = (model.meta.instrument.name or "").upper()
    return exp_type[len(instrument) + 1 :] if exp_type.startswith(instrument + "_") else exp_type


def collect_inputs(step_input, member_types: tuple[str, ...]) -> list[Path]:
    """Paths of the exposures named by a pipeline input.

    Parameters
    ----------
    step_input : str, os.PathLike or sequence of them
        A FITS file, an association JSON file (members whose ``exptype`` is in ``member_types``),
        or a list of either.
    member_types : tuple of str
        Association member roles to take.

    Raises
    ------
    InputFileError
        A file is missing, or nothing is left to process.
    """
    items = list(step_input) if isinstance(step_input, list | tuple) else [step_input]
    paths = []
    for item in items:
        if isinstance(item, datamodels.IrisDataModel):
            raise InputFileError(item.meta.filename, "calibration pipelines take files, not models in memory")
        path = Path(item)
        if is_association(path):
            association = read_association(path)
            found = [p for product in association.products for p in product.members_of(*member_types)]
            if not found:
                raise InputFileError(path, f"association has no member of exptype {' or '.join(member_types)}")
            paths.extend(found)
        elif not path.is_file():
            raise InputFileError(path, "file not found")
        else:
            paths.append(path)
    if not paths:
        raise InputFileError(str(step_input), "no input exposure")
    return paths


def reference_filename(model: ReferenceFileModel) -> str:
    """``{instrument}_{detector}_{reftype}_{useafter}[_{subarray}].fits``, lower case."""
    meta = model.meta
    return _reference_name(meta.instrument.name, meta.instrument.detector, meta.reftype, meta.useafter,
                           meta.subarray.name)  # fmt: skip


def _reference_name(instrument, detector, reftype, useafter, subarray) -> str:
    stamp = parse_date(useafter).strftime("%Y%m%dT%H%M%S")
    subarray = (subarray or "FULL").upper()
    window = "" if subarray in ("FULL", "GENERIC") else f"_{subarray}"
    return f"{instrument}_{detector}_{reftype}_{stamp}{window}.fits".lower()


class CalibrationPipeline(IrisPipeline):
    """Common machinery of the calibration pipelines: inputs, stage 1, writing and the store.

    Subclasses set `member_types` (association roles), `exp_type_suffixes` (accepted
    ``EXP_TYPE`` suffixes), `skip_dark_current`, `normalize_inputs` and implement
    `build_references`.
    """

    spec = """
    useafter = string(default=None)  # USEAFTER of the references written (default: 24 h before the first DATE-OBS of their inputs)
    author = string(default='iris-pipeline')  # AUTHOR keyword of the references
    pedigree = string(default='GROUND')  # PEDIGREE keyword: SIMULATION, GROUND or INFLIGHT
    add_to_store = boolean(default=True)  # add the references to the reference store (refstore)
    use_existing_mask = boolean(default=False)  # stage 1 with the store's MASK; by default only the reference-pixel border is masked, so bad pixels are measured, not assumed
    clip_sigma = float(default=4.0, min=0)  # rejection threshold of the combination, in each input's ERR
    """  # noqa: E501

    member_types: tuple[str, ...] = ()
    exp_type_suffixes: tuple[str, ...] = ()
    skip_dark_current = False
    normalize_inputs = False
    # Reference types the pipeline writes: its own stage 1 must never read a file it wrote before.
    produced_reftypes: tuple[str, ...] = ()

    def process(self, step_input):
        models = self.make_references(step_input)
        written = [self.write_reference(model) for model in models]
        if self.add_to_store:
            store = ReferenceStore(self.refstore)
            for path, model in zip(written, models, strict=True):
                entry = store.add(path, subfolder=model.meta.reftype, replace=True)
                log.info("Added %s to the reference store %s (useafter %s)", entry.file, store.root, entry.useafter)
        return models[0] if len(models) == 1 else models

    @classmethod
    def _get_crds_parameters(cls, dataset):
        """No CRDS look-up (parameters come from the spec and parameter files only, see
        `IrisStep.get_config_from_reference`): a list or an association has no single model to ask."""
        return {}, "tmt"

    def save_model(self, model, *args, **kwargs):
        """Reference files are written by `process` under their own names; other products as usual."""
        if isinstance(model, ReferenceFileModel):
            return model.meta.filename
        return super().save_model(model, *args, **kwargs)

    def make_references(self, step_input) -> list[ReferenceFileModel]:
        """Reference models for every configuration in the input (not written)."""
        groups = self.group_exposures(collect_inputs(step_input, self.member_types))
        with tempfile.TemporaryDirectory(prefix="iris_calibration_") as scratch:
            models = []
            for group in groups:
                models.extend(self.build_references(group, self.stack_rates(group, Path(scratch))))
        return models

    def group_exposures(self, paths: list[Path]) -> list[ConfigurationGroup]:
        """Open the inputs' metadata, check their types and group them by configuration."""
        groups: dict[tuple, ConfigurationGroup] = {}
        for path in paths:
            model = datamodels.open(path, read_data=False)
            kind = model.meta.model_type
            if kind != "RawRampModel" and kind not in RATE_MODELS:
                raise InputFileError(path, f"{self.class_alias} needs raw ramps or rate images, not {kind}")
            suffix = _exp_type_suffix(model)
            if suffix not in self.exp_type_suffixes:
                raise InputFileError(
                    path, f"EXP_TYPE {model.meta.exposure.type} is not a {' or '.join(self.exp_type_suffixes)} exposure"
                )
            if not model.meta.observation.date_obs:
                raise InputFileError(path, "no DATE-OBS")
            exposure = CalibrationExposure(path, model)
            key = self.group_key(exposure)
            groups.setdefault(key, ConfigurationGroup(key)).exposures.append(exposure)
        return list(groups.values())

    def group_key(self, exposure: CalibrationExposure) -> tuple:
        return exposure.window_key()

    def stack_rates(self, group: ConfigurationGroup, scratch: Path) -> RateStack:
        """Rates of the group's exposures in one stack: stage 1 on raw ramps, rate files as they are.

        Each rate goes into the preallocated stack as soon as it is made, so memory holds the
        stack and one exposure. With `normalize_inputs`, each exposure is divided by the median
        of its usable pixels (lamp or twilight brightness changes between exposures).
        """
        steps = {}
        if self.skip_dark_current:
            steps["dark_current"] = {"skip": True}
        if not self.use_existing_mask:
            steps["dq_init"] = {"override_mask": str(self.border_mask(group, scratch))}
        self.exclude_own_references(group, steps)
        count = len(group.exposures)
        stack = RateStack(
            np.empty((count, *group.shape), np.float32),
            np.empty((count, *group.shape), np.float32),
            np.empty((count, *group.shape), bool),
        )
        for index, exposure in enumerate(group.exposures):
            if exposure.is_raw:
                log.info("%s: stage 1 on %s", self.class_alias, exposure.path.name)
                rate = Detector1Pipeline.call(
                    str(exposure.path),
                    refstore=self.refstore,
                    steps=steps,
                    save_results=self.save_results,
                    output_dir=self.output_dir,
                    configure_log=False,
                )
            else:
                rate = datamodels.open(exposure.path)
            if rate.data.shape != group.shape:
                raise InputFileError(
                    exposure.path, f"rate shape {rate.data.shape} differs from its window {group.shape}"
                )
            stack.rates_dn_s[index] = rate.data
            stack.errors_dn_s[index] = rate.err
            np.equal(rate.dq & UNUSABLE_RATE, 0, out=stack.usable[index])
            group.processed_with.append(provenance_of(rate))
            rate.close()
            if self.normalize_inputs:
                usable = stack.usable[index]
                level = np.nanmedian(stack.rates_dn_s[index][usable]) if usable.any() else np.nan
                if not level > 0:
                    raise InputFileError(exposure.path, "no positive signal to normalise by")
                stack.rates_dn_s[index] /= level
                stack.errors_dn_s[index] /= level
        return stack

    def own_reference_names(self, group: ConfigurationGroup) -> set[str]:
        """File names the group's references get (`reference_filename`), one per produced type."""
        meta = group.first.meta
        useafter = self.useafter or group.useafter()
        return {_reference_name(meta.instrument.name, meta.instrument.detector, reftype, useafter, meta.subarray.name)
                for reftype in self.produced_reftypes}  # fmt: skip

    def exclude_own_references(self, group: ConfigurationGroup, steps: dict) -> None:
        """Point the stage-1 steps that read a type this pipeline writes at the store's best file
        other than the group's own product (``override_<type>`` in `steps`).

        Without this, a rerun (``process --force``, or a night resumed after a kill) would measure
        the dark with the READNOISE file its first run wrote, and give a different dark.
        """
        store = ReferenceStore(self.refstore)
        if not self.produced_reftypes or not store.rules_path.exists():
            return
        own = self.own_reference_names(group)
        exposure = ExposureSelectors.from_model(group.first)
        for step_name, step_class in Detector1Pipeline.step_defs.items():
            parameters = steps.setdefault(step_name, {})
            if parameters.get("skip"):
                continue
            for reftype in step_class.reference_file_types:
                if reftype in self.produced_reftypes and f"override_{reftype}" not in parameters:
                    parameters[f"override_{reftype}"] = str(store.select(reftype, exposure, exclude=own).path)

    def border_flags(self, group: ConfigurationGroup) -> np.ndarray:
        """``REFERENCE_PIXEL | DO_NOT_USE`` on the detector's reference border within the window."""
        meta = group.first.meta
        detector = get_instrument(meta.instrument.name).detectors[meta.instrument.detector]
        sub = meta.subarray
        return reference_pixel_flags(
            tuple(detector.shape),
            detector.reference_border_pix,
            (sub.ystart or 1) - 1,
            (sub.xstart or 1) - 1,
            (sub.ysize, sub.xsize),
        )

    def border_mask(self, group: ConfigurationGroup, scratch: Path) -> Path:
        """A MASK file with only the reference border, for stage 1 of the group's raw exposures."""
        mask = datamodels.MaskModel(dq=self.border_flags(group))
        self.copy_selection(mask, group, filter_name=WILDCARD, useafter="1900-01-01T00:00:00")
        mask.meta.description = "reference-pixel border only"
        name = "_".join(str(part) for part in group.key[:5]).lower()
        path = scratch / f"border_mask_{name}.fits"
        mask.save(str(path))
        return path

    def copy_selection(
        self, model: ReferenceFileModel, group: ConfigurationGroup, filter_name: str, useafter: str | None = None
    ) -> None:
        """Selection and provenance keywords of a new reference model, from the group's first exposure."""
        source = group.first.meta
        meta = model.meta
        meta.reftype = model.reftype
        meta.telescope = source.telescope
        meta.instrument.name = source.instrument.name
        meta.instrument.detector = source.instrument.detector
        meta.instrument.filter = filter_name
        meta.exposure.readmode = WILDCARD
        for name in ("name", "xstart", "ystart", "xsize", "ysize"):
            setattr(meta.subarray, name, getattr(source.subarray, name))
        meta.useafter = self.useafter or useafter or group.useafter()
        meta.author = self.author
        meta.pedigree = self.pedigree

    def add_input_history(self, model: ReferenceFileModel, group: ConfigurationGroup) -> None:
        """One HISTORY entry per input file."""
        for exposure in group.exposures:
            model.add_history_entry(f"{self.class_alias} input: {exposure.path.name}")

    def write_reference(self, model: ReferenceFileModel) -> Path:
        """Write a reference model atomically in ``output_dir`` under its `reference_filename`."""
        output_dir = Path(self.output_dir or ".")
        path = output_dir / reference_filename(model)
        model.save(str(path))
        log.info("Wrote %s", path)
        return path

    def build_references(self, group: ConfigurationGroup, stack: RateStack) -> list[ReferenceFileModel]:
        """The reference models of one configuration from its stack of rates."""
        raise NotImplementedError


class CreateDarkPipeline(CalibrationPipeline):
    """Dark exposures -> DARK (and READNOISE) reference files.

    Stage 1 without dark subtraction on every raw dark; the rates are combined per pixel with
    clipping against each input's ERR (`iris_pipeline.calibration.sigma_clipped_combine`); hot
    and warm pixels are flagged (`find_hot_pixels`). From raw darks the noise of one read is
    measured too (`read_noise_from_differences`) and written as a READNOISE reference.
    """

    class_alias = "create_dark"
    spec = """
    hot_threshold_dn_s = float(default=0.1, min=0)  # dark current above which a pixel is HOT (DN/s)
    warm_threshold_dn_s = float(default=0.02, min=0)  # dark current above which a pixel is WARM (DN/s)
    hot_sigma = float(default=5.0, min=0)  # significance required above those thresholds, in units of the dark's ERR
    readnoise = boolean(default=True)  # also measure the read noise from the raw darks (READNOISE reference)
    readnoise_sigma = float(default=5.0, min=0)  # clipping of group differences (cosmic rays), in normalised MADs
    """  # noqa: E501
    member_types = ("dark", "science")
    exp_type_suffixes = ("IMAGE_DARK", "IFS_DARK")
    skip_dark_current = True
    produced_reftypes = ("dark", "readnoise")

    def build_references(self, group, stack):
        models = [self.combine_darks(group, stack)]
        raw = [e for e in group.exposures if e.is_raw]
        if self.readnoise and raw:
            models.append(self.measure_read_noise(group, raw))
        elif self.readnoise:
            log.info("create_dark: no raw darks for %s, no READNOISE reference", group.key[:3])
        return models

    def combine_darks(self, group: ConfigurationGroup, stack: RateStack) -> datamodels.DarkModel:
        combined = sigma_clipped_combine(stack.rates_dn_s, stack.errors_dn_s, stack.usable, sigma=self.clip_sigma)
        measured = np.isfinite(combined.data)
        dq = find_hot_pixels(
            combined.data, combined.err, self.hot_threshold_dn_s, self.warm_threshold_dn_s, self.hot_sigma
        )
        dq |= self.border_flags(group)
        dq[~measured] |= NO_DARK
        log.info(
            "create_dark: %d darks, %d hot and %d warm pixels, %d values rejected",
            len(group.exposures),
            int(((dq & PIXEL["HOT"]) != 0).sum()),
            int(((dq & PIXEL["WARM"]) != 0).sum()),
            int(combined.n_rejected.sum()),
        )
        dark = datamodels.DarkModel(
            data=np.where(measured, combined.data, 0.0).astype(np.float32),
            err=np.where(measured, combined.err, 0.0).astype(np.float32),
            dq=dq,
        )
        self.copy_selection(dark, group, filter_name=WILDCARD)
        copy_provenance(dark, group.processed_with, f"{self.class_alias} {reference_filename(dark)}")
        dark.meta.description = f"dark current, sigma-clipped mean of {len(group.exposures)} darks"
        dark.meta.bunit_data = dark.meta.bunit_err = "DN/s"
        self.add_input_history(dark, group)
        return dark

    def measure_read_noise(self, group, raw: list[CalibrationExposure]) -> datamodels.ReadnoiseModel:
        """READNOISE model from the group differences of the raw darks (one read pattern)."""
        meta = group.first.meta
        detector = get_instrument(meta.instrument.name).detectors[meta.instrument.detector]
        ny, nx = meta.subarray.ysize, meta.subarray.xsize
        channels = (np.arange(nx) + (meta.subarray.xstart or 1) - 1) // detector.output_channel_width_pix
        patterns = [(e.meta_model.meta.exposure.nframes or 1, e.meta_model.meta.exposure.ngroups) for e in raw]
        frames_per_group, ngroups = max(set(patterns), key=patterns.count)
        if len(set(patterns)) > 1:
            log.warning(
                "create_dark: darks of several read patterns; read noise from the %d with NFRAMES=%d, NGROUPS=%d",
                patterns.count((frames_per_group, ngroups)),
                frames_per_group,
                ngroups,
            )
            raw = [e for e, pattern in zip(raw, patterns, strict=True) if pattern == (frames_per_group, ngroups)]
        # Bias drift of each difference and column, measured on whole frames before the row blocks.
        drifts = []
        for exposure in raw:
            with datamodels.raw_reads(str(exposure.path)) as (reads, _):
                for integration in range(reads.shape[0]):
                    for group_index in range(reads.shape[1] - 1):
                        later = reads[integration, group_index + 1].astype(np.float32)
                        later -= reads[integration, group_index]
                        drifts.append(channel_drift(later, channels))
        if len(drifts) < 2:
            raise InputFileError(raw[0].path, "read noise needs at least two group differences in all")
        drifts = np.stack(drifts)[:, None, :]
        rows_per_block = max(1, READ_NOISE_BLOCK_BYTES // (4 * nx * len(drifts)))
        read_noise = np.empty((ny, nx), np.float32)
        for start in range(0, ny, rows_per_block):
            rows = slice(start, min(start + rows_per_block, ny))
            block = []
            for exposure in raw:
                with datamodels.raw_reads(str(exposure.path)) as (reads, _):
                    part = reads[:, :, rows].astype(np.float32)
                    block.append(np.diff(part, axis=1).reshape(-1, *part.shape[2:]))
            differences = np.concatenate(block)
            differences -= drifts
            read_noise[rows], _ = read_noise_from_differences(
                differences, frames_per_group, ngroups - 1, self.readnoise_sigma
            )
        unmeasured = ~np.isfinite(read_noise)
        if unmeasured.any():
            read_noise[unmeasured] = np.nanmedian(read_noise)
        log.info(
            "create_dark: read noise from %d group differences, median %.3f DN",
            len(drifts),
            float(np.median(read_noise)),
        )
        model = datamodels.ReadnoiseModel(data=read_noise)
        self.copy_selection(model, group, filter_name=WILDCARD)
        model.meta.description = f"noise of one read from {len(drifts)} dark group differences"
        model.meta.bunit_data = "DN"
        for exposure in raw:
            model.add_history_entry(f"{self.class_alias} input: {exposure.path.name}")
        return model


class CreateFlatPipeline(CalibrationPipeline):
    """Flat-lamp or twilight exposures -> FLAT reference file.

    Stage 1 with the dark the store selects; each rate is divided by its median, the stack is
    combined with clipping, split into a smooth surface and a pixel flat
    (`iris_pipeline.calibration.fit_smooth_surface`), the large scales are handled as
    ``large_scale`` says, the result is normalised to a median of 1 over good pixels and dead,
    low- and high-response pixels are flagged (`find_bad_response`).
    """

    class_alias = "create_flat"
    spec = """
    large_scale = option('auto', 'keep', 'remove', 'reference', default='auto')  # keep: the exposures' large scales (twilight); remove: pixel flat only; reference: pixel flat times the smooth part of the store's current FLAT; auto: keep for twilight, reference for lamp flats (keep if the store has no FLAT)
    surface_degree = integer(default=2, min=0)  # degree of the 2-D polynomial of the large scales
    normalization_region = int_list(default=None)  # x0, x1, y0, y1 (0-based, end excluded) of the normalising median; default all good pixels
    dead_threshold = float(default=0.05)  # pixel-flat response below which a pixel is DEAD
    low_threshold = float(default=0.8)  # pixel-flat response below which a pixel is LOW_QE
    high_threshold = float(default=1.2)  # pixel-flat response above which the flat is UNRELIABLE_FLAT
    """  # noqa: E501
    member_types = ("flat", "science")
    exp_type_suffixes = ("IMAGE_FLAT", "IMAGE_TWILIGHT")
    produced_reftypes = ("flat",)
    normalize_inputs = True

    def group_key(self, exposure):
        return (*exposure.window_key(), exposure.meta_model.meta.instrument.filter)

    def build_references(self, group, stack):
        return [self.combine_flats(group, stack)]

    def _large_scale_mode(self, group) -> str:
        if self.large_scale != "auto":
            return self.large_scale
        kinds = {_exp_type_suffix(e.meta_model) for e in group.exposures}
        return "keep" if kinds == {"IMAGE_TWILIGHT"} else "reference"

    def _reference_surface(self, group, good) -> np.ndarray | None:
        """Smooth part of the FLAT the store selects for the group's first exposure (never this
        pipeline's own earlier product: a rerun must give the same flat), or None."""
        try:
            with self.excluding_references(self.own_reference_names(group)):
                arrays = self.get_reference_arrays(group.first, "flat", "data", "dq", shape=group.shape)
        except ReferenceFileError as err:
            if self.large_scale == "auto":
                log.warning("create_flat: %s; the lamp's large scales are kept", str(err).splitlines()[0])
                return None
            raise
        if arrays is None:
            return None
        reftype, match = self._reference_files_used[-1]
        group.processed_with.append(({reftype: {"name": match.name, "sha256": match.sha256}}, {}))
        flat, flat_dq = arrays
        usable = good & ((flat_dq & NO_FLAT) == 0) & np.isfinite(flat)
        return fit_smooth_surface(flat.astype(np.float32), usable, self.surface_degree)

    def combine_flats(self, group: ConfigurationGroup, stack: RateStack) -> datamodels.FlatModel:
        combined = sigma_clipped_combine(stack.rates_dn_s, stack.errors_dn_s, stack.usable, sigma=self.clip_sigma)
        border = self.border_flags(group)
        good = np.isfinite(combined.data) & (border == 0)
        surface = fit_smooth_surface(combined.data, good, self.surface_degree)
        with np.errstate(invalid="ignore", divide="ignore"):
            pixel_flat = combined.data / surface
            pixel_err = combined.err / surface
        dq = np.where(
            good,
            find_bad_response(pixel_flat, self.dead_threshold, self.low_threshold, self.high_threshold),
            np.uint32(0),
        ).astype(np.uint32)
        dq |= border
        dq[~good] |= NO_FLAT
        mode = self._large_scale_mode(group)
        large = None
        if mode == "keep":
            large = surface
        elif mode == "reference":
            large = self._reference_surface(group, good)
            if large is None:
                mode, large = "keep", surface
        flat = pixel_flat if large is None else pixel_flat * large
        err = pixel_err if large is None else pixel_err * large
        region = None
        if self.normalization_region:
            if len(self.normalization_region) != 4:
                raise ValueError(f"normalization_region needs x0, x1, y0, y1, got {self.normalization_region}")
            x0, x1, y0, y1 = self.normalization_region
            region = (slice(y0, y1), slice(x0, x1))
        flat, err, _ = normalize_flat(flat, err, (dq & NO_FLAT) == 0, region)
        unmeasured = (dq & NO_FLAT) != 0
        flat[unmeasured], err[unmeasured] = 1.0, 0.0
        log.info(
            "create_flat: %d exposures, large scales %s; %d dead, %d low-response, %d unmeasured pixels",
            len(group.exposures),
            mode,
            int(((dq & PIXEL["DEAD"]) != 0).sum()),
            int(((dq & PIXEL["LOW_QE"]) != 0).sum()),
            int(unmeasured.sum()),
        )
        model = datamodels.FlatModel(data=flat, err=err, dq=dq)
        self.copy_selection(model, group, filter_name=group.first.meta.instrument.filter)
        copy_provenance(model, group.processed_with, f"{self.class_alias} {reference_filename(model)}")
        model.meta.description = f"flat field from {len(group.exposures)} exposures, large scales: {mode}"
        self.add_input_history(model, group)
        return model


class ProcessFlatfieldL2(CreateFlatPipeline):
    """`CreateFlatPipeline` under its name in the original design (alias ``preprocess_flatfield``)."""

    class_alias = "preprocess_flatfield"


class CreateMaskPipeline(CalibrationPipeline):
    """Darks and flats (exposures, or DARK/FLAT reference files) -> MASK reference file.

    Hot and warm pixels of the combined darks, dead and low-response pixels of the combined
    flats and the detector's reference-pixel border, OR-ed per detector window
    (`iris_pipeline.calibration.combine_masks`). Exposures are combined as ``create_dark`` and
    ``create_flat`` do (with the thresholds below); reference files are used as they are.
    """

    class_alias = "create_mask"
    spec = """
    hot_threshold_dn_s = float(default=0.1, min=0)  # see create_dark
    warm_threshold_dn_s = float(default=0.02, min=0)  # see create_dark
    hot_sigma = float(default=5.0, min=0)  # see create_dark
    dead_threshold = float(default=0.05)  # see create_flat
    low_threshold = float(default=0.8)  # see create_flat
    high_threshold = float(default=1.2)  # see create_flat
    """
    member_types = ("dark", "flat", "science")

    def make_references(self, step_input):
        darks, flats, references = [], [], []
        for path in collect_inputs(step_input, self.member_types):
            model = datamodels.open(path, read_data=False)
            if model.meta.model_type in ("DarkModel", "FlatModel"):
                references.append(path)
            elif _exp_type_suffix(model) in CreateFlatPipeline.exp_type_suffixes:
                flats.append(path)
            else:
                darks.append(path)
        shared = {
            "refstore": self.refstore,
            "use_existing_mask": self.use_existing_mask,
            "clip_sigma": self.clip_sigma,
            "output_dir": self.output_dir,
            "save_results": self.save_results,
        }
        made = []
        if darks:
            dark_pipeline = CreateDarkPipeline(
                hot_threshold_dn_s=self.hot_threshold_dn_s,
                warm_threshold_dn_s=self.warm_threshold_dn_s,
                hot_sigma=self.hot_sigma,
                readnoise=False,
                **shared,
            )
            made += dark_pipeline.make_references(darks)
        if flats:
            flat_pipeline = CreateFlatPipeline(
                dead_threshold=self.dead_threshold,
                low_threshold=self.low_threshold,
                high_threshold=self.high_threshold,
                large_scale="remove",
                **shared,
            )
            made += flat_pipeline.make_references(flats)
        for path in references:
            model = datamodels.open(path)
            # the file itself is an input: recorded as R_DARK/H_DARK (R_FLAT/H_FLAT) of the mask
            record = getattr(model.meta.ref_file, model.meta.reftype.lower())
            record.name, record.sha256 = path.name, sha256_of(path)
            made.append(model)
        if not made:
            raise InputFileError(str(step_input), "create_mask needs darks, flats, or DARK/FLAT reference files")
        return self.combine(made, [path.name for path in darks + flats + references])

    def combine(self, sources: list[ReferenceFileModel], input_names: list[str]) -> list[datamodels.MaskModel]:
        """One MASK per detector window from DARK and FLAT models (history: ``input_names``)."""
        by_window: dict[tuple, list[ReferenceFileModel]] = {}
        for model in sources:
            sub = model.meta.subarray
            # A full-frame reference need not carry the window keywords.
            sub.ysize, sub.xsize = sub.ysize or model.dq.shape[0], sub.xsize or model.dq.shape[1]
            key = CalibrationExposure(Path(model.meta.filename or "reference"), model).window_key()
            by_window.setdefault(key, []).append(model)
        masks = []
        for key, models in by_window.items():
            group = ConfigurationGroup(key)
            group.exposures = [CalibrationExposure(Path(m.meta.filename or "reference"), m) for m in models]
            mask = datamodels.MaskModel(dq=combine_masks(*(m.dq for m in models), self.border_flags(group)))
            earliest = min(parse_date(m.meta.useafter) for m in models)
            self.copy_selection(mask, group, filter_name=WILDCARD, useafter=earliest.strftime("%Y-%m-%dT%H:%M:%S"))
            kinds = sorted({m.meta.reftype for m in models})
            mask.meta.description = f"bad-pixel mask from {' and '.join(kinds)} measurements"
            # darks and flats went through stage 1 with different border masks: no warning for that
            copy_provenance(mask, models, warn=False)
            for name in input_names:
                mask.add_history_entry(f"{self.class_alias} input: {name}")
            flags = {name: int(((mask.dq & PIXEL[name]) != 0).sum()) for name in ("HOT", "WARM", "DEAD", "LOW_QE")}
            log.info("create_mask: %s", ", ".join(f"{count} {name}" for name, count in flags.items()))
            masks.append(mask)
        return masks
