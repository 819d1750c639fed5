"""The task graph of a night: which pipeline runs on which files, in which order.

`build_plan` reads only primary headers (`iris_pipeline.associations.read_exposure_info`) and
returns a `Plan`: `TaskSpec` records (small, picklable: they carry paths, never arrays) in an
order where every task comes after the tasks it depends on, and one `Unit` per exposure,
calibration group or stage-3 association for the summary table.

Dependencies
------------
- a calibration group (darks of one detector, read mode and window...) runs before the science
  exposures it serves, so that they use the reference file it adds to the store; darks and
  biases before stage 1, the other calibrations (flats...) before stage 2; within one
  configuration, calibrations run in `iris_pipeline.associations.rules.CALIBRATION_ORDER`;
- stage 2 of an exposure after stage 1 of the exposure and of its dedicated skies;
- stage 3 of an association after stage 2 of all its members.

A stage whose pipeline is not registered (`iris_pipeline.stpipe.integration.STEP_CLASSES`) is
reported as "not implemented yet" and ends that exposure's chain.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import __version__
from ..associations.builder import (
    calibration_association,
    calibration_groups,
    expand_inputs,
    stage2_association,
    stage3_association,
    stage3_groups,
)
from ..associations.io import is_association, read_association
from ..associations.rules import CALIBRATION_ORDER, ExposureInfo, calibration_applies, read_exposure_info
from ..exceptions import IrisPipelineError, first_line
from ..exptypes import NO_PIPELINE
from .ledger import code_version

__all__ = [
    "STAGE_OUTPUTS",
    "Plan",
    "TaskSpec",
    "Unit",
    "available_pipelines",
    "build_plan",
]

RAW_MODELS = ("RawRampModel",)
RATE_MODELS = ("RateModel", "RateIntsModel")
CAL_MODELS = ("ImageModel", "CubeModel", "IFUCubeModel", "MultiSpecIntsModel")

# Calibrations that stage 1 needs (the others are used from stage 2 on).
STAGE1_CALIBRATIONS = ("create_superbias", "create_dark")

# Product file suffixes each pipeline must write (required) and may write (optional); any other
# new file named after the product is recorded too.
# A time series (TSOVISIT = T, ``<alias>:tso``) keeps its integrations: detector1's ``_rateints``
# is required and is stage 2's input, image2 writes ``_calints``, spec2 ``_x1dints``; tso3 of IFS
# spectra (its stage-3 task flagged tso) writes the white-light curve.
STAGE_OUTPUTS = {
    "detector1": (("_rate.fits",), ("_rateints.fits",)),
    "detector1:tso": (("_rate.fits", "_rateints.fits"), ()),
    "image2": (("_cal.fits",), ()),
    "image2:tso": (("_calints.fits",), ()),
    "tso3": (("_phot.ecsv",), ("_phot.png",)),
    "tso3:tso": (("_whtlt.ecsv",), ("_whtlt.png",)),
    "spec2:tso": (("_x1dints.fits",), ()),
    "spec2": (("_s3d.fits",), ("_s3d.png",)),
    "image3": (("_i2d.fits",), ("_cat.ecsv", "_i2d.png")),
    "spec3": (("_s3d.fits", "_x1d.fits"), ("_cat.ecsv", "_s3d.png", "_x1d.png")),
}

# Suffix of each kind's provenance record name.
LEDGER_SUFFIX = {"stage1": "rate", "stage2": "cal", "stage3": "stage3"}


def available_pipelines() -> dict[str, str]:
    """Registered pipelines: strun alias -> class path."""
    from ..stpipe.integration import STEP_CLASSES

    return {alias: path for path, alias, is_pipeline in STEP_CLASSES if is_pipeline}


def import_class(class_path: str):
    """The class named by a dotted path (``package.module.Class``)."""
    module_name, _, class_name = class_path.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)


def _accepts(class_path: str, parameter: str) -> bool:
    """Whether a pipeline class declares `parameter` in its stpipe spec."""
    try:
        cls = import_class(class_path)
    except (ImportError, AttributeError):
        return False
    return f"\n{parameter} =" in "\n" + "\n".join(line.strip() for line in (cls.spec or "").splitlines())


@dataclass(frozen=True)
class TaskSpec:
    """One pipeline run: what a worker needs, as plain paths and values.

    Attributes
    ----------
    task_id : str
        ``'<kind>:<product>'``, unique in the plan (also the dask key).
    kind : str
        ``'calibration'``, ``'stage1'``, ``'stage2'`` or ``'stage3'``.
    alias, class_path : str
        Pipeline alias and class.
    product : str
        Product name (file stem of the products).
    inputs, roles : tuple of str
        Input files (as they will exist when the task runs) and their association roles.
    output_dir, refstore : str
        Where products go; reference store (None: the default store).
    steps, options : dict
        Step parameters and other pipeline parameters passed to ``call``.
    depends_on : tuple of str
        Tasks that must finish first.
    unit : str
        Summary row the task belongs to.
    selectors : dict or None
        Reference-selection keywords of the exposure (None for multi-exposure tasks).
    tso : bool
        A time series: outputs of ``STAGE_OUTPUTS["<alias>:tso"]``.
    handover : bool
        Stage 1 whose rate is the only input of its exposure's stage 2: the worker keeps the
        rate model for that task (`iris_pipeline.execution.handover`).
    """

    task_id: str
    kind: str
    alias: str
    class_path: str
    product: str
    inputs: tuple[str, ...]
    roles: tuple[str, ...]
    output_dir: str
    refstore: str | None
    steps: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    unit: str = ""
    selectors: dict | None = None
    tso: bool = False
    handover: bool = False

    @property
    def outputs_key(self) -> str:
        """Key of `STAGE_OUTPUTS`: the alias, or ``<alias>:tso`` for a time series when it has its own entry."""
        key = f"{self.alias}:tso"
        return key if self.tso and key in STAGE_OUTPUTS else self.alias

    @property
    def ledger_path(self) -> Path:
        """The task's provenance record (``<product>_<suffix>.provenance.json`` in `output_dir`)."""
        suffix = LEDGER_SUFFIX.get(self.kind, self.alias)
        return Path(self.output_dir) / f"{self.product}_{suffix}.provenance.json"

    @property
    def required_outputs(self) -> tuple[Path, ...]:
        suffixes = STAGE_OUTPUTS.get(self.outputs_key, ((), ()))[0]
        return tuple(Path(self.output_dir) / f"{self.product}{s}" for s in suffixes)

    @property
    def optional_outputs(self) -> tuple[Path, ...]:
        suffixes = STAGE_OUTPUTS.get(self.outputs_key, ((), ()))[1]
        return tuple(Path(self.output_dir) / f"{self.product}{s}" for s in suffixes)

    def expected_record(self) -> dict:
        """What the task's provenance record must say for its products to be up to date."""
        return {
            "pipeline": self.alias,
            "class": self.class_path,
            "parameters": {"steps": self.steps, "options": self.options},
            "package_version": __version__,
            "code_version": code_version(),
            "inputs": list(self.inputs),
        }


