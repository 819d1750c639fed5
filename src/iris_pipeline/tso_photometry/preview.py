"""Quick-look figure of tso3: the light curve (with the transit fit), background and centroid per integration."""

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
    """Light curve PNG of a `TsoPhotometryStep` table (matplotlib object API, Agg; written atomically)."""
    figure = Figure(figsize=(7, 7))
    top, middle, bottom = figure.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1, 1]})
    t0 = float(np.floor(np.min(table["time_bjd_tdb"]) * HOURS_PER_DAY)) / HOURS_PER_DAY
    hours = (np.asarray(table["time_bjd_tdb"]) - t0) * HOURS_PER_DAY
    use_rel = "rel_flux" in table.colnames
    flux = np.asarray(table["rel_flux" if use_rel else "flux"], float)
    err = np.asarray(table["rel_flux_err" if use_rel else "flux_err"], float)
    good = np.asarray(table["dq"]) == 0
    norm = np.nanmedian(flux[good]) if good.any() else 1.0
    top.errorbar(hours[good], flux[good] / norm, err[good] / norm, fmt=".", ms=3, lw=0.5, color="k", label="data")
    if (~good).any():
        top.plot(hours[~good], flux[~good] / norm, "x", color="tab:red", label="flagged (dq)")
    fit = table.meta.get("transit_fit")
    if fit:
        fine = np.linspace(hours.min(), hours.max(), 1000)
        dt_days = (fine / HOURS_PER_DAY + t0) - fit["mid_time_bjd_tdb"]
        shape = trapezoid_shape(dt_days, fit["duration_s"] / SECONDS_PER_DAY, fit["ingress_s"] / SECONDS_PER_DAY)
        out = trapezoid_shape(((hours / HOURS_PER_DAY + t0) - fit["mid_time_bjd_tdb"])[good],
                              fit["duration_s"] / SECONDS_PER_DAY, fit["ingress_s"] / SECONDS_PER_DAY) == 0  # fmt: skip
        level = np.nanmedian(flux[good][out]) / norm if out.any() else 1.0
        top.plot(fine, level * (1.0 - fit["depth"] * shape), color="tab:orange",
                 label=f"depth {fit['depth']:.5f} +- {fit['depth_err']:.5f}")  # fmt: skip
    top.set_ylabel("relative flux" if use_rel else f"flux / median ({table['flux'].unit})")
    top.legend(fontsize=8)
    top.set_title(f"{table.meta.get('TARGNAME') or 'target'}  ({len(table)} integrations)", fontsize=9)
    middle.plot(hours, table["background"], ".", ms=2)
    middle.set_ylabel(f"bkg ({table['background'].unit})", fontsize=8)
    bottom.plot(hours, table["x_centroid"] - np.nanmedian(table["x_centroid"]), ".", ms=2, label="x")
    bottom.plot(hours, table["y_centroid"] - np.nanmedian(table["y_centroid"]), ".", ms=2, label="y")
    bottom.set_ylabel("centroid - median (pix)", fontsize=8)
    bottom.legend(fontsize=7)
    bottom.set_xlabel(f"BJD_TDB - {t0:.4f} (hours)")
    figure.tight_layout()
    path = Path(path)
    with atomic_output(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)
    return path
