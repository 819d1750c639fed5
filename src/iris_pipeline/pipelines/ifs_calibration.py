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
from pathlib import Path

import numpy as np

from .. import datamodels
from ..associations import is_association, read_association
from ..exceptions import InputFileError
from ..ifs import ExtractIFSStep, SpectralFormat, WavecalStep
from ..ifs.calibration import WavelengthSolutionError, fit_wavelength_solution, measure_traces, spectral_flat
from ..ifs.lines import arc_line_list
from ..stpipe import IrisPipeline

__all__ = ["CreateIFSFlatPipeline", "CreateRectmatPipeline", "CreateWavecalPipeline"]

log = logging.getLogger(__name__)

LIT_FRACTION = 0.3
"""A scanned spectrum counts as lit when its median flux exceeds this fraction of the brightest one."""


def _as_reference(model, source, reftype: str, description: str, useafter: str) -> None:
    model.update(source, only="PRIMARY")
    model.meta.reftype = reftype.upper()
    model.meta.useafter = useafter
    model.meta.author = "iris_pipeline"
    model.meta.pedigree = "GROUND"
    model.meta.description = description
    model.meta.exposure.readmode = "ANY"
    model.meta.subarray.name = "GENERIC"


def _trace_format(step, model) -> tuple[SpectralFormat, datamodels.IFSTraceModel]:
    trace = datamodels.IFSTraceModel(step.get_reference_file(model, "ifs_trace"))
    return SpectralFormat.from_model(trace), trace


class CreateWavecalPipeline(IrisPipeline):
    """Arc exposure -> IFS_WAVECAL: extraction, line centres, per-spaxel polynomial solution."""

    class_alias = "create_wavecal"
    spec = """
    lamps = string_list(default=list('Ar', 'Kr', 'Xe', 'Ne'))  # arc lamps lit in the exposure
    degree = integer(default=3, min=1, max=3)  # polynomial degree of wavelength(x)
    max_rms_pix = float(default=0.1, min=0)  # largest acceptable RMS of the arc-line residuals (pixels)
    useafter = string(default='2020-01-01T00:00:00')  # USEAFTER of the reference file
    """  # noqa: E501
    step_defs = {"extract": ExtractIFSStep}

    def process(self, step_input):
        self.output_use_model = True
        self.suffix = "wavecal"
        rate = datamodels.open(step_input)
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
        columns = [np.arange(spectral_format.nspax, dtype=np.int32), solution.x_ref]
        columns += [solution.coeffs[:, k] for k in range(4)]
        columns += [solution.nlines.astype(np.int16), solution.rms_pix.astype(np.float32)]
        names = ("SPAXEL", "X_REF", "WAVE_C0", "WAVE_C1", "WAVE_C2", "WAVE_C3", "NLINES", "RMS_PIX")
        wavecal.wavecal_table = np.rec.fromarrays(columns, names=names)
        wavecal.meta.wavecal.rms_pix = solution.total_rms_pix
        wavecal.meta.wavecal.nlines = int(solution.residuals_pix.size)
        wavecal.meta.wavecal.lamps = ",".join(self.lamps)
        wavecal.meta.filename = rate.meta.filename
        return wavecal


class CreateIFSFlatPipeline(IrisPipeline):
    """Continuum-lamp exposure -> IFS_FLAT: each spaxel's lamp spectrum over the median spectrum."""

    class_alias = "create_ifs_flat"
    spec = """
    useafter = string(default='2020-01-01T00:00:00')  # USEAFTER of the reference file
    """  # noqa: E501
    step_defs = {"extract": ExtractIFSStep, "wavecal": WavecalStep}

    def process(self, step_input):
        self.output_use_model = True
        self.suffix = "ifs_flat"
        rate = datamodels.open(step_input)
        spectra = self.wavecal.run(self.extract.run(rate))
        valid = np.isfinite(spectra.data)
        response = spectral_flat(spectra.data.astype(float), valid, spectra.wavelength, spectra.dispersion)
        flat = datamodels.IFSFlatModel(response.shape)
        _as_reference(flat, rate, "ifs_flat", "IFS spectral flat from a continuum lamp", self.useafter)
        bad = ~np.isfinite(response)
        flat.data = np.where(bad, 1.0, response).astype(np.float32)
        relative_error = spectra.err / np.where(valid, np.abs(spectra.data), np.inf)
        flat.err = np.where(bad, 0.0, response * relative_error).astype(np.float32)
        flat.dq = np.where(bad, np.uint32(1), np.uint32(0)).astype(np.uint32)
        flat.meta.filename = rate.meta.filename
        log.info("%s: spectral flat, %d of %d values usable", rate.meta.filename, int((~bad).sum()), bad.size)
        return flat


class CreateRectmatPipeline(IrisPipeline):
    """Single-lenslet scan exposures -> IFS_TRACE with measured trace centres and profile widths.

    Each scan lights a sparse set of lenslets whose profiles do not overlap; the lit spectra are
    recognised by their optimally extracted flux, and their centre and width are measured in
    bins of columns (`measure_traces`). Spectra that no scan lit keep the nominal trace.
    """

    class_alias = "create_rectmat"
    spec = """
    useafter = string(default='2020-01-01T00:00:00')  # USEAFTER of the reference file
    """  # noqa: E501
    step_defs = {"extract": ExtractIFSStep}

    def process(self, step_input):
        self.output_use_model = True
        self.suffix = "ifs_trace"
        paths = _scan_inputs(step_input)
        first = datamodels.open(paths[0])
        spectral_format, nominal = _trace_format(self.extract, first)
        trace = spectral_format.trace.copy()
        sigma = spectral_format.sigma.copy()
        measured = np.zeros(spectral_format.nspax, dtype=bool)
        self.extract.method = "optimal"
        for path in paths:
            rate = datamodels.open(path)
            spectra = self.extract.run(rate)
            level = np.nanmedian(spectra.data, axis=1)
            lit = np.nan_to_num(level) > LIT_FRACTION * np.nanmax(level)
            x0, y0 = (rate.meta.subarray.xstart or 1) - 1, (rate.meta.subarray.ystart or 1) - 1
            centres, widths, _ = measure_traces(rate.data, spectral_format, lit, x0, y0)
            done = lit & np.isfinite(widths)
            trace[done], sigma[done] = centres[done], widths[done]
            measured |= done
        log.info("%d of %d traces measured from %d scan exposure(s)", measured.sum(), measured.size, len(paths))
        result = datamodels.IFSTraceModel()
        _as_reference(result, first, "ifs_trace", "IFS traces and profiles measured on lenslet scans", self.useafter)
        columns = spectral_format.__class__(**{**spectral_format.__dict__, "trace": trace, "sigma": sigma})
        table = columns.to_table_columns()
        result.trace_table = np.rec.fromarrays(list(table.values()), names=list(table))
        result.meta.ifs_format = nominal.meta.ifs_format.instance
        result.meta.filename = first.meta.filename
        return result


def _scan_inputs(step_input) -> list[str]:
    if isinstance(step_input, list | tuple):
        return [str(item) for item in step_input]
    if isinstance(step_input, str | Path) and is_association(step_input):
        members = [str(path) for product in read_association(step_input).products
                   for path in product.members_of("scan", "science")]  # fmt: skip
        if not members:
            raise InputFileError(step_input, "no scan members")
        return members
    return [step_input]
