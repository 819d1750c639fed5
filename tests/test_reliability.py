"""Reliability and safety: outputs stay in the output folder, references are verified, reruns
are reproducible, bad inputs are one-line errors (see docs/running-a-night.md)."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from conftest import linear_ramp, write_raw, write_refstore

from iris_pipeline import cli, datamodels
from iris_pipeline.associations import read_association
from iris_pipeline.exceptions import InputFileError, ReferenceFileError
from iris_pipeline.execution import build_plan, check_record, run_plan
from iris_pipeline.execution import ledger as ledger_module
from iris_pipeline.execution.tasks import _remove_stale_temporaries
from iris_pipeline.lib.atomic import atomic_path
from iris_pipeline.references import ExposureSelectors, ReferenceStore, sha256_of
from iris_pipeline.references import store as store_module
from iris_pipeline.references.selection import parse_date

SHAPE = (32, 32)
COMMON = {"PROGRAM": "001", "OBSERVTN": "001", "TARGNAME": "FIELD"}
STAGE1_ONLY = {"detector1": "iris_pipeline.pipelines.Detector1Pipeline"}


def write_header_only(path, **keywords):
    """A file with only a primary header: enough for planning (which reads headers only)."""
    header = fits.Header()
    for key, value in {"INSTRUME": "IRIS", "DETECTOR": "IMG1", "FILTER": "Kbb", "DATE-OBS": "2030-03-01T05:00:00",
                       **COMMON, **keywords}.items():  # fmt: skip
        header[key] = value
    fits.PrimaryHDU(header=header).writeto(path)
    return path


def write_asn(path, products, **fields):
    path.write_text(json.dumps({**fields, "products": products}))
    return path


def exposure():
    return ExposureSelectors("IRIS", "IMG1", "Kbb", "UTR", "SUB32", parse_date("2030-03-01T05:00:00"))


# --- associations -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/escaped", "*", "a/b", "..", ".hidden", ""])
def test_association_product_name_cannot_leave_the_output_folder(tmp_path, name):
    member = write_header_only(tmp_path / "a_cal.fits", DATAMODL="ImageModel", EXP_TYPE="IRIS_IMAGE")
    asn = write_asn(tmp_path / "x_asn.json", [{"name": name, "members": [{"expname": member.name}]}],
                    asn_type="image3")  # fmt: skip
    if name == "":  # no name: the association file's stem
        assert read_association(asn).products[0].name == "x"
        return
    with pytest.raises(InputFileError, match="not a plain file name"):
        read_association(asn)
    plan = build_plan([asn], tmp_path / "out")
    assert not plan.tasks and "not a plain file name" in plan.units[0].error


def jwst_level3_association(folder: Path, members: list[str], product: str) -> Path:
    """An association as JWST's ``asn_from_list -o x_asn.json --product-name P *_cal.fits`` writes it."""
    document = {
        "asn_type": "None",
        "asn_rule": "DMS_Level3_Base",
        "version_id": None,
        "code_version": "1.16.0",
        "degraded_status": "No known degraded exposures in association.",
        "program": "noprogram",
        "constraints": "No constraints",
        "asn_id": "a3001",
        "target": "none",
        "asn_pool": "none",
        "products": [{"name": product,
                      "members": [{"expname": m, "exptype": "science", "exposerr": None} for m in members]}],
    }  # fmt: skip
    path = folder / f"{product}_asn.json"
    path.write_text(json.dumps(document, indent=4))
    return path


def test_jwst_level3_association_is_read_as_image3_and_duplicates_are_dropped(tmp_path, caplog):
    names = []
    for number in (1, 2):
        names.append(f"e{number}_cal.fits")
        write_header_only(tmp_path / names[-1], DATAMODL="ImageModel", EXP_TYPE="IRIS_IMAGE")
    asn = jwst_level3_association(tmp_path, [*names, names[0]], "my_mosaic")
    with caplog.at_level(logging.WARNING, logger="iris_pipeline"):
        association = read_association(asn)
    assert association.asn_type == ""
    assert [m.path.name for m in association.products[0].members] == names
    assert "e1_cal.fits twice" in caplog.text
    plan = build_plan([asn], tmp_path / "out")
    (task,) = plan.tasks
    assert (task.kind, task.alias, task.product, len(task.inputs)) == ("stage3", "image3", "my_mosaic", 2)


