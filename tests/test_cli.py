"""The iris-pipeline command: exit codes, one-line errors, and real processing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import linear_ramp, write_raw

from iris_pipeline import datamodels
from iris_pipeline.cli import main

BIN = Path(sys.executable).parent


def run_cli(*args, env=None):
    return subprocess.run(
        [str(BIN / "iris-pipeline"), *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


def test_process_writes_rate_products_and_summary(tmp_path, refstore, capsys):
    raw = write_raw(tmp_path / "s_uncal.fits", linear_ramp(np.full((32, 32), 7 / 0.72), ngroups=4))
    status = main(["process", str(raw), "-o", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert status == 0
    assert "1 succeeded, 0 failed" in out and "stage 2 (image2) not implemented yet" in out
    with datamodels.open(tmp_path / "out" / "s_rate.fits") as rate:
        np.testing.assert_allclose(rate.data, 7 / 0.72, rtol=1e-5)


def test_process_folder_continues_after_a_bad_file(tmp_path, refstore, capsys):
    write_raw(tmp_path / "good_uncal.fits", linear_ramp(np.full((32, 32), 1.0), ngroups=3))
    write_raw(
        tmp_path / "weird_uncal.fits",
        linear_ramp(np.full((32, 32), 1.0), ngroups=3),
        EXP_TYPE="IRIS_HOLOGRAM",
    )
    status = main(["process", str(tmp_path), "-o", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert status == 1
    assert "1 succeeded, 1 failed" in out
    assert "error: unknown EXP_TYPE 'IRIS_HOLOGRAM'" in out
    assert sorted(p.name for p in (tmp_path / "out").glob("*.fits")) == ["good_rate.fits", "good_rateints.fits"]
    assert (tmp_path / "out" / "good_rate.provenance.json").is_file()
    assert "error: unknown EXP_TYPE" in (tmp_path / "out" / "run_summary.txt").read_text()


def test_process_missing_reference_names_the_problem(tmp_path, capsys):
    raw = write_raw(tmp_path / "n_uncal.fits", linear_ramp(np.ones((8, 8)), ngroups=3))
    status = main(["process", str(raw), "-o", str(tmp_path / "out"), "--refstore", str(tmp_path / "empty")])
    out = capsys.readouterr().out
    assert status == 1
    assert "error: no mask reference file in" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["run_summary.json", "run_summary.txt"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "missing.fits: file not found"), ("hello", "bad.fits: not a FITS file")],
)
def test_info_bad_inputs_are_one_line_errors(tmp_path, content, message):
    name = "missing.fits" if content is None else "bad.fits"
    if content is not None:
        (tmp_path / name).write_text(content)
    result = run_cli("info", tmp_path / name)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("iris-pipeline: error: ") and message in result.stderr


def test_info_summarises_a_raw_file(tmp_path, capsys):
    raw = write_raw(tmp_path / "i_uncal.fits", linear_ramp(np.ones((8, 8)), ngroups=3))
    assert main(["info", str(raw)]) == 0
    out = capsys.readouterr().out
    assert "RawRampModel" in out and "IRIS_IMAGE" in out and "ngroups 3" in out and "uint16" in out


def test_refs_commands(tmp_path, refstore, capsys):
    assert main(["refs", "list"]) == 0
    assert "iris_img1_gain.fits" in capsys.readouterr().out
    assert main(["refs", "check"]) == 0
    (refstore / "iris_img1_gain.fits").write_bytes(b"corrupted")
    assert main(["refs", "check"]) == 1
    assert "checksum differs" in capsys.readouterr().out
    raw = write_raw(tmp_path / "q_uncal.fits", linear_ramp(np.ones((8, 8)), ngroups=3))
    assert main(["refs", "select", str(raw)]) == 0
    assert "saturation  iris_img1_saturation.fits" in capsys.readouterr().out


def test_help_for_every_command():
    for command in ("process", "asn", "simulate", "refs", "info", "exptypes", "demo"):
        result = run_cli(command, "--help")
        assert result.returncode == 0 and "usage: iris-pipeline" in result.stdout


def test_unknown_command_is_a_usage_error():
    assert run_cli("frobnicate").returncode == 2


def test_darks_keep_their_dark_current(tmp_path, refstore, capsys):
    raw = write_raw(
        tmp_path / "d_uncal.fits", linear_ramp(np.full((32, 32), 1.0), ngroups=3), EXP_TYPE="IRIS_IMAGE_DARK"
    )
    assert main(["process", str(raw), "-o", str(tmp_path / "out")]) == 0
    with datamodels.open(tmp_path / "out" / "d_rate.fits") as rate:
        assert rate.meta.cal_step.dark_current == "SKIPPED"
        assert rate.meta.cal_step.linearity == "COMPLETE"
