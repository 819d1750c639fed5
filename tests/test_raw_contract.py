"""The raw format is a public contract: files written with astropy alone are read and processed."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from conftest import BIAS_DN, linear_ramp, write_raw

from iris_pipeline import datamodels
from iris_pipeline.exceptions import InputFileError
from iris_pipeline.pipelines import Detector1Pipeline


def test_astropy_written_raw_file_reads_with_all_metadata(tmp_path):
    reads = np.arange(2 * 4 * 16 * 16, dtype=np.uint16).reshape(2, 4, 16, 16) + 40000
    path = write_raw(
        tmp_path / "a_uncal.fits", reads, TSOVISIT=False, PROGRAM="2030A-001", PA_APER=12.5,
        RA_REF=150.1, DEC_REF=2.2, XOFFSET=0.05, PATT_NUM=2,
    )  # fmt: skip
    with datamodels.open(path) as model:
        assert isinstance(model, datamodels.RawRampModel)
        assert model.data.dtype == np.uint16
        np.testing.assert_array_equal(model.data, reads)
        meta = model.meta
        assert (meta.instrument.name, meta.instrument.detector, meta.instrument.filter) == (
            "IRIS",
            "IMG1",
            "Kbb",
        )
        assert (meta.exposure.nints, meta.exposure.ngroups, meta.exposure.nframes) == (2, 4, 1)
        assert meta.exposure.readmode == "UTR" and meta.exposure.frame_time == pytest.approx(0.72)
        assert meta.observation.date_obs == "2030-03-01T05:00:00.000"
        assert meta.observation.program == "2030A-001" and meta.observation.tso_visit is False
        assert (meta.subarray.name, meta.subarray.xsize, meta.subarray.ysize) == ("SUB16", 16, 16)
        assert meta.pointing.pa_aper == pytest.approx(12.5)
        assert meta.dither.x_offset == pytest.approx(0.05) and meta.dither.position_number == 2


def test_astropy_written_raw_file_is_processed_to_true_rates(tmp_path, refstore):
    # Whole DN per group time, so that the noiseless reads are exact integers.
    dn_per_group = np.arange(1, 32 * 32 + 1).reshape(32, 32) % 700
    rate_dn_s = dn_per_group / 0.72
    path = write_raw(tmp_path / "b_uncal.fits", linear_ramp(rate_dn_s, ngroups=8))
    Detector1Pipeline.call(str(path), output_dir=str(tmp_path), save_results=True, save_rateints=True)
    with datamodels.open(tmp_path / "b_rate.fits") as rate:
        np.testing.assert_allclose(rate.data, rate_dn_s, rtol=1e-5, atol=1e-4)
        assert rate.meta.bunit_data == "DN/s"
    with datamodels.open(tmp_path / "b_rateints.fits") as rateints:
        assert rateints.data.shape == (1, 32, 32)


@pytest.mark.parametrize("keyword", ["NGROUPS", "DATE-OBS", "READMODE", "EXP_TYPE", "TFRAME"])
def test_missing_required_keyword_is_named(tmp_path, keyword):
    path = write_raw(tmp_path / "c_uncal.fits", linear_ramp(np.ones((8, 8))), **{keyword: None})
    with pytest.raises(InputFileError, match=rf"c_uncal.fits: missing required keyword\(s\): {keyword}"):
        datamodels.open(path)


def test_truncated_raw_file(tmp_path):
    path = write_raw(tmp_path / "d_uncal.fits", linear_ramp(np.ones((64, 64)), ngroups=5))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="d_uncal.fits: truncated"):
        datamodels.open(path)


def test_shape_disagreeing_with_keywords(tmp_path):
    path = write_raw(tmp_path / "e_uncal.fits", linear_ramp(np.ones((8, 8)), ngroups=3), NGROUPS=4)
    with pytest.raises(InputFileError, match=r"SCI shape \(1, 3, 8, 8\) does not match"):
        datamodels.open(path)


def test_float_reads_are_refused(tmp_path):
    path = write_raw(tmp_path / "f_uncal.fits", linear_ramp(np.ones((8, 8))))
    with fits.open(path, mode="update") as hdul:
        hdul["SCI"].data = hdul["SCI"].data.astype(np.float32)
    with pytest.raises(InputFileError, match="BITPIX -32, expected 16"):
        datamodels.open(path)


def test_unsigned_convention_round_trips_high_values(tmp_path):
    reads = np.full((1, 2, 4, 4), 65535, dtype=np.uint16)
    reads[0, 0] = int(BIAS_DN)
    path = write_raw(tmp_path / "g_uncal.fits", reads)
    assert fits.getheader(path, "SCI")["BZERO"] == 32768
    with datamodels.open(path) as model:
        assert model.data.max() == 65535 and model.data.min() == BIAS_DN