def test_rate_members_infer_stage2_and_an_unknown_asn_type_is_an_error(tmp_path):
    write_header_only(tmp_path / "e1_rate.fits", DATAMODL="RateModel", EXP_TYPE="IRIS_IMAGE")
    members = [{"expname": "e1_rate.fits", "exptype": "science"}]
    inferred = write_asn(tmp_path / "a_asn.json", [{"name": "e1", "members": members}])
    (task,) = build_plan([inferred], tmp_path / "out").tasks
    assert (task.kind, task.alias) == ("stage2", "image2")
    unknown = write_asn(tmp_path / "b_asn.json", [{"name": "e1", "members": members}], asn_type="image9")
    plan = build_plan([unknown], tmp_path / "out")
    assert not plan.tasks and "unknown asn_type 'image9'" in plan.units[0].error


def test_process_on_cal_files_plans_their_stage3_association(tmp_path):
    for number in (1, 2):
        write_header_only(tmp_path / f"e{number}_cal.fits", DATAMODL="ImageModel", EXP_TYPE="IRIS_IMAGE")
    plan = build_plan(sorted(tmp_path.glob("*_cal.fits")), tmp_path / "out")
    (task,) = plan.tasks
    assert task.kind == "stage3" and task.depends_on == ()
    assert [Path(p).name for p in task.inputs] == ["e1_cal.fits", "e2_cal.fits"]
    assert not any(unit.error for unit in plan.units)


# --- plan: collisions -----------------------------------------------------------------------


def test_same_file_name_in_two_folders_is_an_error_not_a_lost_exposure(tmp_path):
    for folder, rate in (("n1", 5.0), ("n2", 7.0)):
        (tmp_path / folder).mkdir()
        write_raw(tmp_path / folder / "obs_uncal.fits", linear_ramp(np.full(SHAPE, rate), ngroups=3), **COMMON)
    plan = build_plan([tmp_path / "n1", tmp_path / "n2"], tmp_path / "out", pipelines=STAGE1_ONLY, last_stage=1)
    assert len(plan.tasks) == 1
    errors = [unit.error for unit in plan.units if unit.error]
    assert len(errors) == 1 and "n2/obs_uncal.fits" in errors[0] and "already made from" in errors[0]


def test_a_product_never_overwrites_an_input(tmp_path):
    write_raw(tmp_path / "obs_rate.fits", linear_ramp(np.full(SHAPE, 5.0), ngroups=3), **COMMON)
    plan = build_plan([tmp_path / "obs_rate.fits"], tmp_path, pipelines=STAGE1_ONLY, last_stage=1)
    assert not plan.tasks and "would be overwritten" in plan.units[0].error


def test_calibration_order_puts_the_ifs_trace_and_wavelengths_before_the_ifs_flat(tmp_path):
    """The flat compares spaxels at the same wavelength: it needs the measured trace and the
    wavelength solution (built after it, its wavecal step was skipped, nominal wavelengths)."""
    ifs = {"DATAMODL": "RawRampModel", "DETECTOR": "IFS", "IFSMODE": "LENSLET", "IFSSCALE": 4, "RESPOWER": 4000}
    for name, exp_type in (("flat", "IRIS_LENSLET_FLAT"), ("arc", "IRIS_LENSLET_ARC"), ("scan", "IRIS_LENSLET_SCAN")):
        write_header_only(tmp_path / f"{name}_uncal.fits", EXP_TYPE=exp_type, **ifs)
    pipelines = {"create_rectmat": "x.Rectmat", "create_ifs_flat": "x.Flat", "create_wavecal": "x.Wavecal"}
    plan = build_plan(sorted(tmp_path.glob("*_uncal.fits")), tmp_path / "out", pipelines=pipelines)
    order = [task.alias for task in plan.tasks]
    assert order == ["create_rectmat", "create_wavecal", "create_ifs_flat"]
    rectmat, wavecal, flat = plan.tasks
    assert rectmat.task_id in wavecal.depends_on
    assert {rectmat.task_id, wavecal.task_id} <= set(flat.depends_on)


