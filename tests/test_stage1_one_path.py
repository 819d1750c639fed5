"""The stage-1 steps run one at a time on the files each one saves give what detector1 gives.

Each step is run as ``strun`` runs it (stpipe's command-line entry: once in a real ``strun``
process, otherwise in this process to save the interpreter start-up), on the file the previous
step saved: FITS arrays come back big-endian, as a user's chain sees them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from stpipe import _cmdline

from iris_pipeline import datamodels, dqflags
from iris_pipeline.instruments import get_instrument
from iris_pipeline.pipelines import Detector1Pipeline
from iris_pipeline.simulate import (
    ExposureInfo,
    Pointing,
    Stream,
    make_detector_geometry,
    make_detector_model,
    make_read_pattern,
    make_rng,
    raw_keywords,
    simulate_ramp,
    write_raw,
    write_reference_files,
    write_refstore,
)

IRIS = get_instrument("IRIS")
SIZE = 64
STEPS = ("dq_init", "saturation", "superbias", "refpix", "linearity", "dark_current", "jump", "ramp_fit")
STRUN = Path(sys.executable).parent / "strun"


def simulate(root: Path, *, read_mode="UTR", ngroups=None, nframes=None, nints=1, inner_window=False, seed=3,
             decades=7.0):  # fmt: skip
    """A small window lit from 10 e-/s up over ``decades`` (to saturation), with cosmic rays, and its references."""
    model = make_detector_model("IRIS", "IMG1", size=SIZE, seed=seed, inner_window=inner_window)
    geometry = make_detector_geometry(IRIS, "IMG1", make_rng(seed, Stream.GEOMETRY, 0))
    illumination = np.broadcast_to(10.0 * 10 ** (decades * np.linspace(0.0, 1.0, SIZE)), (SIZE, SIZE)).copy()
    pattern = make_read_pattern(IRIS, read_mode, SIZE, ngroups=ngroups, nframes=nframes)
    ramp = simulate_ramp(
        model, illumination, pattern, make_rng(seed, Stream.EXPOSURE, 0), nints=nints, cosmic_ray_rate_per_pix_s=0.5
    )
    refs = root / "refs"
    write_reference_files(refs, IRIS, model, geometry, "Kbb", 0.3, "2031-01-01T00:00:00")
    write_refstore(refs)
    info = ExposureInfo(
        exp_type="IRIS_IMAGE", date_obs="2031-03-15T08:00:00.000", program="001", observation="001", visit="001",
        exposure=1, target_name="one path", target_ra_deg=150.0, target_dec_deg=2.0, pointing=Pointing(150.0, 2.0, 0.0),
    )  # fmt: skip
    keywords = raw_keywords(IRIS, "IMG1", "Kbb", model.window, pattern, nints, info)
    return write_raw(root / "obs_uncal.fits", ramp.data, keywords), refs


def run_chain(raw: Path, refs: Path, out: Path, *, real_strun: bool) -> Path:
    """Every stage-1 step alone, each on the file the previous one saved; the _rate file."""
    current = raw
    for alias in STEPS:
        args = [f"iris-pipeline::{alias}", str(current), f"--refstore={refs}", f"--output_dir={out}"]
        if real_strun:
            result = subprocess.run([str(STRUN), *args], capture_output=True, text=True, check=False)
            assert result.returncode == 0, result.stderr[-3000:]
        else:
            _cmdline.step_from_cmdline(args)
        current = out / f"obs_{alias}.fits"
        if alias != "ramp_fit":
            assert current.exists(), f"{alias} saved no {current.name}"
    return out / "obs_rate.fits"


def assert_same_products(chain_rate: Path, pipeline_rate: Path, nints: int):
    pipeline_rateints = Path(str(pipeline_rate).replace("_rate", "_rateints"))
    assert pipeline_rateints.exists() == (nints > 1)  # detector1 writes _rateints only when it adds something
    for suffix in ("rate", "rateints") if nints > 1 else ("rate",):
        with (
            datamodels.open(str(chain_rate).replace("_rate", f"_{suffix}")) as chained,
            datamodels.open(str(pipeline_rate).replace("_rate", f"_{suffix}")) as streamed,
        ):
            for name in ("data", "err", "var_poisson", "var_rnoise", "dq"):
                chained_array, streamed_array = getattr(chained, name), getattr(streamed, name)
                np.testing.assert_array_equal(chained_array, streamed_array, err_msg=f"{suffix} {name}")


CASES = {
    "utr": {"read_mode": "UTR", "ngroups": 6},
    "cds": {"read_mode": "CDS"},
    "mcds4": {"read_mode": "MCDS", "nframes": 4},
    "utr_averaged": {"read_mode": "UTR", "ngroups": 5, "nframes": 4},
    "multi_integration": {"read_mode": "UTR", "ngroups": 4, "nints": 3},
    "cds_multi_integration": {"read_mode": "CDS", "nints": 4},
    "subarray": {"read_mode": "UTR", "ngroups": 5, "inner_window": True},
}


@pytest.mark.parametrize("case", list(CASES))
def test_steps_one_at_a_time_equal_detector1(tmp_path, case):
    raw, refs = simulate(tmp_path, **CASES[case])
    chain_out, pipeline_out = tmp_path / "chain", tmp_path / "pipeline"
    chain_out.mkdir()
    pipeline_out.mkdir()
    chain_rate = run_chain(raw, refs, chain_out, real_strun=case == "utr")
    Detector1Pipeline.call(str(raw), refstore=str(refs), output_dir=str(pipeline_out), save_results=True)
    with datamodels.open(chain_rate) as rate:
        flagged = rate.dq & (dqflags.PIXEL["SATURATED"] | dqflags.PIXEL["JUMP_DET"])
        assert (flagged != 0).any(), "the case should exercise saturation and jumps"
        if CASES[case].get("nints", 1) > 1:
            assert (rate.dq & dqflags.PIXEL["JUMP_DET"]).any(), "jumps are found in every multi-integration case"
        assert np.isfinite(rate.data).mean() > 0.5
    assert_same_products(chain_rate, pipeline_out / "obs_rate.fits", CASES[case].get("nints", 1))


def test_saturation_alone_on_mcds_uses_the_bias(tmp_path):
    """Faint MCDS data (4 reads per group) never saturate, whether saturation runs alone or in detector1."""
    raw, refs = simulate(tmp_path, read_mode="MCDS", nframes=4, seed=5, decades=3.0)
    for alias, source in (("dq_init", "obs_uncal.fits"), ("saturation", "obs_dq_init.fits")):
        _cmdline.step_from_cmdline(
            [f"iris-pipeline::{alias}", str(tmp_path / source), f"--refstore={refs}", f"--output_dir={tmp_path}"]
        )
    with datamodels.open(tmp_path / "obs_saturation.fits") as ramp:
        assert not (ramp.groupdq & dqflags.GROUP["SATURATED"]).any()
