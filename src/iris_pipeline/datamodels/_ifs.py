"""Reference-file models of the integral field spectrograph (see ``docs/ifs.md``)."""

from __future__ import annotations

from ._base import IrisDataModel, ReferenceFileModel

__all__ = ["IFSFlatModel", "IFSPhotomModel", "IFSSpectraModel", "IFSTraceModel", "IFSWavecalModel"]


class IFSTraceModel(ReferenceFileModel):
    """Spectral format of one IFS configuration: trace, dispersion and profile of every spaxel.

    The spectra are dispersed along detector +x. For spaxel row ``i`` of ``trace_table``, with
    ``u = x - X_REF`` (``x`` the 0-based full-frame column, ``X_START <= x <= X_END``), the
    trace centre is ``y = TRACE_C0 + TRACE_C1 u + TRACE_C2 u**2`` (0-based full-frame row), the
    wavelength ``sum WAVE_Ck u**k`` um, and the cross-dispersion profile a Gaussian of standard
    deviation ``SIGMA`` pixels.
    """

    schema_name = "ifs_trace"
    reftype = "ifs_trace"


class IFSWavecalModel(ReferenceFileModel):
    """Wavelength solution of every spaxel measured on arc lamps (replaces the trace's WAVE_Ck)."""

    schema_name = "ifs_wavecal"
    reftype = "ifs_wavecal"


class IFSFlatModel(ReferenceFileModel):
    """Relative spectral response of every spaxel along its spectrum (lamp flat, median 1)."""

    schema_name = "ifs_flat"
    reftype = "ifs_flat"


class IFSPhotomModel(ReferenceFileModel):
    """Conversion of extracted DN/s/um to flux density, as a function of wavelength."""

    schema_name = "ifs_photom"
    reftype = "ifs_photom"


class IFSSpectraModel(IrisDataModel):
    """Extracted spectra of one IFS exposure on their detector columns (between spec2 steps)."""

    schema_name = "ifs_spectra"
