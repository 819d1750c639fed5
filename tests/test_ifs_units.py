"""IFS building blocks on small arrays: format, extraction solver, wavelength re-expression, errors."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from iris_pipeline.ifs import SpectralFormat, extract_spectra, model_image
from iris_pipeline.ifs.calibration import WavelengthSolutionError, fit_gaussians, fit_wavelength_solution
from iris_pipeline.simulate.ifs import IFSConfiguration, nominal_format


def _format(mode="LENSLET", spaxels=(4, 4), window=128, band=(2.165, 2.185)):
    config = IFSConfiguration.create(mode, spaxels=spaxels, wave_range_um=band, window_size=window)
    table = nominal_format(config)
    return config, SpectralFormat.from_table(table, *spaxels, *band)


@pytest.mark.parametrize("mode", ["LENSLET", "SLICER"])
def test_nominal_format_covers_the_band_inside_the_window(mode):
    config, fmt = _format(mode)
    x, inside = fmt.columns()
    wave = fmt.wavelength_um(x)
    assert np.all(np.where(inside, wave, np.inf).min(axis=1) < config.wave_range_um[0])
    assert np.all(np.where(inside, wave, -np.inf).max(axis=1) > config.wave_range_um[1])
    rows = fmt.trace_row(x)[inside]
    assert rows.min() > 4 + 3 * fmt.sigma.max() and rows.max() < 128 - 4 - 3 * fmt.sigma.max()
    assert np.all(fmt.dispersion_um_per_pix(x) > 0)
    # Neighbouring spectra of a stack are one trace pitch apart (3 pixels), slices further.
    gaps = np.diff(fmt.trace[:, 0])
    assert np.min(gaps[gaps > 0]) == pytest.approx(3.0)


def test_configurations_outside_the_mode_table_are_refused():
    with pytest.raises(ValueError, match="no R = 10000"):
        IFSConfiguration.create("SLICER", resolving_power=10000)
    with pytest.raises(ValueError, match="no plate scale 4"):
        IFSConfiguration.create("SLICER", scale_mas=4)
    with pytest.raises(ValueError, match="outside the K band"):
        IFSConfiguration.create("LENSLET", wave_range_um=(2.3, 2.5))
    with pytest.raises(ValueError, match="need .* columns"):
        nominal_format(IFSConfiguration.create("LENSLET", spaxels=(4, 4), window_size=128))


@pytest.mark.parametrize("bandwidth", [1, 2, 3])
def test_deblending_recovers_noiseless_fluxes_exactly(bandwidth):
    _, fmt = _format("LENSLET")
    rng = np.random.default_rng(4)
    truth = rng.uniform(1.0, 10.0, (fmt.nspax, fmt.length))
    image = model_image((128, 128), fmt, truth)
    good = np.zeros(image.shape, bool)
    flux, var, valid = extract_spectra(image, np.ones_like(image), good, fmt, bandwidth=bandwidth)
    x, inside = fmt.columns()
    assert valid[inside].all()
    np.testing.assert_allclose(flux[inside], truth[inside], rtol=5e-3 if bandwidth == 1 else 1e-8)
    # A lone-spectrum (Horne) fit of overlapping lenslet profiles is biased by the neighbours.
    alone, _, _ = extract_spectra(image, np.ones_like(image), good, fmt, bandwidth=0)
    assert np.max(np.abs(alone[inside] / truth[inside] - 1)) > 0.05


def _dense_covariance(fmt, weight, col, bandwidth):
    """Spaxels crossing ``col`` and the inverse of their normal matrix truncated to ``bandwidth``
    (what the extraction's banded solver inverts), by a dense inverse."""
    from scipy.special import erf

    from iris_pipeline.ifs.extract import PROFILE_HALF_WIDTH_SIGMA

    active = np.flatnonzero((fmt.x_start <= col) & (col <= fmt.x_end))
    centre = fmt.trace_row(np.full((fmt.nspax, 1), col))[active, 0]
    rows = np.arange(weight.shape[0])
    profiles = np.zeros((active.size, rows.size))
    for j, s in enumerate(active):
        half = PROFILE_HALF_WIDTH_SIGMA * fmt.sigma[s]
        span = (rows >= np.floor(centre[j] - half)) & (rows <= np.ceil(centre[j] + half))
        scale = 1.0 / (np.sqrt(2.0) * fmt.sigma[s])
        integrated = 0.5 * (erf((rows + 0.5 - centre[j]) * scale) - erf((rows - 0.5 - centre[j]) * scale))
        profiles[j] = np.where(span, integrated, 0.0)
    normal = (profiles * weight[:, col]) @ profiles.T
    lag = np.abs(np.subtract.outer(np.arange(active.size), np.arange(active.size)))
    return active, np.linalg.inv(np.where(lag <= bandwidth, normal, 0.0))


@pytest.mark.parametrize("bandwidth", [1, 2, 3])
def test_deblended_variance_and_covariance_are_the_band_of_the_inverse_normal_matrix(bandwidth):
    _, fmt = _format("LENSLET")
    rng = np.random.default_rng(9)
    weight = rng.uniform(0.2, 5.0, (128, 128))
    image = rng.normal(size=weight.shape)
    flux, var, valid, covar, partner = extract_spectra(image, 1.0 / weight, np.zeros(image.shape, bool), fmt,
                                                       bandwidth=bandwidth, covariance=True)  # fmt: skip
    assert covar.shape == (fmt.nspax, fmt.length, bandwidth)
    checked = 0
    for col in range(int(fmt.x_start.min()), int(fmt.x_end.max()) + 1, 7):
        active, inverse = _dense_covariance(fmt, weight, col, bandwidth)
        offsets = col - fmt.x_start[active]
        np.testing.assert_allclose(var[active, offsets], np.diag(inverse), rtol=1e-10)
        for j, s in enumerate(active):
            for d in range(bandwidth):
                if j + d + 1 < active.size:
                    assert partner[s, offsets[j], d] == active[j + d + 1]
                    assert covar[s, offsets[j], d] == pytest.approx(inverse[j, j + d + 1], rel=1e-9, abs=1e-14)
                    checked += 1
                else:
                    assert partner[s, offsets[j], d] == -1 and covar[s, offsets[j], d] == 0.0
    assert checked > 100
    # Neighbours one trace pitch apart are anticorrelated; the deconvolution raises the variance.
    assert np.median(covar[..., 0][partner[..., 0] >= 0]) < 0
    _, alone_var, _ = extract_spectra(image, 1.0 / weight, np.zeros(image.shape, bool), fmt, bandwidth=0)
    assert np.all(var[valid] > alone_var[valid] * (1 - 1e-12))


def test_deblended_errors_match_the_scatter_of_noisy_extractions():
    """Lenslet, bandwidth 2, 200 draws: std of (flux - truth) / err is 1 within 0.5 % (the former
    error, 1 / sqrt(N_ss), makes it 1.015), and so is that of the sum of each flux with its next
    neighbour's, with the covariance (without it the pulls' std is 0.94)."""
    _, fmt = _format("LENSLET")
    rng = np.random.default_rng(12)
    truth = rng.uniform(50.0, 200.0, (fmt.nspax, fmt.length))
    image = model_image((128, 128), fmt, truth)
    variance = image + 25.0
    bad = np.zeros(image.shape, bool)
    _, former_var, _ = extract_spectra(image, variance, bad, fmt, bandwidth=0)
    _, var, valid, covar, partner = extract_spectra(image, variance, bad, fmt, bandwidth=2, covariance=True)
    spaxel, offset = np.nonzero(valid & (partner[..., 0] >= 0))
    neighbour = partner[spaxel, offset, 0]
    neighbour_offset = fmt.x_start[spaxel] + offset - fmt.x_start[neighbour]
    pair_var = var[spaxel, offset] + var[neighbour, neighbour_offset] + 2 * covar[spaxel, offset, 0]
    pulls, former_pulls, pair_pulls, pair_pulls_without_covariance = [], [], [], []
    for _ in range(200):
        noisy = image + rng.normal(size=image.shape) * np.sqrt(variance)
        residual = extract_spectra(noisy, variance, bad, fmt, bandwidth=2)[0] - truth
        pulls.append((residual / np.sqrt(var))[valid])
        former_pulls.append((residual / np.sqrt(former_var))[valid])
        pair = residual[spaxel, offset] + residual[neighbour, neighbour_offset]
        pair_pulls.append(pair / np.sqrt(pair_var))
        pair_pulls_without_covariance.append(pair / np.sqrt(pair_var - 2 * covar[spaxel, offset, 0]))
    pulls, pair_pulls = np.concatenate(pulls), np.concatenate(pair_pulls)
    assert pulls.size > 200_000 and pair_pulls.size > 100_000
    assert np.std(pulls) == pytest.approx(1.0, abs=0.005)
    assert np.std(np.concatenate(former_pulls)) > 1.01
    assert np.std(pair_pulls) == pytest.approx(1.0, abs=0.01)
    assert np.std(np.concatenate(pair_pulls_without_covariance)) < 0.95


def test_bad_pixels_are_ignored_not_propagated():
    _, fmt = _format("LENSLET")
    truth = np.full((fmt.nspax, fmt.length), 5.0)
    image = model_image((128, 128), fmt, truth)
    bad = np.zeros(image.shape, bool)
    bad[40, 30] = True
    image[40, 30] = 1e6
    flux, _, valid = extract_spectra(image, np.ones_like(image), bad, fmt, bandwidth=2)
    _, inside = fmt.columns()
    np.testing.assert_allclose(flux[inside & valid], 5.0, rtol=1e-8)


def test_wavelength_solution_reexpressed_about_another_origin():
    _, fmt = _format()
    shifted = {"X_REF": fmt.x_ref + 7.5}
    x = np.stack([fmt.x_ref, fmt.x_ref + 7.5], axis=1)
    values = fmt.wavelength_um(x)
    u = -7.5
    c = fmt.wave
    reexpressed = [
        c[:, 0] + c[:, 1] * -u + c[:, 2] * u**2 - c[:, 3] * u**3,
        c[:, 1] - 2 * c[:, 2] * u + 3 * c[:, 3] * u**2,
        c[:, 2] - 3 * c[:, 3] * u,
        c[:, 3],
    ]
    for k, coeff in enumerate(reexpressed):
        shifted[f"WAVE_C{k}"] = coeff
    moved = fmt.with_wavelengths(Table(shifted))
    np.testing.assert_allclose(moved.wavelength_um(x), values, rtol=1e-12)


def test_gaussian_fit_finds_sub_pixel_centres():
    positions = np.arange(-4, 5)[None, :].repeat(3, axis=0).astype(float)
    true_centre = np.array([-0.37, 0.0, 0.81])
    from scipy.special import erf

    scale = 1 / (np.sqrt(2) * 0.9)
    samples = 5 + 100 * 0.5 * (erf((positions + 0.5 - true_centre[:, None]) * scale)
                               - erf((positions - 0.5 - true_centre[:, None]) * scale))  # fmt: skip
    centre, sigma, amplitude, ok = fit_gaussians(samples, positions, np.zeros(3), np.ones(3))
    assert ok.all()
    np.testing.assert_allclose(centre, true_centre, atol=1e-6)
    np.testing.assert_allclose(sigma, 0.9, atol=1e-6)


def test_too_few_arc_lines_do_not_make_a_solution():
    _, fmt = _format()
    x, inside = fmt.columns()
    flux = np.zeros((fmt.nspax, fmt.length))
    with pytest.raises(WavelengthSolutionError, match="arc lines found"):
        fit_wavelength_solution(flux, inside, fmt, np.array([2.17]), 4000)


def test_slicer_traces_measured_on_a_flat_with_every_spectrum_lit():
    from dataclasses import replace

    from iris_pipeline.ifs.calibration import measure_traces_all_lit

    _, truth = _format("SLICER", spaxels=(4, 6), window=192)
    image = model_image((192, 192), truth, np.full((truth.nspax, truth.length), 50.0))
    variance = image / 100.0 + 1e-4
    start = replace(truth, trace=truth.trace + np.array([0.25, 0.0, 0.0]), sigma=truth.sigma * 1.1)
    measured = measure_traces_all_lit(image, variance, start)
    assert np.max(np.abs(measured.trace[:, 0] - truth.trace[:, 0])) < 0.02
    assert np.max(np.abs(measured.sigma / truth.sigma - 1)) < 0.01
