"""The ``iris-pipeline`` command: simulate, process, watch, asn, refs, info, exptypes, demo, view.

Every failure is reported as one line (``iris-pipeline: error: FILE: problem``) with a non-zero
exit status; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .exceptions import IrisPipelineError, first_line

__all__ = ["main"]

log = logging.getLogger("iris_pipeline.cli")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


# ---------------------------------------------------------------------------------------------
# process and asn


def _quiet_dask() -> None:
    """Keep dask's own INFO messages (cluster start and stop) out of the output unless ``-v``."""
    import distributed  # noqa: F401 -- importing it installs its loggers, whose levels are set here

    verbose = logging.getLogger("iris_pipeline").getEffectiveLevel() <= logging.INFO
    logging.getLogger("distributed").setLevel(logging.INFO if verbose else logging.WARNING)


def _run_process(items, output_dir: Path, refstore, last_stage: int, *, options=None, **run_options):
    """Plan and run `items` with the execution engine; prints the summary and returns the report."""
    from .execution import build_plan, format_summary, run_plan

    _quiet_dask()

    plan = build_plan(items, output_dir, refstore=refstore, last_stage=last_stage, options=options)
    report = run_plan(plan, **run_options)
    print("\n" + format_summary(report))
    return report


def _write_quicklook(report, products: Path) -> tuple[Path, list[Path]]:
    """Previews of each exposure (its detectors in their layout) and ``run_summary.html`` of the products.

    Stage-2 products are previewed when present, else stage-1 rates; mosaics have their own preview
    (written by image3). Returns the HTML page and the exposure previews written.
    """
    import re
    from collections import defaultdict

    from astropy.io import fits

    from .quicklook import summarize_product, write_image_preview, write_run_summary

    seconds = {}
    for result in report.results.values():
        for output in result.outputs:
            seconds[output] = result.seconds
    fits_products = sorted(Path(p) for p in seconds if p.endswith(".fits") and Path(p).parent == products.resolve())
    calibrated = {p.name.removesuffix("_cal.fits") for p in fits_products if p.name.endswith("_cal.fits")}
    exposures = defaultdict(list)
    for path in fits_products:
        stage1_only = path.name.endswith("_rate.fits") and path.name.removesuffix("_rate.fits") not in calibrated
        if path.name.endswith("_cal.fits") or stage1_only:
            # one preview per exposure: the detectors' files differ only by the detector name
            detector = str(fits.getval(path, "DETECTOR", 0)).lower()
            exposures[re.sub(f"_{re.escape(detector)}(?=_)", "", path.stem, count=1)].append(path)
    previews = {}
    for group, paths in exposures.items():
        png = write_image_preview(paths, products / f"{group}.png")
        previews.update({path: png for path in paths})
    records = []
    for path in fits_products:
        record = summarize_product(path)
        record["wall_s"] = seconds[str(path)]
        preview = previews.get(path) or path.with_suffix(".png")
        if preview.exists():
            record["preview"] = str(preview)
        records.append(record)
    html = write_run_summary(records, products / "run_summary.html", title=f"iris-pipeline run: {products}")
    return html, sorted(set(previews.values()))


def cmd_process(args) -> int:
    report = _run_process(
        args.files, Path(args.output_dir), args.refstore, args.stage,
        options={"quicklook": True} if args.quicklook else None, scheduler=args.scheduler, workers=args.workers,
        threads_per_worker=args.threads_per_worker, force=args.force, dry_run=args.dry_run, retries=args.retries,
        progress=not args.no_progress, dashboard_address=args.dashboard_address,
    )  # fmt: skip
    if args.quicklook and report.ran and not args.dry_run:
        html, previews = _write_quicklook(report, Path(args.output_dir))
        print(f"quick look: {html} ({len(previews)} exposure previews)")
    return EXIT_FAILED if report.failed else EXIT_OK


def cmd_watch(args) -> int:
    """Reduce raw files as they arrive until Ctrl-C or SIGTERM (see docs/running-a-night.md)."""
    import signal
    import threading

    from .execution.watch import Watch

    _quiet_dask()
    logging.getLogger("iris_pipeline.execution.watch").setLevel(logging.INFO)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    watch = Watch(
        args.raw_dir, args.output_dir, refstore=args.refstore, scheduler=args.scheduler, workers=args.workers,
        threads_per_worker=args.threads_per_worker, last_stage=args.stage,
        options=None if args.no_quicklook else {"quicklook": True}, poll_s=args.poll, settle_s=args.settle,
    )  # fmt: skip
    stats = watch.run(stop)
    failed = [r for r in stats.results.values() if r.status == "FAILED"]
    print(f"watch stopped: {len(stats.results) - len(failed)} tasks done, {len(failed)} failed, "
          f"{len(stats.problems)} unreadable files, {len(stats.cancelled)} cancelled")  # fmt: skip
    return EXIT_OK


