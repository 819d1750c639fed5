"""IFS calibration pipelines: lamp exposures -> IFS reference files.

- ``create_wavecal`` (`CreateWavecalPipeline`): arc exposure -> IFS_WAVECAL (per-spaxel wavelength
  solution, arc-line residuals in WAVRMS and RMS_PIX).
- ``create_ifs_flat`` (`CreateIFSFlatPipeline`): continuum-lamp exposure -> IFS_FLAT (relative
  spectral response of every spaxel).
- ``create_rectmat`` (`CreateRectmatPipeline`): single-lenslet scan exposures -> IFS_TRACE with
  measured trace centres and profile widths, from which extraction builds its deblending
  (rectification) matrix.

Each product carries the reference keywords (REFTYPE, USEAFTER, IFSMODE, IFSSCALE, RESPOWER,
FILTER) so that ``iris-pipeline refs add`` files it in a store. See ``docs/ifs.md``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from .. import datamodels
from ..associations import is_association, read_association
from ..exceptions import InputFileError
from ..ifs import ExtractIFSStep, SpectralFormat, WavecalStep
from ..ifs.calibration import (
    WavelengthSolutionError,
    fit_wavelength_solution,
    measure_traces,
    measure_traces_all_lit,
    spectral_flat,
)
from ..ifs.lines import arc_line_list
from ..references.selection import parse_date
from ..references.store import ReferenceStore
from ..stpipe import IrisPipeline
from ..stpipe.base import copy_provenance, provenance_of
from .calibration import CALIBRATION_LEAD

__all__ = ["CreateIFSFlatPipeline", "CreateRectmatPipeline", "CreateWavecalPipeline"]

log = logging.getLogger(__name__)

LIT_FRACTION = 0.3
"""A scanned spectrum counts as lit when its median flux exceeds this fraction of the brightest one."""


def _as_reference(model, source, reftype: str, description: str, useafter: str | None) -> None:
    """Reference keywords; USEAFTER by default `CALIBRATION_LEAD` before the calibration exposure."""
    model.update(source, only="PRIMARY")
    model.meta.reftype = reftype.upper()
    if useafter is None:
        taken = parse_date(source.meta.observation.date_obs)
        useafter = (taken - CALIBRATION_LEAD).strftime("%Y-%m-%dT%H:%M:%S")
    model.meta.useafter = useafter
    model.meta.author = "iris_pipeline"
    model.meta.pedigree = "GROUND"
    model.meta.description = description
    model.meta.exposure.readmode = "ANY"
    model.meta.subarray.name = "GENERIC"


def _rate_of(path_or_model, refstore):
    """A count-rate model of an input: rates pass through, raw ramps go through detector1 first."""
    model = datamodels.open(path_or_model, read_data=False) if isinstance(path_or_model, str | Path) else None
    if model is not None and isinstance(model, datamodels.RawRampModel):
        from .detector1 import Detector1Pipeline

        log.info("%s: raw ramp, running detector1 first", model.meta.filename)
        return Detector1Pipeline.call(str(path_or_model), refstore=refstore)
    return datamodels.open(path_or_model)


def _inputs(step_input, roles=("science",)) -> list:
    """The exposures of an input: a file or model, a list of them, or an association's members."""
    if isinstance(step_input, list | tuple):
        return [item for entry in step_input for item in _inputs(entry, roles)]
    if isinstance(step_input, str | Path) and is_association(step_input):
        members = [str(path) for product in read_association(step_input).products
                   for path in product.members_of(*roles)]  # fmt: skip
        if not members:
            raise InputFileError(step_input, f"no {' or '.join(roles)} members")
        return members
    return [str(step_input) if isinstance(step_input, Path) else step_input]


def _mean_rate(step, step_input, roles):
    """The mean count rate of the input exposures (one configuration)."""
    rates = [_rate_of(item, step.refstore) for item in _inputs(step_input, roles)]
    first = rates[0]
    if len(rates) > 1:
        first.data = np.mean([rate.data for rate in rates], axis=0).astype(np.float32)
        first.var_poisson = (np.sum([rate.var_poisson for rate in rates], axis=0) / len(rates) ** 2).astype(np.float32)
        first.var_rnoise = (np.sum([rate.var_rnoise for rate in rates], axis=0) / len(rates) ** 2).astype(np.float32)
    return first


def _file_reference(step, model) -> None:
    """Write a reference model in ``output_dir`` under its reference name, and add it to the store
    (``add_to_store``). It is the pipeline's product: `IFSCalibrationPipeline.save_model` does not
    write it a second time."""
    stamp = model.meta.useafter.replace("-", "").replace(":", "")
    mode = (model.meta.instrument.ifs_mode or "").lower()
    name = (f"{model.meta.instrument.name}_{mode}_{model.meta.instrument.filter}_{model.meta.instrument.ifs_scale:g}mas"
            f"_r{model.meta.instrument.resolving_power}_{model.meta.reftype}_{stamp}.fits").lower()  # fmt: skip
    path = Path(step.output_dir or ".") / name
    model.save(str(path))
    log.info("Wrote %s", path)
    if step.add_to_store:
        entry = ReferenceStore(step.refstore).add(path, subfolder=model.meta.reftype.lower(), replace=True)
        log.info("Added %s to the reference store %s", entry.file, step.refstore)