# --- references -----------------------------------------------------------------------------


def test_a_reference_changed_after_registration_is_refused_naming_the_file(tmp_path, monkeypatch):
    root = write_refstore(tmp_path / "refs", SHAPE)
    store = ReferenceStore(root)
    match = store.select("dark", exposure())
    assert match.sha256 == sha256_of(root / "iris_img1_dark.fits")
    hashed = []
    monkeypatch.setattr(store_module, "sha256_of", lambda path: hashed.append(path) or sha256_of(path))
    store.select("dark", exposure())
    assert not hashed, "an unchanged file is hashed once per process"
    with fits.open(root / "iris_img1_dark.fits", mode="update") as hdul:
        hdul["SCI"].data += 1000
    with pytest.raises(ReferenceFileError) as raised:
        store.select("dark", exposure())
    message = str(raised.value)
    assert "iris_img1_dark.fits" in message and "changed since it was registered" in message
    assert "\n" not in message and len(hashed) == 1


def test_checksums_are_kept_on_disk_for_the_next_process_and_a_change_is_still_seen(tmp_path, monkeypatch):
    """A later run (a new process: empty in-memory cache) does not hash an unchanged reference again."""
    monkeypatch.setenv("IRIS_DIGEST_CACHE", str(tmp_path / "digests"))
    root = write_refstore(tmp_path / "refs", SHAPE)
    ReferenceStore(root).select("dark", exposure())
    assert len(list((tmp_path / "digests").iterdir())) == 1
    monkeypatch.setattr(store_module, "_DIGESTS", {})
    hashed = []
    monkeypatch.setattr(store_module, "sha256_of", lambda path: hashed.append(path) or sha256_of(path))
    ReferenceStore(root).select("dark", exposure())
    assert not hashed
    with fits.open(root / "iris_img1_dark.fits", mode="update") as hdul:
        hdul["SCI"].data += 1000
    monkeypatch.setattr(store_module, "_DIGESTS", {})
    with pytest.raises(ReferenceFileError, match="changed since it was registered"):
        ReferenceStore(root).select("dark", exposure())
    assert len(hashed) == 1
    (tmp_path / "locked").mkdir(mode=0o500)
    monkeypatch.setenv("IRIS_DIGEST_CACHE", str(tmp_path / "locked" / "digests"))
    monkeypatch.setattr(store_module, "_DIGESTS", {})
    with pytest.raises(ReferenceFileError, match="changed since it was registered"):
        ReferenceStore(root).select("dark", exposure())


@pytest.mark.parametrize("other_name", ["aa_dark.fits", "zz_dark.fits"])
def test_equally_specific_references_warn_naming_both_and_indexing_keeps_the_choice(tmp_path, caplog, other_name):
    root = write_refstore(tmp_path / "refs", SHAPE)
    other = tmp_path / other_name
    other.write_bytes((root / "iris_img1_dark.fits").read_bytes())
    with fits.open(other, mode="update") as hdul:
        hdul["SCI"].data += 1
    store = ReferenceStore(root)
    store.add(other)
    # the documented tie-break: the file whose path in the store sorts last
    expected = max("iris_img1_dark.fits", other_name)
    with caplog.at_level(logging.WARNING, logger="iris_pipeline"):
        assert store.select("dark", exposure()).path.name == expected
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "iris_img1_dark.fits" in warning[0] and other_name in warning[0], warning
    store.index()
    assert ReferenceStore(root).select("dark", exposure()).path.name == expected
    assert ReferenceStore(root).candidates("dark", exposure())[-1][1].file == expected


