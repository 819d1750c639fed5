"""Tests of iris_pipeline.simulate: determinism, the raw and reference formats, and the physics.

Small windows keep the file fast; the full-frame timing test is marked ``slow``.
"""

import hashlib
import json
import math
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy import wcs
from astropy.io import fits
from astropy.table import Table

from iris_pipeline import dqflags
from iris_pipeline.instruments import get_instrument, read_pattern_times
from iris_pipeline.simulate import (
    DetectorParameters,
    Pointing,
    SimulationManifest,
    Stream,
    make_detector_geometry,
    make_detector_model,
    make_read_pattern,
    make_rng,
    render_scene,
    simulate_observation,
    simulate_ramp,
    write_reference_files,
)
from iris_pipeline.simulate.detector import DetectorWindow

IRIS = get_instrument("IRIS")
POINTING = Pointing(150.1191, 2.2058, 0.0)
SMALL = dict(
    size=64,
    ndithers=2,
    n_stars=8,
    n_galaxies=2,
    ndarks=1,
    nflats=1,
    nskies=1,
    pa_aper_deg=37.0,
    ngroups=4,
    cosmic_ray_rate_per_pix_s=2e-3,
)
REQUIRED_KEYWORDS = {
    "DATAMODL": str,
    "TELESCOP": str,
    "INSTRUME": str,
    "DETECTOR": str,
    "EXP_TYPE": str,
    "READMODE": str,
    "NINTS": int,
    "NGROUPS": int,
    "NFRAMES": int,
    "GROUPGAP": int,
    "TFRAME": float,
    "TGROUP": float,
    "DATE-OBS": str,
    "SUBARRAY": str,
    "SUBSTRT1": int,
    "SUBSTRT2": int,
    "SUBSIZE1": int,
    "SUBSIZE2": int,
    "FILTER": str,
}
OPTIONAL_KEYWORDS = {
    "TSOVISIT": bool,
    "NREADS": int,
    "EXPSTART": float,
    "EXPMID": float,
    "EXPEND": float,
    "EFFEXPTM": float,
    "PROGRAM": str,
    "OBS_ID": str,
    "EXPOSURE": int,
    "TARGNAME": str,
    "TARG_RA": float,
    "TARG_DEC": float,
    "RA_REF": float,
    "DEC_REF": float,
    "PA_APER": float,
}
DITHER_KEYWORDS = {
    "PATTTYPE": str,
    "PATT_NUM": int,
    "NUMDTHPT": int,
    "XOFFSET": float,
    "YOFFSET": float,
}
REFTYPES = {
    "mask",
    "saturation",
    "superbias",
    "gain",
    "readnoise",
    "linearity",
    "dark",
    "flat",
    "photom",
    "distortion",
}


@pytest.fixture(scope="module")
def observation(tmp_path_factory):
    """A small two-detector IRIS observation with every kind of exposure."""
    return simulate_observation(tmp_path_factory.mktemp("obs"), detectors=("IMG1", "IMG2"), seed=11, **SMALL)


def _rules(manifest):
    return yaml.safe_load(manifest.refstore.read_text())["references"]


def _reference(manifest, reftype, detector):
    (entry,) = [e for e in _rules(manifest) if e["reftype"] == reftype and e["detector"] == detector]
    return manifest.reference_dir / entry["file"]


def _linearised(raw, superbias, coeffs, mask=None):
    """Raw DN (groups, ny, nx) -> linear DN above bias with the LINEARITY polynomial.

    With a ``mask``, the per-read bias drifts are removed first: each group and output channel
    is shifted by the mean of its reference pixels (what a reference-pixel step does).
    """
    measured = raw.astype(np.float64) - superbias
    if mask is not None:
        reference = (mask & dqflags.PIXEL["REFERENCE_PIXEL"]) != 0
        width = IRIS.detectors["IMG1"].output_channel_width_pix
        for start in range(0, raw.shape[-1], width):
            channel = np.s_[..., start : start + width]
            drift = measured[channel][:, reference[channel]].mean(axis=1)
            measured[channel] -= drift[:, None, None]
    return sum(c * measured**k for k, c in enumerate(coeffs.astype(np.float64)))


