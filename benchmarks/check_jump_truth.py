"""Jump detection against the simulator's cosmic-ray truth: completeness above 10 sigma and false positives.

Usage: .venv/bin/python benchmarks/check_jump_truth.py  (uses the exposure of tests/test_detector1.py)
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from test_detector1 import DO_NOT_USE, IRIS, JUMP, SATURATED, SIZE, simulate_exposure

from iris_pipeline.pipelines import Detector1Pipeline

tmp = Path(tempfile.mkdtemp())
e = simulate_exposure(tmp, cr_rate=0.05, seed=8)
rate = Detector1Pipeline.call(str(e.raw), refstore=str(e.refstore), configure_log=False)
hits = e.cosmic_rays
model = e.model
group_time_s = IRIS.read_time_s(SIZE)
read_e = model.read_noise_dn * model.gain_e_per_dn
noise_e = np.sqrt(2 * read_e**2 + e.truth_rate_dn_s * group_time_s * model.gain_e_per_dn)
x, y = np.asarray(hits["x_pix"]), np.asarray(hits["y_pix"])
strong = (np.asarray(hits["charge_e"]) * 0.8 > 10 * noise_e[y, x]) & (np.asarray(hits["group"]) > 0)
uns = (rate.dq[y, x] & SATURATED) == 0
found = (rate.dq[y, x] & JUMP) != 0
print("hits", len(x), "strong unsaturated", (strong & uns).sum(), "completeness", found[strong & uns].mean())
near = np.zeros(rate.dq.shape, bool)
for dy in range(-2, 3):
    for dx in range(-2, 3):
        near[np.clip(y + dy, 0, SIZE - 1), np.clip(x + dx, 0, SIZE - 1)] = True
clean = ~near & ((rate.dq & (SATURATED | DO_NOT_USE)) == 0)
print("clean pixels", clean.sum(), "false-positive rate", ((rate.dq[clean] & JUMP) != 0).mean())