def test_missing_store_says_so_and_how_to_make_one(tmp_path):
    with pytest.raises(ReferenceFileError) as raised:
        ReferenceStore(tmp_path / "nowhere").select("mask", exposure())
    message = str(raised.value)
    for words in ("does not exist", "--refstore", "IRIS_REFSTORE", "refs index"):
        assert words in message
    assert "\n" not in message


def test_refs_add_never_replaces_silently_and_a_failed_add_leaves_nothing(tmp_path, capsys):
    root = write_refstore(tmp_path / "refs", SHAPE)
    other = tmp_path / "new"
    other.mkdir()
    copy = other / "iris_img1_dark.fits"
    copy.write_bytes((root / "iris_img1_dark.fits").read_bytes())
    with fits.open(copy, mode="update") as hdul:
        hdul["SCI"].data += 1
    before = sha256_of(root / "iris_img1_dark.fits")
    assert cli.main(["refs", "add", str(copy), "--refstore", str(root)]) == 1
    assert "already holds a different iris_img1_dark.fits" in capsys.readouterr().err
    assert sha256_of(root / "iris_img1_dark.fits") == before
    assert cli.main(["refs", "add", str(copy), "--refstore", str(root), "--replace"]) == 0
    junk = other / "junk.fits"
    fits.PrimaryHDU().writeto(junk)
    assert cli.main(["refs", "add", str(junk), "--refstore", str(root)]) == 1
    assert not (root / "junk.fits").exists()
    assert cli.main(["refs", "index", "--refstore", str(root)]) == 0


