"""One summary per product kind, for ``iris-pipeline info``.

Each kind shows its own properties: an exposure its read pattern and subarray; a mosaic its grid,
pixel scale and the exposures combined; a cube its spatial and spectral axes; a catalogue its rows
and columns; an association its products and members; a provenance record its task and inputs.
`describe(path)` returns the lines; a file of no known kind raises `IrisPipelineError`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .exceptions import IrisPipelineError

__all__ = ["describe"]

# FITS products whose model is not one exposure of one detector: their exposure block is not shown.
_COMBINED_MODELS = ("MosaicModel", "IFUCubeModel")


def describe(path: str | Path) -> list[str]:
    """Lines summarising the product at `path` (FITS data model, ECSV catalogue or JSON record)."""
    path = Path(path)
    if not path.exists():
        raise IrisPipelineError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".ecsv":
        return _describe_table(path)
    if suffix == ".json":
        return _describe_json(path)
    return _describe_model(path)


# ---------------------------------------------------------------------------------------------
# tables and JSON records


def _describe_table(path: Path) -> list[str]:
    from astropy.table import Table

    try:
        table = Table.read(path, format="ascii.ecsv")
    except Exception as err:  # astropy raises many kinds for a malformed file
        raise IrisPipelineError(f"{path}: not a readable ECSV table ({err})") from err
    lines = [f"{path}: catalogue (ECSV), {len(table)} rows, {len(table.columns)} columns"]
    for name, column in table.columns.items():
        # Mixin columns (the catalogue's sky_centroid is a SkyCoord) have no dtype or unit.
        kind = getattr(column, "dtype", None) or type(column).__name__
        unit = getattr(column, "unit", None)
        lines.append(f"  {name:<22} {kind}" + (f" [{unit}]" if unit is not None else ""))
    for key, value in table.meta.items():
        if isinstance(value, str | int | float | bool):
            lines.append(f"  meta {key} = {value}")
    return lines


def _describe_json(path: Path) -> list[str]:
    try:
        record = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IrisPipelineError(f"{path}: not a JSON file ({err})") from err
    if not isinstance(record, dict):
        raise IrisPipelineError(f"{path}: a JSON {type(record).__name__}, not an association or provenance record")
    if "asn_type" in record:
        return _describe_association(path, record)
    if "task" in record and "outputs" in record:
        return _describe_provenance(path, record)
    if "reasons" in record and "tasks" in record:
        return _describe_run_summary(path, record)
    raise IrisPipelineError(f"{path}: JSON with keys {sorted(record)[:6]}: not an association, provenance or summary")


def _describe_association(path: Path, record: dict) -> list[str]:
    lines = [f"{path}: association {record.get('asn_type')}  rule {record.get('asn_rule', '-')}  "
             f"pool {record.get('asn_pool', '-')}"]  # fmt: skip
    for product in record.get("products", []):
        members = product.get("members", [])
        counts: dict[str, int] = {}
        for member in members:
            counts[member.get("exptype", "?")] = counts.get(member.get("exptype", "?"), 0) + 1
        by_type = ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items()))
        lines.append(f"  product {product.get('name')}: {len(members)} members ({by_type})")
        for member in members:
            lines.append(f"    {member.get('exptype', '?'):<11} {member.get('expname')}")
    return lines


def _describe_provenance(path: Path, record: dict) -> list[str]:
    status = "complete" if record.get("complete") else "INCOMPLETE"
    lines = [
        f"{path}: provenance record of task {record.get('task')} ({status})",
        f"  pipeline    {record.get('pipeline')}  ({record.get('class')})",
        f"  software    iris-pipeline {record.get('package_version')}  ran {record.get('seconds', 0):.1f} s",
    ]
    for label in ("inputs", "outputs"):
        items = record.get(label) or []
        names = list(items) if isinstance(items, dict) else [i if isinstance(i, str) else i.get("path") for i in items]
        lines.append(f"  {label:<11} {len(names)}")
        lines += [f"    {name}" for name in names]
    references = record.get("references") or {}
    for reftype, sha256 in references.items():
        lines.append(f"  ref {reftype:<8} sha256 {str(sha256)[:16]}...")
    return lines


def _describe_run_summary(path: Path, record: dict) -> list[str]:
    tasks = record.get("tasks") or []
    statuses: dict[str, int] = {}
    for task in tasks:
        statuses[task.get("status", "?")] = statuses.get(task.get("status", "?"), 0) + 1
    counts = ", ".join(f"{status} {count}" for status, count in sorted(statuses.items()))
    lines = [f"{path}: run summary of {len(tasks)} tasks ({counts}) in {record.get('wall_s', 0):.1f} s "
             f"on {record.get('cluster')}"]  # fmt: skip
    for unit in record.get("units") or []:
        pipelines = "+".join(unit.get("pipelines") or [])
        lines.append(f"  {unit.get('status', '?'):<8} {unit.get('kind', ''):<12} {pipelines:<22} {unit.get('unit')}")
    return lines


# ---------------------------------------------------------------------------------------------
# FITS data models


def _describe_model(path: Path) -> list[str]:
    from . import datamodels

    with datamodels.open(path) as model:
        meta = model.meta
        kind = meta.model_type
        lines = [f"{path}: {kind}"]
        instrument = meta.instrument
        # a mosaic combines detectors: the DETECTOR it carries is its first member's
        detector = "" if kind == "MosaicModel" else f" {instrument.detector}"
        setup = f"  instrument  {instrument.name}{detector}  filter {instrument.filter}"
        if instrument.ifs_mode not in (None, "N/A"):
            setup += f"  {instrument.ifs_mode} {instrument.ifs_scale} mas R={instrument.resolving_power}"
        lines.append(setup)
        if kind == "MosaicModel":
            lines += _mosaic_lines(model)
        elif kind == "IFUCubeModel":
            lines += _cube_lines(model, path)
        elif isinstance(model, datamodels.ReferenceFileModel):
            lines += _reference_lines(model)
        else:
            lines += _exposure_lines(model)
        target = meta.target.name
        if not isinstance(model, datamodels.ReferenceFileModel):
            lines.append(f"  observed    {meta.observation.date_obs}  program {meta.observation.program}"
                         + (f"  target {target}" if target else ""))  # fmt: skip
        lines += _array_lines(model)
        steps = meta.cal_step._instance or {}
        if steps:
            lines.append("  steps       " + ", ".join(f"{k}={v}" for k, v in steps.items()))
        refs = meta.ref_file._instance or {}
        if kind not in _COMBINED_MODELS:  # a combined product's references are its members'
            for reftype, ref in refs.items():
                lines.append(f"  ref {reftype:<8} {ref.get('name')}  sha256 {str(ref.get('sha256'))[:16]}...")
    return lines


def _exposure_lines(model) -> list[str]:
    meta = model.meta
    exposure, subarray = meta.exposure, meta.subarray
    return [
        f"  exposure    {exposure.type}  readmode {exposure.readmode}  nints {exposure.nints} "
        f"ngroups {exposure.ngroups} nframes {exposure.nframes} tframe {exposure.frame_time} s",
        f"  subarray    {subarray.name} at ({subarray.xstart}, {subarray.ystart}) "
        f"size {subarray.xsize} x {subarray.ysize}",
    ]


def _reference_lines(model) -> list[str]:
    meta = model.meta
    subarray = meta.subarray
    lines = [
        f"  reference   {meta.reftype}  useafter {meta.useafter}  pedigree {meta.pedigree}",
        f"  selects     readmode {meta.exposure.readmode}  subarray {subarray.name}",
    ]
    if meta.description:
        lines.append(f"  description {meta.description}")
    return lines


def _mosaic_lines(model) -> list[str]:
    meta = model.meta
    wcs = meta.wcsinfo
    ny, nx = model.data.shape
    lines = [f"  mosaic      {nx} x {ny} pixels, {meta.exposure.type} exposures"]
    if wcs.cd1_1 is not None:
        scale_arcsec = 3600.0 * math.sqrt(abs(wcs.cd1_1 * wcs.cd2_2 - wcs.cd1_2 * wcs.cd2_1))
        lines.append(f"  grid        {wcs.ctype1}/{wcs.ctype2} at RA {wcs.crval1:.6f} Dec {wcs.crval2:.6f} "
                     f"(pixel {wcs.crpix1:.1f}, {wcs.crpix2:.1f}), {scale_arcsec * 1000:.2f} mas/pixel")  # fmt: skip
    photometry = meta.photometry
    if photometry.pixelarea_steradians is not None:
        lines.append(f"  pixel area  {photometry.pixelarea_steradians:.4g} sr")
    resample = meta.resample
    lines.append(f"  combined    {resample.pointings} exposures, {resample.ninputs} detector images; "
                 f"kernel {resample.kernel} pixfrac {resample.pixfrac} weight {resample.weight_type}")  # fmt: skip
    return lines


def _cube_lines(model, path: Path) -> list[str]:
    nwave, ny, nx = model.data.shape
    lines = [f"  cube        {nx} x {ny} spaxels x {nwave} wavelengths"]
    wavelength_um = _cube_wavelengths_um(model, path)
    if wavelength_um is not None and wavelength_um.size > 1:
        step = float(np.median(np.diff(wavelength_um)))
        lines.append(f"  wavelength  {wavelength_um[0]:.5f} to {wavelength_um[-1]:.5f} um, step {step:.3g} um")
    return lines


def _cube_wavelengths_um(model, path: Path) -> np.ndarray | None:
    """The planes' wavelengths: the WAVELENGTH array if the cube has one, else the SCI spectral WCS."""
    if model.hasattr("wavelength") and model.wavelength is not None and np.size(model.wavelength) > 1:
        return np.asarray(model.wavelength, dtype=float)
    import warnings

    from astropy import units as u
    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    with fits.open(path) as hdul, warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(hdul["SCI"].header)
    if not wcs.has_spectral:
        return None
    spectral = wcs.spectral
    planes = np.arange(model.data.shape[0], dtype=float)
    return spectral.pixel_to_world(planes).to_value(u.um)


def _array_lines(model) -> list[str]:
    lines = []
    for name in ("data", "dq", "err", "pixeldq", "groupdq", "wht", "wavelength"):
        if model.hasattr(name) and getattr(model, name) is not None:
            array = getattr(model, name)
            lines.append(f"  {name:<11} {array.dtype} {array.shape}")
    if model.hasattr("data") and np.issubdtype(model.data.dtype, np.floating):
        finite = model.data[np.isfinite(model.data)]
        median = float(np.median(finite)) if finite.size else float("nan")
        lines.append(f"  data median {median:.4g}  {model.meta.bunit_data or ''}")
    if model.hasattr("dq"):
        from . import dqflags

        counts = dqflags.describe(model.dq)
        lines.append("  dq flags    " + (", ".join(f"{k}={v}" for k, v in counts.items()) or "none"))
    return lines
