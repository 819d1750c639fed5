"""Build association files from a set of exposures with the rules of `iris_pipeline.associations.rules`.

``iris-pipeline asn FILES|FOLDER --stage 2|3|calib -o DIR`` calls `build_associations` and
`write_associations`; the execution engine uses the same rules to build its task graph.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..exceptions import IrisPipelineError
from .io import Association, AssociationMember, AssociationProduct, write_association
from .rules import (
    ExposureInfo,
    background_members,
    calibration_key,
    product_name,
    read_exposure_info,
    stage3_key,
)

__all__ = [
    "STAGES",
    "build_associations",
    "calibration_association",
    "calibration_groups",
    "expand_inputs",
    "stage2_association",
    "stage3_association",
    "stage3_groups",
    "write_associations",
]

STAGES = ("2", "3", "calib")

# Files a folder contributes, by stage: stage 2 reads rates, stage 3 calibrated exposures,
# calibration pipelines raw exposures.
FOLDER_PATTERNS = {"2": ("*_rate.fits",), "3": ("*_cal.fits",), "calib": ("*_uncal.fits",)}

# Association member role of the exposures each calibration pipeline combines.
CALIBRATION_MEMBER_TYPES = {
    "create_dark": "dark",
    "create_superbias": "dark",
    "create_flat": "flat",
    "create_ifs_flat": "flat",
    "create_wavecal": "arc",
    "create_rectmat": "scan",
}


def expand_inputs(items, patterns=("*_uncal.fits",)) -> list[Path]:
    """Files named in `items`, folders replaced by their files matching `patterns` (sorted).

    Raises
    ------
    IrisPipelineError
        A folder holds no matching file.
    """
    paths = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted({p for pattern in patterns for p in path.glob(pattern)})
            if not found:
                raise IrisPipelineError(f"{path}: folder holds no {' or '.join(patterns)} files")
            paths.extend(found)
        else:
            paths.append(path)
    return paths


def stage2_association(science: ExposureInfo, candidates, name: str | None = None) -> Association:
    """The stage-2 association of one science (or sky) exposure with its dedicated skies."""
    from ..stpipe.base import remove_known_suffix

    skies = [] if science.is_sky else background_members(science, candidates)
    name = name or remove_known_suffix(science.path.stem)[0]
    association = Association.from_files(
        science.rule.stage2, name, [science.path], background=[sky.path for sky in skies]
    )
    association.asn_rule = "iris_stage2"
    association.program = science.program
    association.target = science.target
    return association


def stage3_groups(infos) -> dict[tuple[str, ...], list[ExposureInfo]]:
    """Science exposures grouped for stage 3 (skies and calibrations left out), by `stage3_key`."""
    groups = defaultdict(list)
    for info in infos:
        if info.is_science and not info.is_sky:
            groups[stage3_key(info)].append(info)
    return {key: sorted(members, key=lambda m: (m.date_obs, str(m.path))) for key, members in groups.items()}


def calibration_groups(infos) -> dict[tuple[str, ...], list[ExposureInfo]]:
    """Calibration exposures grouped by pipeline and configuration (`calibration_key`)."""
    groups = defaultdict(list)
    for info in infos:
        if info.calibration_pipeline is not None:
            groups[calibration_key(info)].append(info)
    return {key: sorted(members, key=lambda m: (m.date_obs, str(m.path))) for key, members in groups.items()}


def _group_association(asn_type: str, rule: str, name: str, members, role: str) -> Association:
    first = members[0]
    product = AssociationProduct(name, [AssociationMember(m.path, role) for m in members])
    return Association(asn_type=asn_type, products=[product], asn_rule=rule, program=first.program,
                       target=first.target)  # fmt: skip


def stage3_association(key: tuple[str, ...], members) -> Association:
    """The stage-3 association of one group of `stage3_groups`."""
    alias, instrument, program, *rest = key
    name = product_name(instrument, f"p{program}" if program else "", *rest)
    return _group_association(alias, "iris_stage3", name, members, "science")


def calibration_association(key: tuple[str, ...], members) -> Association:
    """The association of one group of `calibration_groups`."""
    alias, instrument, *rest = key
    name = product_name(instrument, alias.removeprefix("create_"), *rest)
    role = CALIBRATION_MEMBER_TYPES.get(alias, "science")
    return _group_association(alias, "iris_calibration", name, members, role)


def build_associations(files, stage: str) -> list[Association]:
    """Associations of a stage (``'2'``, ``'3'`` or ``'calib'``) from files or folders.

    Raises
    ------
    InputFileError
        A file is missing or not an IRIS/Liger exposure.
    NoPipelineError
        A file's EXP_TYPE is not in the table.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown association stage {stage!r}; choose one of {', '.join(STAGES)}")
    infos = [read_exposure_info(path) for path in expand_inputs(files, FOLDER_PATTERNS[stage])]
    if stage == "2":
        return [stage2_association(info, infos) for info in infos if info.calibration_pipeline is None]
    if stage == "3":
        return [stage3_association(key, members) for key, members in stage3_groups(infos).items()]
    return [calibration_association(key, members) for key, members in calibration_groups(infos).items()]


def write_associations(associations, output_dir) -> list[Path]:
    """Write each association as ``<product>_<asn_type>_asn.json`` in `output_dir`; numbered ids."""
    output_dir = Path(output_dir)
    written = []
    for number, association in enumerate(associations, start=1):
        association.asn_id = f"a{number:04d}"
        name = association.products[0].name
        written.append(write_association(association, output_dir / f"{name}_{association.asn_type}_asn.json"))
    return written
