"""A complete simulated observation: raw exposures, reference files and truth, on disk.

`simulate_observation` writes, under ``output_dir``::

    raw/           raw ramps (*_uncal.fits), see the naming scheme below
    references/    one reference file per type and detector, and refstore.yaml
    truth/         catalog.ecsv, positions.ecsv, cosmic_rays.ecsv
    manifest.json  what was written (paths relative to output_dir) and the configuration

Raw file names are, in lower case,
``{instrument}_p{program}_o{observation}_{kind}e{exposure:03d}_{detector}_uncal.fits``,
with ``{kind}`` empty for science exposures and ``dark_``, ``flat_`` or ``sky_`` for
calibration exposures, e.g. ``iris_p001_o001_e001_img1_uncal.fits`` and
``iris_p001_o001_dark_e002_img1_uncal.fits``. Each kind is its own visit (VISIT ``001``
science, ``002`` sky, ``003`` dark, ``004`` flat) whose exposures are numbered from 1.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import timedelta
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

from .detector import DetectorWindow, low_order_pattern, make_detector_model
from .geometry import (
    DITHER_PATTERN_NAME,
    DetectorGeometry,
    Pointing,
    dither_offsets_arcsec,
    dithered_pointing,
    make_detector_geometry,
)
from .parameters import (
    DetectorParameters,
    OpticsParameters,
    SceneParameters,
    Stream,
    make_rng,
    resolve_filter,
    resolve_imager_detector,
    resolve_instrument,
    validate_seed,
)
from .photometry import default_sky_e_s, electrons_per_s_per_jy
from .ramp import ReadPattern, make_read_pattern, simulate_ramp
from .scene import make_catalog, render_scene
from .writers import (
    DitherPosition,
    ExposureInfo,
    exposure_duration_s,
    format_date_obs,
    parse_date_obs,
    raw_keywords,
    write_raw,
    write_reference_files,
    write_refstore,
)

__all__ = [
    "DEFAULT_COSMIC_RAY_RATE_PER_PIX_S",
    "ExposureKind",
    "ObservationConfig",
    "SimulationManifest",
    "run_simulation",
    "simulate_observation",
]

# Sea-level muon flux (~1 cm^-2 min^-1) on 10 um pixels, raised for the summit altitude.
DEFAULT_COSMIC_RAY_RATE_PER_PIX_S = 5e-8
DEFAULT_DATE_OBS = "2031-03-15T08:00:00.000"
DEFAULT_TARGET = ("SIMULATED FIELD", 150.1191, 2.2058)
EXPOSURE_OVERHEAD_S = 30.0
DITHER_STEP_WINDOW_FRACTION = 0.05
SKY_OFFSET_ARCSEC = 120.0
USEAFTER_LEAD_DAYS = 1
MANIFEST_NAME = "manifest.json"
RAW_DIR, REFERENCE_DIR, TRUTH_DIR = "raw", "references", "truth"


@dataclass(frozen=True)
class ExposureKind:
    """A kind of exposure: EXP_TYPE suffix, file-name tag and visit number."""

    name: str
    exp_type_suffix: str
    tag: str
    visit: str


SCIENCE = ExposureKind("science", "", "", "001")
SKY = ExposureKind("sky", "_SKY", "sky_", "002")
DARK = ExposureKind("dark", "_DARK", "dark_", "003")
FLAT = ExposureKind("flat", "_FLAT", "flat_", "004")
KINDS = (SCIENCE, SKY, DARK, FLAT)


@dataclass(frozen=True)
class ObservationConfig:
    """Everything `simulate_observation` needs; validated on creation.

    Attributes
    ----------
    instrument : str
        ``'IRIS'`` or ``'LIGER'``.
    detectors : tuple of str, optional
        Imager detectors to simulate (default: all of the instrument's imager detectors).
    size : int, optional
        Side of a corner window ``SUB{size}`` (default: full frame).
    inner_windows : bool
        Put each detector's window in its corner nearest the instrument reference point, so that
        the windows of the mosaic face each other across the gaps (default: first corner).
    read_mode : str
        ``'CDS'``, ``'MCDS'`` or ``'UTR'``.
    ngroups, nframes, groupgap : int, optional
        Group structure (defaults: see `iris_pipeline.simulate.ramp.make_read_pattern`).
    nints : int
        Integrations per exposure.
    ndithers : int
        Science exposures, one per dither position.
    dither_step_arcsec : float, optional
        Grid step of the dither pattern (default 5 % of the window width).
    n_stars, n_galaxies : int
        Sources in the field (spread over the simulated windows).
    filter_name : str
        Imager filter.
    ndarks, nflats, nskies : int
        Dark, lamp-flat and sky exposures.
    sky_e_s : float, optional
        Sky background, e-/s per pixel at nominal QE (default: filter-dependent, see
        `iris_pipeline.simulate.photometry.default_sky_e_s`).
    cosmic_ray_rate_per_pix_s : float
        Cosmic-ray hits per pixel per second.
    noise : bool
        False for noiseless ramps (see `simulate_ramp`).
    target_name : str
        TARGNAME.
    target_ra_deg, target_dec_deg : float
        Target (and base pointing of the reference point), ICRS degrees.
    pa_aper_deg : float
        PA_APER, degrees East of North.
    seed : int
        Seed of every random draw.
    date_obs : str
        UTC start of the first exposure (ISO 8601); later exposures follow.
    program, observation : str
        PROGRAM and OBSERVTN.
    flat_fill_fraction : float
        Lamp flats reach this fraction of ``nonlinearity_onset_e`` at their last read.
    lamp_gradient : float
        Largest fractional deviation of the lamp illumination pattern (flats only).
    detector_params, optics, scene : dataclasses
        Model parameters.
    """

    instrument: str = "IRIS"
    detectors: tuple[str, ...] | None = None
    size: int | None = None
    read_mode: str = "UTR"
    ngroups: int | None = None
    nframes: int | None = None
    groupgap: int | None = None
    nints: int = 1
    ndithers: int = 4
    dither_step_arcsec: float | None = None
    inner_windows: bool = False
    n_stars: int = 50
    n_galaxies: int = 10
    filter_name: str = "Kbb"
    ndarks: int = 2
    nflats: int = 2
    nskies: int = 0
    sky_e_s: float | None = None
    cosmic_ray_rate_per_pix_s: float = DEFAULT_COSMIC_RAY_RATE_PER_PIX_S
    noise: bool = True
    target_name: str = DEFAULT_TARGET[0]
    target_ra_deg: float = DEFAULT_TARGET[1]
    target_dec_deg: float = DEFAULT_TARGET[2]
    pa_aper_deg: float = 0.0
    seed: int = 0
    date_obs: str = DEFAULT_DATE_OBS
    program: str = "001"
    observation: str = "001"
    flat_fill_fraction: float = 0.5
    lamp_gradient: float = 0.01
    detector_params: DetectorParameters = field(default_factory=DetectorParameters)
    optics: OpticsParameters = field(default_factory=OpticsParameters)
    scene: SceneParameters = field(default_factory=SceneParameters)

    def __post_init__(self):
        inst = resolve_instrument(self.instrument)
        object.__setattr__(self, "instrument", inst.name)
        names = self.detectors or inst.imager_detectors
        if isinstance(names, str):
            names = (names,)
        object.__setattr__(self, "detectors", tuple(resolve_imager_detector(inst, name) for name in names))
        resolve_filter(inst, self.filter_name)
        for name in self.detectors:
            DetectorWindow.corner(inst.detectors[name], self.size, self.inner_windows)
        self.read_pattern()
        counts = {
            "nints": 1,
            "ndithers": 1,
            "n_stars": 0,
            "n_galaxies": 0,
            "ndarks": 0,
            "nflats": 0,
            "nskies": 0,
        }
        for name, minimum in counts.items():
            value = getattr(self, name)
            if int(value) != value or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        if self.cosmic_ray_rate_per_pix_s < 0:
            raise ValueError(f"cosmic_ray_rate_per_pix_s must be >= 0, got {self.cosmic_ray_rate_per_pix_s}")
        parse_date_obs(self.date_obs)
        validate_seed(self.seed)

    @property
    def instrument_description(self):
        """The `iris_pipeline.instruments.InstrumentDescription` of the instrument."""
        return resolve_instrument(self.instrument)

    def window(self, detector: str) -> DetectorWindow:
        """Read-out window of ``detector``."""
        return DetectorWindow.corner(self.instrument_description.detectors[detector], self.size, self.inner_windows)

    def read_pattern(self) -> ReadPattern:
        """Read pattern of every exposure (the frame time follows the window height)."""
        window = self.window(self.detectors[0])
        return make_read_pattern(
            self.instrument_description,
            self.read_mode,
            window.ny,
            self.ngroups,
            self.nframes,
            self.groupgap,
        )


@dataclass
class SimulationManifest:
    """What `simulate_observation` wrote (absolute paths), also saved as ``manifest.json``.

    Attributes
    ----------
    output_dir : pathlib.Path
        Top folder.
    instrument, filter_name : str
        Instrument and filter.
    detectors : list of str
        Simulated detectors.
    science, skies, darks, flats : list of pathlib.Path
        Raw files, by kind.
    reference_dir, refstore : pathlib.Path
        Reference folder and its rules file.
    catalog, positions, cosmic_rays : pathlib.Path
        Truth tables (ECSV).
    truth : dict
        Scalar truth: ``sky_e_s`` (per detector), ``flat_lamp_e_s``, ``electrons_per_s_per_jy``.
    config : dict
        The `ObservationConfig`, as a dictionary.
    """

    output_dir: Path
    instrument: str
    filter_name: str
    detectors: list[str]
    science: list[Path]
    skies: list[Path]
    darks: list[Path]
    flats: list[Path]
    reference_dir: Path
    refstore: Path
    catalog: Path
    positions: Path
    cosmic_rays: Path
    truth: dict
    config: dict

    _PATH_LISTS = ("science", "skies", "darks", "flats")
    _PATHS = ("reference_dir", "refstore", "catalog", "positions", "cosmic_rays")

    def to_dict(self) -> dict:
        """JSON-ready dictionary with paths relative to ``output_dir``."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.pop("output_dir")
        for name in self._PATH_LISTS:
            data[name] = [p.relative_to(self.output_dir).as_posix() for p in data[name]]
        for name in self._PATHS:
            data[name] = data[name].relative_to(self.output_dir).as_posix()
        return data

    def write(self) -> Path:
        """Write ``manifest.json`` in ``output_dir``; return its path."""
        path = self.output_dir / MANIFEST_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def read(cls, path) -> SimulationManifest:
        """Read a ``manifest.json`` (paths made absolute from its folder)."""
        path = Path(path)
        root = path.parent.resolve()
        data = json.loads(path.read_text())
        for name in cls._PATH_LISTS:
            data[name] = [root / p for p in data[name]]
        for name in cls._PATHS:
            data[name] = root / data[name]
        return cls(output_dir=root, **data)


@dataclass(frozen=True)
class _Exposure:
    """One planned exposure, common to all detectors."""

    kind: ExposureKind
    number: int
    date_obs: str
    pointing: Pointing
    dither: DitherPosition | None

    def filename(self, config: ObservationConfig, detector: str) -> str:
        """Raw file name of this exposure for ``detector`` (see the module docstring)."""
        return (
            f"{config.instrument}_p{config.program}_o{config.observation}_{self.kind.tag}"
            f"e{self.number:03d}_{detector}_uncal.fits"
        ).lower()


def _plan_exposures(config: ObservationConfig, pattern: ReadPattern) -> list[_Exposure]:
    """Science, sky, dark and flat exposures in time order, with pointings and dithers."""
    inst = config.instrument_description
    window = config.window(config.detectors[0])
    scale = inst.detectors[config.detectors[0]].pixel_scale_arcsec
    step = config.dither_step_arcsec
    if step is None:
        step = DITHER_STEP_WINDOW_FRACTION * window.nx * scale
    offsets = dither_offsets_arcsec(config.ndithers, step, scale)
    base = Pointing(config.target_ra_deg, config.target_dec_deg, config.pa_aper_deg)
    sky_base = dithered_pointing(base, SKY_OFFSET_ARCSEC, SKY_OFFSET_ARCSEC)
    start = parse_date_obs(config.date_obs)
    step_time = timedelta(seconds=exposure_duration_s(pattern, config.nints) + EXPOSURE_OVERHEAD_S)
    plan = []
    counts = {
        SCIENCE: config.ndithers,
        SKY: config.nskies,
        DARK: config.ndarks,
        FLAT: config.nflats,
    }
    for kind in KINDS:
        for index in range(counts[kind]):
            dither, pointing = None, base
            if kind in (SCIENCE, SKY):
                x_off, y_off = offsets[index % config.ndithers]
                dither = DitherPosition(DITHER_PATTERN_NAME, index % config.ndithers + 1, config.ndithers, x_off, y_off)
                pointing = dithered_pointing(sky_base if kind is SKY else base, x_off, y_off)
            plan.append(
                _Exposure(
                    kind,
                    index + 1,
                    format_date_obs(start + len(plan) * step_time),
                    pointing,
                    dither,
                )
            )
    return plan


def _useafter(date_obs: str) -> str:
    """Midnight starting the day ``USEAFTER_LEAD_DAYS`` before ``date_obs``."""
    day = (parse_date_obs(date_obs) - timedelta(days=USEAFTER_LEAD_DAYS)).date()
    return f"{day.isoformat()}T00:00:00"


@dataclass
class _Run:
    """State shared by the detectors of one simulation, and what they produce."""

    config: ObservationConfig
    output_dir: Path
    pattern: ReadPattern
    catalog: Table
    plan: list[_Exposure]
    lamp_e_s: float
    useafter: str
    written: dict = field(default_factory=lambda: {kind: [] for kind in KINDS})
    positions: list = field(default_factory=list)
    cosmic_rays: list = field(default_factory=list)
    sky_e_s: dict = field(default_factory=dict)

    def folder(self, name: str) -> Path:
        """Sub-folder ``name`` of the output folder, created if needed."""
        path = self.output_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def _illumination(
    run: _Run,
    exposure: _Exposure,
    geometry: DetectorGeometry,
    window: DetectorWindow,
    sky_e_s: float,
    lamp: np.ndarray,
) -> tuple[np.ndarray, Table | None]:
    """Incident e-/s per pixel of one exposure, and the source positions (science only)."""
    if exposure.kind is SCIENCE:
        inst = run.config.instrument_description
        image, positions = render_scene(
            run.catalog,
            geometry,
            window,
            exposure.pointing,
            inst,
            run.config.filter_name,
            run.config.optics,
        )
        return image + np.float32(sky_e_s), positions
    if exposure.kind is SKY:
        return np.full(window.shape, sky_e_s, dtype=np.float32), None
    if exposure.kind is FLAT:
        return lamp, None
    return np.zeros(window.shape, dtype=np.float32), None


def _simulate_detector(run: _Run, name: str, geometry: DetectorGeometry) -> None:
    """References and every exposure of one detector."""
    config = run.config
    inst = config.instrument_description
    det_index = list(inst.detectors).index(name)
    window = config.window(name)
    model = make_detector_model(inst.name, name, config.size, config.seed, config.detector_params, config.inner_windows)
    write_reference_files(
        run.folder(REFERENCE_DIR),
        inst,
        model,
        geometry,
        config.filter_name,
        config.optics.throughput,
        run.useafter,
    )
    sky_e_s = config.sky_e_s
    if sky_e_s is None:
        sky_e_s = default_sky_e_s(inst, config.filter_name, config.optics.throughput, geometry.pixel_scale_arcsec)
    run.sky_e_s[name] = float(sky_e_s)
    lamp = run.lamp_e_s * low_order_pattern(window, config.lamp_gradient, make_rng(config.seed, Stream.LAMP, det_index))
    for exposure in run.plan:
        illumination, positions = _illumination(run, exposure, geometry, window, sky_e_s, lamp)
        rng = make_rng(config.seed, Stream.EXPOSURE, det_index, KINDS.index(exposure.kind), exposure.number)
        result = simulate_ramp(
            model,
            illumination,
            run.pattern,
            rng,
            config.nints,
            config.cosmic_ray_rate_per_pix_s,
            config.noise,
        )
        info = ExposureInfo(
            f"{inst.name}_IMAGE{exposure.kind.exp_type_suffix}",
            exposure.date_obs,
            config.program,
            config.observation,
            exposure.kind.visit,
            exposure.number,
            config.target_name,
            config.target_ra_deg,
            config.target_dec_deg,
            exposure.pointing,
            exposure.dither,
        )
        keywords = raw_keywords(inst, name, config.filter_name, window, run.pattern, config.nints, info)
        path = write_raw(run.folder(RAW_DIR) / exposure.filename(config, name), result.data, keywords)
        run.written[exposure.kind].append(path)
        identity = {"file": path.name, "exp_type": info.exp_type, "detector": name}
        if positions is not None and len(positions):
            dither = {"exposure": exposure.number, "patt_num": exposure.dither.position}
            run.positions.append(_tag(positions, identity | dither))
        if len(result.cosmic_rays):
            run.cosmic_rays.append(_tag(result.cosmic_rays, identity))


def run_simulation(config: ObservationConfig, output_dir) -> SimulationManifest:
    """Simulate and write the observation described by ``config`` (see `simulate_observation`)."""
    inst = config.instrument_description
    pattern = config.read_pattern()
    geometries = {
        name: make_detector_geometry(
            inst,
            name,
            make_rng(config.seed, Stream.GEOMETRY, list(inst.detectors).index(name)),
            config.optics,
        )
        for name in config.detectors
    }
    base = Pointing(config.target_ra_deg, config.target_dec_deg, config.pa_aper_deg)
    catalog = make_catalog(
        inst,
        config.filter_name,
        list(geometries.values()),
        [config.window(name) for name in config.detectors],
        base,
        config.n_stars,
        config.n_galaxies,
        make_rng(config.seed, Stream.SCENE),
        config.scene,
        config.optics,
    )
    run = _Run(
        config=config,
        output_dir=Path(output_dir).resolve(),
        pattern=pattern,
        catalog=catalog,
        plan=_plan_exposures(config, pattern),
        lamp_e_s=config.flat_fill_fraction
        * inst.detector_defaults["nonlinearity_onset_e"]
        / (pattern.nreads * pattern.frame_time_s),
        useafter=_useafter(config.date_obs),
    )
    for name, geometry in geometries.items():
        _simulate_detector(run, name, geometry)

    reference_dir = run.folder(REFERENCE_DIR)
    manifest = SimulationManifest(
        output_dir=run.output_dir,
        instrument=inst.name,
        filter_name=config.filter_name,
        detectors=list(config.detectors),
        science=run.written[SCIENCE],
        skies=run.written[SKY],
        darks=run.written[DARK],
        flats=run.written[FLAT],
        reference_dir=reference_dir,
        refstore=write_refstore(reference_dir),
        **_write_truth(run.folder(TRUTH_DIR), catalog, run.positions, run.cosmic_rays),
        truth={
            "sky_e_s": run.sky_e_s,
            "flat_lamp_e_s": run.lamp_e_s,
            "electrons_per_s_per_jy": electrons_per_s_per_jy(inst, config.filter_name, config.optics.throughput),
        },
        config=asdict(config),
    )
    manifest.write()
    return manifest


def _tag(table: Table, identity: dict) -> Table:
    """Copy of ``table`` with leading constant columns from ``identity``."""
    tagged = table.copy()
    for position, (name, value) in enumerate(identity.items()):
        tagged.add_column([value] * len(table), name=name, index=position)
    return tagged


POSITION_COLUMNS = ("file", "exp_type", "detector", "exposure", "patt_num", "id", "x_pix", "y_pix")
COSMIC_RAY_TRUTH_COLUMNS = (
    "file",
    "exp_type",
    "detector",
    "integration",
    "group",
    "read",
    "x_pix",
    "y_pix",
    "charge_e",
)


def _write_truth(truth_dir: Path, catalog: Table, positions: list[Table], cosmic_rays: list[Table]) -> dict[str, Path]:
    paths = {
        "catalog": truth_dir / "catalog.ecsv",
        "positions": truth_dir / "positions.ecsv",
        "cosmic_rays": truth_dir / "cosmic_rays.ecsv",
    }
    catalog.write(paths["catalog"], format="ascii.ecsv", overwrite=True)
    for key, tables, columns, dtypes in (
        ("positions", positions, POSITION_COLUMNS, (str, str, str, int, int, int, float, float)),
        (
            "cosmic_rays",
            cosmic_rays,
            COSMIC_RAY_TRUTH_COLUMNS,
            (str, str, str, int, int, int, int, int, float),
        ),
    ):
        table = vstack(tables) if tables else Table(names=columns, dtype=dtypes)
        table.write(paths[key], format="ascii.ecsv", overwrite=True)
    return paths


def simulate_observation(
    output_dir,
    instrument: str = "IRIS",
    detectors=None,
    size: int | None = None,
    read_mode: str = "UTR",
    ngroups: int | None = None,
    nframes: int | None = None,
    nints: int = 1,
    ndithers: int = 4,
    n_stars: int = 50,
    n_galaxies: int = 10,
    filter_name: str = "Kbb",
    ndarks: int = 2,
    nflats: int = 2,
    cosmic_ray_rate_per_pix_s: float = DEFAULT_COSMIC_RAY_RATE_PER_PIX_S,
    seed: int = 0,
    date_obs: str = DEFAULT_DATE_OBS,
    **options,
) -> SimulationManifest:
    """Simulate a dithered imaging observation with its calibrations, references and truth.

    Parameters
    ----------
    output_dir : str or os.PathLike
        Folder to write to (created if needed; existing files of the same names are replaced).
    instrument : str
        ``'IRIS'`` (four 4096^2 detectors IMG1..IMG4) or ``'LIGER'`` (one 2048^2 IMG).
    detectors : str or sequence of str, optional
        Imager detectors to simulate; default all.
    size : int, optional
        Simulate a ``size x size`` corner window (SUBARRAY ``SUB{size}``) instead of the full
        frame; references are written for the same window.
    read_mode : str
        ``'CDS'``, ``'MCDS'`` or ``'UTR'``.
    ngroups, nframes : int, optional
        Groups per integration and reads per group (defaults by read mode: UTR 10 x 1,
        CDS 2 x 1, MCDS 2 x 4). ``groupgap`` may be passed in ``options``.
    nints : int
        Integrations per exposure.
    ndithers : int
        Science exposures (dither positions).
    n_stars, n_galaxies : int
        Sources spread over the simulated detector windows.
    filter_name : str
        Imager filter of the instrument.
    ndarks, nflats : int
        Dark and lamp-flat exposures (``nskies`` in ``options`` for sky exposures).
    cosmic_ray_rate_per_pix_s : float
        Cosmic-ray hits per pixel per second.
    seed : int
        Seed; the same seed and parameters give byte-identical data.
    date_obs : str
        UTC start of the first exposure, ISO 8601.
    **options
        Any other `ObservationConfig` field (``groupgap``, ``nskies``, ``sky_e_s``,
        ``noise``, ``pa_aper_deg``, ``target_ra_deg``, ``detector_params``...).

    Returns
    -------
    SimulationManifest
        Also written as ``output_dir/manifest.json``.

    Raises
    ------
    ValueError
        For an unknown instrument, detector, filter or read mode, a group structure the read
        mode does not allow, or a window larger than the detector.
    """
    if isinstance(detectors, str):
        detectors = (detectors,)
    config = ObservationConfig(
        instrument=instrument,
        detectors=tuple(detectors) if detectors else None,
        size=size,
        read_mode=read_mode,
        ngroups=ngroups,
        nframes=nframes,
        nints=nints,
        ndithers=ndithers,
        n_stars=n_stars,
        n_galaxies=n_galaxies,
        filter_name=filter_name,
        ndarks=ndarks,
        nflats=nflats,
        cosmic_ray_rate_per_pix_s=cosmic_ray_rate_per_pix_s,
        seed=seed,
        date_obs=date_obs,
        **options,
    )
    return run_simulation(config, output_dir)