def _star_catalog(geometry, window, x_pix, y_pix, flux_e_s):
    """A one-star catalogue whose star sits at array pixel (x_pix, y_pix) at POINTING."""
    ra, dec = geometry.pixel_to_sky(x_pix + window.substrt1 - 1, y_pix + window.substrt2 - 1, POINTING)
    return Table(
        {
            "id": [1],
            "kind": ["star"],
            "ra_deg": [float(ra)],
            "dec_deg": [float(dec)],
            "flux_e_s": [flux_e_s],
            "sersic_n": [np.nan],
            "r_eff_arcsec": [np.nan],
            "axis_ratio": [np.nan],
            "pa_deg": [np.nan],
        }
    )


def _single_star(tmp_path, flux_e_s, noise, size=96, ngroups=6, seed=5):
    """Model, rendered star, ramp and reference files for one star at the window centre."""
    model = make_detector_model("IRIS", "IMG1", size=size, seed=seed)
    geometry = make_detector_geometry(IRIS, "IMG1", make_rng(seed, Stream.GEOMETRY, 0))
    centre = size / 2 + 0.3
    catalog = _star_catalog(geometry, model.window, centre, centre - 0.6, flux_e_s)
    image, positions = render_scene(catalog, geometry, model.window, POINTING, IRIS, "Kbb")
    pattern = make_read_pattern(IRIS, "UTR", size, ngroups=ngroups)
    ramp = simulate_ramp(model, image, pattern, make_rng(seed, Stream.EXPOSURE, 0), noise=noise)
    refs = write_reference_files(tmp_path, IRIS, model, geometry, "Kbb", 0.3, "2031-01-01T00:00:00")
    return model, image, positions, pattern, ramp, refs


