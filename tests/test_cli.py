"""The iris-pipeline command: exit codes, one-line errors, and real processing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from conftest import linear_ramp, write_raw, write_refstore

from iris_pipeline import datamodels
from iris_pipeline.cli import main

BIN = Path(sys.executable).parent


def run_cli(*args, env=None):
    return subprocess.run(
        [str(BIN / "iris-pipeline"), *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture
def stage1_only(monkeypatch):
    """Only detector1 registered: these tests are about the command, not the later pipelines."""
    monkeypatch.setattr(
        "iris_pipeline.execution.plan.available_pipelines",
        lambda: {"detector1": "iris_pipeline.pipelines.Detector1Pipeline"},
    )


def test_process_writes_rate_products_and_summary(tmp_path, refstore, capsys, stage1_only):
    raw = write_raw(tmp_path / "s_uncal.fits", linear_ramp(np.full((32, 32), 7 / 0.72), ngroups=4))
    status = main(["process", str(raw), "-o", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert status == 0
    assert "1 succeeded, 0 failed" in out and "stage 2 (image2) not implemented yet" in out
    with datamodels.open(tmp_path / "out" / "s_rate.fits") as rate:
        np.testing.assert_allclose(rate.data, 7 / 0.72, rtol=1e-5)


def test_process_folder_continues_after_a_bad_file(tmp_path, refstore, capsys, stage1_only):
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
    assert sorted(p.name for p in (tmp_path / "out").glob("*.fits")) == ["good_rate.fits"]
    assert (tmp_path / "out" / "good_rate.provenance.json").is_file()
    assert "error: unknown EXP_TYPE" in (tmp_path / "out" / "run_summary.txt").read_text()


def test_process_summary_says_when_a_step_could_not_do_its_job(tmp_path, capsys, stage1_only):
    """A window without reference pixels: the rate is made, S_REFPIX=SKIPPED, and the run summary warns."""
    window = {"SUBSTRT1": 1001, "SUBSTRT2": 1001}
    refs = write_refstore(tmp_path / "refs", (16, 16), **window)
    raw = tmp_path / "raw"
    raw.mkdir()
    write_raw(raw / "mid_uncal.fits", linear_ramp(np.full((16, 16), 2.0), ngroups=3), **window)
    status = main(["process", str(raw), "-o", str(tmp_path / "out"), "--refstore", str(refs), "--workers", "0"])
    out = capsys.readouterr().out
    assert status == 0
    assert fits.getval(tmp_path / "out" / "mid_rate.fits", "S_REFPIX") == "SKIPPED"
    for text in (out, (tmp_path / "out" / "run_summary.txt").read_text()):
        assert "warning: refpix SKIPPED: mid_uncal.fits: no reference pixels" in text, text
        assert "1 task(s) ended with warnings" in text
    summary = json.loads((tmp_path / "out" / "run_summary.json").read_text())
    assert any("no reference pixels" in message for task in summary["tasks"] for message in task["warnings"])
    record = json.loads((tmp_path / "out" / "mid_rate.provenance.json").read_text())
    assert any("no reference pixels" in message for message in record["warnings"])


def test_process_missing_reference_names_the_problem(tmp_path, capsys, stage1_only):
    raw = write_raw(tmp_path / "n_uncal.fits", linear_ramp(np.ones((8, 8)), ngroups=3))
    status = main(["process", str(raw), "-o", str(tmp_path / "out"), "--refstore", str(tmp_path / "empty")])
    out = capsys.readouterr().out
    assert status == 1
    assert f"error: reference store {tmp_path / 'empty'} does not exist (no refstore.yaml there)" in out
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


def test_a_reader_that_stops_reading_is_not_an_error():
    """``iris-pipeline exptypes | head -1``: the closed pipe ends the command quietly, status 0."""
    process = subprocess.Popen(
        [str(BIN / "iris-pipeline"), "exptypes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.close()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert stderr == b""


def test_unknown_command_is_a_usage_error():
    assert run_cli("frobnicate").returncode == 2


def test_darks_keep_their_dark_current(tmp_path, refstore, capsys, stage1_only):
    raw = write_raw(
        tmp_path / "d_uncal.fits", linear_ramp(np.full((32, 32), 1.0), ngroups=3), EXP_TYPE="IRIS_IMAGE_DARK"
    )
    assert main(["process", str(raw), "-o", str(tmp_path / "out")]) == 0
    with datamodels.open(tmp_path / "out" / "d_rate.fits") as rate:
        assert rate.meta.cal_step.dark_current == "SKIPPED"
        assert rate.meta.cal_step.linearity == "COMPLETE"


def test_process_rerun_does_no_work_and_dry_run_says_why(tmp_path, refstore, capsys, stage1_only):
    raw = write_raw(tmp_path / "r_uncal.fits", linear_ramp(np.full((32, 32), 3 / 0.72), ngroups=3))
    out = tmp_path / "out"
    assert main(["process", str(raw), "-o", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["process", str(raw), "-o", str(out), "--no-progress"]) == 0
    assert "nothing to do: all 1 tasks are up to date" in capsys.readouterr().out
    (out / "r_rate.fits").unlink()
    assert main(["process", str(raw), "-o", str(out), "--dry-run"]) == 0
    assert "would run stage1:r: output r_rate.fits is missing" in capsys.readouterr().out
    assert not (out / "r_rate.fits").exists()


def test_asn_command_writes_readable_associations(tmp_path, capsys):
    from iris_pipeline.associations import read_association

    for name, exp_type in (("a", "IRIS_IMAGE"), ("b", "IRIS_IMAGE"), ("s", "IRIS_IMAGE_SKY")):
        write_raw(tmp_path / f"{name}_rate.fits", linear_ramp(np.ones((8, 8)), ngroups=3), EXP_TYPE=exp_type,
                  DATAMODL="RateModel", PROGRAM="001", OBSERVTN="001", TARGNAME="T")  # fmt: skip
    assert main(["asn", str(tmp_path), "--stage", "2", "-o", str(tmp_path / "asn")]) == 0
    assert "3 members" not in capsys.readouterr().out
    association = read_association(tmp_path / "asn" / "a_image2_asn.json")
    assert [(m.path.name, m.exptype) for m in association.products[0].members] == [
        ("a_rate.fits", "science"),
        ("s_rate.fits", "background"),
    ]
    assert main(["asn", str(tmp_path / "a_rate.fits"), "--stage", "calib", "-o", str(tmp_path)]) == 1


def test_process_on_its_own_local_cluster(tmp_path, refstore, capsys, stage1_only):
    for name, rate in (("u", 4 / 0.72), ("v", 6 / 0.72)):
        write_raw(tmp_path / f"{name}_uncal.fits", linear_ramp(np.full((32, 32), rate), ngroups=3))
    out = tmp_path / "out"
    assert main(["process", str(tmp_path), "-o", str(out), "--workers", "2", "--no-progress"]) == 0
    assert "on local cluster, 2 workers x 1 threads" in capsys.readouterr().out
    for name, rate in (("u", 4 / 0.72), ("v", 6 / 0.72)):
        with datamodels.open(out / f"{name}_rate.fits") as model:
            np.testing.assert_allclose(model.data, rate, rtol=1e-5)


def test_process_quicklook_writes_previews_and_html_summary(tmp_path, refstore, capsys, stage1_only):
    raw = write_raw(tmp_path / "q_img1_uncal.fits", linear_ramp(np.full((32, 32), 2 / 0.72), ngroups=3))
    out = tmp_path / "out"
    assert main(["process", str(raw), "-o", str(out), "--quicklook", "--no-progress"]) == 0
    assert f"quick look: {out / 'run_summary.html'} (1 exposure previews)" in capsys.readouterr().out
    assert (out / "q_rate.png").stat().st_size > 1000  # the detector name is dropped from the preview's name
    html = (out / "run_summary.html").read_text()
    assert "q_img1_rate.fits" in html and "q_rate.png" in html


@pytest.mark.slow
def test_demo_reduces_the_simulated_night_to_a_mosaic(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path), "--size", "64", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    products = tmp_path / "products" / "imager"
    assert f"imager: products in {products.resolve()}" in out
    assert "0 failed, 0 skipped" in out
    from iris_pipeline.execution import available_pipelines

    rates = [p for p in products.glob("*_rate.fits") if "_dark_" not in p.name and "_flat_" not in p.name]
    assert len(rates) == 4 * (4 + 1)  # 4 detectors x (4 dithers + 1 sky)
    assert len(list(products.glob("iris_p001_o001_e00?_cal.png"))) == 4  # one 4-detector preview per dither
    assert "iris_p001_o001_e001_img1" in (products / "run_summary.html").read_text()
    if "image3" in available_pipelines():
        assert (products / "iris_p001_simulated-field_kbb_i2d.fits").is_file()
        assert (products / "iris_p001_simulated-field_kbb_cat.ecsv").is_file()


def test_simulate_ifs_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "ifs"
    status = main(["simulate", str(out), "--ifs", "slicer", "--spaxels", "4", "4", "--wave-range", "2.05", "2.15",
                   "--size", "512", "--level", "rate", "--no-calibrations", "--seed", "3"])  # fmt: skip
    printed = capsys.readouterr().out
    assert status == 0 and "simulated SLICER IFS observation" in printed
    science = sorted((out).rglob("*_rate.fits"))
    assert science, printed
    with datamodels.open(science[0]) as model:
        assert model.meta.instrument.ifs_mode == "SLICER"
        assert model.meta.exposure.type.startswith("IRIS_")
        assert model.data.shape == (512, 512)


def test_simulate_ifs_rejects_a_mode_the_instrument_lacks(capsys):
    assert main(["simulate", "unused", "--ifs", "lenslet", "--resolving-power", "123"]) == 1
    assert "iris-pipeline: error:" in capsys.readouterr().err
