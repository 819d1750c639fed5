"""Stage 1 -> stage 2 of an exposure in one process: the rate handed over in memory, not read back.

The products must be those of ``strun image2`` on the saved ``_rate.fits``, bit for bit, and a
night killed between the stages must resume from the written rate.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from iris_pipeline import datamodels
from iris_pipeline.execution import build_plan, run_plan, runner
from iris_pipeline.execution.handover import Handover, rates
from iris_pipeline.simulate import simulate_observation

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def observation(tmp_path_factory):
    """Two dithers of one imager detector (a small window), with the simulator's reference store."""
    return simulate_observation(
        tmp_path_factory.mktemp("handover") / "sim", instrument="IRIS", detectors=["IMG1"], size=96, ngroups=4,
        ndithers=2, n_stars=30, n_galaxies=2, ndarks=0, nflats=0, seed=8,
    )  # fmt: skip


@pytest.fixture
def handover():
    rates.clear()
    yield rates
    rates.clear()


def _night(observation, out: Path):
    plan = build_plan(observation.science, out, refstore=observation.reference_dir, last_stage=2)
    return run_plan(plan, workers=0, progress=False)


def _cal_name(raw: Path) -> str:
    return raw.name.replace("_uncal", "_cal")


def _assert_same_product(first: Path, second: Path) -> None:
    """Every array and every header card but the write time (DATE); the WCS on a pixel grid."""
    with fits.open(first) as ours, fits.open(second) as theirs:
        assert [hdu.name for hdu in ours] == [hdu.name for hdu in theirs]
        for mine, other in zip(ours, theirs, strict=True):
            if mine.name != "ASDF" and mine.data is not None:
                np.testing.assert_array_equal(mine.data, other.data, err_msg=f"{first.name} {mine.name}")
            cards = {key: value for key, value in mine.header.items() if key != "DATE"}
            assert cards == {key: value for key, value in other.header.items() if key != "DATE"}, mine.name
    with datamodels.open(first) as ours, datamodels.open(second) as theirs:
        y, x = np.mgrid[0:96:5, 0:96:5]
        for mine, other in zip(ours.meta.wcs(x, y), theirs.meta.wcs(x, y), strict=True):
            np.testing.assert_array_equal(mine, other)


def test_cal_from_the_rate_in_memory_is_strun_image2_on_the_rate_file(observation, handover, tmp_path):
    out = tmp_path / "night"
    plan = build_plan(observation.science, out, refstore=observation.reference_dir, last_stage=2)
    assert [task.handover for task in plan.tasks] == [True, True, False, False]
    report = run_plan(plan, workers=0, progress=False)
    assert not report.failed
    assert handover.taken == 2 and len(handover) == 0  # each stage 2 took its rate, once
    for raw in observation.science:
        rate = out / raw.name.replace("_uncal", "_rate")
        assert rate.is_file()  # still written: provenance, and what a resumed night starts from
        result = subprocess.run(
            [str(BIN / "strun"), "image2", str(rate), "--refstore", str(observation.reference_dir),
             "--output_dir", str(tmp_path / "strun")],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        _assert_same_product(out / _cal_name(raw), tmp_path / "strun" / _cal_name(raw))


def test_killed_between_the_stages_resumes_from_the_written_rate(observation, handover, tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    _night(observation, reference)
    original = runner.run_task

    def killed_at_stage2(task, *dependencies):
        if task.kind == "stage2":
            raise KeyboardInterrupt
        return original(task, *dependencies)

    resumed = tmp_path / "resumed"
    with monkeypatch.context() as patch:
        patch.setattr(runner, "run_task", killed_at_stage2)
        with pytest.raises(KeyboardInterrupt):
            _night(observation, resumed)
    first, second = (raw.name.removesuffix("_uncal.fits") for raw in observation.science)
    assert (resumed / f"{first}_rate.fits").is_file() and not (resumed / f"{second}_rate.fits").exists()
    handover.clear()  # the killed process took its memory with it
    report = _night(observation, resumed)
    assert not report.failed
    # the first exposure's stage 2 reads the rate written before the kill; the second's is handed over
    assert report.ran == [f"stage1:{second}", f"stage2:{first}", f"stage2:{second}"]
    assert handover.taken == 1
    for raw in observation.science:
        _assert_same_product(reference / _cal_name(raw), resumed / _cal_name(raw))


def test_a_model_is_taken_once_and_only_while_its_file_is_unchanged(tmp_path):
    kept = Handover(max_entries=2)
    paths = [tmp_path / f"{name}_rate.fits" for name in "abc"]
    for number, path in enumerate(paths):
        path.write_bytes(b"x" * 2880)
        kept.offer(path, f"model {number}")
    assert kept.take(paths[0]) is None  # the oldest was dropped when the third came
    assert kept.take(paths[1]) == "model 1"
    assert kept.take(paths[1]) is None  # once only: a retried task reads the file
    stat = paths[2].stat()
    os.utime(paths[2], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # rewritten meanwhile
    assert kept.take(paths[2]) is None
    assert kept.taken == 1
