"""Run summaries: what each product says about itself, as an HTML page and a plain-text table."""

from __future__ import annotations

import html
import math
import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from .arrays import DO_NOT_USE, count_dq_flags
from .files import atomic_output, extension_data, open_product

__all__ = ["SHA256_SHORT_CHARS", "summarize_product", "write_run_summary"]

SHA256_SHORT_CHARS = 12
"""Hex digits of a reference file's SHA-256 kept in summaries."""

_HEADER_FIELDS = {"datamodl": "DATAMODL", "exp_type": "EXP_TYPE", "detector": "DETECTOR", "filter": "FILTER"}
_MEDIAN_STRIP_PIX = 1 << 22

_CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; font-size: 0.9em; }
th { background: #eef2f7; }
td.num { text-align: right; font-family: monospace; }
img.thumb { max-width: 220px; max-height: 200px; border: 1px solid #ccc; }
h2 { font-size: 1.1em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.muted { color: #777; }
"""


def summarize_product(path) -> dict:
    """Summary of a product from its headers and arrays.

    Parameters
    ----------
    path : path-like
        A pipeline product (rate, cal, i2d, s3d...) with a ``SCI`` extension and optional ``DQ``,
        or a table product (``_x1d``: no image; ``median`` None, ``dq_counts`` empty).

    Returns
    -------
    dict
        ``file`` (name), ``path``, ``datamodl``, ``exp_type``, ``detector``, ``filter`` (None when
        absent), ``steps`` (``{"S_DQINIT": "COMPLETE", ...}``, every ``S_*`` keyword),
        ``references`` (``{"R_DARK": {"file": name, "sha256": first 12 hex digits of H_DARK or
        None}, ...}``, every ``R_*`` keyword), ``bkglevel`` (BKGLEVEL or None), ``bunit``,
        ``median`` (median of SCI over finite pixels without ``DO_NOT_USE``; None when none),
        ``dq_counts`` (``{flag name: number of pixels}`` for every flag set in DQ; empty without DQ).

    Raises
    ------
    InputFileError
        The file is missing, unreadable, or neither has a SCI image nor is a table product.
    """
    with open_product(path) as hdulist:
        primary = hdulist[0].header
        sci = extension_data(hdulist, path, "SCI", (1, 2, 3, 4), required=not _is_table_product(hdulist))
        dq = extension_data(hdulist, path, "DQ", (1, 2, 3, 4), required=False)
        sci_header = hdulist["SCI"].header if sci is not None else {}
        summary = {"file": Path(path).name, "path": str(path)}
        summary.update({field: _text(primary.get(keyword)) for field, keyword in _HEADER_FIELDS.items()})
        summary["steps"] = {key: str(primary[key]) for key in primary if key.startswith("S_")}
        summary["references"] = {
            key: {"file": str(primary[key]), "sha256": _short_sha(primary.get("H_" + key[2:]))}
            for key in primary
            if key.startswith("R_")
        }
        bkglevel = primary.get("BKGLEVEL", sci_header.get("BKGLEVEL"))
        summary["bkglevel"] = float(bkglevel) if isinstance(bkglevel, int | float) else None
        summary["bunit"] = _text(sci_header.get("BUNIT", primary.get("BUNIT")))
        if sci is None:
            summary["median"], summary["dq_counts"] = None, {}
            return summary
        good_dq = dq if dq is not None and dq.shape in (sci.shape, sci.shape[-dq.ndim :]) else None
        summary["median"] = _good_median(sci, good_dq)
        summary["dq_counts"] = count_dq_flags(dq) if dq is not None else {}
    return summary


def _is_table_product(hdulist) -> bool:
    """Spectra (``_x1d``) and other products whose data are binary tables, not a SCI image."""
    return any(isinstance(hdu, fits.BinTableHDU) for hdu in hdulist[1:]) and "SCI" not in hdulist


def write_run_summary(records, output_html, *, output_text=None, title="iris-pipeline run") -> Path:
    """Write an HTML page (and optionally a text table) summarising the products of a run.

    Parameters
    ----------
    records : list of dict
        Each from `summarize_product`, optionally with ``timings_s`` (``{step name: seconds}``),
        ``wall_s`` (seconds) and ``preview`` (path of a PNG).
    output_html : path-like
        Self-contained HTML page: inline CSS, previews linked by paths relative to its folder and
        shown as thumbnails.
    output_text : path-like, optional
        Plain-text version.
    title : str
        Page title.

    Returns
    -------
    pathlib.Path
        ``output_html``. Both files are written atomically (temporary name, then rename).
    """
    records = list(records)
    output_html = Path(output_html)
    page = _html_page(records, output_html.parent, title)
    text = _text_table(records, title) if output_text is not None else None
    with atomic_output(output_html) as tmp:
        tmp.write_text(page, encoding="utf-8")
    if text is not None:
        with atomic_output(output_text) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return output_html


def _text(value) -> str | None:
    return None if value is None else str(value)


def _short_sha(value) -> str | None:
    return str(value)[:SHA256_SHORT_CHARS] if value else None


def _good_median(sci, dq) -> float | None:
    """Median of the finite SCI values whose DQ lacks DO_NOT_USE, gathered in strips."""
    rows = sci.reshape(-1, sci.shape[-1])
    dq_rows = None
    if dq is not None:
        dq_rows = np.broadcast_to(dq, sci.shape).reshape(-1, sci.shape[-1])
    strip = max(1, _MEDIAN_STRIP_PIX // rows.shape[1])
    good_values = []
    for start in range(0, rows.shape[0], strip):
        values = np.asarray(rows[start : start + strip], dtype=np.float64)
        good = np.isfinite(values)
        if dq_rows is not None:
            good &= (np.asarray(dq_rows[start : start + strip]) & DO_NOT_USE) == 0
        good_values.append(values[good])
    values = np.concatenate(good_values) if good_values else np.empty(0)
    return float(np.median(values)) if values.size else None


def _number(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}g}"


def _flagged(record) -> str:
    counts = record.get("dq_counts")
    return "-" if counts is None else str(counts.get("DO_NOT_USE", 0))


def _relative_link(path, folder: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), folder.resolve())).as_posix()


def _html_page(records, folder: Path, title: str) -> str:
    esc = html.escape
    rows = []
    for index, record in enumerate(records):
        preview = record.get("preview")
        thumb = '<span class="muted">-</span>'
        if preview:
            link = esc(_relative_link(preview, folder), quote=True)
            thumb = f'<a href="{link}"><img class="thumb" src="{link}" alt="{esc(Path(preview).name)}"></a>'
        unit = esc(record.get("bunit") or "")
        rows.append(
            "<tr>"
            f"<td>{thumb}</td>"
            f'<td><a href="#product-{index}">{esc(str(record.get("file", "?")))}</a></td>'
            f"<td>{esc(record.get('datamodl') or '-')}</td>"
            f"<td>{esc(record.get('exp_type') or '-')}</td>"
            f"<td>{esc(record.get('detector') or '-')}</td>"
            f"<td>{esc(record.get('filter') or '-')}</td>"
            f'<td class="num">{_number(record.get("median"))} {unit}</td>'
            f'<td class="num">{_number(record.get("bkglevel"))}</td>'
            f'<td class="num">{_flagged(record)}</td>'
            f'<td class="num">{_number(record.get("wall_s"), 3)}</td>'
            "</tr>"
        )
    total_wall = sum(record["wall_s"] for record in records if record.get("wall_s") is not None)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>{len(records)} product(s); total wall time {_number(total_wall, 4)} s.</p>",
        "<table><tr><th>preview</th><th>file</th><th>model</th><th>EXP_TYPE</th><th>detector</th><th>filter</th>"
        "<th>median SCI</th><th>BKGLEVEL</th><th>DO_NOT_USE px</th><th>wall (s)</th></tr>",
        *rows,
        "</table>",
    ]
    for index, record in enumerate(records):
        parts.append(f'<h2 id="product-{index}">{esc(str(record.get("file", "?")))}</h2>')
        parts.append(_html_details(record))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_details(record) -> str:
    esc = html.escape
    step_rows = [
        f"<tr><td>{esc(key)}</td><td>{esc(status)}</td></tr>" for key, status in (record.get("steps") or {}).items()
    ]
    timing_rows = [
        f'<tr><td>{esc(name)}</td><td class="num">{_number(seconds, 3)}</td></tr>'
        for name, seconds in (record.get("timings_s") or {}).items()
    ]
    reference_rows = [
        f"<tr><td>{esc(key)}</td><td>{esc(ref['file'])}</td><td><code>{esc(ref.get('sha256') or '-')}</code></td></tr>"
        for key, ref in (record.get("references") or {}).items()
    ]
    flag_rows = [
        f'<tr><td>{esc(name)}</td><td class="num">{count}</td></tr>'
        for name, count in (record.get("dq_counts") or {}).items()
    ]
    sections = [f"<p>{esc(record.get('path', ''))}</p>"]
    if step_rows:
        sections.append("<table><tr><th>step</th><th>status</th></tr>" + "".join(step_rows) + "</table>")
    if timing_rows:
        sections.append("<table><tr><th>timed step</th><th>time (s)</th></tr>" + "".join(timing_rows) + "</table>")
    if reference_rows:
        sections.append(
            "<table><tr><th>reference</th><th>file</th><th>sha256</th></tr>" + "".join(reference_rows) + "</table>"
        )
    if flag_rows:
        sections.append("<table><tr><th>DQ flag</th><th>pixels</th></tr>" + "".join(flag_rows) + "</table>")
    return "\n".join(sections)


def _text_table(records, title: str) -> str:
    header = (
        "file",
        "model",
        "EXP_TYPE",
        "detector",
        "filter",
        "median SCI",
        "BUNIT",
        "BKGLEVEL",
        "DO_NOT_USE",
        "wall_s",
    )
    rows = [
        (
            str(record.get("file", "?")),
            record.get("datamodl") or "-",
            record.get("exp_type") or "-",
            record.get("detector") or "-",
            record.get("filter") or "-",
            _number(record.get("median")),
            record.get("bunit") or "-",
            _number(record.get("bkglevel")),
            _flagged(record),
            _number(record.get("wall_s"), 3),
        )
        for record in records
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [title, "=" * len(title), ""]
    for row in (header, tuple("-" * width for width in widths), *rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    for record in records:
        lines += ["", str(record.get("file", "?"))]
        if record.get("preview"):
            lines.append(f"  preview: {record['preview']}")
        for key, status in (record.get("steps") or {}).items():
            lines.append(f"  {key:<12} {status}")
        for name, seconds in (record.get("timings_s") or {}).items():
            lines.append(f"  time {name:<20} {_number(seconds, 3)} s")
        for key, ref in (record.get("references") or {}).items():
            lines.append(f"  {key:<12} {ref['file']}  sha256 {ref.get('sha256') or '-'}")
        for name, count in (record.get("dq_counts") or {}).items():
            lines.append(f"  DQ {name:<20} {count}")
    return "\n".join(lines) + "\n"
