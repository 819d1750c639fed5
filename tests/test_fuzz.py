"""Fuzzing the doors users use: mutated raw and rate headers and association files given to
``iris-pipeline process`` and ``iris-pipeline info``. Every outcome is a result or a one-line
error: never a traceback, never a file written outside the output folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from conftest import linear_ramp, write_raw, write_refstore

from iris_pipeline import cli, datamodels
from iris_pipeline.exceptions import InputFileError

SHAPE = (16, 16)
STRUCTURAL_KEYWORDS = ("DATAMODL", "INSTRUME", "DETECTOR", "EXP_TYPE", "READMODE", "NINTS", "NGROUPS", "NFRAMES",
                       "GROUPGAP", "TFRAME", "TGROUP", "DATE-OBS", "SUBARRAY", "SUBSTRT1", "SUBSTRT2", "SUBSIZE1",
                       "SUBSIZE2", "TSOVISIT", "IFSMODE", "RESPOWER")  # fmt: skip
HOSTILE_VALUES = (0, -1, -3, 1, 2**31, 1e30, -0.5, "", " ", "NaN", "../../x", "2030-13-45T99:99:99", "IRIS_NOPE",
                  "RateModel", "ImageModel", "LIGER", True, "UTR", "FULL", 40000)  # fmt: skip


def _mutated_header(rng, header: fits.Header) -> fits.Header:
    header = header.copy()
    for _ in range(int(rng.integers(1, 4))):
        key = STRUCTURAL_KEYWORDS[int(rng.integers(len(STRUCTURAL_KEYWORDS)))]
        if rng.random() < 0.3:
            header.remove(key, ignore_missing=True)
        else:
            header[key] = HOSTILE_VALUES[int(rng.integers(len(HOSTILE_VALUES)))]
    return header


def _mutated_association(rng, members: list[str]) -> object:
    product = {"name": rng.choice(["m", "../../escaped", "/tmp/abs", "*", "ok_name", 7, None]),
               "members": [{"expname": rng.choice(members + ["../nope_cal.fits", "", "/etc/passwd"]),
                            "exptype": rng.choice(["science", "background", "bogus", 3])}
                           for _ in range(int(rng.integers(0, 4)))]}  # fmt: skip
    document = {"asn_type": rng.choice(["image3", "image2", "None", "spec9", "", 5]), "products": [product]}
    shape = int(rng.integers(0, 6))
    if shape == 0:
        return [document]
    if shape == 1:
        return {"products": "nope"}
    if shape == 2:
        return {"products": [{"members": {"expname": "x"}}]}
    return document


def _files_outside(root: Path, out: Path) -> set[Path]:
    return {p for p in root.rglob("*") if out not in p.parents and p != out}


def _one_line_errors(text: str) -> None:
    assert "Traceback" not in text
    for line in text.splitlines():
        if "error" in line:
            assert line.startswith(("iris-pipeline: error:", " ")), line


def test_mutated_inputs_give_results_or_one_line_errors(tmp_path, capsys):
    rng = np.random.default_rng(2026)
    inputs = tmp_path / "in"
    inputs.mkdir()
    refs = write_refstore(tmp_path / "refs", SHAPE)
    template = write_raw(tmp_path / "template_uncal.fits", linear_ramp(np.full(SHAPE, 3.0), ngroups=3))
    rate = datamodels.RateModel(data=np.ones(SHAPE, np.float32), dq=np.zeros(SHAPE, np.uint32),
                                err=np.ones(SHAPE, np.float32))  # fmt: skip
    rate.meta.instrument.name, rate.meta.instrument.detector, rate.meta.exposure.type = "IRIS", "IMG1", "IRIS_IMAGE"
    rate.meta.observation.date_obs = "2030-03-01T05:00:00"
    rate.save(tmp_path / "template_rate.fits")
    files = []
    for number in range(120):
        with fits.open(template) as hdul:
            hdul[0].header = _mutated_header(rng, hdul[0].header)
            if rng.random() < 0.1:
                hdul["SCI"].data = hdul["SCI"].data[:, :2]
            path = inputs / f"raw{number:03d}_uncal.fits"
            hdul.writeto(path, output_verify="silentfix+ignore")
        if rng.random() < 0.05:
            path.write_bytes(path.read_bytes()[: int(rng.integers(100, path.stat().st_size))])
        files.append(path)
    for number in range(50):
        with fits.open(tmp_path / "template_rate.fits") as hdul:
            hdul[0].header = _mutated_header(rng, hdul[0].header)
            path = inputs / f"r{number:03d}_rate.fits"
            hdul.writeto(path, output_verify="silentfix+ignore")
        files.append(path)
    members = [p.name for p in files[-50:]]
    for number in range(40):
        path = inputs / f"a{number:03d}_asn.json"
        path.write_text(json.dumps(_mutated_association(rng, members)))
        files.append(path)
    assert len(files) >= 200
    before = _files_outside(tmp_path, tmp_path / "out")
    capsys.readouterr()
    status = cli.main(["process", *map(str, files), "-o", str(tmp_path / "out"), "--refstore", str(refs),
                       "--stage", "1", "--workers", "0", "--no-progress"])  # fmt: skip
    captured = capsys.readouterr()
    assert status in (0, 1)
    _one_line_errors(captured.out + captured.err)
    summary_path = tmp_path / "out" / "run_summary.json"
    for unit in json.loads(summary_path.read_text())["units"] if summary_path.exists() else []:
        assert all("\n" not in note for note in unit["notes"])
    for path in files:
        capsys.readouterr()
        assert cli.main(["info", str(path)]) in (0, 1)
        captured = capsys.readouterr()
        _one_line_errors(captured.out + captured.err)
        assert captured.err.count("\n") <= 1
    assert _files_outside(tmp_path, tmp_path / "out") == before, "a file was written outside the output folder"


@pytest.mark.parametrize("keyword, value", [("NFRAMES", "ImageModel"), ("GROUPGAP", "none"), ("DATE-OBS", 3)])
def test_a_wrongly_typed_keyword_is_a_one_line_error_naming_file_and_keyword(tmp_path, capsys, keyword, value):
    path = write_raw(tmp_path / "obs_uncal.fits", linear_ramp(np.full(SHAPE, 3.0), ngroups=3))
    fits.setval(path, keyword, value=value)
    with pytest.raises(InputFileError) as raised:
        datamodels.open(path).close()
    message = str(raised.value)
    assert "obs_uncal.fits" in message and f"keyword {keyword}" in message and "\n" not in message
    assert cli.main(["info", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("iris-pipeline: error: ") and f"keyword {keyword}" in err and err.count("\n") == 1
