"""The EXP_TYPE table: coverage, TSO routing, errors, and the docs page generated from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iris_pipeline.exceptions import NoPipelineError
from iris_pipeline.exptypes import exposure_types, markdown_table, pipelines_for
from iris_pipeline.stpipe.integration import STEP_CLASSES

DOC = Path(__file__).parents[1] / "docs" / "exposure-types.md"


def test_both_instruments_have_every_exposure_type():
    iris = {r.exp_type.removeprefix("IRIS_") for r in exposure_types() if r.exp_type.startswith("IRIS_")}
    liger = {r.exp_type.removeprefix("LIGER_") for r in exposure_types() if r.exp_type.startswith("LIGER_")}
    assert iris == liger
    assert {"IMAGE", "IMAGE_SKY", "IMAGE_DARK", "IMAGE_FLAT", "LENSLET", "SLICER", "LENSLET_ARC"} <= iris


def test_science_imaging_routes_to_image_pipelines_and_tso_to_tso3():
    assert pipelines_for("IRIS_IMAGE").stages == ("detector1", "image2", "image3")
    assert pipelines_for("IRIS_IMAGE", tsovisit=True).stages == ("detector1", "image2", "tso3")
    assert pipelines_for("liger_slicer").stages == ("detector1", "spec2", "spec3")
    assert pipelines_for("IRIS_IMAGE_DARK", tsovisit=True).stage2 == "create_dark"


def test_unknown_exposure_type_is_a_clear_error():
    with pytest.raises(NoPipelineError, match="unknown EXP_TYPE 'NRC_IMAGE'"):
        pipelines_for("NRC_IMAGE")


def test_every_stage1_pipeline_exists():
    aliases = {alias for _, alias, _ in STEP_CLASSES}
    assert {rule.stage1 for rule in exposure_types()} <= aliases


def test_docs_table_is_the_data_table():
    text = DOC.read_text()
    table = re.search(r"<!-- BEGIN.*?-->\n(.*?)\n<!-- END", text, re.S).group(1)
    assert table == markdown_table()
