"""Data-quality flags, 32-bit, with the bit meanings of JWST (stdatamodels.jwst.datamodels.dqflags).

Pixel DQ arrays are ``uint32``; group DQ arrays are ``uint8`` and use only the low 8 bits
(``DO_NOT_USE``, ``SATURATED``, ``JUMP_DET``, ``DROPOUT``, ``OUTLIER``, ``PERSISTENCE``, ``AD_FLOOR``,
``CHARGELOSS``). This module is the single definition used by every step and by the simulator.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GROUP", "PIXEL", "describe", "interpret"]

PIXEL: dict[str, int] = {
    "GOOD": 0,
    "DO_NOT_USE": 1 << 0,
    "SATURATED": 1 << 1,
    "JUMP_DET": 1 << 2,
    "DROPOUT": 1 << 3,
    "OUTLIER": 1 << 4,
    "PERSISTENCE": 1 << 5,
    "AD_FLOOR": 1 << 6,
    "CHARGELOSS": 1 << 7,
    "UNRELIABLE_ERROR": 1 << 8,
    "NON_SCIENCE": 1 << 9,
    "DEAD": 1 << 10,
    "HOT": 1 << 11,
    "WARM": 1 << 12,
    "LOW_QE": 1 << 13,
    "RC": 1 << 14,
    "TELEGRAPH": 1 << 15,
    "NONLINEAR": 1 << 16,
    "BAD_REF_PIXEL": 1 << 17,
    "NO_FLAT_FIELD": 1 << 18,
    "NO_GAIN_VALUE": 1 << 19,
    "NO_LIN_CORR": 1 << 20,
    "NO_SAT_CHECK": 1 << 21,
    "UNRELIABLE_BIAS": 1 << 22,
    "UNRELIABLE_DARK": 1 << 23,
    "UNRELIABLE_SLOPE": 1 << 24,
    "UNRELIABLE_FLAT": 1 << 25,
    "OPEN": 1 << 26,
    "ADJ_OPEN": 1 << 27,
    "FLUX_ESTIMATED": 1 << 28,
    "MSA_FAILED_OPEN": 1 << 29,
    "OTHER_BAD_PIXEL": 1 << 30,
    "REFERENCE_PIXEL": 1 << 31,
}

GROUP: dict[str, int] = {
    name: PIXEL[name]
    for name in (
        "GOOD",
        "DO_NOT_USE",
        "SATURATED",
        "JUMP_DET",
        "DROPOUT",
        "OUTLIER",
        "PERSISTENCE",
        "AD_FLOOR",
        "CHARGELOSS",
    )
}

DESCRIPTIONS: dict[str, str] = {
    "GOOD": "good pixel",
    "DO_NOT_USE": "bad pixel, do not use",
    "SATURATED": "pixel saturated during exposure",
    "JUMP_DET": "jump (cosmic ray) detected during exposure",
    "DROPOUT": "data lost in transmission",
    "OUTLIER": "flagged by outlier detection",
    "PERSISTENCE": "high persistence",
    "AD_FLOOR": "below the A/D floor",
    "CHARGELOSS": "charge migration",
    "UNRELIABLE_ERROR": "uncertainty exceeds quoted error",
    "NON_SCIENCE": "pixel not on science portion of detector",
    "DEAD": "dead pixel",
    "HOT": "hot pixel",
    "WARM": "warm pixel",
    "LOW_QE": "low quantum efficiency",
    "RC": "RC pixel",
    "TELEGRAPH": "telegraph pixel",
    "NONLINEAR": "pixel highly nonlinear",
    "BAD_REF_PIXEL": "reference pixel cannot be used",
    "NO_FLAT_FIELD": "flat field cannot be measured",
    "NO_GAIN_VALUE": "gain cannot be measured",
    "NO_LIN_CORR": "linearity correction not available",
    "NO_SAT_CHECK": "saturation check not available",
    "UNRELIABLE_BIAS": "bias variance large",
    "UNRELIABLE_DARK": "dark variance large",
    "UNRELIABLE_SLOPE": "slope variance large (e.g. noisy ramp)",
    "UNRELIABLE_FLAT": "flat variance large",
    "OPEN": "open pixel (counts move to adjacent pixels)",
    "ADJ_OPEN": "adjacent to open pixel",
    "FLUX_ESTIMATED": "pixel flux estimated due to missing or bad data",
    "MSA_FAILED_OPEN": "pixel sees light from a failed-open shutter",
    "OTHER_BAD_PIXEL": "a catch-all flag",
    "REFERENCE_PIXEL": "pixel is a reference pixel",
}


def interpret(value: int) -> list[str]:
    """Names of the flags set in one DQ value (``['GOOD']`` for 0)."""
    value = int(value)
    if value == 0:
        return ["GOOD"]
    return [name for name, bit in PIXEL.items() if bit and value & bit]


def describe(dq: np.ndarray) -> dict[str, int]:
    """Number of pixels with each flag set in a DQ array (flags never set are omitted)."""
    dq = np.asarray(dq).astype(np.uint32, copy=False)
    counts = {}
    for name, bit in PIXEL.items():
        if bit:
            n = int(np.count_nonzero(dq & np.uint32(bit)))
            if n:
                counts[name] = n
    return counts