def _trace_reference(step, source, spectral_format: SpectralFormat, nominal, description: str):
    """An IFS_TRACE reference model of a measured format."""
    result = datamodels.IFSTraceModel()
    _as_reference(result, source, "ifs_trace", description, step.useafter)
    table = spectral_format.to_table_columns()
    result.trace_table = np.rec.fromarrays(list(table.values()), names=list(table))
    result.meta.ifs_format = nominal.meta.ifs_format.instance
    result.meta.filename = source.meta.filename
    return result


def _trace_format(step, model) -> tuple[SpectralFormat, datamodels.IFSTraceModel]:
    trace = datamodels.IFSTraceModel(step.get_reference_file(model, "ifs_trace"))
    return SpectralFormat.from_model(trace), trace


def _last_reference(step) -> tuple[dict, dict]:
    """The reference `step` selected last, as a `provenance_of` record (for `copy_provenance`)."""
    reftype, match = step._reference_files_used[-1]
    return ({reftype: {"name": match.name, "sha256": match.sha256}} if match is not None else {}), {}


class IFSCalibrationPipeline(IrisPipeline):
    """Base of the IFS calibration pipelines: their references are written by `_file_reference`."""

    def save_model(self, model, *args, **kwargs):
        """A reference is already written under its reference name; other products as usual."""
        if isinstance(model, datamodels.ReferenceFileModel):
            return model.meta.filename
        return super().save_model(model, *args, **kwargs)


class CreateWavecalPipeline(IFSCalibrationPipeline):
    """Arc exposure -> IFS_WAVECAL: extraction, line centres, per-spaxel polynomial solution."""

    class_alias = "create_wavecal"
    spec = """
    lamps = string_list(default=list('Ar', 'Kr', 'Xe', 'Ne'))  # arc lamps lit in the exposure
    degree = integer(default=3, min=1, max=3)  # polynomial degree of wavelength(x)
    max_rms_pix = float(default=0.1, min=0)  # largest acceptable RMS of the arc-line residuals (pixels)
    useafter = string(default=None)  # USEAFTER of the reference file (default: 24 h before the exposure)
    add_to_store = boolean(default=True)  # add the reference (written in output_dir either way) to the store (refstore)
    """  # noqa: E501
    step_defs = {"extract": ExtractIFSStep}

    def process(self, step_input):
        self.output_use_model = True
        self.suffix = "wavecal"
        rate = _mean_rate(self, step_input, ("arc", "science"))
        spectra = self.extract.run(rate)
        spectral_format, _ = _trace_format(self.extract, rate)
        valid = np.isfinite(spectra.data)
        try:
            solution = fit_wavelength_solution(
                spectra.data.astype(float), valid, spectral_format, arc_line_list(tuple(self.lamps)),
                rate.meta.instrument.resolving_power, degree=self.degree, max_rms_pix=self.max_rms_pix,
            )  # fmt: skip
        except (WavelengthSolutionError, ValueError) as err:
            raise InputFileError(rate.meta.filename, f"wavelength solution failed: {err}") from None
        log.info("%s: %d arc lines, residual RMS %.4f pixel", rate.meta.filename, solution.residuals_pix.size,
                 solution.total_rms_pix)  # fmt: skip
        wavecal = datamodels.IFSWavecalModel()
        _as_reference(wavecal, rate, "ifs_wavecal", "IFS wavelength solution from arc lamps", self.useafter)
        copy_provenance(wavecal, [spectra], "create_wavecal")  # the trace its extraction used (R_TRACE)
        columns = [np.arange(spectral_format.nspax, dtype=np.int32), solution.x_ref]
        columns += [solution.coeffs[:, k] for k in range(4)]
        columns += [solution.nlines.astype(np.int16), solution.rms_pix.astype(np.float32)]
        names = ("SPAXEL", "X_REF", "WAVE_C0", "WAVE_C1", "WAVE_C2", "WAVE_C3", "NLINES", "RMS_PIX")
        wavecal.wavecal_table = np.rec.fromarrays(columns, names=names)
        wavecal.meta.wavecal.rms_pix = solution.total_rms_pix
        wavecal.meta.wavecal.nlines = int(solution.residuals_pix.size)
        wavecal.meta.wavecal.lamps = ",".join(self.lamps)
        wavecal.meta.filename = rate.meta.filename
        _file_reference(self, wavecal)
        return wavecal