@pytest.mark.parametrize(
    "rules, message",
    [
        ("- a\n- b\n", "expected a mapping with a 'references' list"),
        ("references: [3]\n", "entry 1 is 3, not a mapping"),
        ("references:\n- {file: x.fits, reftype: dark, instrument: IRIS, useafter: soon}\n", "entry 1 (x.fits)"),
    ],
)
def test_bad_rules_files_are_one_line_errors(tmp_path, capsys, rules, message):
    (tmp_path / "refstore.yaml").write_text(rules)
    assert cli.main(["refs", "list", "--refstore", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_refs_list_on_a_file_is_an_error(tmp_path, capsys):
    target = tmp_path / "file.fits"
    target.write_text("x")
    assert cli.main(["refs", "list", "--refstore", str(target)]) == 1
    assert "is a file" in capsys.readouterr().err


# --- parameter files ------------------------------------------------------------------------


def test_process_runs_no_code_from_parameter_files_or_step_overrides(tmp_path, capsys, monkeypatch):
    """stpipe runs a parameter file's hooks and imports its class (documented: a parameter file
    is code); process reads none and takes no --steps.* override, so none can run code."""
    import sys

    marker = tmp_path / "HOOKED"
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "evilmod.py").write_text(f"open({str(tmp_path / 'IMPORTED')!r}, 'w').close()\n"
                                     "from stpipe import Step\nclass EvilStep(Step):\n    pass\n")  # fmt: skip
    (evil / "class.cfg").write_text('name = "image2"\nclass = "evilmod.EvilStep"\n')
    (evil / "hooks.cfg").write_text(
        'name = "image2"\nclass = "iris_pipeline.pipelines.image2.ProcessImagerL2Pipeline"\n'
        f'pre_hooks = "touch {marker}",\n[steps]\n  [[flat_field]]\n    pre_hooks = "touch {marker}",\n'
    )
    (evil / "hooks.asdf").write_text(f"#ASDF 1.0.0\n%YAML 1.1\n---\npre_hooks: [touch {marker}]\n...\n")
    raw = write_raw(tmp_path / "obs_uncal.fits", linear_ramp(np.full(SHAPE, 5.0), ngroups=3), **COMMON)
    refs = write_refstore(tmp_path / "refs", SHAPE)
    monkeypatch.chdir(evil)
    monkeypatch.syspath_prepend(str(evil))
    status = cli.main(["process", *(str(evil / n) for n in ("class.cfg", "hooks.cfg", "hooks.asdf")), str(raw),
                       "-o", str(tmp_path / "out"), "--refstore", str(refs), "--stage", "1", "--workers", "0",
                       "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 1 and out.count("not a FITS file") == 3 and "1 succeeded" in out
    with pytest.raises(SystemExit) as raised:
        cli.main(["process", str(raw), "-o", str(tmp_path / "out"), f"--steps.flat_field.pre_hooks=touch {marker},"])
    assert raised.value.code == 2 and "unrecognized arguments: --steps.flat_field.pre_hooks" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "IMPORTED").exists() and "evilmod" not in sys.modules


def test_the_docs_say_a_parameter_file_is_code():
    guide = (Path(__file__).parents[1] / "docs" / "user-guide.md").read_text()
    assert "A parameter file is code" in guide and "pre_hooks" in guide and "process` never reads one" in guide


# --- execution ------------------------------------------------------------------------------


@pytest.mark.parametrize("option, value", [("--workers", "-3"), ("--threads-per-worker", "0"), ("--retries", "x")])
def test_bad_counts_are_usage_errors(tmp_path, capsys, option, value):
    with pytest.raises(SystemExit) as raised:
        cli.main(["process", str(tmp_path), option, value])
    assert raised.value.code == 2 and option in capsys.readouterr().err


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_outputs_respect_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        with atomic_path(tmp_path / "product.fits") as tmp:
            tmp.write_text("x")
        store = ReferenceStore(tmp_path / "refs")
        store.save_rules()
    finally:
        os.umask(previous)
    for path in (tmp_path / "product.fits", store.rules_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_stale_temporaries_of_a_product_are_removed_and_no_others(tmp_path):
    write_raw(tmp_path / "obs_uncal.fits", linear_ramp(np.full(SHAPE, 5.0), ngroups=3), **COMMON)
    out = tmp_path / "out"
    out.mkdir()
    mine = [".obs_rate.k2_9abcd.partial.fits", ".obs_rate.provenance.abcd1234.partial.json"]
    others = [".obs_sky_rate.abcd1234.partial.fits", ".obs2_rate.abcd1234.partial.fits"]
    for name in mine + others:
        (out / name).write_text("x")
    (task,) = build_plan([tmp_path / "obs_uncal.fits"], out, pipelines=STAGE1_ONLY, last_stage=1).tasks
    _remove_stale_temporaries(task)
    assert sorted(p.name for p in out.iterdir()) == sorted(others)


def test_local_cluster_dashboard_listens_on_this_machine_only():
    from iris_pipeline.execution import local_cluster

    with local_cluster(1) as cluster:
        assert "127.0.0.1" in cluster.dashboard_link
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")


def test_the_ledger_redoes_a_product_after_a_code_change(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "kernel.py").write_text("SCALE = 1\n")
    first = ledger_module.source_fingerprint(package)
    (package / "kernel.py").write_text("SCALE = 2\n")  # an uncommitted edit
    assert ledger_module.source_fingerprint(package) != first
    (package / "notes.txt").write_text("not code")
    assert ledger_module.source_fingerprint(package) == ledger_module.source_fingerprint(package)

    write_raw(tmp_path / "obs_uncal.fits", linear_ramp(np.full(SHAPE, 5.0), ngroups=3), **COMMON)
    refs = write_refstore(tmp_path / "refs", SHAPE)
    plan = build_plan([tmp_path / "obs_uncal.fits"], tmp_path / "out", refstore=refs, pipelines=STAGE1_ONLY,
                      last_stage=1)  # fmt: skip
    run_plan(plan, workers=0, progress=False)
    (task,) = plan.tasks
    record = ledger_module.read_record(task.ledger_path)
    assert check_record(record, task.expected_record(), refs) is None
    monkeypatch.setattr(ledger_module, "code_version", lambda: "0.1.0+src.0123456789abcdef")
    from iris_pipeline.execution import plan as plan_module

    monkeypatch.setattr(plan_module, "code_version", ledger_module.code_version)
    assert check_record(record, task.expected_record(), refs) == "code_version changed"


# --- memory bombs ---------------------------------------------------------------------------

BOMB = 40000  # a 40000 x 40000 image: 6.4 GB of float32, a few kilobytes on disk when sparse


def _sparse_copy(template: Path, target: Path, shape: tuple, dtype, **keywords) -> Path:
    """`template`'s primary header (updated with `keywords`) and a SCI extension declaring
    `shape`, its data a hole in a sparse file."""
    header = fits.getheader(template, 0)
    header.update(keywords)
    target.parent.mkdir(parents=True, exist_ok=True)
    sci = fits.ImageHDU(np.zeros((1,) * len(shape), dtype), name="SCI").header
    for axis, size in enumerate(reversed(shape), 1):
        sci[f"NAXIS{axis}"] = size
    with target.open("wb") as stream:
        stream.write(fits.PrimaryHDU(header=header).header.tostring().encode())
        stream.write(sci.tostring().encode())
        data = int(np.prod(shape)) * np.dtype(dtype).itemsize
        stream.seek(-(-data // 2880) * 2880 - 1, os.SEEK_CUR)
        stream.write(b"\0")
    return target


def _rate(path: Path, shape=SHAPE) -> Path:
    rate = datamodels.RateModel(data=np.ones(shape, np.float32), dq=np.zeros(shape, np.uint32),
                                err=np.ones(shape, np.float32))  # fmt: skip
    rate.meta.instrument.name, rate.meta.instrument.detector, rate.meta.exposure.type = "IRIS", "IMG1", "IRIS_IMAGE"
    rate.meta.instrument.filter = "Kbb"
    rate.meta.observation.date_obs = "2030-03-01T05:00:00"
    rate.save(path)
    return path


@pytest.mark.parametrize("kind", ["raw", "rate"])
def test_a_sparse_file_declaring_a_huge_image_is_refused_before_reading(tmp_path, capsys, kind):
    import resource

    if kind == "raw":
        template = write_raw(tmp_path / "t_uncal.fits", linear_ramp(np.full(SHAPE, 5.0), ngroups=3), **COMMON)
        bomb = _sparse_copy(template, tmp_path / "in" / "bomb_uncal.fits", (1, 3, BOMB, BOMB), np.int16,
                            SUBSIZE1=BOMB, SUBSIZE2=BOMB, SUBARRAY="FULL")  # fmt: skip
    else:
        bomb = _sparse_copy(_rate(tmp_path / "t_rate.fits"), tmp_path / "in" / "bomb_rate.fits", (BOMB, BOMB),
                            np.float32)  # fmt: skip
    refs = write_refstore(tmp_path / "refs", SHAPE)
    # Were anything to allocate the image, it would fail here rather than swap.
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30 if soft == resource.RLIM_INFINITY else min(soft, 4 * 2**30),
                                            hard))  # fmt: skip
    try:
        with pytest.raises(InputFileError) as raised:
            datamodels.open(bomb, read_data=kind == "rate")
        assert f"SCI declares {BOMB} x {BOMB} pixels, more than the 4096 x 4096 IMG1 detector" in str(raised.value)
        capsys.readouterr()
        assert cli.main(["info", str(bomb)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "bomb_" in err and "more than the 4096 x 4096" in err
        assert cli.main(["process", str(bomb), "-o", str(tmp_path / "out"), "--refstore", str(refs), "--stage", "2",
                         "--workers", "0", "--no-progress"]) == 1  # fmt: skip
        out = capsys.readouterr().out
        assert "more than the 4096 x 4096 IMG1 detector" in out and "Traceback" not in out
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_arrays_larger_than_the_memory_are_refused_whatever_the_model(tmp_path, monkeypatch):
    from iris_pipeline.datamodels import _open

    path = _rate(tmp_path / "r_rate.fits")
    monkeypatch.setattr(_open, "_physical_memory", lambda: 2048)
    with pytest.raises(InputFileError, match=r"r_rate.fits: declares 0.0 GB of arrays, more than this machine"):
        datamodels.open(path)
    with datamodels.open(path, read_data=False) as model:  # headers only: nothing to hold
        assert model.meta.instrument.detector == "IMG1"


@pytest.mark.parametrize("keyword, value", [("TFRAME", 0.0), ("TFRAME", -0.5), ("NGROUPS", 0), ("TGROUP", 0),
                                            ("NINTS", 0), ("SUBSIZE1", -16)])  # fmt: skip
def test_a_raw_count_or_time_out_of_range_is_a_one_line_error_naming_file_and_keyword(tmp_path, capsys, keyword,
                                                                                       value):  # fmt: skip
    raw = write_raw(tmp_path / "obs_uncal.fits", linear_ramp(np.full(SHAPE, 5.0), ngroups=3), **COMMON)
    fits.setval(raw, keyword, value=value)
    assert cli.main(["info", str(raw)]) == 1
    bound = "> 0" if keyword.startswith("T") else ">= 1"
    assert capsys.readouterr().err == f"iris-pipeline: error: {raw}: keyword {keyword} = {value!r}: must be {bound}\n"
    refs = write_refstore(tmp_path / "refs", SHAPE)
    assert cli.main(["process", str(raw), "-o", str(tmp_path / "out"), "--refstore", str(refs), "--stage", "1",
                     "--workers", "0", "--no-progress"]) == 1  # fmt: skip
    assert f"obs_uncal.fits: keyword {keyword} = {value!r}" in capsys.readouterr().out


# --- stage 2 input --------------------------------------------------------------------------


def test_non_finite_rate_pixels_with_dq_zero_become_do_not_use():
    from iris_pipeline.assign_wcs import AssignWcsStep

    data = np.ones(SHAPE, np.float32)
    data[3, 4], data[5, 6] = np.nan, np.inf
    rate = datamodels.RateModel(data=data, dq=np.zeros(SHAPE, np.uint32), err=np.ones(SHAPE, np.float32))
    rate.var_poisson = np.zeros(SHAPE, np.float32)
    rate.var_rnoise = np.zeros(SHAPE, np.float32)
    image = AssignWcsStep().open_image(rate)
    assert image.dq[3, 4] & 1 and image.dq[5, 6] & 1
    assert int((image.dq & 1).sum()) == 2


def test_strun_on_a_wrong_model_input_is_one_line_not_a_traceback(tmp_path):
    import subprocess
    import sys

    from iris_pipeline.saturation import SaturationStep

    rate = _rate(tmp_path / "obs_rate.fits")
    refs = write_refstore(tmp_path / "refs", SHAPE)
    strun = Path(sys.executable).parent / "strun"
    for alias, problem in (("iris-pipeline::saturation", "saturation needs a RampModel, not RateModel"),
                           ("iris-pipeline::detector1", "detector1 needs a raw ramp, not RateModel")):  # fmt: skip
        result = subprocess.run([str(strun), alias, str(rate), "--refstore", str(refs)], capture_output=True,
                                text=True, timeout=120, cwd=tmp_path)  # fmt: skip
        assert result.returncode == 1
        assert "Traceback" not in result.stderr + result.stdout and "ERROR RUNNING STEP" not in result.stdout
        assert result.stderr.splitlines()[-1].startswith(f"strun: error: obs_rate.fits: {problem}")
    with pytest.raises(InputFileError, match="needs a RampModel"):  # from Python, the error propagates
        SaturationStep.call(str(rate), refstore=str(refs))


# --- reproducible reruns ------------------------------------------------------------------

CALIBRATION_NIGHT = {**STAGE1_ONLY, "create_dark": "iris_pipeline.pipelines.calibration.CreateDarkPipeline"}
NIGHT_SHAPE = (16, 16)


def _calibration_night(folder: Path) -> tuple[Path, Path]:
    """Two noisy raw darks (read noise measured from them) and two science ramps; a fresh store."""
    raw = folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(5)
    for number in (1, 2):
        reads = linear_ramp(np.full(NIGHT_SHAPE, 0.5), ngroups=4) + rng.normal(0, 3, (1, 4, *NIGHT_SHAPE))
        write_raw(raw / f"dark{number}_uncal.fits", np.round(reads), EXP_TYPE="IRIS_IMAGE_DARK", **COMMON,
                  **{"DATE-OBS": f"2030-03-01T04:0{number}:00"})  # fmt: skip
    for number in (1, 2):
        reads = linear_ramp(np.full(NIGHT_SHAPE, 4.0 * number), ngroups=4) + rng.normal(0, 3, (1, 4, *NIGHT_SHAPE))
        write_raw(raw / f"sci{number}_uncal.fits", np.round(reads), **COMMON)
    return raw, write_refstore(folder / "refs", NIGHT_SHAPE)


def _run_night(raw: Path, refs: Path, out: Path, force: bool = False):
    plan = build_plan([raw], out, refstore=refs, pipelines=CALIBRATION_NIGHT)
    return run_plan(plan, workers=0, force=force, progress=False)


def _products(out: Path, refs: Path) -> dict:
    """Every SCI/ERR/DQ array of the products and of the references the night made."""
    arrays = {}
    for path in sorted([*out.glob("*.fits"), *refs.glob("*/*.fits")]):
        with fits.open(path) as hdul:
            for hdu in hdul[1:]:
                if hdu.name in ("SCI", "ERR", "DQ") and hdu.data is not None:
                    arrays[(path.parent.name if path.parent != out else "", path.name, hdu.name)] = hdu.data.copy()
    return arrays


def _assert_identical(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for key, array in first.items():
        np.testing.assert_array_equal(second[key], array, err_msg=str(key))


def _killed_then_resumed(folder: Path, kill_at: int, after_products: bool, monkeypatch) -> dict:
    """The night with the process killed at task `kill_at` (before it runs, or after its products
    are written but before its provenance record), then resumed."""
    from iris_pipeline.execution import runner, tasks

    raw, refs = _calibration_night(folder)
    calls = {"n": 0}
    target = tasks if after_products else runner
    name = "write_record" if after_products else "run_task"
    original = getattr(target, name)

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == kill_at:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(target, name, dying)
        with pytest.raises(KeyboardInterrupt):
            _run_night(raw, refs, folder / "out")
    report = _run_night(raw, refs, folder / "out")
    assert not report.failed
    return _products(folder / "out", refs)


def test_forced_rerun_and_a_killed_then_resumed_night_give_identical_products(tmp_path, monkeypatch):
    raw, refs = _calibration_night(tmp_path / "a")
    first = _run_night(raw, refs, tmp_path / "a" / "out")
    assert not first.failed and len(first.ran) == 3
    reference = _products(tmp_path / "a" / "out", refs)
    assert any(key[0] == "readnoise" for key in reference), "the night makes its own READNOISE"
    _run_night(raw, refs, tmp_path / "a" / "out", force=True)
    _assert_identical(reference, _products(tmp_path / "a" / "out", refs))
    rng = np.random.default_rng(12)
    kill_at, after_products = int(rng.integers(1, 4)), bool(rng.integers(0, 2))
    _assert_identical(reference, _killed_then_resumed(tmp_path / "b", kill_at, after_products, monkeypatch))


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [1, 2, 3])
@pytest.mark.parametrize("after_products", [False, True])
def test_every_kill_point_resumes_to_identical_products(tmp_path, monkeypatch, kill_at, after_products):
    raw, refs = _calibration_night(tmp_path / "a")
    _run_night(raw, refs, tmp_path / "a" / "out")
    reference = _products(tmp_path / "a" / "out", refs)
    _assert_identical(reference, _killed_then_resumed(tmp_path / "b", kill_at, after_products, monkeypatch))
