"""Shared fixtures: raw files and reference stores written with astropy.io.fits alone.

Writing them without the package's data models is deliberate: it exercises the public file
formats of docs/data-formats.md exactly as another program would use them.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import yaml
from astropy.io import fits

RAW_KEYWORDS = {
    "DATAMODL": "RawRampModel",
    "TELESCOP": "TMT",
    "INSTRUME": "IRIS",
    "DETECTOR": "IMG1",
    "EXP_TYPE": "IRIS_IMAGE",
    "READMODE": "UTR",
    "NFRAMES": 1,
    "GROUPGAP": 0,
    "TFRAME": 0.72,
    "TGROUP": 0.72,
    "DATE-OBS": "2030-03-01T05:00:00.000",
    "FILTER": "Kbb",
}
BIAS_DN = 1000.0


def pytest_configure(config):
    """Checksums cached by the tests stay in a folder of their own, not the user's cache."""
    import os
    import tempfile

    os.environ.setdefault("IRIS_DIGEST_CACHE", tempfile.mkdtemp(prefix="iris_digests_"))
GAIN_E_PER_DN = 3.0
READ_NOISE_DN = 2.0
SATURATION_DN = 60000.0


def write_raw(path, reads, **overrides):
    """Write a raw ramp file (uint16 reads, shape (nints, ngroups, ny, nx)) with astropy only."""
    reads = np.asarray(reads, dtype=np.uint16)
    nints, ngroups, ny, nx = reads.shape
    header = dict(RAW_KEYWORDS)
    header.update(
        NINTS=nints, NGROUPS=ngroups, SUBARRAY=f"SUB{nx}", SUBSTRT1=1, SUBSTRT2=1,
        SUBSIZE1=nx, SUBSIZE2=ny,
    )  # fmt: skip
    header.update(overrides)
    primary = fits.PrimaryHDU()
    for key, value in header.items():
        if value is not None:
            primary.header[key] = value
    sci = fits.ImageHDU(reads, name="SCI")
    sci.header["BUNIT"] = "DN"
    fits.HDUList([primary, sci]).writeto(path, overwrite=True)
    return path


def linear_ramp(rate_dn_s, ngroups=6, nints=1, group_time=0.72, bias=BIAS_DN):
    """Noiseless ramp of a rate image: group k holds bias + rate * (k + 1) * group_time."""
    rate = np.asarray(rate_dn_s, dtype=np.float64)
    times = group_time * np.arange(1, ngroups + 1)
    ramp = bias + rate[None, :, :] * times[:, None, None]
    ramp = np.clip(np.round(ramp), 0, np.iinfo(np.uint16).max)
    return np.broadcast_to(ramp, (nints, ngroups) + rate.shape).astype(np.uint16)


def write_reference(path, reftype, datamodl, arrays, **keywords):
    """Write a reference file in the documented format with astropy only."""
    primary = fits.PrimaryHDU()
    header = {
        "DATAMODL": datamodl, "REFTYPE": reftype.upper(), "INSTRUME": "IRIS", "DETECTOR": "IMG1",
        "USEAFTER": "2020-01-01T00:00:00", "AUTHOR": "tests", "DESCRIP": f"test {reftype}",
        "PEDIGREE": "SIMULATION", "SUBARRAY": "GENERIC",
    }  # fmt: skip
    header.update(keywords)
    for key, value in header.items():
        primary.header[key] = value
    hdus = [primary] + [fits.ImageHDU(data, name=name) for name, data in arrays.items()]
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def write_refstore(root, shape, mask_dq=None, saturation_dn=None, **keywords):
    """A complete stage-1 reference store for a (ny, nx) detector window, with its rules.

    Identity corrections (bias BIAS_DN, linear, no dark) so that noiseless ramps give exact rates.
    """
    root.mkdir(parents=True, exist_ok=True)
    ny, nx = shape
    ones = np.ones(shape, dtype=np.float32)
    zero_dq = np.zeros(shape, dtype=np.uint32)
    sat = ones * SATURATION_DN if saturation_dn is None else np.asarray(saturation_dn, np.float32)
    files = {
        "mask": ("MaskModel", {"DQ": zero_dq if mask_dq is None else mask_dq.astype(np.uint32)}),
        "saturation": ("SaturationModel", {"SCI": sat, "DQ": zero_dq}),
        "gain": ("GainModel", {"SCI": ones * GAIN_E_PER_DN}),
        "readnoise": ("ReadnoiseModel", {"SCI": ones * READ_NOISE_DN}),
        "superbias": ("SuperBiasModel", {"SCI": ones * BIAS_DN, "ERR": ones * 0, "DQ": zero_dq}),
        "linearity": ("LinearityModel", {"COEFFS": np.stack([ones * 0, ones]), "DQ": zero_dq}),
        "dark": ("DarkModel", {"SCI": ones * 0, "ERR": ones * 0, "DQ": zero_dq}),
    }
    entries = []
    for reftype, (datamodl, arrays) in files.items():
        path = root / f"iris_img1_{reftype}.fits"
        write_reference(path, reftype, datamodl, arrays, **{"SUBSTRT1": 1, "SUBSTRT2": 1, "SUBSIZE1": nx,
                                                            "SUBSIZE2": ny, **keywords})  # fmt: skip
        entries.append(
            {
                "file": path.name,
                "reftype": reftype,
                "instrument": "IRIS",
                "detector": "IMG1",
                "useafter": "2020-01-01T00:00:00",
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            }  # fmt: skip
        )
    (root / "refstore.yaml").write_text(yaml.safe_dump({"format_version": 1, "references": entries}, sort_keys=False))
    return root


@pytest.fixture
def refstore(tmp_path, monkeypatch):
    """A 32 x 32 reference store, made the default through IRIS_REFSTORE."""
    root = write_refstore(tmp_path / "refs", (32, 32))
    monkeypatch.setenv("IRIS_REFSTORE", str(root))
    return root
