"""The commands shown in the documentation run, so the docs cannot drift from the code.

A fenced ``bash`` or ``python`` block in ``docs/*.md`` preceded by the line ``<!-- runnable -->`` is
run by `test_runnable_blocks`; ``<!-- runnable slow -->`` blocks only by the slow variant (with
``-m slow``), which runs every block of a page in order. The blocks of one page share a temporary
working folder (a fresh HOME, no IRIS_REFSTORE), so a later block can use the files an earlier one
made, and a shell block sees the variables that earlier ones exported (as in one terminal); fast
blocks must not depend on slow ones. A block that cannot run (it installs packages,
needs a cluster) is preceded by ``<!-- not runnable: why -->``; on the pages of `MARKED_PAGES`
every shell and Python block must say which it is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BIN = Path(sys.executable).parent

# Pages whose every shell/Python block is marked runnable or "not runnable: why".
MARKED_PAGES = ("index.md", "tutorial.md", "user-guide.md", "data-formats.md", "simulator.md", "adding-a-step.md")

_FENCE = re.compile(
    r"^(?P<marker><!-- (?P<kind>runnable(?: slow)?|not runnable:[^>]*) -->\n)?"
    r"```(?P<lang>[^\s`]*)[^\n]*\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
_SHELL = ("bash", "sh", "shell", "console")
_LANGUAGES = (*_SHELL, "python")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    code: str
    slow: bool


def _blocks(page: Path):
    text = page.read_text()
    for match in _FENCE.finditer(text):
        yield match, text.count("\n", 0, match.start("lang")) + 1


def runnable_blocks(page: Path) -> list[Block]:
    """The page's runnable blocks, in order."""
    blocks = []
    for match, line in _blocks(page):
        kind = match.group("kind") or ""
        if kind.startswith("runnable"):
            lang = match.group("lang")
            assert lang in _LANGUAGES, f"{page.name}:{line}: a runnable block must be bash or python, not {lang!r}"
            blocks.append(Block(page.name, line, lang, match.group("code"), slow=kind.endswith("slow")))
    return blocks


def _pages_with_blocks() -> list[Path]:
    return sorted(page for page in DOCS.rglob("*.md") if "_build" not in page.parts and runnable_blocks(page))


def _run(block: Block, folder: Path, env: dict[str, str], session: Path) -> None:
    """Run one block in `folder`; a shell block starts with the variables the page's earlier ones exported."""
    if block.lang == "python":
        command = [sys.executable, "-c", block.code]
    else:
        script = f"if [ -f '{session}' ]; then source '{session}'; fi\n{block.code}\nexport -p > '{session}'\n"
        command = ["bash", "-euo", "pipefail", "-c", script]
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (
        f"docs/{block.page}:{block.line}: the {block.lang} block failed (exit {result.returncode})\n"
        f"--- block ---\n{block.code}--- stdout ---\n{result.stdout[-3000:]}--- stderr ---\n{result.stderr[-3000:]}"
    )


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "IRIS_REFSTORE"}
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env["HOME"] = str(home)
    env["MPLBACKEND"] = "Agg"
    return env


def _run_page(page: Path, tmp_path: Path, include_slow: bool) -> int:
    folder = tmp_path / "work"
    folder.mkdir()
    env = _environment(tmp_path / "home")
    blocks = [block for block in runnable_blocks(page) if include_slow or not block.slow]
    for block in blocks:
        _run(block, folder, env, tmp_path / "exported.sh")
    return len(blocks)


@pytest.mark.parametrize("page", _pages_with_blocks(), ids=lambda page: page.name)
def test_runnable_blocks(page, tmp_path):
    if all(block.slow for block in runnable_blocks(page)):
        pytest.skip("only slow blocks (run with -m slow)")
    assert _run_page(page, tmp_path, include_slow=False) > 0


@pytest.mark.slow
@pytest.mark.parametrize("page", _pages_with_blocks(), ids=lambda page: page.name)
def test_every_runnable_block_in_order(page, tmp_path):
    assert _run_page(page, tmp_path, include_slow=True) > 0


@pytest.mark.parametrize("name", MARKED_PAGES)
def test_every_command_block_says_whether_it_runs(name):
    unmarked = [
        f"docs/{name}:{line}"
        for match, line in _blocks(DOCS / name)
        if match.group("lang") in _LANGUAGES and not match.group("marker")
    ]
    assert not unmarked, "shell/Python blocks without <!-- runnable --> or <!-- not runnable: why -->: " + str(unmarked)
    bare = [f"docs/{name}:{line}" for match, line in _blocks(DOCS / name) if not match.group("lang")]
    assert not bare, f"code blocks without a language (bash, python, text...): {bare}"


def test_generated_pages_cover_every_step_and_exposure_type(tmp_path):
    """The build-time tables list every registered step's own parameters and every EXP_TYPE."""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import iris_docgen
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    from iris_pipeline.exptypes import exposure_types
    from iris_pipeline.jump import JumpStep
    from iris_pipeline.stpipe.integration import get_steps

    parameters, exp_types = (path.read_text() for path in iris_docgen.write_pages(tmp_path))
    for _, alias, _ in get_steps():
        assert f"### `{alias}`" in parameters
    jump = parameters.split("### `jump`")[1].split("### ")[0]
    for name in ("rejection_threshold", "flag_4_neighbors", "override_gain"):
        assert f"| `{name}` |" in jump
    assert "`4.0`" in jump and f"| `{name}` |" not in parameters.split("## Steps")[0]
    assert JumpStep.load_spec_file()["rejection_threshold"].startswith("float(default=4.0")
    for rule in exposure_types():
        assert f"| {rule.exp_type} |" in exp_types
