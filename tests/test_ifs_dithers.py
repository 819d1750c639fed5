"""Dithered IFS simulations: N exposures with their pointing and dither keywords, and spec3 on them.

The end-to-end figures (flux, outliers, spectra, noise) are in ``benchmarks/check_spec3_truth.py``;
here a small slicer field (10 x 8 spaxels, 1024^2 window) is reduced by spec2 per exposure and
spec3 on the four cubes, and the point source must come out where the truth puts it.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from iris_pipeline.simulate.ifs import IFSConfiguration, IFSScene, simulate_ifs_observation
from iris_pipeline.simulate.ifs.observation import commanded_pointing, dither_offsets

logging.getLogger("stpipe").setLevel(logging.WARNING)

CONFIG = dict(spaxels=(10, 8), wave_range_um=(2.05, 2.25), window_size=1024)  # noqa: C408
POINTING_ERRORS = [(0.0, 0.0), (0.12, -0.08), (-0.1, 0.06), (0.07, 0.1)]


def test_default_pattern_is_a_half_spaxel_box():
    assert dither_offsets(1) == [(0.0, 0.0)]
    assert dither_offsets(4) == [(0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (0.5, 0.5)]
    assert dither_offsets(5)[4] == (0.25, 0.25)


def test_dithered_exposures_carry_their_offsets_and_pointings(tmp_path):
    config = IFSConfiguration.create("SLICER", **CONFIG)
    sim = simulate_ifs_observation(tmp_path / "sim", config, seed=2, dithers=4, pointing_error_spax=POINTING_ERRORS,
                                   calibrations=False, cosmic_rays=3)  # fmt: skip
    assert len(sim.dithers) == len(sim.dither_skies) == len(sim.dither_associations) == 4
    assert sim.dithers[0] == sim.science and sim.dither_associations[0] == sim.association
    assert len({*sim.dithers, *sim.dither_skies}) == 8
    scale_arcsec = config.scale_mas / 1000
    truth = Table.read(f"{sim.truth_dir}/dithers.ecsv")
    for k, (path, (dx, dy)) in enumerate(zip(sim.dithers, dither_offsets(4), strict=True)):
        header = fits.getheader(path)
        assert header["PATT_NUM"] == k + 1 and header["NUMDTHPT"] == 4
        assert header["XOFFSET"] == pytest.approx(dx * scale_arcsec)
        assert header["YOFFSET"] == pytest.approx(dy * scale_arcsec)
        # Commanded pointing: +x is West (RA decreasing), +y North, at the plate scale.
        dra = (header["RA_REF"] - 150.0) * math.cos(math.radians(2.0)) * 3.6e6 / config.scale_mas
        ddec = (header["DEC_REF"] - 2.0) * 3.6e6 / config.scale_mas
        assert (-dra, ddec) == pytest.approx((dx, dy), abs=1e-6)
        assert (truth["ra_ref"][k], truth["dec_ref"][k]) == pytest.approx((header["RA_REF"], header["DEC_REF"]))
        assert (truth["error_x_spax"][k], truth["error_y_spax"][k]) == pytest.approx(POINTING_ERRORS[k])
    outliers = Table.read(f"{sim.truth_dir}/outliers.ecsv")
    assert len(outliers) == 3 and set(outliers["exposure"]) == {1}
    np.testing.assert_allclose(outliers["x_ref"], outliers["spax_x"] + 0.5 + POINTING_ERRORS[1][0])


def test_one_exposure_by_default_and_dithers_are_deterministic(tmp_path):
    config = IFSConfiguration.create("SLICER", **CONFIG)
    single = simulate_ifs_observation(tmp_path / "one", config, seed=2, calibrations=False)
    assert single.dithers == [single.science]
    assert "PATT_NUM" not in fits.getheader(single.science)
    first = simulate_ifs_observation(tmp_path / "a", config, seed=2, dithers=2, pointing_error_spax=0.1,
                                     calibrations=False)  # fmt: skip
    second = simulate_ifs_observation(tmp_path / "b", config, seed=2, dithers=2, pointing_error_spax=0.1,
                                      calibrations=False)  # fmt: skip
    with open(first.dithers[1], "rb") as a, open(second.dithers[1], "rb") as b:
        assert a.read() == b.read()
    errors = Table.read(f"{first.truth_dir}/dithers.ecsv")
    assert errors["error_x_spax"][0] == 0.0 and errors["error_x_spax"][1] != 0.0


def test_commanded_pointing_moves_the_field_centre():
    config = IFSConfiguration.create("LENSLET", **CONFIG)
    assert commanded_pointing(config, 0.0, 0.0) == pytest.approx((150.0, 2.0))


def test_spec3_recovers_the_point_source_of_dithered_exposures(tmp_path):
    from iris_pipeline.associations.io import Association, AssociationMember, AssociationProduct, write_association
    from iris_pipeline.pipelines.ifs_calibration import CreateIFSFlatPipeline, CreateWavecalPipeline
    from iris_pipeline.pipelines.spec2 import Spec2Pipeline
    from iris_pipeline.pipelines.spec3 import Spec3Pipeline

    config = IFSConfiguration.create("SLICER", spaxels=(12, 10), wave_range_um=(2.05, 2.25), window_size=1024)
    # The point source 6 spaxels from a fainter, compact extended source, away from the field's edges.
    scene = IFSScene(point_xy_spax=(3.43, 4.81), extended_xy_spax=(9.5, 4.1), extended_sigma_spax=(1.2, 1.0),
                     extended_peak_w_m2_um=3e-18, line_flux_peak_w_m2=1.5e-20)  # fmt: skip
    sim = simulate_ifs_observation(tmp_path / "sim", config, scene, seed=3, dithers=4,
                                   pointing_error_spax=POINTING_ERRORS)  # fmt: skip
    products = tmp_path / "products"
    calibrate = {"refstore": sim.refstore, "output_dir": str(products), "save_results": True}
    CreateWavecalPipeline.call(sim.arc, **calibrate)
    CreateIFSFlatPipeline.call(sim.flat, **calibrate)
    members = []
    for association in sim.dither_associations:
        cube = Spec2Pipeline.call(association, refstore=sim.refstore, output_dir=str(products), save_results=True,
                                  quicklook=False)  # fmt: skip
        members.append(AssociationMember(str(products / cube.meta.filename), "science"))
    asn = write_association(Association(asn_type="spec3", products=[AssociationProduct("dithered", members)],
                                        asn_rule="test"), tmp_path / "dithered_spec3_asn.json")  # fmt: skip
    pipeline = Spec3Pipeline()
    pipeline.quicklook = False
    combined = pipeline.run(str(asn))
    assert combined.meta.cal_step.cube_align == "COMPLETE"
    sources = Table.read(f"{sim.truth_dir}/sources.ecsv")
    true_x, true_y = float(sources["x_spax"][0]), float(sources["y_spax"][0])
    # Source list RA, Dec -> spaxels of the reference frame (the first exposure's commanded pointing).
    scale_deg = config.scale_mas / 3.6e6
    found = []
    for row in pipeline.sources:
        x = 0.5 * (config.nspax_x - 1) - (row["ra"] - 150.0) * math.cos(math.radians(2.0)) / scale_deg
        y = 0.5 * (config.nspax_y - 1) + (row["dec"] - 2.0) / scale_deg
        found.append(math.hypot(x - true_x, y - true_y))
    assert min(found) < 0.1, found
