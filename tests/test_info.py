"""``iris-pipeline info`` on every product kind: each shows its own properties."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table

from iris_pipeline import datamodels
from iris_pipeline.cli import main


def _info(capsys, *paths) -> tuple[int, str, str]:
    status = main(["info", *map(str, paths)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_info_on_a_catalogue(tmp_path, capsys):
    from astropy.coordinates import SkyCoord

    table = Table({"id": [1, 2, 3], "flux": [1.0, 2.0, 3.0] * u.Jy})
    # The catalogues of source_catalog have a SkyCoord column, as JWST's do.
    table["sky_centroid"] = SkyCoord([150.0, 150.1, 150.2], [2.0, 2.1, 2.2], unit="deg")
    table.meta["filter"] = "Kbb"
    path = tmp_path / "x_cat.ecsv"
    table.write(path, format="ascii.ecsv")
    status, out, _ = _info(capsys, path)
    assert status == 0
    assert "catalogue (ECSV), 3 rows, 3 columns" in out
    assert "[Jy]" in out.splitlines()[2] and "meta filter = Kbb" in out
    assert "sky_centroid" in out and "SkyCoord" in out.splitlines()[3]


def test_info_on_an_association_and_a_provenance_record(tmp_path, capsys):
    members = [{"expname": f"e{i}_cal.fits", "exptype": "science"} for i in range(3)]
    members.append({"expname": "s_cal.fits", "exptype": "background"})
    asn = {"asn_type": "image3", "asn_rule": "iris_stage3", "products": [{"name": "field", "members": members}]}
    record = {"task": "stage2:e1", "pipeline": "image2", "class": "X", "complete": True, "package_version": "1.2",
              "seconds": 2.5, "inputs": [{"path": "e1_rate.fits"}], "outputs": [{"path": "e1_cal.fits"}],
              "references": {"flat": "ab" * 32}}  # fmt: skip
    (tmp_path / "a_asn.json").write_text(json.dumps(asn))
    (tmp_path / "e1_cal.provenance.json").write_text(json.dumps(record))
    status, out, _ = _info(capsys, tmp_path / "a_asn.json", tmp_path / "e1_cal.provenance.json")
    assert status == 0
    assert "association image3" in out and "product field: 4 members (background 1, science 3)" in out
    assert "provenance record of task stage2:e1 (complete)" in out and "iris-pipeline 1.2" in out
    assert "e1_rate.fits" in out and "ref flat" in out


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("x.json", "not json", "not a JSON file"), ("y.json", "[1, 2]", "a JSON list"),
     ("z.json", '{"a": 1}', "not an association"), ("t.ecsv", "garbage\n1 2\n", "not a readable ECSV table")],
)  # fmt: skip
def test_info_bad_records_are_one_line_errors(tmp_path, capsys, name, content, message):
    (tmp_path / name).write_text(content)
    status, _, err = _info(capsys, tmp_path / name)
    assert status == 1 and err.count("\n") == 1 and message in err and name in err


def test_info_on_a_mosaic_shows_the_mosaic_not_its_first_member(tmp_path, capsys):
    mosaic = datamodels.MosaicModel((20, 30))
    mosaic.data[:] = 2.0
    meta = mosaic.meta
    meta.instrument.name, meta.instrument.detector, meta.instrument.filter = "IRIS", "IMG1", "Kbb"
    # what the first member carried: must not be shown as the mosaic's
    meta.exposure.type, meta.exposure.readmode, meta.exposure.ngroups = "IRIS_IMAGE", "UTR", 7
    meta.subarray.name = "SUB64"
    w = meta.wcsinfo
    w.ctype1, w.ctype2, w.crval1, w.crval2, w.crpix1, w.crpix2 = "RA---TAN", "DEC--TAN", 10.0, -5.0, 15.0, 10.0
    w.cd1_1, w.cd1_2, w.cd2_1, w.cd2_2 = -4e-3 / 3600, 0.0, 0.0, 4e-3 / 3600
    meta.resample.pointings, meta.resample.ninputs, meta.resample.kernel = 4, 16, "square"
    path = tmp_path / "f_i2d.fits"
    mosaic.save(path)
    status, out, _ = _info(capsys, path)
    assert status == 0
    assert "mosaic      30 x 20 pixels" in out and "4.00 mas/pixel" in out and "RA 10.000000 Dec -5.000000" in out
    assert "4 exposures, 16 detector images" in out
    assert "IMG1" not in out and "readmode" not in out and "SUB64" not in out and "ngroups" not in out


def test_info_on_a_cube(tmp_path, capsys):
    cube = datamodels.IFUCubeModel((5, 3, 4))
    cube.meta.instrument.name, cube.meta.instrument.detector = "IRIS", "IFS"
    cube.meta.subarray.name, cube.meta.exposure.readmode = "SUB1024", "UTR"
    cube.wavelength = np.linspace(2.0, 2.2, 5).astype(np.float32)
    path = tmp_path / "c_s3d.fits"
    cube.save(path)
    status, out, _ = _info(capsys, path)
    assert status == 0
    assert "4 x 3 spaxels x 5 wavelengths" in out and "2.00000 to 2.20000 um, step 0.05 um" in out
    assert "readmode" not in out and "SUB1024" not in out


def test_info_on_a_reference_file(tmp_path, capsys):
    flat = datamodels.FlatModel((4, 4))
    flat.meta.instrument.name, flat.meta.instrument.detector = "IRIS", "IMG2"
    flat.meta.reftype, flat.meta.useafter, flat.meta.pedigree = "FLAT", "2030-01-01T00:00:00", "GROUND"
    path = tmp_path / "flat.fits"
    flat.save(path)
    status, out, _ = _info(capsys, path)
    assert status == 0 and "reference   FLAT  useafter 2030-01-01T00:00:00  pedigree GROUND" in out
    assert "observed" not in out