def cmd_asn(args) -> int:
    from .associations import build_associations, write_associations

    associations = build_associations(args.files, args.stage)
    if not associations:
        raise IrisPipelineError(f"no stage-{args.stage} association can be built from these files")
    for path, association in zip(write_associations(associations, args.output_dir), associations, strict=True):
        members = association.products[0].members
        print(f"{path}  ({association.asn_type}, {len(members)} members)")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# simulate and demo


def cmd_simulate(args) -> int:
    if args.ifs:
        return _simulate_ifs_command(args)
    from .simulate import simulate_observation

    manifest = simulate_observation(
        args.output_dir,
        instrument=args.instrument,
        detectors=args.detectors,
        size=args.size,
        read_mode=args.read_mode,
        ngroups=args.ngroups,
        nframes=args.nframes,
        groupgap=args.groupgap,
        nints=args.nints,
        ndithers=4 if args.dithers is None else args.dithers,
        filter_name=args.filter,
        seed=args.seed,
    )
    print(f"simulated observation written to {Path(args.output_dir).resolve()}")
    print(f"  science raw files: {len(manifest.science)}")
    print(f"  reference store:   {manifest.reference_dir}  (use --refstore or IRIS_REFSTORE)")
    return EXIT_OK


def _simulate_ifs_command(args) -> int:
    """``simulate --ifs MODE``: science, sky, lamp (and lenslet scan) exposures with their references."""
    from .simulate.ifs import IFSConfiguration, simulate_ifs_observation

    config = IFSConfiguration.create(
        args.ifs.upper(), grating=args.grating, resolving_power=args.resolving_power, scale_mas=args.scale_mas,
        spaxels=tuple(args.spaxels) if args.spaxels else None,
        wave_range_um=tuple(args.wave_range) if args.wave_range else None, window_size=args.size,
        instrument=args.instrument,
    )  # fmt: skip
    simulation = simulate_ifs_observation(
        args.output_dir, config, seed=args.seed, level=args.level, calibrations=not args.no_calibrations,
        standard=args.standard, dithers=1 if args.dithers is None else args.dithers,
    )  # fmt: skip
    written = [simulation.science, simulation.sky, simulation.flat, simulation.arc, *simulation.scans]
    written += [*simulation.dithers[1:], *simulation.dither_skies[1:]]
    written += [simulation.standard] if simulation.standard else []
    print(f"simulated {config.mode} IFS observation written to {Path(args.output_dir).resolve()}")
    print(f"  {args.level} files:       {sum(1 for path in written if path)}")
    print(f"  science:         {simulation.science}")
    if len(simulation.dithers) > 1:
        print(f"  dithers:         {len(simulation.dithers)} (spec2 associations: spec2_asn.json, spec2_eNNN_asn.json)")
    if simulation.refstore:
        print(f"  reference store: {simulation.refstore}  (use --refstore or IRIS_REFSTORE)")
    return EXIT_OK


@dataclass(frozen=True)
class DemoObservation:
    """One simulated observation of the demo: `simulate(folder, args)` -> (raw files, reference store)."""

    name: str
    simulate: Callable[[Path, argparse.Namespace], tuple[list[Path], Path]]


# Enough stars that every dither of the demo's small windows has sources to align on.
DEMO_STARS = 150
# IFS dithers of the demo: spec3 aligns, matches, cleans and combines them.
DEMO_IFS_DITHERS = 4


def _simulate_imager(folder: Path, args) -> tuple[list[Path], Path]:
    from .instruments import get_instrument
    from .simulate import simulate_observation

    iris = get_instrument("IRIS")
    # Windows in the detectors' inner corners, dithered by a window plus the gap: every source
    # moves from one detector to its neighbour, and the mosaic stays a compact field.
    step_arcsec = (args.size + iris.imager_gap_pix) * iris.detectors["IMG1"].pixel_scale_arcsec
    manifest = simulate_observation(
        folder, instrument="IRIS", detectors=["IMG1", "IMG2", "IMG3", "IMG4"], size=args.size,
        ngroups=args.ngroups, ndithers=args.dithers, nskies=1, ndarks=2, nflats=2, seed=args.seed, n_stars=DEMO_STARS,
        inner_windows=True, dither_step_arcsec=step_arcsec,
    )  # fmt: skip
    files = [*manifest.science, *manifest.skies, *manifest.darks, *manifest.flats]
    return files, Path(manifest.reference_dir)


