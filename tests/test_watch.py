"""``iris-pipeline watch``: files arriving one by one, truncated and malformed files, restart, stop.

Stage 1 is the real detector1 on small noiseless ramps (exact rates); stage 2 and stage 3 are the
stand-ins of test_execution (cal = rate, i2d = mean of the cal images), so that every product has
an exact expected value and the mosaic shows which members it was made from.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from conftest import linear_ramp, write_raw, write_refstore
from test_execution import PIPELINES

from iris_pipeline.execution import OK
from iris_pipeline.execution.watch import Watch, check_complete

SHAPE = (32, 32)
GROUP_TIME_S = 0.72
RATES = {"sci1": 5 / GROUP_TIME_S, "sci2": 9 / GROUP_TIME_S}
MOSAIC = "iris_p001_field_kbb_i2d.fits"
WATCH_PIPELINES = {alias: path for alias, path in PIPELINES.items() if alias != "create_dark"}


def _raw(path: Path, name: str) -> Path:
    number = list(RATES).index(name)
    return write_raw(path, linear_ramp(np.full(SHAPE, RATES[name]), ngroups=4), PROGRAM="001", OBSERVTN="001",
                     TARGNAME="FIELD", **{"DATE-OBS": f"2030-03-01T05:0{number}:00"})  # fmt: skip


def _wait_for(condition, timeout_s=300.0, what=""):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _mosaic_value(out: Path):
    try:
        return float(np.mean(fits.getdata(out / MOSAIC)))
    except (OSError, TypeError):
        return None


@pytest.fixture(scope="module")
def client():
    """An in-process cluster of two single-thread workers (detector affinity needs two)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as dask_client:  # fmt: skip
        yield dask_client


class _Running:
    """A Watch running in a thread, stopped on exit."""

    def __init__(self, raw, out, refs, client):
        self.watch = Watch(raw, out, refstore=refs, client=client, pipelines=WATCH_PIPELINES, poll_s=0.05,
                           settle_s=0.2)  # fmt: skip
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch.run, args=(self.stop,))

    def __enter__(self):
        self.thread.start()
        return self.watch

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "watch did not stop"


def test_check_complete_tells_whole_files_from_partial_ones(tmp_path):
    whole = _raw(tmp_path / "a_uncal.fits", "sci1")
    assert check_complete(whole) is None
    data = whole.read_bytes()
    cut = tmp_path / "cut_uncal.fits"
    cut.write_bytes(data[: len(data) - 2880])  # whole blocks, but the SCI data stops short
    assert "truncated" in check_complete(cut) or "end at byte" in check_complete(cut)
    (tmp_path / "odd_uncal.fits").write_bytes(data[:1000])
    assert "FITS blocks" in check_complete(tmp_path / "odd_uncal.fits")
    (tmp_path / "junk_uncal.fits").write_bytes(b"x" * 2880)
    assert "not a readable FITS file" in check_complete(tmp_path / "junk_uncal.fits")
    header_only = tmp_path / "header_uncal.fits"
    header_only.write_bytes(data[:2880])  # cut between the primary header and the SCI extension
    assert check_complete(header_only) == "primary header only, no data"


def test_watch_reduces_arrivals_skips_bad_files_and_updates_the_mosaic(tmp_path, client):
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    refs = write_refstore(tmp_path / "refs", SHAPE)
    staging = tmp_path / "staging"
    staging.mkdir()
    complete_sci2 = _raw(staging / "sci2_uncal.fits", "sci2").read_bytes()
    with _Running(raw, out, refs, client) as watch:
        _raw(raw / "sci1_uncal.fits", "sci1")
        (raw / "sci2_uncal.fits").write_bytes(complete_sci2[: len(complete_sci2) // 2880 // 2 * 2880])
        (raw / "junk_uncal.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 2850)
        _wait_for(lambda: _mosaic_value(out) is not None, what="the first mosaic")
        np.testing.assert_allclose(fits.getdata(out / "sci1_cal.fits"), RATES["sci1"], rtol=1e-5)
        assert _mosaic_value(out) == pytest.approx(RATES["sci1"], rel=1e-5)  # one member so far
        assert not (out / "sci2_rate.fits").exists()
        problems = {Path(name).name: text for name, text in watch.stats.problems.items()}
        assert set(problems) == {"sci2_uncal.fits", "junk_uncal.fits"}, problems
        # the truncated file is completed: it is reduced and the mosaic now has both members
        with open(raw / "sci2_uncal.fits", "ab") as stream:
            stream.write(complete_sci2[(raw / "sci2_uncal.fits").stat().st_size :])
        expected = np.mean(list(RATES.values()))
        _wait_for(lambda: _mosaic_value(out) == pytest.approx(expected, rel=1e-5), what="the two-member mosaic")
        np.testing.assert_allclose(fits.getdata(out / "sci2_cal.fits"), RATES["sci2"], rtol=1e-5)
    stats = watch.stats
    assert {r.status for r in stats.results.values()} == {OK}
    assert sorted(stats.results) == ["stage1:sci1", "stage1:sci2", "stage2:sci1", "stage2:sci2",
                                     "stage3:iris_p001_field_kbb"]  # fmt: skip
    assert all(latency > 0 for latency in stats.latency_s.values())
    assert stats.cancelled == []
    # each detector's tasks ran on one worker
    assert stats.results["stage1:sci1"].worker == stats.results["stage2:sci1"].worker
    summary = json.loads((out / "run_summary.json").read_text())
    succeeded = {row["unit"] for row in summary["units"] if row["status"] == "OK"}
    assert {str(raw.resolve() / f"{name}_uncal.fits") for name in RATES} <= succeeded
    assert not list(out.glob(".*partial*"))

    # restart after a kill that lost sci1's stage-2 product: only what is missing is redone
    (out / "sci1_cal.fits").unlink()
    with _Running(raw, out, refs, client) as again:
        _wait_for(lambda: (out / "sci1_cal.fits").exists() and "stage3:iris_p001_field_kbb" in again.stats.results,
                  what="the redone products")  # fmt: skip
    assert sorted(again.stats.results) == ["stage2:sci1", "stage3:iris_p001_field_kbb"]
    assert _mosaic_value(out) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_stops_the_command_cleanly(tmp_path, signum):
    """SIGTERM to the command, or SIGINT to its whole process group (Ctrl-C in a terminal, workers included)."""
    raw = tmp_path / "raw"
    raw.mkdir()
    command = [sys.executable, "-m", "iris_pipeline.cli", "watch", str(raw), "-o", str(tmp_path / "out"),
               "--workers", "1", "--refstore", str(write_refstore(tmp_path / "refs", SHAPE))]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONWARNINGS": "ignore"}, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        started = ""
        while "watching" not in started and time.monotonic() < deadline:
            started += process.stderr.readline()
        assert "watching" in started, started
        if signum == signal.SIGINT:
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert "watch stopped: 0 tasks done" in stdout
