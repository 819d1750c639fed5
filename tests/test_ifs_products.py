"""IFS products opened by the tools users have: specutils from the path, astropy, in MJy/sr."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits

from iris_pipeline.pipelines.spec2 import Spec2Pipeline
from iris_pipeline.simulate.ifs import IFSConfiguration, IFSScene, simulate_ifs_observation
from iris_pipeline.simulate.ifs.truth import truth_on_grid

specutils = pytest.importorskip("specutils")

logging.getLogger("stpipe").setLevel(logging.WARNING)


@pytest.fixture(scope="module")
def cube_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("products")
    config = IFSConfiguration.create("SLICER", spaxels=(6, 8), wave_range_um=(2.15, 2.19), window_size=192)
    sim = simulate_ifs_observation(root / "sim", config, IFSScene(point_xy_spax=(2.3, 3.6)), seed=5,
                                   calibrations=False)  # fmt: skip
    cube = Spec2Pipeline.call(sim.association, refstore=sim.refstore, output_dir=str(root / "out"),
                              save_results=True, quicklook=False)  # fmt: skip
    return root / "out" / cube.meta.filename, sim


def test_cube_is_in_mjy_sr_with_the_spaxel_solid_angle(cube_path):
    path, sim = cube_path
    with fits.open(path) as hdul:
        assert hdul["SCI"].header["BUNIT"] == "MJy/sr" and hdul["ERR"].header["BUNIT"] == "MJy/sr"
        assert hdul["SCI"].header["PIXAR_SR"] == pytest.approx(((25 * u.mas) ** 2).to_value(u.sr), rel=1e-9)
        assert hdul[0].header["DISPAXIS"] == 3 and hdul[0].header["TELESCOP"] != "JWST"
        # jdaviz's Cubeviz takes an image extension for a cube's flux only with DISPAXIS in its header.
        assert hdul["SCI"].header["DISPAXIS"] == 3
        data, wave = hdul["SCI"].data, hdul["WAVELENGTH"].data.astype(float)
    truth = truth_on_grid(sim.truth_dir, wave)
    bright = truth > 0.3 * np.nanmax(truth)
    # Surface brightness of the point source's core within a few percent of the truth (flat and
    # throughput truth differ by the 4 % spaxel scatter, not by the 1e17 of a unit mistake).
    assert np.nanmedian(data[bright] / truth[bright]) == pytest.approx(1.0, abs=0.06)


def test_specutils_identifies_and_reads_the_cube_from_its_path(cube_path):
    from specutils import Spectrum
    from specutils.io.registers import identify_spectrum_format

    path, _ = cube_path
    assert identify_spectrum_format(str(path)) == "wcs1d-fits"
    # specutils' wcs1d-fits loader cannot convert the unit of an extension named ERR
    # (KeyError 'err'); the uncertainty type is therefore named.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generic = Spectrum.read(str(path), uncertainty_type="std")
        jwst = Spectrum.read(str(path), format="JWST s3d")
    with fits.open(path) as hdul:
        data, err, wave = hdul["SCI"].data, hdul["ERR"].data, hdul["WAVELENGTH"].data.astype(float)
    for spectrum in (generic, jwst):
        assert spectrum.flux.unit == u.MJy / u.sr
        np.testing.assert_allclose(spectrum.spectral_axis.to_value(u.um), wave, rtol=1e-6)
        np.testing.assert_array_equal(np.moveaxis(spectrum.flux.value, spectrum.spectral_axis_index, 0)
                                      if spectrum.flux.shape != data.shape else spectrum.flux.value, data)  # fmt: skip
        assert spectrum.uncertainty is not None
    np.testing.assert_array_equal(generic.uncertainty.array, err)
