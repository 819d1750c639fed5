"""The IFS line lists (``data/ifs_lines.yaml``) are their cited vacuum values, line by line.

Every arc and OH entry was checked against a published source (issue 16); the reference value of
each entry is written below, so that no network is needed at test time:

- ``NIST``: NIST Atomic Spectra Database, vacuum "Observed" wavelengths, as extracted by PypeIt
  (github.com/pypeit/PypeIt, ``pypeit/data/arc_lines/NIST/{Ar,Kr,Xe,Ne}I_vacuum.ascii``).
- ``MOSFIRE``: PypeIt ``pypeit/data/arc_lines/lists/{Ar,Ne}_IR_MOSFIRE_lines.dat`` (vacuum; NIST / Keck
  MOSFIRE arc list, 0.01 A).
- ``RIMAS``: PypeIt ``pypeit/data/arc_lines/lists/{Kr,Xe}_RIMAS_{YJ,HK}_lines.dat`` (NIST flag, vacuum).
- ``NIRSPEC``: PypeIt ``pypeit/data/arc_lines/lists/NIRSPEC-ArNeKrXe_lines.dat`` (NIST flag, vacuum).
- OH: Rousselot et al. 2000, A&A 354, 1134 (vacuum), as stored by PypeIt
  (``pypeit/data/skisim/rousselot2000.dat``): each reference is the peak of the Rousselot lines
  convolved with a Gaussian of FWHM lambda/4000 (Lambda-doublets and blends as IRIS sees them at R = 4000).

Air and vacuum: NIST's own air wavelengths of the < 1.2 um lines (``NIST_AIR_ANGSTROM``), converted with
the dispersion of air of Peck & Reeder (1972, JOSA 62, 958), reproduce the vacuum references to
< 0.001 A, and no entry lies near an air value (the difference is 2.2e-4 um at 0.8 um, 6.5e-4 um at
2.4 um: several pixels at R = 4000), which would be the signature of a list mixing conventions. The
Ne I air values of Sansonetti, Blackwell & Saloman 2004 (J. Res. NIST 109, 371) give a second check.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from iris_pipeline.ifs.lines import ARC_LAMPS, arc_line_list, oh_line_list

# Entries equal their reference to the list's 6 decimals (0.01 A); corrected entries carry the
# source's own digits.
ARC_TOLERANCE_UM = 1e-6
# OH entries are the reference peak rounded to 1e-5 um.
OH_TOLERANCE_UM = 5e-6

ARC_REFERENCE_ANGSTROM = {
    "Ar": (
        (8117.542, "NIST"), (8266.794, "NIST"), (8410.521, "NIST"), (8426.963, "NIST"), (8523.783, "NIST"),
        (9125.471, "NIST"), (9227.03, "NIST"), (9356.787, "NIST"), (9660.435, "NIST"), (9787.186, "NIST"),
        (10472.923, "NIST"), (10676.489, "NIST"), (11491.25, "MOSFIRE"), (11671.9, "MOSFIRE"),
        (12115.64, "MOSFIRE"), (12143.06, "MOSFIRE"), (12406.22, "MOSFIRE"), (12442.73, "MOSFIRE"),
        (12459.52, "MOSFIRE"), (12491.08, "MOSFIRE"), (12705.75, "MOSFIRE"), (12806.24, "MOSFIRE"),
        (12960.2, "MOSFIRE"), (13011.82, "MOSFIRE"), (13217.61, "MOSFIRE"), (13316.85, "MOSFIRE"),
        (13370.77, "MOSFIRE"), (14097.49, "MOSFIRE"), (15050.62, "MOSFIRE"), (15176.84, "MOSFIRE"),
        (15993.86, "MOSFIRE"), (16524.38, "MOSFIRE"), (16945.21, "MOSFIRE"), (17449.67, "MOSFIRE"),
        (20621.86, "MOSFIRE"), (20991.84, "MOSFIRE"), (21338.71, "MOSFIRE"), (21540.09, "MOSFIRE"),
        (22083.21, "MOSFIRE"), (23139.52, "MOSFIRE"), (23973.06, "MOSFIRE"),
    ),
    "Kr": (
        (8115.132, "NIST"), (8192.3082, "NIST"), (8300.3907, "NIST"), (8511.2106, "NIST"),
        (8931.1447, "NIST"), (9754.4352, "NIST"), (11822.6136, "NIST"), (14430.736, "RIMAS"),
        (14738.469, "RIMAS"), (15243.787, "RIMAS"), (16789.718, "RIMAS"), (16940.439, "RIMAS"),
        (17847.582, "RIMAS"), (18172.288, "RIMAS"), (21171.266, "RIMAS"), (21908.51, "RIMAS"),
    ),
    "Xe": (
        (8233.8964, "NIST"), (8282.3921, "NIST"), (8349.1157, "NIST"), (8411.5002, "NIST"),
        (8821.8324, "NIST"), (8954.7086, "NIST"), (9047.9296, "NIST"), (9165.1667, "NIST"),
        (9802.384, "NIST"), (9925.919, "NIST"), (12626.805, "RIMAS"), (13660.21, "NIRSPEC"),
        (14146.252, "RIMAS"), (14736.765, "RIMAS"), (15422.602, "RIMAS"), (16057.653, "RIMAS"),
        (17330.512, "RIMAS"), (20267.819, "RIMAS"), (23199.595, "RIMAS"),
    ),
    "Ne": (
        (8379.9093, "NIST"), (8497.6932, "NIST"), (8593.6184, "NIST"), (8637.019, "NIST"),
        (8656.7599, "NIST"), (8783.0336, "NIST"), (8856.298, "NIST"), (9151.1829, "NIST"),
        (9204.2841, "NIST"), (9536.7793, "NIST"), (11146.0715, "NIST"), (11180.5855, "NIST"),
        (11393.55, "MOSFIRE"), (11525.9, "MOSFIRE"), (15234.88, "MOSFIRE"),
    ),
}  # fmt: skip

# NIST ASD air "Observed" wavelengths of the NIST lines above (PypeIt NIST/ArI.ascii, KrI_air.ascii,
# XeI.ascii, NeI.ascii; Xe 9047.93 and 9165.17 A are not in PypeIt's Xe air extract).
NIST_AIR_ANGSTROM = {
    "Ar": (8115.311, 8264.522, 8408.21, 8424.648, 8521.442, 9122.967, 9224.499, 9354.22, 9657.786, 9784.503,
           10470.054, 10673.565),
    "Kr": (8112.9012, 8190.0566, 8298.1099, 8508.8728, 8928.6933, 9751.761, 11819.3785),
    "Xe": (8231.6336, 8280.1162, 8346.8217, 8409.1894, 8819.4106, 8952.2509, 9799.697, 9923.198),
    "Ne": (8377.607, 8495.3591, 8591.2583, 8634.6472, 8654.3828, 8780.6223, 8853.8669, 9148.672, 9201.7588,
           9534.164, 11143.02, 11177.5246),
}  # fmt: skip

# Rousselot et al. 2000 blend peaks at R = 4000 (vacuum, A), one per OH entry.
OH_REFERENCE_ANGSTROM = (
    15055.475, 15088.275, 15187.138, 15287.789, 15332.403, 15432.149, 15570.160, 15597.631, 15833.200,
    15972.603, 16079.753, 16128.609, 16194.616, 16351.302, 16478.353, 16502.365, 16692.308, 16903.680,
    16955.079, 17008.757, 17330.869, 17505.861, 20008.047, 20275.840, 20412.680, 20563.548, 20729.014,
    21249.593, 21507.165, 21711.082, 21802.312, 21955.638, 22052.367, 22125.518, 22247.809, 22312.725,
    22460.264, 22517.969, 22741.965,
)

# Ne I, air wavelengths in Angstrom (Sansonetti et al. 2004), an independent check of four entries.
NE_AIR_ANGSTROM = (8495.3595, 8591.2585, 8634.6471, 8654.3828)


def _refractivity(vacuum_um: np.ndarray) -> np.ndarray:
    sigma2 = (1.0 / np.asarray(vacuum_um, dtype=float)) ** 2
    return 1e-8 * (8060.51 + 2480990.0 / (132.274 - sigma2) + 17455.7 / (39.32957 - sigma2))


def air_to_vacuum_um(air_um: np.ndarray) -> np.ndarray:
    """Vacuum wavelengths (um) of air wavelengths (um), Peck & Reeder (1972), iterated on sigma."""
    vacuum = np.asarray(air_um, dtype=float)
    for _ in range(3):
        vacuum = air_um * (1.0 + _refractivity(vacuum))
    return vacuum


def vacuum_to_air_um(vacuum_um: np.ndarray) -> np.ndarray:
    """Air wavelengths (um) of vacuum wavelengths (um), Peck & Reeder (1972)."""
    vacuum_um = np.asarray(vacuum_um, dtype=float)
    return vacuum_um / (1.0 + _refractivity(vacuum_um))


def _lamp_table() -> dict:
    from importlib import resources

    return yaml.safe_load(resources.files("iris_pipeline").joinpath("data/ifs_lines.yaml").read_text())


def test_air_to_vacuum_matches_the_published_conversion():
    # the same source's vacuum value for the 8495.3595 A line: 8497.6937 A
    assert air_to_vacuum_um(np.array([0.84953595]))[0] == pytest.approx(0.84976937, abs=2e-8)
    assert vacuum_to_air_um(air_to_vacuum_um(np.array([0.84953595, 2.2])))[1] == pytest.approx(2.2, abs=1e-9)


@pytest.mark.parametrize("lamp", ARC_LAMPS)
def test_every_arc_line_is_its_cited_vacuum_value(lamp):
    listed = np.asarray(_lamp_table()["arc_lines_um"][lamp], dtype=float)
    reference_um = np.array([wave for wave, _ in ARC_REFERENCE_ANGSTROM[lamp]]) / 1e4
    assert np.all(np.diff(listed) > 0), f"{lamp} lines are not sorted"
    assert listed.size == reference_um.size, f"{lamp}: a line was added or removed without its reference"
    np.testing.assert_allclose(listed, reference_um, rtol=0, atol=ARC_TOLERANCE_UM + 1e-12)


@pytest.mark.parametrize("lamp", ARC_LAMPS)
def test_nist_air_values_convert_to_the_vacuum_references(lamp):
    air_um = np.array(NIST_AIR_ANGSTROM[lamp]) / 1e4
    nist_vacuum_um = np.array([wave for wave, source in ARC_REFERENCE_ANGSTROM[lamp] if source == "NIST"]) / 1e4
    converted = air_to_vacuum_um(air_um)
    nearest = nist_vacuum_um[np.abs(nist_vacuum_um[None, :] - converted[:, None]).argmin(axis=1)]
    np.testing.assert_allclose(converted, nearest, rtol=0, atol=5e-8)  # 0.0005 A


@pytest.mark.parametrize("lamp", ARC_LAMPS)
def test_arc_lines_are_vacuum_not_air(lamp):
    lines = arc_line_list((lamp,))
    reference_um = np.array([wave for wave, _ in ARC_REFERENCE_ANGSTROM[lamp]]) / 1e4
    air_um = np.concatenate([np.array(NIST_AIR_ANGSTROM[lamp]) / 1e4, vacuum_to_air_um(reference_um)])
    assert np.abs(reference_um - vacuum_to_air_um(reference_um)).min() > 100 * ARC_TOLERANCE_UM
    distance_to_vacuum = np.abs(lines[:, None] - reference_um[None, :]).min(axis=1)
    distance_to_air = np.abs(lines[:, None] - air_um[None, :]).min(axis=1)
    # no line matches an air value better than its vacuum value, nor within 100 times the tolerance
    assert np.all(distance_to_vacuum < distance_to_air)
    assert np.all(distance_to_air > 100 * ARC_TOLERANCE_UM)


def test_neon_lines_are_vacuum_wavelengths():
    neon = arc_line_list(("Ne",))
    air_um = np.array(NE_AIR_ANGSTROM) / 1e4
    vacuum_um = air_to_vacuum_um(air_um)
    nearest = neon[np.abs(neon[:, None] - vacuum_um[None, :]).argmin(axis=0)]
    np.testing.assert_allclose(nearest, vacuum_um, atol=1e-6)  # the list has 6 decimals
    assert np.all(np.abs(neon[:, None] - air_um[None, :]).min(axis=0) > 1e-4)


def test_every_oh_line_is_a_rousselot_peak():
    rows = np.asarray(_lamp_table()["oh_lines"], dtype=float)
    reference_um = np.array(OH_REFERENCE_ANGSTROM) / 1e4
    assert np.all(np.diff(rows[:, 0]) > 0)
    assert rows.shape == (reference_um.size, 2), "an OH line was added or removed without its reference"
    np.testing.assert_allclose(rows[:, 0], reference_um, rtol=0, atol=OH_TOLERANCE_UM + 1e-12)
    assert np.all((rows[:, 1] > 0) & (rows[:, 1] <= 1))
    np.testing.assert_array_equal(oh_line_list(), rows[:, 0])


def test_simulator_and_pipeline_read_the_same_vacuum_lists():
    from iris_pipeline.simulate.ifs import scene

    np.testing.assert_array_equal(scene.arc_line_list(), arc_line_list())
    np.testing.assert_array_equal(scene.oh_line_list()[0], oh_line_list())
