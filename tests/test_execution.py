"""The execution engine: task graph, real LocalCluster runs, killed workers, resumability.

Stage 1 is the real detector1 on small noiseless ramps (exact rates); stage 2, stage 3 and the
dark calibration are small stand-in pipelines defined here, so that every product has an exact
expected value: cal = rate - mean rate of its sky members, i2d = mean of the cal images, and
the dark stand-in adds a new DARK reference file to the store (which stage 1 must then use).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from conftest import linear_ramp, write_raw, write_reference, write_refstore

from iris_pipeline import datamodels
from iris_pipeline.associations import is_association, read_association
from iris_pipeline.execution import FAILED, OK, SKIPPED, UP_TO_DATE, build_plan, format_summary, run_plan
from iris_pipeline.references import ReferenceStore, sha256_of
from iris_pipeline.stpipe import IrisPipeline

SHAPE = (32, 32)
GROUP_TIME_S = 0.72  # whole DN per group: the noiseless ramps give exact rates
SCIENCE_RATES = {"sci1": 5 / GROUP_TIME_S, "sci2": 7 / GROUP_TIME_S, "sci3": 9 / GROUP_TIME_S}
SKY_RATE = 2 / GROUP_TIME_S
THIS = "test_execution"
PIPELINES = {
    "detector1": "iris_pipeline.pipelines.Detector1Pipeline",
    "image2": f"{THIS}.SkySubtractStandIn",
    "image3": f"{THIS}.MeanMosaicStandIn",
    "create_dark": f"{THIS}.DarkStandIn",
}


def _atomic_fits(path: Path, data, die_midway: bool = False) -> None:
    tmp = path.parent / f".{path.stem}.stand-in.partial.fits"
    fits.PrimaryHDU(np.asarray(data, dtype=np.float32)).writeto(tmp, overwrite=True)
    if die_midway:
        os._exit(1)  # the worker process dies with the product half-written
    os.replace(tmp, path)


def _members(step_input) -> tuple[str, list[Path], list[Path]]:
    if is_association(step_input):
        product = read_association(step_input).products[0]
        return product.name, product.members_of("science", "dark"), product.members_of("background")
    name = Path(step_input).name.removesuffix("_rate.fits")
    return name, [Path(step_input)], []


def _in_dask_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
    except ValueError:
        return False
    return True


class SkySubtractStandIn(IrisPipeline):
    """Stage 2 stand-in: ``<product>_cal.fits`` = science rate - mean of the background rates."""

    class_alias = "image2"
    spec = """
    die_once = string(default="")  # product whose first attempt kills its worker mid-write
    """

    def process(self, step_input):
        if isinstance(step_input, datamodels.RateModel):  # handed over in memory by stage 1
            name, background = step_input.meta.filename.removesuffix("_rate.fits"), []
            data = np.asarray(step_input.data, np.float64)
        else:
            name, science, background = _members(step_input)
            data = fits.getdata(science[0], "SCI").astype(np.float64)
        output = Path(self.output_dir)
        if background:
            data = data - np.mean([fits.getdata(p, "SCI") for p in background], axis=0)
        marker = output / f"died_{name}"
        die = name == self.die_once and _in_dask_worker() and not marker.exists()
        if die:
            marker.touch()
        _atomic_fits(output / f"{name}_cal.fits", data, die_midway=die)


class MeanMosaicStandIn(IrisPipeline):
    """Stage 3 stand-in: ``<product>_i2d.fits`` = mean of the members' cal images."""

    class_alias = "image3"

    def process(self, step_input):
        name, science, _ = _members(step_input)
        _atomic_fits(Path(self.output_dir) / f"{name}_i2d.fits", np.mean([fits.getdata(p) for p in science], axis=0))


class DarkStandIn(IrisPipeline):
    """Dark calibration stand-in: a zero DARK reference (newer USEAFTER) added to the store."""

    class_alias = "create_dark"

    def process(self, step_input):
        name, darks, _ = _members(step_input)
        path = Path(self.output_dir) / f"{name}_dark.fits"
        zero = np.zeros(SHAPE, np.float32)
        write_reference(path, "dark", "DarkModel", {"SCI": zero, "ERR": zero, "DQ": zero.astype(np.uint32)},
                        USEAFTER="2025-01-01T00:00:00", SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=SHAPE[1], SUBSIZE2=SHAPE[0],
                        DESCRIP=f"from {len(darks)} darks")  # fmt: skip
        ReferenceStore(self.refstore).add(path)


