"""Quick-look figure of tso3: light curve and transit fit; background and centroids (imaging) or residuals (IFS)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..quicklook.files import atomic_output
from .transit import trapezoid_shape

__all__ = ["write_light_curve_preview"]

DPI = 100
HOURS_PER_DAY = 24.0
SECONDS_PER_DAY = 86400.0


def write_light_curve_preview(table, path) -> Path:
    """Light curve PNG of a tso3 table, `TsoPhotometryStep`'s or `WhiteLightStep`'s (matplotlib
    object API, Agg; written atomically)."""
    imaging = "background" in table.colnames
    figure = Figure(figsize=(7, 7 if imaging else 4.5))
    if imaging:
        top, middle, bottom = figure.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1, 1]})
    else:
        top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    t0 = float(np.floor(np.min(table["time_bjd_tdb"]) * HOURS_PER_DAY)) / HOURS_PER_DAY
    hours = (np.asarray(table["time_bjd_tdb"]) - t0) * HOURS_PER_DAY
    column = "rel_flux" if "rel_flux" in table.colnames else ("flux" if imaging else "whitelight_flux")
    flux = np.asarray(table[column], float)
    err = np.asarray(table[f"{column}_err"], float)
    good = np.asarray(table["dq"]) == 0
    norm = np.nanmedian(flux[good]) if good.any() else 1.0
    top.errorbar(hours[good], flux[good] / norm, err[good] / norm, fmt=".", ms=3, lw=0.5, color="k", label="data")
    if (~good).any():
        top.plot(hours[~good], flux[~good] / norm, "x", color="tab:red", label="flagged (dq)")
    model = np.full(hours.shape, np.nan)
    fit = table.meta.get("transit_fit")
    if fit:
        duration, ingress = fit["duration_s"] / SECONDS_PER_DAY, fit["ingress_s"] / SECONDS_PER_DAY
        fine = np.linspace(hours.min(), hours.max(), 1000)
        shape = trapezoid_shape((fine / HOURS_PER_DAY + t0) - fit["mid_time_bjd_tdb"], duration, ingress)
        at_data = trapezoid_shape((hours / HOURS_PER_DAY + t0) - fit["mid_time_bjd_tdb"], duration, ingress)
        out = at_data[good] == 0
        level = np.nanmedian(flux[good][out]) / norm if out.any() else 1.0
        top.plot(fine, level * (1.0 - fit["depth"] * shape), color="tab:orange",
                 label=f"depth {fit['depth']:.5f} +- {fit['depth_err']:.5f}")  # fmt: skip
        model = level * (1.0 - fit["depth"] * at_data)
    if column == "rel_flux":
        top.set_ylabel("relative flux")
    else:
        top.set_ylabel(f"{column} / median ({table[column].unit})")
    top.legend(fontsize=8)
    title = f"{table.meta.get('TARGNAME') or 'target'}  ({len(table)} integrations)"
    if not imaging and "wavelength_range_um" in table.meta:
        title += " {:.3f}-{:.3f} um".format(*table.meta["wavelength_range_um"])
    top.set_title(title, fontsize=9)
    if imaging:
        middle.plot(hours, table["background"], ".", ms=2)
        middle.set_ylabel(f"bkg ({table['background'].unit})", fontsize=8)
        bottom.plot(hours, table["x_centroid"] - np.nanmedian(table["x_centroid"]), ".", ms=2, label="x")
        bottom.plot(hours, table["y_centroid"] - np.nanmedian(table["y_centroid"]), ".", ms=2, label="y")
        bottom.set_ylabel("centroid - median (pix)", fontsize=8)
        bottom.legend(fontsize=7)
    else:
        bottom.errorbar(hours[good], (flux / norm - model)[good] if fit else (flux / norm - 1.0)[good],
                        err[good] / norm, fmt=".", ms=2, lw=0.5, color="k")  # fmt: skip
        bottom.axhline(0.0, color="tab:orange" if fit else "0.5", lw=0.8)
        bottom.set_ylabel("residual" if fit else "flux / median - 1", fontsize=8)
    bottom.set_xlabel(f"BJD_TDB - {t0:.4f} (hours)")
    figure.tight_layout()
    path = Path(path)
    with atomic_output(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)
    return path
