"""Instrument descriptions and read-pattern timing."""

from __future__ import annotations

import pytest

from iris_pipeline.instruments import get_instrument, read_pattern_frames, read_pattern_times


def test_iris_and_liger_detectors():
    iris = get_instrument("iris")
    assert iris.imager_detectors == ["IMG1", "IMG2", "IMG3", "IMG4"]
    assert all(iris.detectors[d].shape == (4096, 4096) for d in iris.imager_detectors)
    assert iris.detectors["IMG1"].pixel_scale_arcsec == pytest.approx(0.004)
    liger = get_instrument("LIGER")
    assert liger.detectors["IMG"].shape == (2048, 2048)
    assert liger.detectors["IMG"].pixel_scale_arcsec == pytest.approx(0.010)


def test_mosaic_offsets_leave_the_gap_between_detectors():
    iris = get_instrument("IRIS")
    det1, det2 = iris.detectors["IMG1"], iris.detectors["IMG2"]
    centre_distance_pix = (
        det2.focal_plane_offset_arcsec[0] - det1.focal_plane_offset_arcsec[0]
    ) / det1.pixel_scale_arcsec
    assert centre_distance_pix == pytest.approx(det1.shape[1] + iris.imager_gap_pix)


def test_read_time_scales_with_rows():
    iris = get_instrument("IRIS")
    assert iris.read_time_s() == pytest.approx(0.72)
    assert iris.read_time_s(1024) == pytest.approx(0.18)


def test_mcds_group_times_are_the_mean_of_each_fowler_set():
    # Fowler-4 with 10 reads skipped: reads 1-4 and 15-18.
    assert read_pattern_frames(2, 4, 10, 1.0) == [[1, 2, 3, 4], [15, 16, 17, 18]]
    assert read_pattern_times(2, 4, 10, 1.0) == [2.5, 16.5]
    assert read_pattern_times(3, 1, 0, 0.72) == pytest.approx([0.72, 1.44, 2.16])


def test_unknown_instrument_and_filter():
    with pytest.raises(KeyError, match="unknown instrument 'NIRCAM'"):
        get_instrument("NIRCAM")
    with pytest.raises(KeyError, match="IRIS has no filter 'F200W'"):
        get_instrument("IRIS").filter_wavelengths_um("F200W")
