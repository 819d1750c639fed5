"""The warm path of a long-lived worker: cached prepared references, rateints only when it says more."""

from __future__ import annotations

import gc
import hashlib

import numpy as np
import pytest
import yaml
from astropy.io import fits
from conftest import GAIN_E_PER_DN, linear_ramp, write_raw, write_refstore

from iris_pipeline import datamodels, dqflags
from iris_pipeline.lib.refcache import PreparedCache, prepared_references
from iris_pipeline.pipelines import Detector1Pipeline
from iris_pipeline.stpipe import IrisPipeline, IrisStep

SHAPE = (32, 32)
RATE_DN_S = 7 / 0.72
NO_LIN_CORR = dqflags.PIXEL["NO_LIN_CORR"]


@pytest.fixture
def cache(monkeypatch):
    monkeypatch.setenv("IRIS_REFCACHE_ENTRIES", "16")  # as in a local cluster's workers
    prepared_references.clear()
    yield prepared_references
    prepared_references.clear()


def _digest(entries) -> str:
    digest = hashlib.sha256()
    for arrays in entries:
        for array in arrays:
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def test_cache_keeps_the_most_recent_entries():
    cache = PreparedCache(max_entries=2)
    made = []
    for key in ("a", "b", "a", "c", "b"):
        cache.get(key, lambda key=key: made.append(key) or key.upper())
    assert made == ["a", "b", "c", "b"]  # "b" was evicted by "c" ("a" had been used more recently)
    assert (cache.hits, cache.misses, len(cache)) == (1, 4, 2)
    disabled = PreparedCache(max_entries=0)
    assert disabled.get("a", lambda: 1) == 1 and len(disabled) == 0



def test_a_single_run_keeps_nothing_unless_told(monkeypatch):
    monkeypatch.delenv("IRIS_REFCACHE_ENTRIES", raising=False)
    assert PreparedCache().max_entries == 0
    monkeypatch.setenv("IRIS_REFCACHE_ENTRIES", "3")
    assert PreparedCache().max_entries == 3


def test_second_exposure_reuses_the_reference_arrays_and_gives_identical_rates(tmp_path, cache):
    refs = write_refstore(tmp_path / "refs", SHAPE)
    first = write_raw(tmp_path / "a_uncal.fits", linear_ramp(np.full(SHAPE, RATE_DN_S), ngroups=4))
    second = write_raw(tmp_path / "b_uncal.fits", linear_ramp(np.full(SHAPE, RATE_DN_S), ngroups=4))
    cold = Detector1Pipeline.call(str(first), refstore=str(refs))
    read_once = cache.misses
    assert read_once == len(cache) >= 7  # mask, saturation, superbias, linearity, dark, readnoise, gain
    before = _digest(cache._entries.values())
    warm = Detector1Pipeline.call(str(second), refstore=str(refs))
    assert cache.misses == read_once and cache.hits >= read_once
    assert _digest(cache._entries.values()) == before  # the run did not write into the shared arrays
    assert not any(array.flags.writeable for arrays in cache._entries.values() for array in arrays)
    np.testing.assert_array_equal(warm.data, cold.data)
    np.testing.assert_array_equal(warm.dq, cold.dq)
    np.testing.assert_allclose(warm.data, RATE_DN_S, rtol=1e-5)
    assert warm.meta.ref_file.gain.sha256 == cold.meta.ref_file.gain.sha256 != "N/A"


