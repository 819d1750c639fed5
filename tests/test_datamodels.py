"""Data models: schemas, round trips, DATAMODL dispatch, atomic saving, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from iris_pipeline import datamodels
from iris_pipeline.datamodels import MODEL_CLASSES
from iris_pipeline.exceptions import InputFileError

ARRAY_SHAPES = {
    "RawRampModel": {"data": (1, 3, 6, 5)},
    "RampModel": {"data": (1, 3, 6, 5), "pixeldq": (6, 5), "groupdq": (1, 3, 6, 5), "average_dark_current": (6, 5)},
    "RateModel": {"data": (6, 5), "dq": (6, 5), "var_poisson": (6, 5)},
    "RateIntsModel": {"data": (2, 6, 5), "dq": (2, 6, 5)},
    "CubeModel": {"data": (2, 6, 5), "dq": (2, 6, 5), "area": (6, 5)},
    "ImageModel": {"data": (6, 5), "dq": (6, 5), "var_flat": (6, 5)},
    "MosaicModel": {"data": (6, 5), "wht": (6, 5), "con": (1, 6, 5)},
    "IFUCubeModel": {"data": (7, 6, 5), "wavelength": (7,), "white_light": (6, 5)},
    "MaskModel": {"dq": (6, 5)},
    "SaturationModel": {"data": (6, 5)},
    "SuperBiasModel": {"data": (6, 5)},
    "GainModel": {"data": (6, 5)},
    "ReadnoiseModel": {"data": (6, 5)},
    "LinearityModel": {"coeffs": (4, 6, 5)},
    "DarkModel": {"data": (6, 5)},
    "FlatModel": {"data": (6, 5)},
    "IFSFlatModel": {"data": (6, 5), "dq": (6, 5)},
    "IFSSpectraModel": {"data": (6, 5), "wavelength": (6, 5)},
}
EXPECTED_DTYPES = {"data": None, "dq": np.uint32, "pixeldq": np.uint32, "groupdq": np.uint8}


def test_every_model_class_has_a_round_trip_case():
    # Table models; the _x1d spectra (MultiSpecModel) are read back by specutils in test_ifs_spec3.py,
    # the _x1dints (MultiSpecIntsModel) in test_ifs_tso.py.
    tables = {"PhotomModel", "DistortionModel", "IFSTraceModel", "IFSWavecalModel", "IFSPhotomModel", "MultiSpecModel",
              "MultiSpecIntsModel"}  # fmt: skip
    assert set(ARRAY_SHAPES) | tables == set(MODEL_CLASSES)


@pytest.mark.parametrize("name", sorted(ARRAY_SHAPES))
def test_round_trip_preserves_arrays_dtypes_and_type(tmp_path, name):
    rng = np.random.default_rng(1)
    model = MODEL_CLASSES[name]()
    for attr, shape in ARRAY_SHAPES[name].items():
        values = rng.uniform(0, 60000, shape).astype(model.get_dtype(attr))
        setattr(model, attr, values)
    model.meta.instrument.name = "LIGER"
    model.meta.instrument.detector = "IMG"
    path = model.save(tmp_path / f"{name}.fits")
    # Raw files must also carry the raw keywords to pass open(); see test_raw_contract.py.
    reader = MODEL_CLASSES[name] if name == "RawRampModel" else datamodels.open
    with reader(path) as back:
        assert type(back) is MODEL_CLASSES[name]
        assert back.meta.model_type == name
        assert back.meta.filename == f"{name}.fits"
        assert back.meta.instrument.name == "LIGER"
        for attr in ARRAY_SHAPES[name]:
            np.testing.assert_array_equal(getattr(back, attr), getattr(model, attr))
            assert getattr(back, attr).dtype.newbyteorder("=") == getattr(model, attr).dtype


def test_dq_arrays_are_32_bit_and_keep_high_flags(tmp_path):
    model = datamodels.RateModel((4, 4))
    model.dq[0, 0] = np.uint32(1 << 31) | np.uint32(1 << 24)
    path = model.save(tmp_path / "r_rate.fits")
    with datamodels.open(path) as back:
        assert back.dq.dtype == np.uint32
        assert int(back.dq[0, 0]) == (1 << 31) | (1 << 24)


def test_photom_table_round_trip(tmp_path):
    model = datamodels.PhotomModel()
    table = np.array(
        [("Kbb", 1.5e-3, 1e-5, 27.1), ("H", 2.0e-3, 2e-5, 27.5)],
        dtype=[("FILTER", "S12"), ("PHOTMJSR", "<f4"), ("UNCERTAINTY", "<f4"), ("ZEROPOINT_AB", "<f4")],
    )
    model.photom_table = table
    path = model.save(tmp_path / "photom.fits")
    with datamodels.open(path) as back:
        assert isinstance(back, datamodels.PhotomModel)
        assert [f.strip() for f in back.photom_table["FILTER"].astype(str)] == ["Kbb", "H"]
        np.testing.assert_allclose(back.photom_table["PHOTMJSR"], [1.5e-3, 2.0e-3], rtol=1e-6)


def test_provenance_keywords_in_header(tmp_path):
    model = datamodels.RateModel((4, 4))
    model.meta.ref_file.dark.name = "iris_dark.fits"
    model.meta.ref_file.dark.sha256 = "0" * 64
    model.meta.cal_step.ramp_fit = "COMPLETE"
    path = model.save(tmp_path / "p_rate.fits")
    header = fits.getheader(path)
    assert header["R_DARK"] == "iris_dark.fits" and header["H_DARK"] == "0" * 64
    assert header["S_RAMP"] == "COMPLETE" and header["DATAMODL"] == "RateModel"
    assert header["CAL_VER"] and header["DATE"]


def test_failed_save_leaves_previous_product_and_no_partial_file(tmp_path, monkeypatch):
    good = datamodels.RateModel(np.ones((4, 4), np.float32))
    path = good.save(tmp_path / "x_rate.fits")
    before = (tmp_path / "x_rate.fits").read_bytes()

    def failing_write(self, init, *args, **kwargs):
        with open(init, "wb") as stream:
            stream.write(b"SIMPLE  = half written")
        raise OSError("disk full")

    monkeypatch.setattr(datamodels.RateModel, "to_fits", failing_write)
    with pytest.raises(OSError, match="disk full"):
        datamodels.RateModel(np.zeros((4, 4), np.float32)).save(path)
    assert (tmp_path / "x_rate.fits").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_rate.fits"]


def test_open_passes_models_through():
    model = datamodels.RateModel((2, 2))
    assert datamodels.open(model) is model


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match=r"nothere.fits: file not found$"):
        datamodels.open(tmp_path / "nothere.fits")


def test_not_a_fits_file(tmp_path):
    path = tmp_path / "notes.fits"
    path.write_text("these are my observing notes\n")
    with pytest.raises(InputFileError, match="notes.fits: not a FITS file"):
        datamodels.open(path)


def test_fits_without_datamodl(tmp_path):
    path = tmp_path / "plain.fits"
    fits.PrimaryHDU(np.zeros((3, 3))).writeto(path)
    with pytest.raises(InputFileError, match="plain.fits: no DATAMODL keyword"):
        datamodels.open(path)


def test_unknown_datamodl(tmp_path):
    path = tmp_path / "jwst.fits"
    hdu = fits.PrimaryHDU()
    hdu.header["DATAMODL"] = "Level1bModel"
    hdu.writeto(path)
    with pytest.raises(InputFileError, match="jwst.fits: unknown DATAMODL 'Level1bModel'"):
        datamodels.open(path)


def test_crds_parameters_are_flat_selection_metadata():
    model = datamodels.RawRampModel()
    model.meta.instrument.name = "IRIS"
    model.meta.instrument.detector = "IMG3"
    model.meta.exposure.readmode = "CDS"
    params = model.get_crds_parameters()
    assert params == {
        "meta.instrument.name": "IRIS",
        "meta.instrument.detector": "IMG3",
        "meta.exposure.readmode": "CDS",
    }
    assert model.crds_observatory == "tmt"
