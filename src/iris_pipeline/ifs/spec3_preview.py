"""Quick-look figures of spec3: the combined white-light image with the extraction apertures, the spectra."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from ..quicklook.arrays import display_norm
from ..quicklook.files import atomic_output

__all__ = ["write_spectra_preview", "write_white_light_preview"]

DPI = 100


def _save(figure: Figure, path) -> Path:
    path = Path(path)
    with atomic_output(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)
    return path


def write_white_light_preview(cube, sources, spectra, path) -> Path:
    """White-light image of a cube (MJy/sr) with each source's aperture and number."""
    figure = Figure(figsize=(6, 5))
    axes = figure.add_subplot()
    white = cube.white_light
    shown = axes.imshow(white, origin="lower", cmap="viridis", norm=display_norm([white]), interpolation="nearest")
    figure.colorbar(shown, ax=axes, label=f"white light ({cube.meta.bunit_data})")
    radius = spectra.meta.extraction.aperture_radius or 0.0
    for row in sources:
        axes.add_patch(Circle((row["x"], row["y"]), radius, fill=False, color="red", linewidth=1.2))
        axes.annotate(str(row["id"]), (row["x"] + radius, row["y"] + radius), color="red")
    axes.set_xlabel("x (spaxel)")
    axes.set_ylabel("y (spaxel)")
    axes.set_title(Path(cube.meta.filename or "").name, fontsize=9)
    return _save(figure, path)


def write_spectra_preview(spectra, path) -> Path:
    """Extracted spectra (FLUX, Jy) with their 1-sigma errors, one panel per source (at most 4)."""
    count = max(1, min(len(spectra.spec), 4))
    figure = Figure(figsize=(7, 2.4 * count))
    for index in range(count):
        axes = figure.add_subplot(count, 1, index + 1)
        if index >= len(spectra.spec):
            axes.text(0.5, 0.5, "no point source", ha="center", transform=axes.transAxes)
            continue
        table = spectra.spec[index].spec_table
        wave, flux, error = (np.asarray(table[c], dtype=float) for c in ("WAVELENGTH", "FLUX", "FLUX_ERROR"))
        axes.fill_between(wave, flux - error, flux + error, color="0.75", linewidth=0)
        axes.plot(wave, flux, color="black", linewidth=0.8)
        axes.set_ylabel("flux (Jy)")
        axes.set_title(f"source {spectra.spec[index].source_id}", fontsize=9)
    figure.axes[-1].set_xlabel("wavelength (um)")
    figure.tight_layout()
    return _save(figure, path)
