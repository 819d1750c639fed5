"""Errors of bright IFS sources: the spectral flat's noise in ERR (spec2) and shared by dithers (spec3).

A flat made from a lamp exposure carries ~0.8 % of noise per column and spaxel (90 s of lamp).
For a bright source that noise dominates, and it is common to every exposure divided by that flat.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from iris_pipeline.ifs.combine import drizzle_cubes, flat_variance, linear_combination_variance
from iris_pipeline.ifs.lines import oh_line_list
from iris_pipeline.pipelines.ifs_calibration import CreateIFSFlatPipeline
from iris_pipeline.pipelines.spec2 import Spec2Pipeline
from iris_pipeline.simulate.ifs import IFSConfiguration, IFSScene, simulate_ifs_observation
from iris_pipeline.simulate.ifs.truth import truth_on_grid

logging.getLogger("stpipe").setLevel(logging.WARNING)


@pytest.mark.parametrize("mode", ["LENSLET", "SLICER"])
def test_bright_source_pulls_against_truth_in_a_spec2_cube(mode, tmp_path):
    """std of (cube - truth) / ERR is 1 at S/N > 100 per spaxel and plane (1.8 without the flat's error)."""
    config = IFSConfiguration.create(mode, spaxels=(6, 6), wave_range_um=(2.15, 2.19), window_size=192)
    scene = IFSScene(point_xy_spax=(2.6, 2.3), point_flux_w_m2_um=2e-15, extended_peak_w_m2_um=0.0,
                     line_flux_peak_w_m2=0.0)  # fmt: skip
    sim = simulate_ifs_observation(tmp_path / "sim", config, scene, seed=5)
    # The nominal trace and wavelengths are the truth (no rectmat, no wavecal: too few arc lines in
    # this band); the flat is made from its noisy lamp exposure.
    CreateIFSFlatPipeline.call(sim.flat, refstore=sim.refstore, output_dir=str(tmp_path / "products"))
    cube = Spec2Pipeline.call(sim.association, refstore=sim.refstore, output_dir=str(tmp_path / "products"),
                              quicklook=False)  # fmt: skip
    wave = cube.wavelength.astype(float)
    truth = truth_on_grid(sim.truth_dir, wave)
    err = cube.err.astype(float)
    off_oh = np.min(np.abs(wave[:, None] - oh_line_list()[None, :]), axis=1) > 3 * wave / config.resolving_power
    bright = (truth > 100 * err) & off_oh[:, None, None] & ((cube.dq & 1) == 0)
    assert bright.sum() > 1000
    # The regime of the defect: the flat's part of the variance is large here.
    assert np.median(cube.var_flat[bright] / err[bright] ** 2) > 0.3
    pulls = (cube.data[bright] - truth[bright]) / err[bright]
    assert abs(np.std(pulls) - 1.0) < 0.1


def _shared_flat_realisations(planes, shape, rng):
    """Two dithered inputs divided by the same noisy flat: every plane is one draw of the flat."""
    level = 1.0 + rng.uniform(0.0, 1.0, size=shape)
    relative = 0.01 * (1.0 + rng.uniform(0.0, 1.0, size=shape))
    flat_noise = rng.normal(size=(planes, *shape)) * relative
    cubes = [np.broadcast_to(level * (1.0 + k * 0.1), (planes, *shape)) * (1.0 + flat_noise) for k in range(2)]
    errors = [np.broadcast_to(level * (1.0 + k * 0.1) * relative, (planes, *shape)) for k in range(2)]
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx].astype(float)
    positions = [(x + 0.5, y + 0.5), (x + 1.0, y + 0.5)]  # the second moved by half a spaxel
    return cubes, errors, positions


def test_flat_error_shared_by_dithers_in_combined_voxels_and_extractions():
    rng = np.random.default_rng(8)
    planes, shape, out_shape = 4000, (5, 5), (6, 7)
    cubes, errors, positions = _shared_flat_realisations(planes, shape, rng)
    goods = [np.ones((planes, *shape), dtype=bool)] * 2
    zero = [np.zeros((planes, *shape))] * 2
    weights = [np.ones(planes), np.ones(planes)]
    data, _, _, drizzle_map = drizzle_cubes(cubes, zero, goods, positions, weights, (planes, *out_shape))
    inner = (slice(None), slice(1, 5), slice(1, 6))
    measured = np.var(data[inner], axis=0)
    predicted = np.median(flat_variance(drizzle_map, errors, goods)[inner], axis=0)
    # 4000 draws: the sample variance is good to ~2.2 % (1 sigma).
    assert np.all(np.abs(measured / predicted - 1) < 0.1)
    independent = np.median(flat_variance(drizzle_map, errors, goods, flat_groups=["a", "b"])[inner], axis=0)
    assert np.median(measured / independent) > 1.3, "dithers sharing a flat are not independent"
    # A sum over a box of output spaxels (an aperture extraction).
    coefficients = np.zeros((planes, *out_shape))
    coefficients[:, 2:5, 2:5] = 1.0
    box = np.sum(coefficients * np.nan_to_num(data), axis=(1, 2))
    predicted_box = np.median(linear_combination_variance(coefficients, drizzle_map, zero, goods, errors))
    assert abs(np.var(box) / predicted_box - 1) < 0.1
