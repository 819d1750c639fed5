"""Deterministic simulator of raw IRIS and Liger imager data, with its reference files and truth.

The simulator is independent of the pipeline: it uses numpy, scipy, astropy and PyYAML, the
instrument description (`iris_pipeline.instruments`) and the DQ flags (`iris_pipeline.dqflags`)
only, and writes FITS with `astropy.io.fits` following ``docs/data-formats.md``.

Entry points
------------
`simulate_observation` writes a complete observation (dithered science exposures, darks, lamp
flats, optional skies, the matching reference files with ``refstore.yaml``, truth tables and
``manifest.json``). The building blocks are public and free of I/O unless named ``write_*``:
`make_detector_model` (per-pixel truth maps), `make_detector_geometry` (distortion),
`make_catalog` and `render_scene` (sources), `make_read_pattern` and `simulate_ramp`
(read-by-read ramp), `write_raw`, `write_reference_files` and `write_refstore`.

Determinism
-----------
Every random draw comes from ``numpy.random.default_rng(SeedSequence([seed, stream, keys...]))``
with the stream (detector maps, geometry, scene, exposure, lamp) and keys (detector index in the
instrument description, exposure kind and number), so detectors and exposures are independent
and the same seed gives byte-identical data.

File names (under ``output_dir``)
---------------------------------
- ``raw/{instrument}_p{program}_o{observation}_{kind}e{NNN}_{detector}_uncal.fits``, lower case,
  ``{kind}`` empty for science and ``dark_``, ``flat_``, ``sky_`` otherwise, e.g.
  ``raw/iris_p001_o001_e001_img1_uncal.fits``, ``raw/iris_p001_o001_dark_e001_img1_uncal.fits``.
- ``references/{reftype}/{instrument}_{detector}_{reftype}_0001.fits`` and
  ``references/refstore.yaml``.
- ``truth/catalog.ecsv``, ``truth/positions.ecsv``, ``truth/cosmic_rays.ecsv``, ``manifest.json``.

Truth tables (ECSV)
-------------------
``catalog.ecsv``, one row per source:
    ``id``, ``kind`` (``star``/``galaxy``), ``ra_deg``, ``dec_deg`` (ICRS), ``flux_e_s`` (total
    detected electrons/s at nominal QE, before the flat), ``flux_jy``, ``ab_mag`` (from
    ``flux_e_s`` by the photometric system of `iris_pipeline.simulate.photometry`, the same one
    as the PHOTOM reference file), and for galaxies ``sersic_n``, ``r_eff_arcsec``,
    ``axis_ratio``, ``pa_deg`` (NaN for stars).
``positions.ecsv``, one row per source per science exposure and detector it lands on:
    ``file`` (raw file name), ``exp_type``, ``detector``, ``exposure``, ``patt_num``, ``id``,
    ``x_pix``, ``y_pix`` (0-based array coordinates of the file; full-frame detector pixels are
    ``x_pix + SUBSTRT1 - 1``, ``y_pix + SUBSTRT2 - 1``).
``cosmic_rays.ecsv``, one row per cosmic ray in any exposure:
    ``file``, ``exp_type``, ``detector``, ``integration``, ``group`` (0-based index of the first
    group that contains the charge), ``read``, ``x_pix``, ``y_pix`` (array coordinates of the
    central pixel), ``charge_e`` (total charge; ``1 - 4 f`` of it in the central pixel and ``f``
    in each of its four neighbours, ``f = cosmic_ray_neighbour_fraction``).

Sky geometry
------------
Full-frame pixels map to focal-plane arcsec by the DISTORTION polynomial, then to the sky by the
orientation convention (``PA_APER``) and a TAN projection about ``RA_REF``/``DEC_REF``
(`iris_pipeline.simulate.geometry`). A dither offset ``(XOFFSET, YOFFSET)`` moves the reference
point to the sky position of that focal-plane point at the base pointing.
"""

from .detector import DetectorModel, DetectorWindow, low_order_pattern, make_detector_model
from .geometry import (
    DetectorGeometry,
    Pointing,
    dither_offsets_arcsec,
    dithered_pointing,
    focal_plane_to_standard,
    make_detector_geometry,
    sky_to_standard,
    standard_to_focal_plane,
    standard_to_sky,
)
from .observation import (
    DEFAULT_COSMIC_RAY_RATE_PER_PIX_S,
    ObservationConfig,
    SimulationManifest,
    run_simulation,
    simulate_observation,
)
from .parameters import DetectorParameters, OpticsParameters, SceneParameters, Stream, make_rng
from .photometry import (
    ab_mag_to_jy,
    default_sky_e_s,
    electrons_per_s_per_jy,
    jy_to_ab_mag,
    photmjsr,
    psf_fwhm_arcsec,
    zeropoint_ab,
)
from .ramp import RampResult, ReadPattern, make_read_pattern, simulate_ramp
from .scene import make_catalog, render_scene
from .writers import (
    DitherPosition,
    ExposureInfo,
    photom_table,
    raw_keywords,
    write_raw,
    write_reference_files,
    write_refstore,
)

__all__ = [
    "DEFAULT_COSMIC_RAY_RATE_PER_PIX_S",
    "DetectorGeometry",
    "DetectorModel",
    "DetectorParameters",
    "DetectorWindow",
    "DitherPosition",
    "ExposureInfo",
    "ObservationConfig",
    "OpticsParameters",
    "Pointing",
    "RampResult",
    "ReadPattern",
    "SceneParameters",
    "SimulationManifest",
    "Stream",
    "ab_mag_to_jy",
    "default_sky_e_s",
    "dither_offsets_arcsec",
    "dithered_pointing",
    "electrons_per_s_per_jy",
    "focal_plane_to_standard",
    "jy_to_ab_mag",
    "low_order_pattern",
    "make_catalog",
    "make_detector_geometry",
    "make_detector_model",
    "make_read_pattern",
    "make_rng",
    "photmjsr",
    "photom_table",
    "psf_fwhm_arcsec",
    "raw_keywords",
    "render_scene",
    "run_simulation",
    "simulate_observation",
    "simulate_ramp",
    "sky_to_standard",
    "standard_to_focal_plane",
    "standard_to_sky",
    "write_raw",
    "write_reference_files",
    "write_refstore",
    "zeropoint_ab",
]