def _ifs_simulator(mode: str):
    """Demo simulation of one IFS mode: dithered raw science with their skies, flat, arc (and lenslet
    scans), K band."""

    def simulate(folder: Path, args) -> tuple[list[Path], Path]:
        from .simulate.ifs import IFSConfiguration, simulate_ifs_observation

        config = IFSConfiguration.create(mode, spaxels=(6, 6), wave_range_um=(2.05, 2.25), window_size=1024)
        simulation = simulate_ifs_observation(folder, config, seed=args.seed, level="raw", dithers=DEMO_IFS_DITHERS)
        raw = [*simulation.dithers, *simulation.dither_skies, simulation.flat, simulation.arc, *simulation.scans]
        return [Path(path) for path in raw], Path(simulation.refstore)

    return simulate


# The demo's observations, reduced in this order; append a DemoObservation to add one (each gets
# its own folder under simulated/ and products/, and its own reference store).
DEMO_OBSERVATIONS: list[DemoObservation] = [
    DemoObservation("imager", _simulate_imager),
    DemoObservation("lenslet", _ifs_simulator("LENSLET")),
    DemoObservation("slicer", _ifs_simulator("SLICER")),
]


def cmd_demo(args) -> int:
    from distributed import Client

    from .execution import local_cluster

    output = Path(args.output_dir)
    windows = f"{args.size} x {args.size} windows"
    print(f"[1/2] simulating {len(DEMO_OBSERVATIONS)} observation(s) ({windows}) in {output / 'simulated'} ...")
    simulated = []
    for observation in DEMO_OBSERVATIONS:
        files, refstore = observation.simulate(output / "simulated" / observation.name, args)
        simulated.append((observation, files, refstore))
    print(f"[2/2] reducing {sum(len(files) for _, files, _ in simulated)} exposures into {output / 'products'} ...")
    failed = False
    _quiet_dask()
    with local_cluster(args.workers) as cluster, Client(cluster) as client:
        for observation, files, refstore in simulated:
            products = output / "products" / observation.name
            report = _run_process([str(p) for p in files], products, str(refstore), 3, options={"quicklook": True},
                                  client=client)  # fmt: skip
            failed |= report.failed
            html, _ = _write_quicklook(report, products)
            previews = sorted(products.glob("*.png"))
            print(f"\n{observation.name}: products in {products.resolve()}")
            print(f"  previews:    {len(previews)} PNG files" + (f", e.g. {previews[-1]}" if previews else ""))
            print(f"  run summary: {html.resolve()} (text: run_summary.txt, JSON: run_summary.json)")
    print(f"\nquick-look viewer: iris-pipeline view {output / 'products'}  (then open http://127.0.0.1:5006/)")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_view(args) -> int:
    from .viewer import serve

    serve(args.folder, port=args.port, address=args.address)
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# refs, info, exptypes


def cmd_refs(args) -> int:
    from .references import ReferenceStore

    store = ReferenceStore(args.refstore)
    if store.root.exists() and not store.root.is_dir():
        raise IrisPipelineError(f"{store.root}: is a file; a reference store is a folder")
    if args.action in ("list", "select") and not store.rules_path.exists():
        raise IrisPipelineError(f"{store.rules_path}: no rules file; run 'iris-pipeline refs index' on the folder")
    if args.action == "list":
        print(f"reference store {store.root} ({len(store.entries)} files)")
        for e in store.entries:
            print(
                f"  {e.reftype:<11} {e.instrument:<6} {e.detector:<5} filter={e.filter:<6} "
                f"readmode={e.read_mode:<4} subarray={e.subarray:<8} useafter={e.useafter}  {e.file}"
            )
        return EXIT_OK
    if args.action == "check":
        if not store.rules_path.exists():
            raise IrisPipelineError(f"{store.rules_path}: no rules file; run 'iris-pipeline refs index'")
        problems = store.check()
        for problem in problems:
            print(problem)
        print(f"{len(store.entries)} reference files, {len(problems)} problems")
        return EXIT_FAILED if problems else EXIT_OK
    if args.action == "index":
        entries = store.index()
        print(f"indexed {len(entries)} reference files into {store.rules_path}")
        return EXIT_OK
    if args.action == "add":
        for item in args.files:
            entry = store.add(item, replace=args.replace)
            print(f"added {entry.file} ({entry.reftype})")
        return EXIT_OK
    if args.action == "select":
        from . import datamodels
        from .references import ExposureSelectors

        for item in args.files:
            with datamodels.open(item) as model:
                exposure = ExposureSelectors.from_model(model)
            print(f"{item}:")
            for reftype in sorted({e.reftype for e in store.entries}):
                candidates = store.candidates(reftype, exposure)
                chosen = candidates[-1][1].file if candidates else "(none)"
                print(f"  {reftype:<11} {chosen}")
        return EXIT_OK
    raise AssertionError(args.action)


