"""Re-derive the reference values of ``data/ifs_lines.yaml`` from a PypeIt checkout (issue 16).

Usage::

    .venv/bin/python benchmarks/check_line_lists.py PYPEIT_ROOT [--tolerance-um 1e-6]

``PYPEIT_ROOT`` is a checkout of github.com/pypeit/PypeIt (the files are read from
``pypeit/data/arc_lines/NIST``, ``pypeit/data/arc_lines/lists`` and ``pypeit/data/skisim``; the
RIMAS lists are only in recent versions). Not run by the tests (it needs that checkout); the values
it prints are the ones written into ``tests/test_ifs_line_list.py``.

For each arc line: the first source (in this order) with a line within 1 A: the NIST vacuum table,
then the instrument lists of that lamp; printed with the difference listed - source. For each OH line:
the peak, nearest the entry, of the Rousselot et al. (2000) lines convolved with a Gaussian of FWHM
lambda/4000, its height, and how far it moves at R = 10000. Lines off by more than the tolerance are
flagged ``CHECK``; lines with no source within 1 A (arcs) or lambda/8000 (OH) ``NO SOURCE``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
ARC_LISTS = {
    "Ar": ("Ar_IR_MOSFIRE_lines.dat",),
    "Ne": ("Ne_IR_MOSFIRE_lines.dat",),
    "Kr": ("Kr_RIMAS_YJ_lines.dat", "Kr_RIMAS_HK_lines.dat"),
    "Xe": ("Xe_RIMAS_YJ_lines.dat", "Xe_RIMAS_HK_lines.dat", "NIRSPEC-ArNeKrXe_lines.dat"),
}


def read_pypeit_list(path: Path, lamp: str) -> np.ndarray:
    """Wavelengths (A) of a PypeIt ``*_lines.dat`` table (``| ion | wave | ...``), rows of ``lamp`` only."""
    header, waves = None, []
    for line in path.read_text().splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        row = dict(zip(header, cells))
        if row.get("ion", lamp).replace(" ", "").startswith(lamp):
            waves.append(float(row["wave"]))
    return np.array(waves)


def read_nist_vacuum(path: Path) -> np.ndarray:
    """Observed vacuum wavelengths (A) of a NIST ASD extract (first column of ``*_vacuum.ascii``)."""
    waves = []
    for line in path.read_text().splitlines():
        if line.startswith(("#", "-")) or "|" not in line:
            continue
        value = re.sub(r"[^0-9.]", "", line.split("|")[0])
        if value:
            waves.append(float(value))
    return np.array(waves)


def oh_peak(wave: np.ndarray, flux: np.ndarray, near: float, resolving_power: float):
    """(wavelength, height) of the local maximum nearest ``near`` of the lines convolved to R."""
    fwhm = near / resolving_power
    grid = np.arange(near - 3 * fwhm, near + 3 * fwhm, 0.005)
    used = np.abs(wave - near) < 8 * fwhm
    sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    spectrum = (flux[used] * np.exp(-0.5 * ((grid[:, None] - wave[used]) / sigma) ** 2)).sum(axis=1)
    peaks = np.flatnonzero((spectrum[1:-1] > spectrum[:-2]) & (spectrum[1:-1] >= spectrum[2:])) + 1
    if peaks.size == 0:
        return np.nan, 0.0
    i = peaks[np.argmin(np.abs(grid[peaks] - near))]
    y0, y1, y2 = spectrum[i - 1 : i + 2]
    return grid[i] + 0.005 * 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2), y1


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pypeit_root", type=Path)
    parser.add_argument("--tolerance-um", type=float, default=1e-6)
    args = parser.parse_args(argv)
    data = args.pypeit_root / "pypeit" / "data"
    table = yaml.safe_load((REPO / "src/iris_pipeline/data/ifs_lines.yaml").read_text())

    for lamp, listed in table["arc_lines_um"].items():
        sources = [(f"NIST/{lamp}I_vacuum.ascii", read_nist_vacuum(data / "arc_lines/NIST" / f"{lamp}I_vacuum.ascii"))]
        for name in ARC_LISTS[lamp]:
            path = data / "arc_lines/lists" / name
            if path.exists():
                sources.append((name, read_pypeit_list(path, lamp)))
        for value in listed:
            angstrom = value * 1e4
            for name, waves in sources:
                if waves.size and np.abs(waves - angstrom).min() <= 1.0:
                    ref = waves[np.abs(waves - angstrom).argmin()]
                    flag = "CHECK" if abs(value - ref / 1e4) > args.tolerance_um + 1e-12 else "ok"
                    print(f"{lamp} {value:.7f}  {name} {ref:.4f} A  listed-source {value - ref / 1e4:+.1e} um  {flag}")
                    break
            else:
                print(f"{lamp} {value:.7f}  NO SOURCE within 1 A")

    rousselot = np.loadtxt(data / "skisim/rousselot2000.dat")
    for value, _ in table["oh_lines"]:
        angstrom = value * 1e4
        peak, height = oh_peak(rousselot[:, 0], rousselot[:, 1], angstrom, 4000)
        if not np.isfinite(peak) or abs(peak - angstrom) > angstrom / 8000 or height < 100:
            print(f"OH {value:.5f}  NO SOURCE within lambda/8000 (nearest peak {peak:.3f} A, height {height:.0f})")
            continue
        shift = oh_peak(rousselot[:, 0], rousselot[:, 1], peak, 10000)[0] - peak
        flag = "CHECK" if abs(value - peak / 1e4) > 5e-6 + 1e-12 else "ok"
        print(f"OH {value:.5f}  Rousselot R=4000 peak {peak:.3f} A (height {height:.0f}, R=10000 {shift:+.2f} A)  "
              f"listed-peak {value - peak / 1e4:+.1e} um  {flag}")


if __name__ == "__main__":
    main()