@pytest.fixture(scope="module")
def client():
    """A real LocalCluster: 2 worker processes x 1 thread, which can import this module."""
    from distributed import Client, LocalCluster

    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), previous]))
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                          env={"NUMBA_NUM_THREADS": "1"}) as cluster, Client(cluster) as dask_client:  # fmt: skip
            yield dask_client
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = previous


@pytest.fixture
def night(tmp_path):
    """Three science exposures, one sky and two darks of one detector; a 32 x 32 reference store."""
    raw = tmp_path / "raw"
    raw.mkdir()
    common = {"PROGRAM": "001", "OBSERVTN": "001", "TARGNAME": "FIELD"}
    for number, (name, rate) in enumerate(SCIENCE_RATES.items()):
        write_raw(raw / f"{name}_uncal.fits", linear_ramp(np.full(SHAPE, rate), ngroups=4),
                  **common, **{"DATE-OBS": f"2030-03-01T05:0{number}:00"})  # fmt: skip
    write_raw(raw / "sky_uncal.fits", linear_ramp(np.full(SHAPE, SKY_RATE), ngroups=4), EXP_TYPE="IRIS_IMAGE_SKY",
              **common, **{"DATE-OBS": "2030-03-01T05:09:00"})  # fmt: skip
    for number in (1, 2):
        write_raw(raw / f"dark{number}_uncal.fits", linear_ramp(np.full(SHAPE, 0.0), ngroups=4),
                  EXP_TYPE="IRIS_IMAGE_DARK", **common)  # fmt: skip
    refstore = write_refstore(tmp_path / "refs", SHAPE)
    return raw, refstore, tmp_path / "out"


def _plan(night, **options):
    raw, refstore, out = night
    return build_plan([raw], out, refstore=refstore, pipelines=PIPELINES, options=options or None)


def _check_products(out: Path) -> None:
    for name, rate in SCIENCE_RATES.items():
        np.testing.assert_allclose(fits.getdata(out / f"{name}_rate.fits", "SCI"), rate, rtol=1e-5)
        np.testing.assert_allclose(fits.getdata(out / f"{name}_cal.fits"), rate - SKY_RATE, rtol=1e-5)
    mosaic = fits.getdata(out / "iris_p001_field_kbb_i2d.fits")
    np.testing.assert_allclose(mosaic, np.mean(list(SCIENCE_RATES.values())) - SKY_RATE, rtol=1e-5)
    assert not list(out.glob(".*partial*")), "temporary files left behind"


def test_plan_orders_calibrations_stages_and_skies(night):
    plan = _plan(night)
    ids = [task.task_id for task in plan.tasks]
    calibration = "calibration:iris_dark_img1_utr_sub32"
    assert ids[0] == calibration and plan.task(calibration).roles == ("dark", "dark")
    assert not any(task_id.startswith("stage1:dark") for task_id in ids)  # create_dark runs stage 1 itself
    assert plan.task("stage1:sci1").depends_on == (calibration,)
    stage2 = plan.task("stage2:sci2")
    assert stage2.roles == ("science", "background") and Path(stage2.inputs[1]).name == "sky_rate.fits"
    assert set(stage2.depends_on) == {"stage1:sci2", "stage1:sky"}
    stage3 = plan.task("stage3:iris_p001_field_kbb")
    assert set(stage3.depends_on) == {f"stage2:{name}" for name in SCIENCE_RATES}  # the sky is not a member
    assert all(ids.index(dep) < ids.index(task.task_id) for task in plan.tasks for dep in task.depends_on)


