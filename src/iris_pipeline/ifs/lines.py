"""Arc-lamp and OH sky line lists (``data/ifs_lines.yaml``: vacuum wavelengths in um, with sources)."""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np
import yaml

__all__ = ["ARC_LAMPS", "arc_line_list", "oh_line_list"]

ARC_LAMPS = ("Ar", "Kr", "Xe", "Ne")


@cache
def _lines() -> dict:
    return yaml.safe_load(resources.files("iris_pipeline").joinpath("data/ifs_lines.yaml").read_text())


def arc_line_list(lamps=ARC_LAMPS) -> np.ndarray:
    """Sorted vacuum wavelengths (um) of the lines of the given arc lamps."""
    table = _lines()["arc_lines_um"]
    unknown = [lamp for lamp in lamps if lamp not in table]
    if unknown:
        raise ValueError(f"unknown arc lamp(s) {', '.join(unknown)}; known: {', '.join(table)}")
    return np.sort(np.concatenate([np.asarray(table[lamp], dtype=float) for lamp in lamps]))


def oh_line_list() -> np.ndarray:
    """Vacuum wavelengths (um) of the catalogued OH sky lines."""
    return np.asarray(_lines()["oh_lines"], dtype=float)[:, 0]
