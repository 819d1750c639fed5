"""Association rules and builder: grouping from headers only, JSON round trip."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from iris_pipeline.associations import (
    build_associations,
    read_association,
    read_exposure_info,
    write_associations,
)
from iris_pipeline.exceptions import InputFileError


def write_header_only(path, **keywords):
    """A tiny exposure file: the rules only read the primary header."""
    header = {"DATAMODL": "RateModel", "INSTRUME": "IRIS", "DETECTOR": "IMG1", "EXP_TYPE": "IRIS_IMAGE",
              "FILTER": "Kbb", "READMODE": "UTR", "SUBARRAY": "FULL", "PROGRAM": "001", "OBSERVTN": "001",
              "TARGNAME": "NGC 1068", "DATE-OBS": "2030-03-01T05:00:00"}  # fmt: skip
    header.update(keywords)
    primary = fits.PrimaryHDU()
    for key, value in header.items():
        primary.header[key] = value
    fits.HDUList([primary, fits.ImageHDU(np.zeros((2, 2), np.float32), name="SCI")]).writeto(path)
    return path


@pytest.fixture
def night(tmp_path):
    """Two detectors x 2 dithers in Kbb, one dither in Hbb, skies at 05:10 and 05:40, darks and flats."""
    files = {}
    for detector in ("IMG1", "IMG2"):
        for number, time in enumerate(("05:00", "05:20"), start=1):
            files[f"k{number}_{detector}"] = write_header_only(
                tmp_path / f"k{number}_{detector.lower()}_rate.fits", DETECTOR=detector,
                **{"DATE-OBS": f"2030-03-01T{time}:00"},
            )  # fmt: skip
        for number, time in enumerate(("05:10", "05:40"), start=1):
            files[f"sky{number}_{detector}"] = write_header_only(
                tmp_path / f"sky{number}_{detector.lower()}_rate.fits", DETECTOR=detector, EXP_TYPE="IRIS_IMAGE_SKY",
                **{"DATE-OBS": f"2030-03-01T{time}:00"},
            )  # fmt: skip
        for number in (1, 2):
            files[f"dark{number}_{detector}"] = write_header_only(
                tmp_path / f"dark{number}_{detector.lower()}_rate.fits", DETECTOR=detector, EXP_TYPE="IRIS_IMAGE_DARK"
            )  # fmt: skip
    files["h1"] = write_header_only(tmp_path / "h1_img1_rate.fits", FILTER="Hbb")
    files["flat_cds"] = write_header_only(tmp_path / "flat_cds_rate.fits", EXP_TYPE="IRIS_IMAGE_FLAT", READMODE="CDS")
    files["dark_cds"] = write_header_only(tmp_path / "dark_cds_rate.fits", EXP_TYPE="IRIS_IMAGE_DARK", READMODE="CDS")
    return files


def names(association):
    return [(member.path.name, member.exptype) for member in association.products[0].members]


def test_stage2_pairs_each_exposure_with_its_detector_and_filter_skies_nearest_first(night):
    by_product = {a.products[0].name: a for a in build_associations(list(night.values()), "2")}
    assert names(by_product["k2_img1"]) == [
        ("k2_img1_rate.fits", "science"),
        ("sky1_img1_rate.fits", "background"),  # 10 min away
        ("sky2_img1_rate.fits", "background"),  # 20 min away
    ]
    assert names(by_product["k1_img2"])[1] == ("sky1_img2_rate.fits", "background")
    assert names(by_product["h1_img1"]) == [("h1_img1_rate.fits", "science")]  # no Hbb sky
    assert names(by_product["sky1_img1"]) == [("sky1_img1_rate.fits", "science")]
    assert not any(name.startswith(("dark", "flat")) for name in by_product)
    assert {a.asn_type for a in by_product.values()} == {"image2"}


def test_stage3_groups_all_detectors_of_a_target_and_filter(night):
    associations = {a.products[0].name: a for a in build_associations(list(night.values()), "3")}
    assert sorted(associations) == ["iris_p001_ngc-1068_hbb", "iris_p001_ngc-1068_kbb"]
    kbb = associations["iris_p001_ngc-1068_kbb"]
    assert kbb.asn_type == "image3" and kbb.program == "001" and kbb.target == "NGC 1068"
    assert sorted(name for name, _ in names(kbb)) == sorted(
        f"k{n}_{d}_rate.fits" for n in (1, 2) for d in ("img1", "img2")
    )


def test_calibration_groups_by_configuration(night):
    groups = {a.products[0].name: names(a) for a in build_associations(list(night.values()), "calib")}
    assert groups == {
        "iris_dark_img1_utr_full": [("dark1_img1_rate.fits", "dark"), ("dark2_img1_rate.fits", "dark")],
        "iris_dark_img2_utr_full": [("dark1_img2_rate.fits", "dark"), ("dark2_img2_rate.fits", "dark")],
        "iris_dark_img1_cds_full": [("dark_cds_rate.fits", "dark")],
        "iris_flat_img1_kbb_full": [("flat_cds_rate.fits", "flat")],  # flats do not group by read mode
    }


def test_written_associations_read_back_with_relative_members(night, tmp_path):
    written = write_associations(build_associations(list(night.values()), "3"), tmp_path)
    assert '"expname": "k1_img1_rate.fits"' in written[0].read_text()  # relative to the association's folder
    back = read_association(written[0])
    assert back.asn_id == "a0001" and back.asn_rule == "iris_stage3"
    assert all(member.path.is_file() for member in back.products[0].members)


def test_folder_input_and_bad_files(tmp_path, night):
    assert len(build_associations([tmp_path], "2")) == 9  # 5 science exposures and 4 skies; no calibrations
    (tmp_path / "junk_rate.fits").write_text("not fits")
    with pytest.raises(InputFileError, match="junk_rate.fits: not a FITS file"):
        build_associations([tmp_path], "2")
    with pytest.raises(InputFileError, match="missing_rate.fits: file not found"):
        read_exposure_info(tmp_path / "missing_rate.fits")
