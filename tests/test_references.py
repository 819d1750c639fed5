"""Reference store: selection rules, indexing, checks, configuration and the CRDS back end."""

from __future__ import annotations

import sys
import types
from datetime import datetime

import numpy as np
import pytest
import yaml
from conftest import write_reference

from iris_pipeline import datamodels
from iris_pipeline.exceptions import ReferenceFileError
from iris_pipeline.references import (
    CrdsBackend,
    ExposureSelectors,
    ReferenceStore,
    get_backend,
    resolve_store_path,
    sha256_of,
)
from iris_pipeline.references.backends import LocalBackend

EXPOSURE = ExposureSelectors(
    instrument="IRIS", detector="IMG2", filter="Kbb", read_mode="UTR", subarray="FULL",
    date_obs=datetime(2031, 6, 1),
)  # fmt: skip


def make_store(root, rules):
    root.mkdir(parents=True, exist_ok=True)
    for rule in rules:
        (root / rule["file"]).write_bytes(rule["file"].encode())
    (root / "refstore.yaml").write_text(yaml.safe_dump({"format_version": 1, "references": rules}))
    return ReferenceStore(root)


def rule(name, **fields):
    base = {"file": name, "reftype": "dark", "instrument": "IRIS", "useafter": "2030-01-01T00:00:00"}
    base.update(fields)
    return base


def test_most_specific_match_wins(tmp_path):
    store = make_store(tmp_path, [
        rule("generic.fits"),
        rule("img2.fits", detector="IMG2"),
        rule("img2_kbb.fits", detector="IMG2", filter="Kbb"),
        rule("img2_cds.fits", detector="IMG2", read_mode="CDS"),
        rule("img1_kbb.fits", detector="IMG1", filter="Kbb"),
    ])  # fmt: skip
    assert store.select("dark", EXPOSURE).name == "img2_kbb.fits"


def test_latest_applicable_useafter_wins_and_future_files_are_ignored(tmp_path):
    store = make_store(tmp_path, [
        rule("old.fits", useafter="2030-01-01T00:00:00"),
        rule("newer.fits", useafter="2031-01-01"),
        rule("future.fits", useafter="2032-01-01T00:00:00"),
    ])  # fmt: skip
    assert store.select("dark", EXPOSURE).name == "newer.fits"


def test_window_reference_only_for_its_window(tmp_path):
    store = make_store(tmp_path, [rule("full.fits"), rule("sub64.fits", subarray="SUB64")])
    assert store.select("dark", EXPOSURE).name == "full.fits"
    windowed = ExposureSelectors(**{**EXPOSURE.__dict__, "subarray": "SUB64"})
    assert store.select("dark", windowed).name == "sub64.fits"


def test_other_instrument_and_reftype_never_match(tmp_path):
    store = make_store(tmp_path, [rule("liger.fits", instrument="LIGER"), rule("flat.fits", reftype="flat")])
    with pytest.raises(ReferenceFileError, match=r"no dark reference file in .* for IRIS IMG2 filter=Kbb"):
        store.select("dark", EXPOSURE)


def test_listed_but_missing_file(tmp_path):
    store = make_store(tmp_path, [rule("gone.fits")])
    (tmp_path / "gone.fits").unlink()
    with pytest.raises(ReferenceFileError, match="gone.fits: dark reference listed in .* is missing"):
        store.select("dark", EXPOSURE)
    assert store.check() == [f"{tmp_path / 'gone.fits'}: listed in refstore.yaml but missing"]


def test_check_detects_modified_file(tmp_path):
    store = make_store(tmp_path, [rule("a.fits")])
    store.entries[0] = type(store.entries[0])(**{**store.entries[0].__dict__, "sha256": sha256_of(tmp_path / "a.fits")})
    assert store.check() == []
    (tmp_path / "a.fits").write_bytes(b"changed")
    assert store.check() == [f"{tmp_path / 'a.fits'}: checksum differs from refstore.yaml"]


def test_bad_rules_file_is_reported_in_one_line(tmp_path):
    (tmp_path / "refstore.yaml").write_text("references: [ {file: a.fits, colour: red} ]\n")
    with pytest.raises(ReferenceFileError, match="refstore.yaml: entry 1 needs file, reftype and instrument"):
        ReferenceStore(tmp_path)
    (tmp_path / "refstore.yaml").write_text("references: [ {file: a.fits\n")
    with pytest.raises(ReferenceFileError, match="refstore.yaml: invalid YAML") as info:
        ReferenceStore(tmp_path)
    assert "\n" not in str(info.value)