def test_import_needs_no_pipeline_code():
    code = (
        "import sys, iris_pipeline.simulate; "
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('iris_pipeline', 'stpipe', 'stdatamodels', 'stcal', 'gwcs'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    allowed = ("iris_pipeline", "iris_pipeline.instruments", "iris_pipeline.dqflags")
    assert all(m in allowed or m.startswith("iris_pipeline.simulate") for m in loaded), loaded


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    runs = [
        simulate_observation(
            tmp_path / name,
            instrument="LIGER",
            size=32,
            ndithers=1,
            n_stars=3,
            n_galaxies=1,
            ndarks=1,
            nflats=1,
            ngroups=3,
            seed=seed,
        )
        for name, seed in (("a", 1), ("b", 1), ("c", 2))
    ]
    files = [sorted(p for p in m.output_dir.rglob("*") if p.suffix in (".fits", ".yaml", ".ecsv")) for m in runs]
    relative = [[p.relative_to(m.output_dir) for p in f] for m, f in zip(runs, files, strict=True)]
    assert relative[0] == relative[1] == relative[2]
    for first, second in zip(files[0], files[1], strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name
    for first, other in zip(runs[0].science + runs[0].darks, runs[2].science + runs[2].darks, strict=True):
        assert not np.array_equal(fits.getdata(first, "SCI"), fits.getdata(other, "SCI"))


def test_raw_files_follow_the_contract(observation):
    kinds = {
        "IRIS_IMAGE": observation.science,
        "IRIS_IMAGE_SKY": observation.skies,
        "IRIS_IMAGE_DARK": observation.darks,
        "IRIS_IMAGE_FLAT": observation.flats,
    }
    for exp_type, paths in kinds.items():
        assert len(paths) == {"IRIS_IMAGE": 2}.get(exp_type, 1) * 2
        for path in paths:
            with fits.open(path) as hdul:
                header, sci = hdul[0].header, hdul["SCI"]
                assert hdul[0].data is None
                assert sci.header["BITPIX"] == 16 and sci.header["BZERO"] == 32768
                assert sci.header["BUNIT"] == "DN"
                assert sci.data.dtype == np.uint16
                for key, kind in {**REQUIRED_KEYWORDS, **OPTIONAL_KEYWORDS}.items():
                    assert isinstance(header[key], kind), key
                if exp_type in ("IRIS_IMAGE", "IRIS_IMAGE_SKY"):
                    assert all(isinstance(header[k], t) for k, t in DITHER_KEYWORDS.items())
                assert sci.data.shape == (
                    header["NINTS"],
                    header["NGROUPS"],
                    header["SUBSIZE2"],
                    header["SUBSIZE1"],
                )
                assert header["EXP_TYPE"] == exp_type
                assert (header["TELESCOP"], header["INSTRUME"]) == ("TMT", "IRIS")
                assert (header["SUBARRAY"], header["SUBSTRT1"], header["SUBSTRT2"]) == (
                    "SUB64",
                    1,
                    1,
                )
                assert header["TFRAME"] == pytest.approx(IRIS.read_time_s(64))
                assert header["TGROUP"] == pytest.approx((header["NFRAMES"] + header["GROUPGAP"]) * header["TFRAME"])
                assert header["EFFEXPTM"] == pytest.approx((header["NGROUPS"] - 1) * header["TGROUP"])
                assert header["NREADS"] == (
                    header["NGROUPS"] * header["NFRAMES"] + (header["NGROUPS"] - 1) * header["GROUPGAP"]
                )
                assert header["EXPSTART"] < header["EXPMID"] < header["EXPEND"]
                assert header["TSOVISIT"] is False
                datetime.strptime(header["DATE-OBS"], "%Y-%m-%dT%H:%M:%S.%f")
                kind = "" if exp_type == "IRIS_IMAGE" else exp_type.split("_")[-1].lower() + "_"
                assert path.name == (
                    f"iris_p001_o001_{kind}e{header['EXPOSURE']:03d}_{header['DETECTOR'].lower()}_uncal.fits"
                )


@pytest.mark.parametrize(
    "read_mode, nframes, groupgap",
    [
        ("CDS", None, None),
        ("CDS", None, 3),
        ("MCDS", 3, 5),
        ("UTR", 1, 0),
        ("UTR", 2, 1),
    ],
)
def test_read_modes_average_reads_into_groups(read_mode, nframes, groupgap):
    model = make_detector_model("IRIS", "IMG2", size=32, seed=2)
    pattern = make_read_pattern(
        IRIS,
        read_mode,
        32,
        ngroups=None if read_mode != "UTR" else 5,
        nframes=nframes,
        groupgap=groupgap,
    )
    assert pattern.ngroups == (5 if read_mode == "UTR" else 2)
    assert pattern.nframes == (nframes or 1)
    assert pattern.group_time_s == pytest.approx((pattern.nframes + pattern.groupgap) * pattern.frame_time_s)
    illumination = np.full(model.window.shape, 2e5, dtype=np.float32)
    ramp = simulate_ramp(model, illumination, pattern, make_rng(0, Stream.EXPOSURE, 1), noise=False)
    assert ramp.data.shape == (1, pattern.ngroups, 32, 32)
    times = np.array(read_pattern_times(pattern.ngroups, pattern.nframes, pattern.groupgap, pattern.frame_time_s))
    expected = ramp.detected_rate_e_s / model.gain_e_per_dn * times[:, None, None]
    linear = _linearised(ramp.data[0], model.bias_dn, model.linearity_coefficients())
    good = model.collecting
    assert np.abs(linear - expected)[:, good].max() < 1.0 + 1e-3 * expected.max()
    assert np.all(ramp.data[0][:, ~good] == np.rint(model.bias_dn[~good]))


def test_star_pixel_slope_and_aperture_flux(tmp_path):
    flux_e_s = 2e6
    model, image, positions, pattern, ramp, refs = _single_star(tmp_path, flux_e_s, noise=False)
    superbias = fits.getdata(refs["SUPERBIAS"], "SCI")
    coeffs = fits.getdata(refs["LINEARITY"], "COEFFS")
    flat = fits.getdata(refs["FLAT"], "SCI")
    dark = fits.getdata(refs["DARK"], "SCI")
    linear = _linearised(ramp.data[0], superbias, coeffs)
    times = pattern.group_times_s()
    slope_dn_s = (linear[-1] - linear[0]) / (times[-1] - times[0])
    y, x = np.unravel_index(np.argmax(image), image.shape)
    expected = image[y, x] * flat[y, x] / model.nominal_gain_e_per_dn + dark[y, x]
    assert slope_dn_s[y, x] == pytest.approx(expected, rel=2e-3)

    (row,) = positions
    yy, xx = np.indices(image.shape)
    aperture = np.hypot(xx - row["x_pix"], yy - row["y_pix"]) < 40
    calibrated_e_s = (slope_dn_s - dark) / flat * model.nominal_gain_e_per_dn
    usable = aperture & model.collecting
    assert calibrated_e_s[usable].sum() == pytest.approx(flux_e_s * usable[aperture].mean(), rel=0.01)


def test_aperture_flux_with_noise(tmp_path):
    flux_e_s = 2e6
    model, image, positions, pattern, ramp, refs = _single_star(tmp_path, flux_e_s, noise=True, ngroups=8)
    linear = _linearised(
        ramp.data[0],
        fits.getdata(refs["SUPERBIAS"], "SCI"),
        fits.getdata(refs["LINEARITY"], "COEFFS"),
        fits.getdata(refs["MASK"], "DQ"),
    )
    times = pattern.group_times_s()
    slope = np.polyfit(times, linear.reshape(len(times), -1), 1)[0].reshape(image.shape)
    dark = fits.getdata(refs["DARK"], "SCI")
    calibrated_e_s = (slope - dark) / fits.getdata(refs["FLAT"], "SCI") * model.nominal_gain_e_per_dn
    (row,) = positions
    yy, xx = np.indices(image.shape)
    aperture = np.hypot(xx - row["x_pix"], yy - row["y_pix"]) < 25
    good = aperture & ((fits.getdata(refs["MASK"], "DQ") & dqflags.PIXEL["DO_NOT_USE"]) == 0)
    assert calibrated_e_s[good].sum() == pytest.approx(image[good].sum(), rel=0.03)
    assert image[aperture].sum() == pytest.approx(flux_e_s, rel=0.03)


def test_saturation_clips_at_the_reference_level(tmp_path):
    model, _, _, pattern, ramp, refs = _single_star(tmp_path, 5e9, noise=True, size=64)
    saturation = fits.getdata(refs["SATURATION"], "SCI")
    assert saturation.max() < np.iinfo(np.uint16).max
    assert np.all(ramp.data[0] <= saturation)
    charge_e = ramp.detected_rate_e_s * pattern.group_times_s()[-1]
    filled = charge_e > 2 * model.full_well_e
    assert filled.sum() > 10
    assert np.all(ramp.data[0, -1][filled] == saturation[filled])
    assert np.all(
        ramp.data[0, -1][~filled & model.collecting & (charge_e < 0.5 * model.full_well_e)]
        < saturation[~filled & model.collecting & (charge_e < 0.5 * model.full_well_e)]
    )


def test_linearity_reference_inverts_the_nonlinearity(tmp_path):
    model = make_detector_model("LIGER", "IMG", size=48, seed=4)
    geometry = make_detector_geometry(get_instrument("LIGER"), "IMG", make_rng(4, Stream.GEOMETRY, 1))
    refs = write_reference_files(tmp_path, get_instrument("LIGER"), model, geometry, "H", 0.3, "2031-01-01T00:00:00")
    coeffs = fits.getdata(refs["LINEARITY"], "COEFFS")
    assert coeffs.dtype.type is np.float32 and coeffs.shape == (5, 48, 48)
    limit = fits.getdata(refs["SATURATION"], "SCI") - fits.getdata(refs["SUPERBIAS"], "SCI")
    true_dn = np.linspace(10.0, 1.2 * limit.max(), 300)[:, None, None] * np.ones(model.window.shape)
    measured = model.nonlinear_dn(true_dn)
    corrected = sum(c * measured.astype(np.float64) ** k for k, c in enumerate(coeffs))
    below = (measured <= limit) & model.collecting
    assert np.max(np.abs(corrected / true_dn - 1)[below]) < 1e-3
    onset_dn = get_instrument("LIGER").detector_defaults["nonlinearity_onset_e"] / model.gain_e_per_dn
    deficit = 1 - model.nonlinear_dn(onset_dn) / onset_dn
    assert 0.01 < np.median(deficit[model.collecting]) < 0.05


def test_cosmic_rays_jump_at_the_listed_group():
    model = make_detector_model("IRIS", "IMG3", size=64, seed=8)
    pattern = make_read_pattern(IRIS, "UTR", 64, ngroups=12)
    ramp = simulate_ramp(
        model,
        np.zeros(model.window.shape, np.float32),
        pattern,
        make_rng(8, Stream.EXPOSURE, 2),
        nints=2,
        cosmic_ray_rate_per_pix_s=0.3,
    )
    linear = np.array(
        [_linearised(ints, model.bias_dn, model.linearity_coefficients(), model.dq) for ints in ramp.data]
    )
    hits = ramp.cosmic_rays
    assert len(hits) > 10
    fraction = DetectorParameters().cosmic_ray_neighbour_fraction
    checked = 0
    for hit in hits:
        others = hits[
            (hits["integration"] == hit["integration"])
            & (np.abs(hits["x_pix"] - hit["x_pix"]) <= 1)
            & (np.abs(hits["y_pix"] - hit["y_pix"]) <= 1)
        ]
        if hit["group"] == 0 or len(others) > 1:
            continue
        y, x = hit["y_pix"], hit["x_pix"]
        steps = np.diff(linear[hit["integration"], :, y, x])
        assert np.argmax(steps) + 1 == hit["group"]
        expected_dn = hit["charge_e"] * (1 - 4 * fraction) / model.gain_e_per_dn[y, x]
        assert steps[hit["group"] - 1] == pytest.approx(expected_dn, rel=0.1, abs=10)
        checked += 1
    assert checked > 5


def test_refstore_lists_every_reference_with_selectors_and_sha256(observation):
    entries = _rules(observation)
    listed = {observation.reference_dir / e["file"] for e in entries}
    assert listed == set(observation.reference_dir.rglob("*.fits"))
    assert {(e["reftype"], e["detector"]) for e in entries} == {(r, d) for r in REFTYPES for d in ("IMG1", "IMG2")}
    raw_header = fits.getheader(observation.science[0])
    raw_shape = fits.getdata(observation.science[0]).shape[-2:]
    for entry in entries:
        path = observation.reference_dir / entry["file"]
        assert not Path(entry["file"]).is_absolute()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        with fits.open(path) as hdul:
            header = hdul[0].header
            assert header["REFTYPE"].lower() == entry["reftype"]
            assert header["PEDIGREE"] == "SIMULATION" and header["AUTHOR"] and header["DESCRIP"]
            assert (entry["instrument"], entry["detector"]) == (
                header["INSTRUME"],
                header["DETECTOR"],
            )
            assert entry["filter"] == ("Kbb" if entry["reftype"] == "flat" else "ANY")
            assert entry["read_mode"] == "ANY"
            assert entry["useafter"] == header["USEAFTER"] < raw_header["DATE-OBS"]
            if entry["reftype"] in ("photom", "distortion"):
                assert entry["subarray"] == header["SUBARRAY"] == "GENERIC"
                continue
            assert entry["subarray"] == "SUB64"
            for key in ("SUBARRAY", "SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2"):
                assert header[key] == raw_header[key]
            for hdu in hdul[1:]:
                assert hdu.data.shape[-2:] == raw_shape
                assert hdu.data.dtype.type is (np.uint32 if hdu.name == "DQ" else np.float32)


def test_reference_contents_describe_the_detector(observation):
    mask = fits.getdata(_reference(observation, "mask", "IMG1"), "DQ")
    border = IRIS.detectors["IMG1"].reference_border_pix
    reference = (mask & dqflags.PIXEL["REFERENCE_PIXEL"]) != 0
    assert reference[:border].all() and reference[:, :border].all()
    assert not reference[border:, border:].any()
    flat = fits.getdata(_reference(observation, "flat", "IMG1"), "SCI")
    flat_dq = fits.getdata(_reference(observation, "flat", "IMG1"), "DQ")
    assert np.median(flat[(flat_dq == 0) & (mask == 0)]) == pytest.approx(1.0, abs=0.01)
    readnoise = fits.getdata(_reference(observation, "readnoise", "IMG1"), "SCI")
    gain = fits.getdata(_reference(observation, "gain", "IMG1"), "SCI")
    defaults = IRIS.detector_defaults
    assert np.median(gain) == pytest.approx(defaults["gain_e_per_dn"], rel=0.02)
    assert np.median(readnoise * gain) == pytest.approx(defaults["read_noise_e"], rel=0.05)
    photom = Table.read(_reference(observation, "photom", "IMG1"), hdu="PHOTOM")
    assert [f.strip() for f in photom["FILTER"]] == list(IRIS.filters)


def test_truth_fluxes_agree_with_photom(observation):
    catalog = Table.read(observation.catalog)
    photom = Table.read(_reference(observation, "photom", "IMG1"), hdu="PHOTOM")
    (row,) = photom[[f.strip() == "Kbb" for f in photom["FILTER"]]]
    gain = IRIS.detector_defaults["gain_e_per_dn"]
    pixel_sr = (IRIS.detectors["IMG1"].pixel_scale_arcsec / 206264.806) ** 2
    flux_jy = catalog["flux_e_s"] / gain * row["PHOTMJSR"] * 1e6 * pixel_sr
    assert np.allclose(flux_jy, catalog["flux_jy"], rtol=1e-5)
    ab_mag = row["ZEROPOINT_AB"] - 2.5 * np.log10(catalog["flux_e_s"] / gain)
    assert np.allclose(ab_mag, catalog["ab_mag"], atol=1e-4)
    assert np.allclose(-2.5 * np.log10(catalog["flux_jy"] / 3631), catalog["ab_mag"])


def test_distortion_reference_maps_truth_pixels_to_truth_sky(observation):
    """Pixel -> sky with the DISTORTION table, PA_APER and an astropy TAN WCS only."""
    catalog = Table.read(observation.catalog)
    catalog.add_index("id")
    positions = Table.read(observation.positions)
    assert len(positions) > 4
    for row in positions:
        header = fits.getheader(observation.output_dir / "raw" / row["file"])
        distortion_path = _reference(observation, "distortion", row["detector"])
        table = Table.read(distortion_path, hdu="DISTORTION")
        full = fits.getheader(distortion_path)
        u = row["x_pix"] + header["SUBSTRT1"] - 1 - (full["NX_FULL"] - 1) / 2
        v = row["y_pix"] + header["SUBSTRT2"] - 1 - (full["NY_FULL"] - 1) / 2
        fp = {
            axis: sum(t["COEFF"] * u ** t["XPOW"] * v ** t["YPOW"] for t in table if t["AXIS"] == axis)
            for axis in ("X", "Y")
        }
        pa = math.radians(header["PA_APER"])
        xi = -fp["X"] * math.cos(pa) + fp["Y"] * math.sin(pa)
        eta = fp["X"] * math.sin(pa) + fp["Y"] * math.cos(pa)
        tan = wcs.WCS(naxis=2)
        tan.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        tan.wcs.crval = [header["RA_REF"], header["DEC_REF"]]
        tan.wcs.crpix = [1.0, 1.0]
        tan.wcs.cdelt = [1.0 / 3600.0, 1.0 / 3600.0]
        ra, dec = tan.wcs_pix2world([[xi, eta]], 0)[0]
        truth = catalog.loc[row["id"]]
        offset_arcsec = 3600 * math.hypot((ra - truth["ra_deg"]) * math.cos(math.radians(dec)), dec - truth["dec_deg"])
        assert offset_arcsec < 0.01 * IRIS.detectors[row["detector"]].pixel_scale_arcsec


def test_sources_move_with_the_dithers(observation):
    positions = Table.read(observation.positions)
    headers = {p.name: fits.getheader(p) for p in observation.science}
    scale = IRIS.detectors["IMG1"].pixel_scale_arcsec
    by_source = {}
    for row in positions:
        by_source.setdefault((row["id"], row["detector"]), {})[row["patt_num"]] = row
    moved = 0
    for rows in by_source.values():
        if set(rows) == {1, 2}:
            first, second = rows[1], rows[2]
            h1, h2 = headers[first["file"]], headers[second["file"]]
            expected_dx = -(h2["XOFFSET"] - h1["XOFFSET"]) / scale
            expected_dy = -(h2["YOFFSET"] - h1["YOFFSET"]) / scale
            assert second["x_pix"] - first["x_pix"] == pytest.approx(expected_dx, abs=0.01)
            assert second["y_pix"] - first["y_pix"] == pytest.approx(expected_dy, abs=0.01)
            moved += 1
    assert moved > 0


def test_calibration_exposures(observation):
    defaults = IRIS.detector_defaults
    bias = fits.getdata(_reference(observation, "superbias", "IMG1"), "SCI")
    mask = fits.getdata(_reference(observation, "mask", "IMG1"), "DQ")
    good = mask == 0
    no_correction = np.array([0.0, 1.0])
    dark = _linearised(fits.getdata(observation.darks[0], "SCI")[0], bias, no_correction, mask)
    assert np.median((dark[-1] - dark[0])[good]) == pytest.approx(0.0, abs=0.5)
    flat = fits.getdata(observation.flats[0], "SCI")[0].astype(float)
    level_e = (flat[-1] - bias)[good] * defaults["gain_e_per_dn"]
    assert 0.3 * defaults["nonlinearity_onset_e"] < np.median(level_e) < defaults["nonlinearity_onset_e"]
    sky = fits.getdata(observation.skies[0], "SCI")[0].astype(float)
    assert np.median((sky[-1] - sky[0])[good]) > 0


def test_manifest_round_trip(observation):
    path = observation.output_dir / "manifest.json"
    data = json.loads(path.read_text())
    assert data["science"][0].startswith("raw/")
    loaded = SimulationManifest.read(path)
    assert loaded.science == observation.science
    for paths in (loaded.science, loaded.darks, loaded.flats, loaded.skies):
        assert paths and all(p.exists() for p in paths)
    for p in (loaded.refstore, loaded.catalog, loaded.positions, loaded.cosmic_rays):
        assert p.exists()
    cosmic_rays = Table.read(loaded.cosmic_rays)
    assert set(cosmic_rays["file"]) <= {p.name for p in loaded.science + loaded.darks + loaded.flats + loaded.skies}


@pytest.mark.parametrize(
    "options, message",
    [
        ({"instrument": "NIRCAM"}, "unknown instrument"),
        ({"filter_name": "F200W"}, "no filter"),
        ({"read_mode": "RAPID"}, "unknown read mode"),
        ({"size": 5000}, "exceeds"),
        ({"size": 2}, "reference border"),
        ({"detectors": ("IFS",)}, "no imager detector"),
        ({"read_mode": "CDS", "ngroups": 5}, "NGROUPS"),
        ({"read_mode": "MCDS", "nframes": 0}, "nframes"),
        ({"ndithers": 0}, "ndithers"),
        ({"date_obs": "yesterday"}, "date_obs"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_parameters_raise_value_error(tmp_path, options, message):
    with pytest.raises(ValueError, match=message) as info:
        simulate_observation(tmp_path, **{"size": 32, **options})
    assert "\n" not in str(info.value)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_full_frame_detector_timing():
    start = time.perf_counter()
    model = make_detector_model("IRIS", "IMG1", seed=0)
    pattern = make_read_pattern(IRIS, "UTR", model.window.ny, ngroups=10)
    illumination = np.full(model.window.shape, 30.0, dtype=np.float32)
    ramp = simulate_ramp(
        model,
        illumination,
        pattern,
        make_rng(0, Stream.EXPOSURE, 0),
        cosmic_ray_rate_per_pix_s=5e-8,
    )
    elapsed = time.perf_counter() - start
    assert ramp.data.shape == (1, 10, 4096, 4096) and ramp.data.dtype == np.uint16
    assert elapsed < 60.0


def test_inner_windows_face_each_other_across_the_gaps():
    iris = get_instrument("IRIS")
    starts = {}
    for name in ("IMG1", "IMG2", "IMG3", "IMG4"):
        window = DetectorWindow.corner(iris.detectors[name], 64, inner=True)
        starts[name] = (window.substrt1, window.substrt2)
    assert starts == {"IMG1": (4033, 4033), "IMG2": (1, 4033), "IMG3": (4033, 1), "IMG4": (1, 1)}
    assert (DetectorWindow.corner(iris.detectors["IMG1"], 64).substrt1, 1) == (1, 1)