class CreateIFSFlatPipeline(IFSCalibrationPipeline):
    """Continuum-lamp exposure -> IFS_FLAT: each spaxel's lamp spectrum over the median spectrum.

    For the slicer (``measure_traces``), the traces and profile widths are first measured on the
    flat (`measure_traces_all_lit`) and written as an IFS_TRACE reference, which the flat's own
    extraction then uses when it is added to the store. Lenslet traces come from scans
    (``create_rectmat``): their profiles overlap too much to be measured on a flat.
    """

    class_alias = "create_ifs_flat"
    spec = """
    measure_traces = boolean(default=True)  # slicer: measure traces and profiles on the flat, write IFS_TRACE
    useafter = string(default=None)  # USEAFTER of the reference file (default: 24 h before the exposure)
    add_to_store = boolean(default=True)  # add the reference (written in output_dir either way) to the store (refstore)
    """  # noqa: E501
    step_defs = {"extract": ExtractIFSStep, "wavecal": WavecalStep}

    def process(self, step_input):
        self.output_use_model = True
        self.suffix = "ifs_flat"
        rate = _mean_rate(self, step_input, ("flat", "science"))
        if self.measure_traces and (rate.meta.instrument.ifs_mode or "").upper() == "SLICER":
            spectral_format, nominal = _trace_format(self.extract, rate)
            x0, y0 = (rate.meta.subarray.xstart or 1) - 1, (rate.meta.subarray.ystart or 1) - 1
            measured = measure_traces_all_lit(rate.data, rate.var_poisson + rate.var_rnoise, spectral_format, x0, y0)
            log.info("%s: slicer traces measured, largest centre change %.3f pixel", rate.meta.filename,
                     float(np.max(np.abs(measured.trace[:, 0] - spectral_format.trace[:, 0]))))  # fmt: skip
            trace = _trace_reference(self, rate, measured, nominal, "IFS slicer traces and profiles measured on a flat")
            copy_provenance(trace, [_last_reference(self.extract)], "create_ifs_flat")  # the nominal trace
            _file_reference(self, trace)
        spectra = self.wavecal.run(self.extract.run(rate))
        valid = np.isfinite(spectra.data)
        response = spectral_flat(spectra.data.astype(float), valid, spectra.wavelength, spectra.dispersion)
        flat = datamodels.IFSFlatModel(response.shape)
        _as_reference(flat, rate, "ifs_flat", "IFS spectral flat from a continuum lamp", self.useafter)
        copy_provenance(flat, [spectra], "create_ifs_flat")  # trace and wavelength solution used
        bad = ~np.isfinite(response)
        flat.data = np.where(bad, 1.0, response).astype(np.float32)
        relative_error = spectra.err / np.where(valid, np.abs(spectra.data), np.inf)
        flat.err = np.where(bad, 0.0, response * relative_error).astype(np.float32)
        flat.dq = np.where(bad, np.uint32(1), np.uint32(0)).astype(np.uint32)
        flat.meta.filename = rate.meta.filename
        log.info("%s: spectral flat, %d of %d values usable", rate.meta.filename, int((~bad).sum()), bad.size)
        _file_reference(self, flat)
        return flat


class CreateRectmatPipeline(IFSCalibrationPipeline):
    """Single-lenslet scan exposures -> IFS_TRACE with measured trace centres and profile widths.

    Each scan lights a sparse set of lenslets whose profiles do not overlap; the lit spectra are
    recognised by their optimally extracted flux, and their centre and width are measured in
    bins of columns (`measure_traces`). Spectra that no scan lit keep the nominal trace.
    """

    class_alias = "create_rectmat"
    spec = """
    useafter = string(default=None)  # USEAFTER of the reference file (default: 24 h before the exposure)
    add_to_store = boolean(default=True)  # add the reference (written in output_dir either way) to the store (refstore)
    """  # noqa: E501
    step_defs = {"extract": ExtractIFSStep}

    def process(self, step_input):
        self.output_use_model = True
        self.suffix = "ifs_trace"
        paths = _inputs(step_input, ("scan", "science"))
        first = _rate_of(paths[0], self.refstore)
        spectral_format, nominal = _trace_format(self.extract, first)
        used = [_last_reference(self.extract)]  # the nominal trace the measurement starts from
        trace = spectral_format.trace.copy()
        sigma = spectral_format.sigma.copy()
        measured = np.zeros(spectral_format.nspax, dtype=bool)
        self.extract.method = "optimal"
        for path in paths:
            rate = first if path is paths[0] else _rate_of(path, self.refstore)
            spectra = self.extract.run(rate)
            used.append(provenance_of(spectra))
            level = np.nanmedian(spectra.data, axis=1)
            lit = np.nan_to_num(level) > LIT_FRACTION * np.nanmax(level)
            x0, y0 = (rate.meta.subarray.xstart or 1) - 1, (rate.meta.subarray.ystart or 1) - 1
            centres, widths, _ = measure_traces(rate.data, spectral_format, lit, x0, y0)
            done = lit & np.isfinite(widths)
            trace[done], sigma[done] = centres[done], widths[done]
            measured |= done
        log.info("%d of %d traces measured from %d scan exposure(s)", measured.sum(), measured.size, len(paths))
        measured_format = replace(spectral_format, trace=trace, sigma=sigma)
        result = _trace_reference(
            self, first, measured_format, nominal, "IFS traces and profiles measured on lenslet scans"
        )
        copy_provenance(result, used, "create_rectmat")
        _file_reference(self, result)
        return result