def test_rules_are_parsed_once_per_content_of_the_file(tmp_path, monkeypatch):
    make_store(tmp_path, [rule("old.fits")])
    parsed = []
    safe_load = yaml.safe_load
    monkeypatch.setattr(yaml, "safe_load", lambda text: parsed.append(text) or safe_load(text))
    assert ReferenceStore(tmp_path).select("dark", EXPOSURE).name == "old.fits"
    assert parsed == []  # the same bytes as when the store was made: not parsed again
    rules = tmp_path / "refstore.yaml"
    before = rules.stat()
    (tmp_path / "new.fits").write_bytes(b"new")
    rules.write_text(rules.read_text().replace("old.fits", "new.fits"))  # in place: same size and inode
    assert (rules.stat().st_size, rules.stat().st_ino) == (before.st_size, before.st_ino)
    assert ReferenceStore(tmp_path).select("dark", EXPOSURE).name == "new.fits"
    assert len(parsed) == 1


def test_index_and_add_read_selectors_from_headers(tmp_path):
    source = tmp_path / "incoming"
    source.mkdir()
    dark = write_reference(
        source / "new_dark.fits", "dark", "DarkModel", {"SCI": np.zeros((4, 4), np.float32)},
        DETECTOR="IMG2", FILTER="N/A", READMODE="UTR", USEAFTER="2031-02-03T00:00:00",
    )  # fmt: skip
    store = ReferenceStore(tmp_path / "store")
    entry = store.add(dark)
    assert (entry.reftype, entry.detector, entry.filter, entry.read_mode) == ("dark", "IMG2", "ANY", "UTR")
    assert entry.sha256 == sha256_of(dark)
    assert (tmp_path / "store" / "new_dark.fits").exists()
    reloaded = ReferenceStore(tmp_path / "store")
    assert reloaded.select("dark", EXPOSURE).name == "new_dark.fits"
    (tmp_path / "store" / "refstore.yaml").unlink()
    assert [e.file for e in ReferenceStore(tmp_path / "store").index()] == ["new_dark.fits"]


def test_index_refuses_files_without_reference_keywords(tmp_path):
    write_reference(tmp_path / "bad.fits", "dark", "DarkModel", {"SCI": np.zeros((2, 2), np.float32)})
    from astropy.io import fits

    with fits.open(tmp_path / "bad.fits", mode="update") as hdul:
        del hdul[0].header["USEAFTER"]
    with pytest.raises(ReferenceFileError, match="bad.fits: missing reference keyword\\(s\\) USEAFTER"):
        ReferenceStore(tmp_path).index()


def test_store_location_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("IRIS_REFSTORE", raising=False)
    assert resolve_store_path() == resolve_store_path("~/.iris_pipeline/refstore")
    monkeypatch.setenv("IRIS_REFSTORE", str(tmp_path / "env"))
    assert resolve_store_path() == tmp_path / "env"
    assert resolve_store_path(tmp_path / "option") == tmp_path / "option"


def _exposure_model():
    model = datamodels.RawRampModel()
    model.meta.instrument.name = "IRIS"
    model.meta.instrument.detector = "IMG2"
    model.meta.instrument.filter = "Kbb"
    model.meta.exposure.readmode = "UTR"
    model.meta.subarray.name = "FULL"
    model.meta.observation.date_obs = "2031-06-01T00:00:00"
    model.meta.filename = "x_uncal.fits"
    return model


def test_local_backend_selects_from_model_metadata(tmp_path):
    make_store(tmp_path, [rule("img2.fits", detector="IMG2")])
    assert LocalBackend(tmp_path).select("dark", _exposure_model()).name == "img2.fits"
    undated = _exposure_model()
    undated.meta.observation.date_obs = None
    with pytest.raises(ReferenceFileError, match="x_uncal.fits: no DATE-OBS"):
        LocalBackend(tmp_path).select("dark", undated)