@dataclass
class Unit:
    """One summary row: an exposure, a calibration group or a stage-3 association."""

    name: str
    kind: str
    exp_type: str = ""
    tasks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class Plan:
    """Tasks in dependency order, and the summary rows they belong to."""

    tasks: list[TaskSpec]
    units: list[Unit]
    output_dir: Path
    refstore: str | None

    def task(self, task_id: str) -> TaskSpec:
        return next(task for task in self.tasks if task.task_id == task_id)


def _keeps_integrations(info: ExposureInfo) -> bool:
    """Whether stages 1 and 2 keep the exposure's integrations (``_rateints`` -> ``_calints`` for
    the imager, ``_x1dints`` for the IFS): a time series (TSOVISIT = T) whose stage 3 is tso3."""
    return bool(info.tso_visit) and info.rule.stage3 == "tso3"


def _tso3_input(info: ExposureInfo) -> bool:
    """Whether tso3 can measure what stage 2 makes of the exposure (integrations, not a cube of their sum)."""
    if info.datamodel in CAL_MODELS:
        return info.datamodel in ("CubeModel", "MultiSpecIntsModel")
    return _keeps_integrations(info)


def _ifs_spectra(info: ExposureInfo) -> bool:
    """Whether stage 2 makes spectra per integration of the exposure (an IFS time series): tso3's white light."""
    return info.datamodel == "MultiSpecIntsModel" or (_keeps_integrations(info) and info.rule.stage2 == "spec2")


def _selectors(info: ExposureInfo) -> dict:
    return {
        "instrument": info.instrument.upper(),
        "detector": info.detector.upper(),
        "filter": info.filter or None,
        "read_mode": info.read_mode or None,
        "subarray": (info.subarray or "FULL").upper(),
        "date_obs": info.date_obs,
        "ifs_mode": info.ifs_mode.upper() if info.ifs_mode and info.ifs_mode.upper() != "N/A" else None,
        "ifs_scale": float(info.ifs_scale) if info.ifs_scale else None,
        "resolving_power": int(float(info.resolving_power)) if info.resolving_power else None,
    }