def _rewrite_reference(refs, reftype: str, extension: str, edit) -> str:
    """Replace the data of one reference file by ``edit(data)`` and its checksum in the rules."""
    path = refs / f"iris_img1_{reftype}.fits"
    with fits.open(path) as hdul:
        hdul[extension].data = edit(hdul[extension].data.copy())
        hdul.writeto(path, overwrite=True)
    new_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    rules = yaml.safe_load((refs / "refstore.yaml").read_text())
    for entry in rules["references"]:
        if entry["reftype"] == reftype:
            entry["sha256"] = new_sha256
    (refs / "refstore.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    return new_sha256


def test_a_new_reference_file_is_a_new_entry(tmp_path, cache):
    refs = write_refstore(tmp_path / "refs", SHAPE)
    raw = write_raw(tmp_path / "a_uncal.fits", linear_ramp(np.full(SHAPE, RATE_DN_S), ngroups=4))
    Detector1Pipeline.call(str(raw), refstore=str(refs))
    read_once = cache.misses
    # the gain file is replaced by one twice as large: its checksum, hence the key, changes
    new_sha256 = _rewrite_reference(refs, "gain", "SCI", lambda gain: gain * 2)
    rate = Detector1Pipeline.call(str(raw), refstore=str(refs))
    assert cache.misses == read_once + 1
    assert rate.meta.ref_file.gain.sha256 == new_sha256
    (arrays,) = [arrays for key, arrays in cache._entries.items() if key[0] == new_sha256]
    np.testing.assert_allclose(arrays[0], 2 * GAIN_E_PER_DN)


@pytest.mark.parametrize(("nints", "save_rateints", "written"), [(1, False, False), (1, True, True), (2, False, True)])
def test_rateints_only_when_it_adds_something(tmp_path, refstore, nints, save_rateints, written):
    raw = write_raw(tmp_path / "x_uncal.fits", linear_ramp(np.full(SHAPE, RATE_DN_S), ngroups=4, nints=nints))
    Detector1Pipeline.call(str(raw), output_dir=str(tmp_path), save_results=True, save_rateints=save_rateints)
    np.testing.assert_allclose(fits.getdata(tmp_path / "x_rate.fits", "SCI"), RATE_DN_S, rtol=1e-5)
    assert (tmp_path / "x_rateints.fits").exists() == written
    if written:
        assert fits.getdata(tmp_path / "x_rateints.fits", "SCI").shape == (nints, *SHAPE)


def test_linearity_is_prepared_once_and_its_flags_reach_every_exposure(tmp_path, cache):
    refs = write_refstore(tmp_path / "refs", SHAPE)

    def no_linear_term_at_3_4(coeffs):
        coeffs[1, 3, 4] = 0.0  # unusable: left uncorrected and flagged NO_LIN_CORR
        return coeffs

    _rewrite_reference(refs, "linearity", "COEFFS", no_linear_term_at_3_4)
    rates = []
    for name in ("a", "b"):
        raw = write_raw(tmp_path / f"{name}_uncal.fits", linear_ramp(np.full(SHAPE, RATE_DN_S), ngroups=4))
        rates.append(Detector1Pipeline.call(str(raw), refstore=str(refs)))
        if name == "a":
            read_once = cache.misses
    assert cache.misses == read_once  # the second exposure prepared nothing again
    ((key, prepared),) = [(key, arrays) for key, arrays in cache._entries.items() if key[1] == "linearity"]
    assert key[-1] == "iris_pipeline.linearity.linearity.linearity_tables"  # kept prepared, not as read
    np.testing.assert_array_equal(prepared[0][1, 3, 4], 1.0)  # the identity polynomial there
    for rate in rates:
        flagged = (rate.dq & NO_LIN_CORR) != 0
        assert flagged[3, 4] and flagged.sum() == 1
    np.testing.assert_array_equal(rates[1].data, rates[0].data)
    np.testing.assert_array_equal(rates[1].dq, rates[0].dq)


class _FreezeProbe(IrisStep):
    """Records whether the objects made before its run were out of the collector's sight."""

    class_alias = "freeze_probe"

    def process(self, model):
        self.frozen_during_run = gc.get_freeze_count()
        return model


class _ProbePipeline(IrisPipeline):
    step_defs = {"probe": _FreezeProbe}

    def process(self, model):
        return self.probe.run(model)


def test_a_step_run_by_a_pipeline_skips_stpipes_full_collection_and_freezes_nothing_for_good():
    model = datamodels.ImageModel(data=np.zeros(SHAPE, np.float32))
    pipeline = _ProbePipeline()
    pipeline.run(model)
    assert pipeline.probe.frozen_during_run > 1000  # the imported modules were not traversed
    assert gc.get_freeze_count() == 0  # and are collectable again after the step
    alone = _FreezeProbe()
    alone.run(model)
    assert alone.frozen_during_run == 0  # a step run alone collects as stpipe does
