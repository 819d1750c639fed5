"""Which pipeline processes each exposure type, from ``data/exp_types.yaml``.

The table is the one in ``docs/exposure-types.md`` (generated from the same data by
``iris-pipeline exptypes --markdown``) and is what ``iris-pipeline process`` uses to route files.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml

from .exceptions import NoPipelineError

__all__ = ["ExposureTypeRule", "exposure_types", "markdown_table", "pipelines_for"]

INSTRUMENT_NAMES = ("IRIS", "LIGER")
NOT_APPLICABLE = "N/A"
NO_PIPELINE = "none"


@dataclass(frozen=True)
class ExposureTypeRule:
    """The pipelines of one (EXP_TYPE, TSOVISIT) combination."""

    exp_type: str
    tsovisit: bool | None  # None: the type is never a time series ("N/A")
    stage1: str
    stage2: str
    stage3: str
    description: str
    stage1_skip: tuple[str, ...] = ()

    @property
    def stages(self) -> tuple[str, str, str]:
        """Aliases of the stage 1, 2 and 3 pipelines (``'none'`` where a stage does not apply)."""
        return (self.stage1, self.stage2, self.stage3)


@functools.cache
def exposure_types() -> tuple[ExposureTypeRule, ...]:
    """Every rule, for both instruments."""
    text = resources.files("iris_pipeline").joinpath("data/exp_types.yaml").read_text()
    rules = []
    for instrument in INSTRUMENT_NAMES:
        for row in yaml.safe_load(text):
            tso = row["tsovisit"]
            rules.append(
                ExposureTypeRule(
                    exp_type=f"{instrument}_{row['suffix']}",
                    tsovisit=None if tso == NOT_APPLICABLE else bool(tso),
                    stage1=row["stage1"],
                    stage2=row["stage2"],
                    stage3=row["stage3"],
                    description=row["description"],
                    stage1_skip=tuple(row.get("stage1_skip", ())),
                )
            )
    return tuple(rules)


def pipelines_for(exp_type: str, tsovisit: bool | None = False) -> ExposureTypeRule:
    """The rule for an exposure.

    Parameters
    ----------
    exp_type : str
        EXP_TYPE keyword value.
    tsovisit : bool or None
        TSOVISIT keyword value (absent = False). Ignored for types that are never TSO.

    Raises
    ------
    NoPipelineError
        The exposure type is not in the table.
    """
    exp_type = (exp_type or "").strip().upper()
    matches = [rule for rule in exposure_types() if rule.exp_type == exp_type]
    if not matches:
        raise NoPipelineError(f"unknown EXP_TYPE {exp_type!r}; see docs/exposure-types.md for the known types")
    for rule in matches:
        if rule.tsovisit is None or rule.tsovisit == bool(tsovisit):
            return rule
    raise NoPipelineError(f"EXP_TYPE {exp_type!r} has no rule for TSOVISIT={bool(tsovisit)}")


def markdown_table() -> str:
    """The exposure-type table as Markdown (the docs page is generated from it)."""
    lines = [
        "| EXP_TYPE | TSOVISIT | Stage 1 | Stage 2 | Stage 3 | Used for | Stage-1 steps skipped |",
        "|---|---|---|---|---|---|---|",
    ]
    for rule in exposure_types():
        tso = NOT_APPLICABLE if rule.tsovisit is None else ("T" if rule.tsovisit else "F")
        cells = [rule.exp_type, tso, *(f"`{s}`" if s != NO_PIPELINE else "-" for s in rule.stages)]
        skipped = ", ".join(f"`{name}`" for name in rule.stage1_skip) or "-"
        lines.append("| " + " | ".join(cells + [rule.description, skipped]) + " |")
    return "\n".join(lines)