def test_local_cluster_run_then_rerun_does_nothing_then_redoes_only_dependants(night, client):
    raw, refstore, out = night
    report = run_plan(_plan(night), client=client, progress=False)
    assert {r.status for r in report.results.values()} == {OK}, format_summary(report)
    assert len({r.worker for r in report.results.values()}) == 2  # both workers took tasks
    _check_products(out)
    new_dark = sha256_of(out / "iris_dark_img1_utr_sub32_dark.fits")
    record = json.loads((out / "sci1_rate.provenance.json").read_text())
    assert record["references"]["dark"] == new_dark  # stage 1 used the dark made in the same run

    again = run_plan(_plan(night), client=client, progress=False)
    assert again.ran == [] and "nothing to do" in format_summary(again)

    (out / "sci2_rate.fits").unlink()
    third = run_plan(_plan(night), client=client, progress=False)
    assert sorted(third.ran) == ["stage1:sci2", "stage2:sci2", "stage3:iris_p001_field_kbb"]
    assert third.reasons["stage1:sci2"] == "output sci2_rate.fits is missing"
    _check_products(out)


def _forget_handovers() -> None:
    from iris_pipeline.execution.handover import rates

    rates.clear()


def _handovers_taken() -> int:
    from iris_pipeline.execution.handover import rates

    return rates.taken


def test_stage2_on_the_worker_of_its_stage1_takes_the_rate_from_memory(tmp_path, client):
    raw = tmp_path / "raw"
    raw.mkdir()
    for number, (name, rate) in enumerate(SCIENCE_RATES.items()):
        write_raw(raw / f"{name}_uncal.fits", linear_ramp(np.full(SHAPE, rate), ngroups=4), PROGRAM="001",
                  OBSERVTN="001", TARGNAME="FIELD", **{"DATE-OBS": f"2030-03-01T05:0{number}:00"})  # fmt: skip
    plan = build_plan([raw], tmp_path / "out", refstore=write_refstore(tmp_path / "refs", SHAPE), pipelines=PIPELINES,
                      last_stage=2)  # fmt: skip
    client.run(_forget_handovers)
    report = run_plan(plan, client=client, progress=False)
    assert not report.failed
    worker = {task_id: result.worker for task_id, result in report.results.items()}
    same_worker = [name for name in SCIENCE_RATES if worker[f"stage1:{name}"] == worker[f"stage2:{name}"]]
    assert same_worker, "dask runs a task where its dependency's result is"
    assert sum(client.run(_handovers_taken).values()) == len(same_worker)
    for name, rate in SCIENCE_RATES.items():
        np.testing.assert_allclose(fits.getdata(tmp_path / "out" / f"{name}_cal.fits"), rate, rtol=1e-5)


def test_killed_worker_is_retried_and_leaves_no_partial_file(night, client):
    raw, refstore, out = night
    report = run_plan(_plan(night, die_once="sci3"), client=client, progress=False)
    assert (out / "died_sci3").exists()  # the first attempt did kill its worker
    assert {r.status for r in report.results.values()} == {OK}, format_summary(report)
    _check_products(out)


def test_failing_exposure_does_not_stop_the_others(night, client):
    raw, refstore, out = night
    fits.setval(raw / "sci3_uncal.fits", "DETECTOR", value="IMG2")  # the store has no IMG2 references
    report = run_plan(_plan(night), client=client, progress=False)
    results = report.results
    assert results["stage1:sci3"].status == FAILED and "\n" not in results["stage1:sci3"].error
    assert results["stage2:sci3"].status == SKIPPED and results["stage3:iris_p001_field_kbb"].status == SKIPPED
    assert results["stage2:sci1"].status == OK and results["stage2:sci2"].status == OK
    assert report.failed and not (out / "sci3_rate.fits").exists()


