"""The arc-line list is in vacuum wavelengths, as the wavelength solution and the products are.

Published air wavelengths (Sansonetti, Blackwell & Saloman 2004, J. Res. NIST 109, 371: Ne I) are
converted to vacuum with the dispersion of air of Peck & Reeder (1972, JOSA 62, 958) and must equal
the entries of ``data/ifs_lines.yaml``; the air values themselves must not (they differ by
~2.3e-4 um at 0.86 um, a few pixels at R = 4000), which would be the signature of a list mixing
conventions.
"""

from __future__ import annotations

import numpy as np
import pytest

from iris_pipeline.ifs.lines import arc_line_list

# Ne I, air wavelengths in Angstrom (Sansonetti et al. 2004), verified entries of the list.
NE_AIR_ANGSTROM = (8495.3595, 8591.2585, 8634.6471, 8654.3828)


def air_to_vacuum_um(air_um: np.ndarray) -> np.ndarray:
    """Vacuum wavelengths (um) of air wavelengths (um), Peck & Reeder (1972), iterated on sigma."""
    vacuum = np.asarray(air_um, dtype=float)
    for _ in range(3):
        sigma2 = (1.0 / vacuum) ** 2
        refractivity = 1e-8 * (8060.51 + 2480990.0 / (132.274 - sigma2) + 17455.7 / (39.32957 - sigma2))
        vacuum = air_um * (1.0 + refractivity)
    return vacuum


def test_air_to_vacuum_matches_the_published_conversion():
    # the same source's vacuum value for the 8495.3595 A line: 8497.6937 A
    assert air_to_vacuum_um(np.array([0.84953595]))[0] == pytest.approx(0.84976937, abs=2e-8)


def test_neon_lines_are_vacuum_wavelengths():
    neon = arc_line_list(("Ne",))
    air_um = np.array(NE_AIR_ANGSTROM) / 1e4
    vacuum_um = air_to_vacuum_um(air_um)
    nearest = neon[np.abs(neon[:, None] - vacuum_um[None, :]).argmin(axis=0)]
    np.testing.assert_allclose(nearest, vacuum_um, atol=1e-6)  # the list has 6 decimals
    assert np.all(np.abs(neon[:, None] - air_um[None, :]).min(axis=0) > 1e-4)
