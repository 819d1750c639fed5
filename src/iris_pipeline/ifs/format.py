"""The spectral format of an IFS configuration as arrays: trace, wavelength and profile of every spaxel.

Spectra are dispersed along detector +x. For spaxel ``s`` and full-frame 0-based column ``x`` in
``x_start[s]..x_end[s]``, with ``u = x - x_ref[s]``: trace centre row ``y = sum_k trace[s, k]
u**k``, wavelength ``sum_k wave[s, k] u**k`` um, profile a Gaussian of ``sigma[s]`` pixels. The
file format is ``IFSTraceModel`` (and ``IFSWavecalModel`` for a measured wavelength solution);
see ``docs/ifs.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = ["SpectralFormat"]

TRACE_ORDER = 3
WAVE_ORDER = 4


@dataclass(frozen=True)
class SpectralFormat:
    """Trace, dispersion and profile of every spaxel (arrays of length nspax unless noted).

    Attributes
    ----------
    spax_x, spax_y : np.ndarray
        Cube column and row of each spaxel.
    x_start, x_end : np.ndarray
        First and last detector column of each spectrum (full frame, 0-based).
    x_ref : np.ndarray
        Origin of the polynomial variable ``u = x - x_ref``.
    trace : np.ndarray
        (nspax, 3) coefficients of the trace centre row (full frame, 0-based).
    wave : np.ndarray
        (nspax, 4) coefficients of the wavelength, um.
    sigma : np.ndarray
        Cross-dispersion Gaussian standard deviation, pixels.
    nspax_x, nspax_y : int
        Cube size.
    wave_min_um, wave_max_um : float
        Band recorded on the detector.
    """

    spax_x: np.ndarray
    spax_y: np.ndarray
    x_start: np.ndarray
    x_end: np.ndarray
    x_ref: np.ndarray
    trace: np.ndarray
    wave: np.ndarray
    sigma: np.ndarray
    nspax_x: int
    nspax_y: int
    wave_min_um: float
    wave_max_um: float

    @classmethod
    def from_table(cls, table, nspax_x: int, nspax_y: int, wave_min_um: float, wave_max_um: float):
        """Build from a trace table (``IFSTraceModel.trace_table`` columns)."""
        return cls(
            spax_x=np.asarray(table["SPAX_X"], dtype=np.int64),
            spax_y=np.asarray(table["SPAX_Y"], dtype=np.int64),
            x_start=np.asarray(table["X_START"], dtype=np.int64),
            x_end=np.asarray(table["X_END"], dtype=np.int64),
            x_ref=np.asarray(table["X_REF"], dtype=np.float64),
            trace=np.stack([np.asarray(table[f"TRACE_C{k}"], dtype=np.float64) for k in range(TRACE_ORDER)], axis=1),
            wave=np.stack([np.asarray(table[f"WAVE_C{k}"], dtype=np.float64) for k in range(WAVE_ORDER)], axis=1),
            sigma=np.asarray(table["SIGMA"], dtype=np.float64),
            nspax_x=int(nspax_x),
            nspax_y=int(nspax_y),
            wave_min_um=float(wave_min_um),
            wave_max_um=float(wave_max_um),
        )

    @classmethod
    def from_model(cls, trace_model, wavecal_model=None):
        """Build from an ``IFSTraceModel``, with the wavelengths of an ``IFSWavecalModel`` if given."""
        info = trace_model.meta.ifs_format
        spectral_format = cls.from_table(
            trace_model.trace_table, info.nspax_x, info.nspax_y, info.wave_min, info.wave_max
        )
        if wavecal_model is not None:
            spectral_format = spectral_format.with_wavelengths(wavecal_model.wavecal_table)
        return spectral_format

    def with_wavelengths(self, wavecal_table) -> SpectralFormat:
        """The same format with the wavelength solution of a wavecal table (rows matched by order)."""
        if len(wavecal_table) != self.nspax:
            raise ValueError(f"wavelength solution has {len(wavecal_table)} spaxels, the trace {self.nspax}")
        shift = self.x_ref - np.asarray(wavecal_table["X_REF"], dtype=np.float64)
        coeffs = np.stack([np.asarray(wavecal_table[f"WAVE_C{k}"], dtype=np.float64) for k in range(WAVE_ORDER)], 1)
        # Re-express the polynomial in this format's u: u_wavecal = u + shift.
        wave = np.zeros_like(coeffs)
        binomial = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 2, 1, 0], [1, 3, 3, 1]], dtype=np.float64)
        for k in range(WAVE_ORDER):
            for j in range(k + 1):
                wave[:, j] += coeffs[:, k] * binomial[k, j] * shift ** (k - j)
        return replace(self, wave=wave)

    def to_table_columns(self) -> dict[str, np.ndarray]:
        """Columns of an ``IFSTraceModel`` table."""
        columns = {
            "SPAXEL": np.arange(self.nspax, dtype=np.int32),
            "SPAX_X": self.spax_x.astype(np.int16),
            "SPAX_Y": self.spax_y.astype(np.int16),
            "X_START": self.x_start.astype(np.int32),
            "X_END": self.x_end.astype(np.int32),
            "X_REF": self.x_ref,
        }
        columns.update({f"TRACE_C{k}": self.trace[:, k] for k in range(TRACE_ORDER)})
        columns.update({f"WAVE_C{k}": self.wave[:, k] for k in range(WAVE_ORDER)})
        columns["SIGMA"] = self.sigma
        return columns

    @property
    def nspax(self) -> int:
        """Number of spaxels."""
        return len(self.spax_x)

    @property
    def length(self) -> int:
        """Columns of the longest spectrum (second axis of per-column arrays)."""
        return int(np.max(self.x_end - self.x_start)) + 1

    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        """Detector column of every spectrum pixel (nspax, length), and where it is inside the spectrum."""
        x = self.x_start[:, None] + np.arange(self.length)[None, :]
        return x, x <= self.x_end[:, None]

    def _poly(self, coeffs, x):
        u = np.asarray(x, dtype=np.float64) - self.x_ref[:, None]
        total = np.zeros(u.shape)
        for k in range(coeffs.shape[1] - 1, -1, -1):
            total = total * u + coeffs[:, k][:, None]
        return total

    def trace_row(self, x) -> np.ndarray:
        """Trace centre row (full frame) at columns ``x`` (nspax, n)."""
        return self._poly(self.trace, x)

    def wavelength_um(self, x) -> np.ndarray:
        """Wavelength (um) at columns ``x`` (nspax, n)."""
        return self._poly(self.wave, x)

    def dispersion_um_per_pix(self, x) -> np.ndarray:
        """``d lambda / d x`` (um per pixel) at columns ``x`` (nspax, n)."""
        derivative = self.wave[:, 1:] * np.arange(1, WAVE_ORDER)[None, :]
        return self._poly(derivative, x)