class _PlanBuilder:
    def __init__(self, output_dir, refstore, last_stage, pipelines, options):
        self.output_dir = Path(output_dir).resolve()
        self.refstore = str(Path(refstore).resolve()) if refstore else None
        self.last_stage = last_stage
        self.pipelines = available_pipelines() if pipelines is None else dict(pipelines)
        self.options = options or {}
        self.tasks: dict[str, TaskSpec] = {}
        self.units: dict[str, Unit] = {}
        self.input_paths: set[str] = set()

    def unit(self, name: str, kind: str, exp_type: str = "") -> Unit:
        if name not in self.units:
            self.units[name] = Unit(name=name, kind=kind, exp_type=exp_type)
        return self.units[name]

    def options_for(self, alias: str) -> dict:
        class_path = self.pipelines[alias]
        return {k: v for k, v in self.options.items() if _accepts(class_path, k)}

    def add(self, unit: Unit, **fields) -> TaskSpec | None:
        """Add a task to `unit`; None (and the unit's error) when its products would collide.

        Two tasks may not write the same product (``obs_uncal.fits`` in two input folders), and
        no product may overwrite an input file of the plan.
        """
        options = {**self.options_for(fields["alias"]), **fields.pop("extra_options", {})}
        task = TaskSpec(
            class_path=self.pipelines[fields["alias"]], output_dir=str(self.output_dir), refstore=self.refstore,
            options=options, unit=unit.name, **fields,
        )  # fmt: skip
        other = self.tasks.get(task.task_id)
        if other is not None:
            unit.error = (f"{task.inputs[0]}: its product {task.product} is already made from {other.inputs[0]}; "
                          "rename one of them or process them into different folders")  # fmt: skip
            return None
        clash = next((p for p in (*task.required_outputs, task.ledger_path) if str(p) in self.input_paths), None)
        if clash is not None:
            unit.error = f"{clash}: is an input and would be overwritten by the {task.alias} product"
            return None
        self.tasks[task.task_id] = task
        unit.tasks.append(task.task_id)
        return task

    def missing(self, unit: Unit, stage: int, alias: str) -> bool:
        if alias in self.pipelines:
            return False
        unit.notes.append(f"stage {stage} ({alias}) not implemented yet")
        return True

    # -- calibrations ------------------------------------------------------------------------

    def add_calibrations(self, infos: list[ExposureInfo]) -> list[tuple[TaskSpec, ExposureInfo]]:
        if self.last_stage < 2:
            return []
        groups = sorted(
            calibration_groups(infos).items(),
            key=lambda item: (CALIBRATION_ORDER.index(item[0][0]) if item[0][0] in CALIBRATION_ORDER else 99, item[0]),
        )
        added: list[tuple[TaskSpec, ExposureInfo]] = []
        for key, members in groups:
            if key[0] not in self.pipelines:
                continue
            association = calibration_association(key, members)
            name = association.products[0].name
            unit = self.unit(name, "calibration", members[0].exp_type)
            depends = [task.task_id for task, first in added if calibration_applies(task.alias, first, members[0])]
            task = self.add(
                unit, task_id=f"calibration:{name}", kind="calibration", alias=key[0], product=name,
                inputs=tuple(str(m.path) for m in members), depends_on=tuple(depends),
                roles=tuple(m.exptype for m in association.products[0].members),
            )  # fmt: skip
            if task is not None:
                added.append((task, members[0]))
        return added

    # -- per exposure ------------------------------------------------------------------------

    def stage1_product(self, info: ExposureInfo) -> str:
        from ..stpipe.base import remove_known_suffix

        return remove_known_suffix(info.path.stem)[0]

    def add_stage1(self, info: ExposureInfo, calibrations) -> str | None:
        """Stage 1 of one raw exposure; returns the rate file it will produce (None: no stage 1)."""
        product = self.stage1_product(info)
        unit = self.unit(str(info.path), "exposure", info.exp_type)
        if info.datamodel in RATE_MODELS:
            return str(info.path)
        if info.datamodel not in RAW_MODELS:
            unit.error = f"{info.path}: {info.datamodel or 'unknown model'} is not an input of stage 1 or 2"
            return None
        alias = info.rule.stage1
        if alias == NO_PIPELINE or self.missing(unit, 1, alias):
            return None
        depends = [task.task_id for task, first in calibrations
                   if task.alias in STAGE1_CALIBRATIONS and calibration_applies(task.alias, first, info)]  # fmt: skip
        tso = _keeps_integrations(info)
        task = self.add(
            unit, task_id=f"stage1:{product}", kind="stage1", alias=alias, product=product, inputs=(str(info.path),),
            roles=("science",), steps={name: {"skip": True} for name in info.rule.stage1_skip},
            depends_on=tuple(depends), selectors=_selectors(info), tso=tso,
            extra_options={"save_rateints": True} if tso and _accepts(self.pipelines[alias], "save_rateints") else {},
        )  # fmt: skip
        if task is None:
            return None
        return str(self.output_dir / f"{product}_rateints.fits" if tso else self.output_dir / f"{product}_rate.fits")

    def add_stage2(self, info: ExposureInfo, rates: dict, infos, calibrations) -> str | None:
        unit = self.unit(str(info.path), "exposure", info.exp_type)
        alias = info.rule.stage2
        if rates.get(info.path) is None or alias == NO_PIPELINE or self.missing(unit, 2, alias):
            return None
        association = stage2_association(info, [i for i in infos if rates.get(i.path)])
        product = association.products[0].name
        members = association.products[0].members
        depends = [f"stage1:{self.stage1_product(i)}" for i in infos if i.path in {m.path for m in members}]
        depends += [
            task.task_id
            for task, first in calibrations
            if task.alias not in STAGE1_CALIBRATIONS and calibration_applies(task.alias, first, info)
        ]
        task = self.add(
            unit, task_id=f"stage2:{product}", kind="stage2", alias=alias, product=product,
            inputs=tuple(rates[m.path] for m in members), roles=tuple(m.exptype for m in members),
            depends_on=tuple(d for d in depends if d in self.tasks), selectors=_selectors(info),
            tso=_keeps_integrations(info),
        )  # fmt: skip
        if task is None:
            return None
        stage1 = self.tasks.get(f"stage1:{self.stage1_product(info)}")
        # image2 is proven bit-identical from memory and from the file (tests/test_handover.py);
        # spec2 reads its rate from the file until it is.
        if alias == "image2" and stage1 is not None and task.inputs == (str(stage1.required_outputs[0]),):
            self.tasks[stage1.task_id] = replace(stage1, handover=True)
        return str(task.required_outputs[0])

    @staticmethod
    def stage2_product(path: str) -> str:
        """The product name of a stage-2 output file (``<product>_cal.fits``, ``<product>_s3d.fits``)."""
        name = Path(path).name
        for key in ("image2:tso", "image2", "spec2:tso", "spec2"):
            name = name.removesuffix(STAGE_OUTPUTS[key][0][0])
        return name

    def add_stage3(self, infos, cals: dict) -> None:
        if self.last_stage < 3:
            return
        for key, members in stage3_groups(infos).items():
            association = stage3_association(key, members)
            name = association.products[0].name
            unit = self.unit(name, "association", key[0])
            if self.missing(unit, 3, key[0]):
                continue
            ready = [m for m in members if cals.get(m.path)]
            if key[0] == "tso3" and any(not _tso3_input(m) for m in ready):
                unit.notes.append("tso3 needs the integrations (_calints, _x1dints), not a cube of their sum")
                continue
            if not ready:
                unit.notes.append("no member reaches stage 2")
                continue
            depends = [f"stage2:{self.stage2_product(cals[m.path])}" for m in ready
                       if m.datamodel not in CAL_MODELS]  # fmt: skip
            self.add(
                unit, task_id=f"stage3:{name}", kind="stage3", alias=key[0], product=name,
                inputs=tuple(cals[m.path] for m in ready), roles=("science",) * len(ready),
                depends_on=tuple(d for d in depends if d in self.tasks),
                tso=key[0] == "tso3" and any(_ifs_spectra(m) for m in ready),
            )  # fmt: skip

    # -- association inputs -----------------------------------------------------------------

    def association_kind(self, association, path: Path) -> tuple[str, str]:
        """(pipeline alias, task kind) of an association; the stage is inferred from its members
        when ``asn_type`` is missing or ``"None"`` (JWST's ``asn_from_list``).

        Raises
        ------
        IrisPipelineError
            An ``asn_type`` that is no pipeline of the EXP_TYPE table, or members that name no stage.
        """
        from ..exptypes import exposure_types

        stages: list[set[str]] = [set(), set(), set()]
        for rule in exposure_types():
            for index, alias in enumerate(rule.stages):
                stages[index].add(alias)
        alias = association.asn_type
        if not alias:
            product = association.products[0]
            first = read_exposure_info((product.members_of("science") or [m.path for m in product.members])[0])
            if first.datamodel in CAL_MODELS:
                alias = first.rule.stage3
            elif first.datamodel in RATE_MODELS:
                alias = first.rule.stage2
            else:
                raise IrisPipelineError(f"{path}: no asn_type, and members of model {first.datamodel or 'unknown'} "
                                        "name no stage 2 or 3 pipeline (give raw files, not an association)")  # fmt: skip
            if alias == NO_PIPELINE:
                raise IrisPipelineError(f"{path}: no asn_type, and {first.exp_type} members have no pipeline for it")
        if alias in stages[2] - {NO_PIPELINE}:
            return alias, "stage3"
        if alias in stages[1] - {NO_PIPELINE}:
            return alias, "calibration" if alias.startswith("create_") else "stage2"
        if alias in self.pipelines and alias.startswith("create_"):
            return alias, "calibration"
        known = sorted((stages[1] | stages[2]) - {NO_PIPELINE})
        raise IrisPipelineError(f"{path}: unknown asn_type {alias!r}; expected one of {', '.join(known)}")

    def add_association(self, association, path: Path) -> None:
        alias, kind = self.association_kind(association, path)
        for product in association.products:
            unit = self.unit(product.name, "association", alias)
            if self.missing(unit, 3 if kind == "stage3" else 2, alias):
                continue
            self.add(
                unit, task_id=f"{kind}:{product.name}", kind=kind, alias=alias, product=product.name,
                inputs=tuple(str(m.path) for m in product.members), roles=tuple(m.exptype for m in product.members),
            )  # fmt: skip

    def build(self, items) -> Plan:
        infos = []
        associations = []
        for path in expand_inputs(items):
            if is_association(path):
                try:
                    association = read_association(path)
                except IrisPipelineError as err:
                    self.unit(str(path), "association").error = first_line(err)
                    continue
                associations.append((association, path))
                self.input_paths.update(str(m.path) for p in association.products for m in p.members)
                continue
            try:
                info = read_exposure_info(path)
                info.rule  # noqa: B018 -- an unknown EXP_TYPE is reported here, as the file's error
            except (IrisPipelineError, OSError, ValueError) as err:
                self.unit(str(Path(path).resolve()), "exposure").error = first_line(err)
                continue
            infos.append(info)
            self.input_paths.add(str(info.path))
        for association, path in associations:
            try:
                self.add_association(association, path)
            except IrisPipelineError as err:
                self.unit(str(path), "association").error = first_line(err)
        calibrated_inputs = [info for info in infos if info.datamodel in CAL_MODELS]
        infos = [info for info in infos if info.datamodel not in CAL_MODELS]
        calibrations = self.add_calibrations(infos)
        calibrated = {task_input for task, _ in calibrations for task_input in task.inputs}
        science = [info for info in infos if str(info.path) not in calibrated]
        rates = {info.path: self.add_stage1(info, calibrations) for info in science}
        cals: dict[Path, str | None] = {info.path: str(info.path) for info in calibrated_inputs}
        if self.last_stage >= 2:
            for info in science:
                if info.calibration_pipeline is None:
                    cals[info.path] = self.add_stage2(info, rates, science, calibrations)
                elif rates.get(info.path):
                    self.missing(self.unit(str(info.path), "exposure"), 2, info.calibration_pipeline)
        if calibrated_inputs and self.last_stage < 3:
            for info in calibrated_inputs:
                self.unit(str(info.path), "exposure", info.exp_type).notes.append("calibrated input: stage 3 only")
        self.add_stage3([*science, *calibrated_inputs], cals)
        return Plan(tasks=list(self.tasks.values()), units=list(self.units.values()), output_dir=self.output_dir,
                    refstore=self.refstore)  # fmt: skip


def build_plan(items, output_dir, refstore=None, last_stage: int = 3, pipelines=None, options=None) -> Plan:
    """The task graph for files, folders (their ``*_uncal.fits``) and association JSON files.

    Parameters
    ----------
    items : sequence of str or Path
        Raw or rate files, folders, association files.
    output_dir : str or Path
        Where every product goes.
    refstore : str, optional
        Reference store (default: ``$IRIS_REFSTORE``, then ``~/.iris_pipeline/refstore``).
    last_stage : int
        Last stage to plan (1, 2 or 3); calibrations count as stage 2.
    pipelines : dict, optional
        Alias -> class path of the available pipelines (default: the registered ones).
    options : dict, optional
        Pipeline parameters passed to every pipeline that declares them (e.g. ``quicklook``).

    Raises
    ------
    IrisPipelineError
        A folder holds no raw files. Problems with single files are recorded in their unit.
    """
    return _PlanBuilder(output_dir, refstore, last_stage, pipelines, options).build(items)
