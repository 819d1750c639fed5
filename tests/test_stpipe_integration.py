"""stpipe integration: strun by alias, class path and parameter file, offline, with provenance."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import asdf
import numpy as np
import pytest
from astropy.io import fits
from conftest import linear_ramp, write_raw

from iris_pipeline import datamodels
from iris_pipeline.exceptions import ReferenceFileError
from iris_pipeline.pipelines import Detector1Pipeline
from iris_pipeline.references import sha256_of
from iris_pipeline.stpipe.integration import STEP_CLASSES

CONFIG_DIR = Path(__file__).parents[1] / "src" / "iris_pipeline" / "pipelines" / "config"
BIN = Path(sys.executable).parent


def offline_env(refstore):
    """Environment in which any CRDS or network access would fail."""
    env = dict(os.environ)
    env.update(
        IRIS_REFSTORE=str(refstore),
        CRDS_SERVER_URL="http://127.0.0.1:9",
        CRDS_PATH=str(Path(refstore).parent / "no_crds_cache"),
    )
    env.pop("IRIS_REF_BACKEND", None)
    return env


@pytest.fixture
def raw_file(tmp_path):
    rate = np.full((32, 32), 50 / 0.72)
    return write_raw(tmp_path / "obs_uncal.fits", linear_ramp(rate, ngroups=5))


@pytest.mark.parametrize(
    "target",
    [
        "detector1",
        "iris-pipeline::detector1",
        "iris_pipeline.pipelines.Detector1Pipeline",
        str(CONFIG_DIR / "detector1.cfg"),
        str(CONFIG_DIR / "detector1.asdf"),
    ],
    ids=["alias", "package-alias", "class-path", "cfg", "asdf"],
)
def test_strun_runs_detector1_offline(tmp_path, raw_file, refstore, target):
    out = tmp_path / "out"
    result = subprocess.run(
        [str(BIN / "strun"), target, str(raw_file), f"--output_dir={out}"],
        env=offline_env(refstore), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    with datamodels.open(out / "obs_rate.fits") as rate:
        np.testing.assert_allclose(rate.data, 50 / 0.72, rtol=1e-5)
    assert not (out / "obs_rateints.fits").exists()  # one integration: the rate says it all


def test_strun_single_step_by_alias(tmp_path, raw_file, refstore):
    result = subprocess.run(
        [str(BIN / "strun"), "dq_init", str(raw_file), f"--output_dir={tmp_path / 'o'}"],
        env=offline_env(refstore), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    with datamodels.open(tmp_path / "o" / "obs_dq_init.fits") as ramp:
        assert isinstance(ramp, datamodels.RampModel)
        assert ramp.meta.cal_step.dq_init == "COMPLETE"


def test_stpipe_list_shows_every_registered_step():
    result = subprocess.run([str(BIN / "stpipe"), "list"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for class_path, alias, _ in STEP_CLASSES:
        assert f"{class_path} ({alias})" in result.stdout


def test_every_pipeline_ships_matching_cfg_and_asdf_parameter_files():
    pipelines = [(path, alias) for path, alias, is_pipeline in STEP_CLASSES if is_pipeline]
    assert pipelines
    for class_path, alias in pipelines:
        module_name, _, class_name = class_path.rpartition(".")
        cls = getattr(importlib.import_module(module_name), class_name)
        defaults = cls().get_pars()
        with asdf.open(CONFIG_DIR / f"{alias}.asdf") as af:
            assert af.tree["class"].endswith(cls.__name__)
            shipped = {s["name"]: s["parameters"] for s in af.tree.get("steps", [])}
            for step_name, step_pars in defaults.get("steps", {}).items():
                assert shipped[step_name] == step_pars, f"{alias}.asdf differs for {step_name}"
            for name, value in defaults.items():
                if name != "steps" and name in af.tree["parameters"]:
                    assert af.tree["parameters"][name] == value, f"{alias}.asdf differs for {name}"
        cfg_text = (CONFIG_DIR / f"{alias}.cfg").read_text()
        assert f'class = "{class_path}"' in cfg_text


def test_parameter_file_values_take_effect(tmp_path, refstore):
    rate = np.full((16, 16), 10.0)
    rate[8, 8] = 12000.0 / 0.72  # crosses the 60000 DN saturation level in group 5
    raw = write_raw(tmp_path / "sat_uncal.fits", linear_ramp(rate, ngroups=6))
    for grow, expected in ((0, 1), (1, 9)):
        cfg = tmp_path / f"grow{grow}.cfg"
        cfg.write_text(
            'class = "iris_pipeline.pipelines.Detector1Pipeline"\n'
            f"save_calibrated_ramp = True\n[steps]\n[[saturation]]\nn_pix_grow_sat = {grow}\n"
        )
        Detector1Pipeline.call(str(raw), config_file=str(cfg), output_dir=str(tmp_path / f"g{grow}"), save_results=True)
        with datamodels.open(tmp_path / f"g{grow}" / "sat_ramp.fits") as ramp:
            flagged = ramp.groupdq[0, -1] & 2
            assert np.count_nonzero(flagged) == expected


def test_products_record_reference_files_and_checksums(tmp_path, raw_file, refstore):
    Detector1Pipeline.call(str(raw_file), output_dir=str(tmp_path), save_results=True)
    header = fits.getheader(tmp_path / "obs_rate.fits")
    for reftype, keyword in (
        ("mask", "MASK"),
        ("saturation", "SATURA"),
        ("gain", "GAIN"),
        ("readnoise", "READNO"),
    ):
        ref = refstore / f"iris_img1_{reftype}.fits"
        assert header[f"R_{keyword}"] == ref.name
        assert header[f"H_{keyword}"] == sha256_of(ref)
    assert (header["S_DQINIT"], header["S_SATURA"], header["S_RAMP"]) == ("COMPLETE",) * 3


def test_override_reference_and_skip_are_recorded(tmp_path, raw_file, refstore):
    other_gain = tmp_path / "my_gain.fits"
    other_gain.write_bytes((refstore / "iris_img1_gain.fits").read_bytes())
    Detector1Pipeline.call(
        str(raw_file), output_dir=str(tmp_path), save_results=True,
        steps={"ramp_fit": {"override_gain": str(other_gain)}, "saturation": {"skip": True}},
    )  # fmt: skip
    header = fits.getheader(tmp_path / "obs_rate.fits")
    assert header["R_GAIN"] == "my_gain.fits"
    assert header["S_SATURA"] == "SKIPPED"


def test_missing_reference_fails_cleanly_and_writes_nothing(tmp_path, raw_file, refstore):
    (refstore / "iris_img1_gain.fits").unlink()
    out = tmp_path / "out"
    with pytest.raises(ReferenceFileError, match="iris_img1_gain.fits: gain reference listed in .* is missing"):
        Detector1Pipeline.call(str(raw_file), output_dir=str(out), save_results=True)
    assert not out.exists() or list(out.iterdir()) == []


def test_products_are_valid_fits(tmp_path, raw_file, refstore):
    Detector1Pipeline.call(str(raw_file), output_dir=str(tmp_path), save_results=True, save_rateints=True)
    for name in ("obs_rate.fits", "obs_rateints.fits"):
        with fits.open(tmp_path / name) as hdul:
            hdul.verify("exception")
