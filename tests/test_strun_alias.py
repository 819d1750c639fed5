"""Step aliases shared with another installed package (jwst registers ``jump``, ``saturation``...).

A second distribution registering the same ``stpipe.steps`` alias is simulated with a dist-info folder
on PYTHONPATH, as jwst's wheel would install it; jwst itself is not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.fixture
def other_package(tmp_path) -> dict[str, str]:
    """Environment in which a package ``otherpipe`` also registers the step alias ``jump``."""
    (tmp_path / "otherpipe_steps.py").write_text(
        "def get_steps():\n    return [('otherpipe_steps.JumpStep', 'jump', False)]\n"
    )
    dist_info = tmp_path / "otherpipe-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: otherpipe\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[stpipe.steps]\notherpipe = otherpipe_steps:get_steps\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}


def _strun(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "strun"), *args], capture_output=True, text=True, env=env, timeout=120)


def test_an_ambiguous_step_alias_names_the_package_qualified_form(other_package, tmp_path):
    result = _strun("jump", str(tmp_path / "x_uncal.fits"), env=other_package)
    assert result.returncode == 1
    assert "iris-pipeline::jump" in result.stdout + result.stderr
    assert "otherpipe::jump" in result.stdout + result.stderr


def test_the_package_qualified_alias_resolves_to_our_step(other_package):
    result = _strun("iris-pipeline::jump", "--help", env=other_package)
    assert result.returncode == 0, result.stderr
    assert "--rejection_threshold" in result.stdout  # a parameter only our JumpStep has
