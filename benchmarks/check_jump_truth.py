"""Jump detection against the simulator's cosmic-ray truth: completeness and false positives.

1. ``detector1`` on the 10-group UTR exposure of ``tests/test_detector1.py``.
2. Multi-integration CDS exposures (2 groups per integration, 2 to 10 integrations) from the
   simulator with cosmic rays, corrected by the stage-1 driver (superbias, reference pixels,
   linearity, dark: the bias drifts between reads must be gone) and searched by ``detect_jumps`` on
   the whole exposure: the integrations' differences are searched together.

Completeness counts cosmic rays that arrive after the first group (a hit before it leaves no step)
and whose charge in the central pixel (80 %) exceeds 10 times the noise of a group difference; false
positives are flags on (pixel, integration) pairs with no hit within 2 pixels in that integration.
Pass: completeness >= 95 % and false positives < 1 % in every row of the table.

Usage: .venv/bin/python benchmarks/check_jump_truth.py
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from test_detector1 import DO_NOT_USE, IRIS, JUMP, SATURATED, SIZE, simulate_exposure

from iris_pipeline import dqflags
from iris_pipeline.instruments import read_pattern_times
from iris_pipeline.jump import detect_jumps
from iris_pipeline.pipelines import Detector1Pipeline
from iris_pipeline.simulate import Stream, make_detector_model, make_read_pattern, make_rng, simulate_ramp
from iris_pipeline.streaming.stage1 import Stage1Calibration, Stage1Options, run_stage1

CENTRAL_FRACTION = 0.8
STRONG_SIGMA = 10.0


def near_hits(shape, x, y, radius=2):
    near = np.zeros(shape, bool)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            near[np.clip(y + dy, 0, shape[0] - 1), np.clip(x + dx, 0, shape[1] - 1)] = True
    return near


def check_detector1() -> tuple[float, float]:
    e = simulate_exposure(Path(tempfile.mkdtemp()), cr_rate=0.05, seed=8)
    rate = Detector1Pipeline.call(str(e.raw), refstore=str(e.refstore), configure_log=False)
    hits = e.cosmic_rays
    model = e.model
    group_time_s = IRIS.read_time_s(SIZE)
    read_e = model.read_noise_dn * model.gain_e_per_dn
    noise_e = np.sqrt(2 * read_e**2 + e.truth_rate_dn_s * group_time_s * model.gain_e_per_dn)
    x, y = np.asarray(hits["x_pix"]), np.asarray(hits["y_pix"])
    strong = (np.asarray(hits["charge_e"]) * CENTRAL_FRACTION > STRONG_SIGMA * noise_e[y, x]) & (
        np.asarray(hits["group"]) > 0
    )
    uns = (rate.dq[y, x] & SATURATED) == 0
    found = (rate.dq[y, x] & JUMP) != 0
    clean = ~near_hits(rate.dq.shape, x, y) & ((rate.dq & (SATURATED | DO_NOT_USE)) == 0)
    return found[strong & uns].mean(), ((rate.dq[clean] & JUMP) != 0).mean()


def check_cds(nints: int, size: int = 256, seed: int = 21) -> tuple[int, float, float]:
    model = make_detector_model("IRIS", "IMG1", size=size, seed=seed)
    pattern = make_read_pattern(IRIS, "CDS", size)
    # Sky to bright star per pixel, 50 to 5e5 e-/s along the rows.
    illumination = np.broadcast_to(50.0 * 10 ** (4.0 * np.linspace(0, 1, size))[None, :], (size, size)).copy()
    ramp = simulate_ramp(model, illumination, pattern, make_rng(seed, Stream.EXPOSURE, 0), nints=nints,
                         cosmic_ray_rate_per_pix_s=0.5)  # fmt: skip
    times = np.array(read_pattern_times(pattern.ngroups, pattern.nframes, pattern.groupgap, pattern.frame_time_s))
    calibration = Stage1Calibration(
        pixeldq=model.dq.copy(), read_noise_dn=model.read_noise_dn.astype(np.float32),
        gain_e_per_dn=model.gain_e_per_dn.astype(np.float32), superbias_dn=model.bias_dn.astype(np.float32),
        linearity_coeffs=model.linearity_coefficients(), dark_dn_s=model.dark_dn_s(),
    )  # fmt: skip
    corrected = np.empty(ramp.data.shape, np.float32)
    groupdq = np.zeros(ramp.data.shape, np.uint8)
    run_stage1(ramp.data, times, calibration, Stage1Options(jump_threshold=None), nframes=pattern.nframes,
               channel_width_pix=IRIS.detectors["IMG1"].output_channel_width_pix, corrected_ramp=corrected,
               corrected_groupdq=groupdq, fit=False)  # fmt: skip
    detect_jumps(corrected, groupdq, model.read_noise_dn, model.gain_e_per_dn, times, nframes=pattern.nframes)
    flagged = (groupdq[:, 1] & dqflags.GROUP["JUMP_DET"]) != 0
    hits = ramp.cosmic_rays
    integ = np.asarray(hits["integration"])
    x, y = np.asarray(hits["x_pix"]), np.asarray(hits["y_pix"])
    dt = times[1] - times[0]
    noise_e = np.sqrt(2 * (model.read_noise_dn * model.gain_e_per_dn) ** 2 / pattern.nframes
                      + ramp.detected_rate_e_s * dt)  # fmt: skip
    strong = (np.asarray(hits["group"]) > 0) & (np.asarray(hits["charge_e"]) * CENTRAL_FRACTION
                                                 > STRONG_SIGMA * noise_e[y, x])  # fmt: skip
    completeness = flagged[integ[strong], y[strong], x[strong]].mean()
    usable = (model.dq & dqflags.PIXEL["DO_NOT_USE"]) == 0
    clean = np.stack([~near_hits((size, size), x[integ == i], y[integ == i]) & usable for i in range(nints)])
    return int(strong.sum()), completeness, flagged[clean].mean()


def main() -> int:
    ok = True
    completeness, false_positives = check_detector1()
    print(f"detector1 UTR 10 groups: completeness {completeness:.4f}, false-positive rate {false_positives:.5f}")
    ok &= completeness >= 0.95 and false_positives < 0.01
    print("CDS exposures (2 groups per integration), integrations searched together:")
    print(f"{'nints':>5} {'strong hits':>11} {'completeness':>12} {'false positives':>15}")
    for nints in (2, 3, 5, 10):
        strong, completeness, false_positives = check_cds(nints)
        print(f"{nints:5d} {strong:11d} {completeness:12.4f} {false_positives:15.5f}")
        ok &= completeness >= 0.95 and false_positives < 0.01
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
