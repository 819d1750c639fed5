"""Superbias, linearity and dark kernels against stcal and exact expectations."""

from __future__ import annotations

import numpy as np
import pytest

from iris_pipeline import dqflags
from iris_pipeline.dark_current import prepare_dark, subtract_dark
from iris_pipeline.linearity import apply_linearity, prepare_coefficients
from iris_pipeline.superbias import prepare_superbias, subtract_superbias


def test_linearity_matches_stcal():
    from stcal.linearity.linearity import linearity_correction

    rng = np.random.default_rng(2)
    data = np.cumsum(rng.uniform(0, 5000, (1, 6, 20, 30)), axis=1).astype(np.float32)
    groupdq = np.zeros(data.shape, np.uint8)
    groupdq[0, 4:, 2, 3] = dqflags.GROUP["SATURATED"]
    shape = (20, 30)
    coeffs = np.stack(
        [
            rng.normal(0, 1, shape),
            1 + rng.normal(0, 0.01, shape),
            rng.normal(1e-6, 1e-7, shape),
            rng.normal(1e-11, 1e-12, shape),
        ]
    ).astype(np.float32)
    coeffs[2, 5, 5] = np.nan
    lin_dq = np.zeros((20, 30), np.uint32)
    lin_dq[6, 6] = dqflags.PIXEL["NO_LIN_CORR"]
    expected, expected_pdq, _ = linearity_correction(
        data.copy(), groupdq.copy(), np.zeros((20, 30), np.uint32), coeffs.copy(), lin_dq, dqflags.PIXEL
    )
    pixeldq = np.zeros((20, 30), np.uint32)
    prepared = prepare_coefficients(coeffs, lin_dq, pixeldq)
    ours = data[0].copy()
    apply_linearity(ours, groupdq[0], prepared)
    np.testing.assert_allclose(ours, expected[0], rtol=2e-6)
    np.testing.assert_array_equal(pixeldq, expected_pdq)
    assert ours[5, 2, 3] == data[0, 5, 2, 3]


def test_linearity_refuses_malformed_coefficients():
    with pytest.raises(ValueError, match=r"linearity coefficients must be \(ncoeffs >= 2, ny, nx\)"):
        prepare_coefficients(np.ones((4, 4), np.float32), np.zeros((4, 4), np.uint32), np.zeros((4, 4), np.uint32))


def test_dark_removes_its_slope_exactly_and_flags_unknown_values():
    times = np.array([1.0, 2.5, 7.0])
    dark = np.full((3, 4), 0.5, np.float32)
    dark[1, 1] = np.nan
    pixeldq = np.zeros((3, 4), np.uint32)
    prepared = prepare_dark(dark, np.zeros((3, 4), np.uint32), pixeldq)
    ramp = (10 + 0.5 * times[:, None, None] * np.ones((3, 3, 4))).astype(np.float32)
    subtract_dark(ramp, prepared, times)
    np.testing.assert_allclose(np.delete(ramp.reshape(3, -1), 5, axis=1), 10.0, rtol=1e-6)
    assert pixeldq[1, 1] == dqflags.PIXEL["UNRELIABLE_DARK"]


def test_superbias_subtracts_and_propagates_flags():
    bias = np.arange(12, dtype=np.float32).reshape(3, 4)
    bias[0, 0] = np.nan
    bias_dq = np.zeros((3, 4), np.uint32)
    bias_dq[2, 3] = dqflags.PIXEL["UNRELIABLE_BIAS"]
    pixeldq = np.zeros((3, 4), np.uint32)
    prepared = prepare_superbias(bias, bias_dq, pixeldq)
    ramp = np.full((2, 3, 4), 100.0, np.float32)
    subtract_superbias(ramp, prepared)
    assert ramp[1, 1, 2] == 100.0 - 6.0 and ramp[0, 0, 0] == 100.0
    assert pixeldq[0, 0] and pixeldq[2, 3] and pixeldq.sum() == 2 * dqflags.PIXEL["UNRELIABLE_BIAS"]