def test_crds_backend_asks_crds_with_model_parameters(tmp_path, monkeypatch):
    calls = []
    ref = tmp_path / "crds_dark.fits"
    ref.write_bytes(b"dark")

    def getreferences(parameters, reftypes, context, observatory):
        calls.append((parameters, reftypes, context, observatory))
        return {"dark": str(ref)}

    monkeypatch.setitem(sys.modules, "crds", types.SimpleNamespace(getreferences=getreferences))
    monkeypatch.setenv("IRIS_REF_BACKEND", "crds")
    backend = get_backend()
    assert isinstance(backend, CrdsBackend)
    match = backend.select("dark", _exposure_model())
    assert match.path == ref and match.sha256 == sha256_of(ref)
    parameters, reftypes, _, observatory = calls[0]
    assert reftypes == ["dark"] and observatory == "tmt"
    assert parameters["meta.instrument.detector"] == "IMG2"


def test_crds_backend_failure_is_one_line(monkeypatch):
    def getreferences(*args, **kwargs):
        raise AssertionError("Unknown observatory 'tmt'")

    monkeypatch.setitem(sys.modules, "crds", types.SimpleNamespace(getreferences=getreferences))
    with pytest.raises(ReferenceFileError, match="CRDS could not select a dark reference .* Unknown observatory"):
        CrdsBackend().select("dark", _exposure_model())


def test_unknown_backend_name(monkeypatch):
    monkeypatch.setenv("IRIS_REF_BACKEND", "ftp")
    with pytest.raises(ReferenceFileError, match="IRIS_REF_BACKEND='ftp'"):
        get_backend()


def _add_files(store_root, paths):
    store = ReferenceStore(store_root)
    for path in paths:
        store.add(path, subfolder="gain")


def test_concurrent_adds_from_several_processes_keep_every_rule(tmp_path):
    import multiprocessing

    outside = tmp_path / "new"
    outside.mkdir()
    paths = [
        write_reference(
            outside / f"gain_{k}.fits",
            "gain",
            "GainModel",
            {"SCI": np.ones((4, 4), np.float32)},
            USEAFTER=f"2021-01-{k + 1:02d}T00:00:00",
        )  # fmt: skip
        for k in range(12)
    ]
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_add_files, args=(tmp_path / "store", paths[k::3])) for k in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    store = ReferenceStore(tmp_path / "store")
    assert sorted(entry.file for entry in store.entries) == sorted(f"gain/gain_{k}.fits" for k in range(12))
    assert not store.check()
    assert not list((tmp_path / "store" / "gain").glob(".*partial*"))


def test_ifs_configuration_selects_among_references_of_one_grating(tmp_path):
    store_root = tmp_path / "store"
    store_root.mkdir()
    for name, mode, scale, power in (("lenslet4", "LENSLET", 4.0, 4000), ("lenslet9", "LENSLET", 9.0, 4000),
                                     ("slicer25", "SLICER", 25.0, 4000), ("any", None, None, None)):  # fmt: skip
        keywords = {"DETECTOR": "IFS", "FILTER": "K", "USEAFTER": "2021-01-01T00:00:00"}
        if mode:
            keywords.update(IFSMODE=mode, IFSSCALE=scale, RESPOWER=power)
        write_reference(store_root / f"{name}.fits", "gain", "GainModel", {"SCI": np.ones((4, 4), np.float32)},
                        **keywords)  # fmt: skip
    store = ReferenceStore(store_root)
    store.index()
    base = {"instrument": "IRIS", "detector": "IFS", "filter": "K", "read_mode": "UTR", "subarray": "FULL",
            "date_obs": datetime(2031, 1, 1)}  # fmt: skip
    chosen = {}
    for mode, scale in (("LENSLET", 4), ("LENSLET", 9.0), ("SLICER", 25.0), ("SLICER", 50.0)):
        exposure = ExposureSelectors(**base, ifs_mode=mode, ifs_scale=scale, resolving_power=4000)
        chosen[(mode, scale)] = store.select("gain", exposure).name
    assert chosen == {("LENSLET", 4): "lenslet4.fits", ("LENSLET", 9.0): "lenslet9.fits",
                      ("SLICER", 25.0): "slicer25.fits", ("SLICER", 50.0): "any.fits"}  # fmt: skip
    rules = yaml.safe_load((store_root / "refstore.yaml").read_text())["references"]
    assert {entry["file"]: entry.get("ifs_mode") for entry in rules}["any.fits"] is None
