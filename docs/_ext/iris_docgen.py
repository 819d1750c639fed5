"""Pages generated from the code at build time, so that they cannot drift from it.

* ``_generated/step-parameters.md``: every registered step and pipeline with its parameters, read
  from the class's stpipe ``spec`` (type and default from the spec, description from its comment).
* ``_generated/exp-types.md``: the EXP_TYPE table from ``data/exp_types.yaml``.

``write_pages(folder)`` is also what the docs tests call; Sphinx calls it on ``builder-inited``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

# Parameters every stpipe step has; listed once at the top of the page instead of under each step.
COMMON_PARAMETERS = (
    "pre_hooks", "post_hooks", "output_file", "output_dir", "output_ext", "output_use_model",
    "output_use_index", "save_results", "skip", "suffix", "search_output_file", "input_dir", "refstore",
)  # fmt: skip

DOCS = Path(__file__).resolve().parent.parent
_DEFAULT = re.compile(r"default\s*=\s*(.*?)(?:,\s*(?:min|max)\s*=.*)?\)\s*$")


def _split_spec_value(value: str) -> tuple[str, str]:
    """``"float(default=4.0, min=0)"`` -> ``("float (min=0)", "4.0")``."""
    kind = value.split("(", 1)[0]
    limits = ", ".join(re.findall(r"\b(?:min|max)\s*=\s*[^,)]+", value))
    match = _DEFAULT.search(value)
    default = match.group(1).strip() if match else ""
    if kind == "option":
        choices = value[len("option(") :].split("default=")[0].rstrip(", ")
        kind = f"one of {choices}"
    return (f"{kind} ({limits})" if limits else kind), default


def _cell(text: str) -> str:
    return text.replace("|", "\\|").strip()


def _load_class(path: str):
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def step_parameters_markdown() -> str:
    """Markdown page: one table of parameters per registered step and pipeline."""
    from iris_pipeline.stpipe.integration import get_steps

    lines = [
        "# Step and pipeline parameters",
        "",
        "Generated from each class's `spec` when the documentation is built. Set a parameter on the",
        "command line (`strun iris-pipeline::jump x_uncal.fits --rejection_threshold=5`, or",
        "`--steps.jump.rejection_threshold=5` for a step inside a pipeline), in a parameter file, or",
        "from Python (`JumpStep.call(x, rejection_threshold=5)`).",
        "",
        "Every step also has stpipe's common parameters: " + ", ".join(f"`{p}`" for p in COMMON_PARAMETERS) + ";",
        "`refstore` is the reference store folder (default `$IRIS_REFSTORE`, then",
        "`~/.iris_pipeline/refstore`).",
        "",
    ]
    entries = get_steps()
    for heading, want_pipeline in (("Steps", False), ("Pipelines", True)):
        lines += [f"## {heading}", ""]
        for class_path, alias, is_pipeline in sorted(entries, key=lambda e: e[1]):
            if is_pipeline != want_pipeline:
                continue
            cls = _load_class(class_path)
            spec = cls.load_spec_file()
            comments = spec.inline_comments
            summary = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
            lines += [f"### `{alias}`", "", f"`strun iris-pipeline::{alias}`: `{class_path}`. {summary}", ""]
            page = DOCS / "steps" / f"{alias}.md"
            if page.exists():
                lines += [f"Algorithm: [{alias}](../steps/{alias}.md).", ""]
            if is_pipeline and getattr(cls, "step_defs", None):
                lines += ["Steps, in order: " + ", ".join(f"`{name}`" for name in cls.step_defs) + ".", ""]
            rows = [(name, value) for name, value in spec.items() if name not in COMMON_PARAMETERS]
            rows = [(name, value) for name, value in rows if isinstance(value, str)]
            if not rows:
                lines += ["No parameters of its own.", ""]
                continue
            lines += ["| parameter | type | default | description |", "|---|---|---|---|"]
            for name, value in rows:
                kind, default = _split_spec_value(value)
                description = (comments.get(name) or "").lstrip("#").strip()
                lines.append(f"| `{name}` | {_cell(kind)} | `{_cell(default)}` | {_cell(description)} |")
            lines.append("")
    return "\n".join(lines)


def exp_types_markdown() -> str:
    """Markdown page: the EXP_TYPE table, from ``data/exp_types.yaml``."""
    from iris_pipeline.exptypes import markdown_table

    return "\n".join(
        [
            "# EXP_TYPE table",
            "",
            "Generated from `src/iris_pipeline/data/exp_types.yaml` when the documentation is built (the same",
            "table as `iris-pipeline exptypes --markdown`). How it is used: [exposure types](../exposure-types.md).",
            "",
            markdown_table(),
            "",
        ]
    )


def write_pages(folder: Path) -> list[Path]:
    """Write the generated pages into `folder` (rewritten only when their text changes)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("step-parameters.md", step_parameters_markdown()), ("exp-types.md", exp_types_markdown())):
        path = folder / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


def _on_builder_inited(app) -> None:
    write_pages(Path(app.srcdir) / "_generated")


def setup(app):
    app.connect("builder-inited", _on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