def cmd_info(args) -> int:
    from .info import describe

    for item in args.files:
        print("\n".join(describe(item)))
    return EXIT_OK


def cmd_exptypes(args) -> int:
    from .exptypes import exposure_types, markdown_table

    if args.markdown:
        print(markdown_table())
        return EXIT_OK
    for rule in exposure_types():
        tso = "N/A" if rule.tsovisit is None else str(rule.tsovisit)
        print(f"{rule.exp_type:<22} TSOVISIT={tso:<5} " + " -> ".join(rule.stages))
    return EXIT_OK


# ---------------------------------------------------------------------------------------------


def _count(minimum: int):
    """An argparse type: an integer of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is less than {minimum}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iris-pipeline",
        description="Data reduction for the IRIS (TMT) and Liger (Keck) imagers and IFS.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the pipeline log")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    refstore_help = "reference store folder (default: $IRIS_REFSTORE, then ~/.iris_pipeline/refstore)"

    p = sub.add_parser("process", help="reduce files, folders and associations on a dask cluster, resumably")
    p.add_argument(
        "files", nargs="+", help="raw (*_uncal.fits) or rate files, folders of raw files, association JSON files"
    )
    p.add_argument("-o", "--output-dir", default=".", help="where products go (default: here)")
    p.add_argument("--refstore", help=refstore_help)
    p.add_argument("--stage", type=int, choices=(1, 2, 3), default=3, help="last stage to run")
    p.add_argument("--scheduler", help="address of a running dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=_count(0), help="local worker processes (default: one per core; 0: no cluster)")
    p.add_argument("--threads-per-worker", type=_count(1), default=1, help="threads of each local worker (default 1)")
    p.add_argument("--dashboard-address", default="127.0.0.1:0",
                   help="where the local cluster's dashboard listens (default: this machine only, a free port; "
                        "':0' exposes it, unauthenticated, on every interface)")  # fmt: skip
    p.add_argument("--force", action="store_true", help="redo every product, even those up to date")
    p.add_argument("--dry-run", action="store_true", help="list what would run and why, run nothing")
    p.add_argument("--retries", type=_count(0), default=2, help="reruns of a task after an unexpected error (default 2)")
    p.add_argument("--quicklook", action="store_true", help="ask pipelines that can for PNG previews")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_process)

    p = sub.add_parser("watch", help="reduce each raw file as it arrives in a folder, until Ctrl-C or SIGTERM")
    p.add_argument("raw_dir", help="folder the instrument writes raw files (*_uncal.fits) to")
    p.add_argument("-o", "--output-dir", required=True, help="where products go")
    p.add_argument("--refstore", help=refstore_help)
    p.add_argument("--stage", type=int, choices=(1, 2, 3), default=3, help="last stage to run")
    p.add_argument("--scheduler", help="address of a running dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    p.add_argument("--threads-per-worker", type=int, default=1, help="threads of each local worker (default 1)")
    p.add_argument("--poll", type=float, default=0.25, help="seconds between looks at the folder (default 0.25)")
    p.add_argument("--settle", type=float, default=0.5,
                   help="seconds a file must stay unchanged before it is checked (default 0.5)")  # fmt: skip
    p.add_argument("--no-quicklook", action="store_true", help="no PNG previews beside the products")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("asn", help="build association files from exposures (see docs/associations.md)")
    p.add_argument(
        "files", nargs="+", help="files or folders (stage 2: *_rate.fits, 3: *_cal.fits, calib: *_uncal.fits)"
    )
    p.add_argument("--stage", required=True, choices=("2", "3", "calib"), help="which associations to build")
    p.add_argument("-o", "--output-dir", default=".", help="where the JSON files go (default: here)")
    p.set_defaults(func=cmd_asn)

    p = sub.add_parser("simulate", help="simulate raw exposures, calibrations and references")
    p.add_argument("output_dir", help="folder for the simulated files")
    p.add_argument("--instrument", default="IRIS", choices=("IRIS", "LIGER"))
    p.add_argument("--detectors", nargs="+", help="detectors to simulate (default: all imagers)")
    p.add_argument("--size", type=int, help="simulate a SIZE x SIZE corner window (default: full frame)")
    p.add_argument("--read-mode", default="UTR", choices=("CDS", "MCDS", "UTR"))
    p.add_argument("--ngroups", type=int, help="groups per integration (UTR; default 10; CDS and MCDS have 2)")
    p.add_argument("--nframes", type=int, help="reads averaged per group (MCDS: the Fowler number n)")
    p.add_argument("--groupgap", type=int, help="reads dropped between groups (MCDS: between the Fowler sets)")
    p.add_argument("--nints", type=int, default=1, help="integrations per exposure")
    p.add_argument("--dithers", type=int, default=None,
                   help="dither positions (default 4; with --ifs 1, half-spaxel steps)")  # fmt: skip
    p.add_argument("--filter", default="Kbb", help="imager filter")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    ifs = p.add_argument_group("IFS (with --ifs; --size is then the IFS detector window)")
    ifs.add_argument("--ifs", type=str.lower, choices=("lenslet", "slicer"), help="simulate the IFS in this mode")
    ifs.add_argument("--grating", default="K", help="IFS grating (band), default K")
    ifs.add_argument("--resolving-power", type=int, default=4000, help="IFS resolving power R (default 4000)")
    ifs.add_argument("--scale-mas", type=float, help="spaxel scale in mas (default: the mode's finest)")
    ifs.add_argument("--spaxels", type=int, nargs=2, metavar=("NX", "NY"), help="field in spaxels (default: full)")
    ifs.add_argument("--wave-range", type=float, nargs=2, metavar=("MIN_UM", "MAX_UM"),
                     help="wavelength sub-range in um (default: the whole band)")  # fmt: skip
    ifs.add_argument("--level", choices=("raw", "rate"), default="raw",
                     help="raw ramps with stage-1 references (default) or count-rate files")  # fmt: skip
    ifs.add_argument("--no-calibrations", action="store_true", help="science and sky only (no lamps, no scans)")
    ifs.add_argument("--standard", action="store_true", help="also a telluric standard star")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("refs", help="list, check, index or add to the reference store")
    p.add_argument("action", choices=("list", "check", "index", "add", "select"),
                   help="list: show; check: verify files and checksums; index: rebuild the rules "
                        "from headers; add FILES: copy in; select FILES: show the choice for exposures")  # fmt: skip
    p.add_argument("files", nargs="*", help="files for add/select")
    p.add_argument("--refstore", help=refstore_help)
    p.add_argument("--replace", action="store_true",
                   help="add: replace a stored file of the same name whose content differs (default: refuse)")  # fmt: skip
    p.set_defaults(func=cmd_refs)

    p = sub.add_parser(
        "info",
        help="summarise products: exposures, mosaics, cubes, references (.fits), catalogues (.ecsv), "
        "associations, provenance records and run summaries (.json)",
    )
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("exptypes", help="the EXP_TYPE -> pipeline table")
    p.add_argument("--markdown", action="store_true", help="print as a Markdown table")
    p.set_defaults(func=cmd_exptypes)

    p = sub.add_parser("demo", help="simulate a small observation and reduce it end to end")
    p.add_argument("-o", "--output-dir", default="demo_output")
    p.add_argument("--size", type=int, default=128, help="detector window size in pixels")
    p.add_argument("--ngroups", type=int, default=6)
    p.add_argument("--dithers", type=int, default=4, help="dither positions")
    p.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("view", help="quick-look web viewer of a folder of products (see docs/quicklook.md)")
    p.add_argument("folder", help="folder of products (searched recursively; new products appear as written)")
    p.add_argument("--port", type=int, default=5006, help="TCP port (default 5006)")
    p.add_argument("--address", default="127.0.0.1", help="interface to listen on (default: this machine only)")
    p.set_defaults(func=cmd_view)
    return parser


def _configure_logging(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for name in ("stpipe", "iris_pipeline", "stcal", "py.warnings", "distributed"):
        logging.getLogger(name).setLevel(level)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``iris-pipeline`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return args.func(args)
    except BrokenPipeError:
        # The reader (``| head``) stopped reading: that is its choice, not a failure.
        # Point stdout at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (IrisPipelineError, OSError, ValueError, KeyError) as err:
        if args.debug:
            raise
        print(f"iris-pipeline: error: {first_line(err)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("iris-pipeline: interrupted (products already written are complete; rerun to resume)", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