def test_ledger_redoes_changed_parameters_inputs_and_references(night):
    raw, refstore, out = night
    plan = build_plan([raw / "sci1_uncal.fits"], out, refstore=refstore, pipelines=PIPELINES, last_stage=1)
    assert run_plan(plan, workers=0, progress=False).results["stage1:sci1"].status == OK
    assert run_plan(plan, workers=0, progress=False).results["stage1:sci1"].status == UP_TO_DATE
    assert run_plan(plan, workers=0, progress=False, dry_run=True).ran == []

    os.utime(raw / "sci1_uncal.fits")
    rerun = run_plan(plan, workers=0, progress=False, dry_run=True)
    assert rerun.reasons["stage1:sci1"] == "input sci1_uncal.fits changed"
    run_plan(plan, workers=0, progress=False)

    skip_jump = build_plan([raw / "sci1_uncal.fits"], out, refstore=refstore, pipelines=PIPELINES, last_stage=1)
    object.__setattr__(skip_jump.tasks[0], "steps", {"jump": {"skip": True}})
    assert run_plan(skip_jump, workers=0, progress=False, dry_run=True).reasons["stage1:sci1"] == "parameters changed"

    gain = refstore / "iris_img1_gain_v2.fits"
    write_reference(gain, "gain", "GainModel", {"SCI": np.full(SHAPE, 3.0, np.float32)}, USEAFTER="2025-01-01T00:00:00",
                    SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=SHAPE[1], SUBSIZE2=SHAPE[0])  # fmt: skip
    ReferenceStore(refstore).add(gain)
    reasons = run_plan(plan, workers=0, progress=False, dry_run=True).reasons
    assert reasons["stage1:sci1"] == "the store now selects iris_img1_gain_v2.fits for gain"


def test_a_worker_record_without_completion_is_redone(night):
    raw, refstore, out = night
    plan = build_plan([raw / "sci1_uncal.fits"], out, refstore=refstore, pipelines=PIPELINES, last_stage=1)
    run_plan(plan, workers=0, progress=False)
    record_path = out / "sci1_rate.provenance.json"
    record_path.write_text(record_path.read_text()[:-40])  # e.g. a record truncated by a full disk
    assert run_plan(plan, workers=0, progress=False, dry_run=True).reasons["stage1:sci1"] == "no provenance record"


def test_existing_scheduler_by_address(night, client):
    raw, refstore, out = night
    plan = build_plan([raw / "sci2_uncal.fits"], out, refstore=refstore, pipelines=PIPELINES, last_stage=1)
    report = run_plan(plan, scheduler=client.scheduler.address, progress=False)
    assert report.cluster == client.scheduler.address and report.results["stage1:sci2"].status == OK
    assert report.results["stage1:sci2"].worker.split(":")[1] in {str(p) for p in client.run(os.getpid).values()}
    np.testing.assert_allclose(fits.getdata(out / "sci2_rate.fits", "SCI"), SCIENCE_RATES["sci2"], rtol=1e-5)


def test_association_files_as_inputs(night):
    from iris_pipeline.associations import build_associations, write_associations

    raw, refstore, out = night
    stage1 = build_plan([raw / f"{name}_uncal.fits" for name in ("sci1", "sky")], out, refstore=refstore,
                        pipelines=PIPELINES, last_stage=1)  # fmt: skip
    run_plan(stage1, workers=0, progress=False)
    asn_files = write_associations(build_associations([out / "sci1_rate.fits", out / "sky_rate.fits"], "2"), out)
    plan = build_plan(asn_files, out, refstore=refstore, pipelines=PIPELINES)
    assert [task.task_id for task in plan.tasks] == ["stage2:sci1", "stage2:sky"]
    report = run_plan(plan, workers=0, progress=False)
    assert {r.status for r in report.results.values()} == {OK}, format_summary(report)
    np.testing.assert_allclose(fits.getdata(out / "sci1_cal.fits"), SCIENCE_RATES["sci1"] - SKY_RATE, rtol=1e-5)
    np.testing.assert_allclose(fits.getdata(out / "sky_cal.fits"), SKY_RATE, rtol=1e-5)


def test_a_task_keeps_only_the_warnings_of_its_own_thread():
    """Two tasks at once in one worker (threads_per_worker > 1) do not get each other's warnings."""
    import logging
    import threading

    from iris_pipeline.execution.tasks import _collect_warnings

    log = logging.getLogger("iris_pipeline.test")
    with _collect_warnings() as mine:
        other = threading.Thread(target=lambda: log.warning("another task's warning"))
        other.start()
        other.join()
        log.warning("this task's warning")
    assert mine == ["this task's warning"]
