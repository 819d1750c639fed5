"""The ``iris-pipeline`` command: simulate, process, refs, info, exptypes, demo.

Every failure is reported as one line (``iris-pipeline: error: FILE: problem``) with a non-zero
exit status; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .exceptions import IrisPipelineError

__all__ = ["main"]

log = logging.getLogger("iris_pipeline.cli")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


# ---------------------------------------------------------------------------------------------
# process


@dataclass
class ExposureOutcome:
    """What happened to one input file."""

    path: Path
    exp_type: str = "?"
    stages: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return "FAILED" if self.error else "OK"


def _pipeline_classes() -> dict[str, str]:
    from .stpipe.integration import STEP_CLASSES

    return {alias: path for path, alias, is_pipeline in STEP_CLASSES if is_pipeline}


def _import_class(class_path: str):
    import importlib

    module_name, _, class_name = class_path.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)


def _expand_inputs(items: list[str]) -> list[Path]:
    paths = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(path.glob("*_uncal.fits"))
            if not found:
                raise IrisPipelineError(f"{path}: folder holds no *_uncal.fits files")
            paths.extend(found)
        else:
            paths.append(path)
    return paths


def _product_path(output_dir: Path, source: Path, suffix: str) -> Path:
    from .stpipe.base import remove_known_suffix

    stem, _ = remove_known_suffix(source.stem)
    return output_dir / f"{stem}_{suffix}.fits"


STAGE_INPUT_MODELS = {1: ("RawRampModel",), 2: ("RateModel", "RateIntsModel")}
STAGE_OUTPUT_SUFFIX = {1: "rate"}


def process_file(path: Path, output_dir: Path, refstore: str | None, last_stage: int) -> ExposureOutcome:
    """Run every available pipeline stage on one file, as its EXP_TYPE dictates."""
    from . import datamodels
    from .exptypes import NO_PIPELINE, pipelines_for

    outcome = ExposureOutcome(path=path)
    start = time.perf_counter()
    try:
        with datamodels.open(path) as model:
            outcome.exp_type = model.meta.exposure.type or "?"
            rule = pipelines_for(model.meta.exposure.type, model.meta.observation.tso_visit)
            model_type = model.meta.model_type
        first_stage = next((stage for stage, kinds in STAGE_INPUT_MODELS.items() if model_type in kinds), None)
        if first_stage is None:
            raise IrisPipelineError(f"{path}: {model_type} is not an input of stage 1 or 2")
        available = _pipeline_classes()
        current = path
        for stage in range(first_stage, min(last_stage, 2) + 1):
            alias = rule.stages[stage - 1]
            if alias == NO_PIPELINE:
                continue
            if alias not in available:
                outcome.notes.append(f"stage {stage} ({alias}) not implemented yet")
                break
            pipeline = _import_class(available[alias])
            skipped = rule.stage1_skip if stage == 1 else ()
            pipeline.call(
                str(current), output_dir=str(output_dir), save_results=True, refstore=refstore,
                steps={name: {"skip": True} for name in skipped}, configure_log=False,
            )  # fmt: skip
            outcome.stages.append(alias)
            current = _product_path(output_dir, path, STAGE_OUTPUT_SUFFIX.get(stage, "cal"))
            outcome.outputs.append(str(current))
    except (IrisPipelineError, OSError, ValueError) as err:
        outcome.error = str(err).splitlines()[0] if str(err) else type(err).__name__
    outcome.seconds = time.perf_counter() - start
    return outcome


def _print_summary(outcomes: list[ExposureOutcome]) -> None:
    print(f"\n{'status':<7} {'seconds':>8}  {'EXP_TYPE':<16} {'pipelines':<20} file / output / note")
    for item in outcomes:
        print(
            f"{item.status:<7} {item.seconds:8.1f}  {item.exp_type:<16} {'+'.join(item.stages) or '-':<20} {item.path}"
        )
        for output in item.outputs:
            print(f"{'':56}-> {output}")
        for note in item.notes:
            print(f"{'':56}note: {note}")
        if item.error:
            print(f"{'':56}error: {item.error}")
    failed = sum(1 for item in outcomes if item.error)
    print(f"\n{len(outcomes) - failed} succeeded, {failed} failed")


def _run_process(files, output_dir, refstore, last_stage, show_progress=True) -> list[ExposureOutcome]:
    from tqdm import tqdm

    output_dir.mkdir(parents=True, exist_ok=True)
    paths = _expand_inputs(files)
    outcomes = []
    for path in tqdm(paths, desc="exposures", unit="file", disable=not show_progress):
        outcomes.append(process_file(path, output_dir, refstore, last_stage))
    return outcomes


def cmd_process(args) -> int:
    outcomes = _run_process(args.files, Path(args.output_dir), args.refstore, args.stage)
    _print_summary(outcomes)
    return EXIT_FAILED if any(item.error for item in outcomes) else EXIT_OK


# ---------------------------------------------------------------------------------------------
# simulate and demo


def cmd_simulate(args) -> int:
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
        ndithers=args.dithers,
        filter_name=args.filter,
        seed=args.seed,
    )
    print(f"simulated observation written to {Path(args.output_dir).resolve()}")
    print(f"  science raw files: {len(manifest.science)}")
    print(f"  reference store:   {manifest.reference_dir}  (use --refstore or IRIS_REFSTORE)")
    return EXIT_OK


def cmd_demo(args) -> int:
    from .simulate import simulate_observation

    output = Path(args.output_dir)
    sim_dir = output / "simulated"
    products = output / "products"
    print(f"[1/2] simulating a {args.size} x {args.size} IRIS observation in {sim_dir} ...")
    manifest = simulate_observation(
        sim_dir, instrument="IRIS", size=args.size, ngroups=args.ngroups, ndithers=2, seed=args.seed
    )
    inputs = [str(p) for p in list(manifest.science) + list(manifest.darks) + list(manifest.flats)]
    print(f"[2/2] reducing {len(inputs)} exposures into {products} ...")
    outcomes = _run_process(inputs, products, str(manifest.reference_dir), last_stage=3)
    _print_summary(outcomes)
    print(f"\nDemo products are in {products.resolve()}")
    return EXIT_FAILED if any(item.error for item in outcomes) else EXIT_OK


# ---------------------------------------------------------------------------------------------
# refs, info, exptypes


def cmd_refs(args) -> int:
    from .references import ReferenceStore

    store = ReferenceStore(args.refstore)
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
            entry = store.add(item)
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
    import numpy as np

    from . import datamodels, dqflags

    for item in args.files:
        with datamodels.open(item) as model:
            meta = model.meta
            print(f"{item}: {meta.model_type}")
            print(f"  instrument  {meta.instrument.name} {meta.instrument.detector}  filter {meta.instrument.filter}")
            print(f"  exposure    {meta.exposure.type}  readmode {meta.exposure.readmode}  "
                  f"nints {meta.exposure.nints} ngroups {meta.exposure.ngroups} nframes {meta.exposure.nframes} "
                  f"tframe {meta.exposure.frame_time} s")  # fmt: skip
            print(f"  subarray    {meta.subarray.name} at ({meta.subarray.xstart}, {meta.subarray.ystart}) "
                  f"size {meta.subarray.xsize} x {meta.subarray.ysize}")  # fmt: skip
            print(f"  observed    {meta.observation.date_obs}  program {meta.observation.program}")
            for name in ("data", "dq", "err", "pixeldq", "groupdq"):
                if model.hasattr(name) and getattr(model, name) is not None:
                    array = getattr(model, name)
                    print(f"  {name:<11} {array.dtype} {array.shape}")
            if model.hasattr("data") and np.issubdtype(model.data.dtype, np.floating):
                print(f"  data median {np.nanmedian(model.data):.4g}  {meta.bunit_data or ''}")
            if model.hasattr("dq"):
                counts = dqflags.describe(model.dq)
                print("  dq flags    " + (", ".join(f"{k}={v}" for k, v in counts.items()) or "none"))
            steps = meta.cal_step._instance or {}
            if steps:
                print("  steps       " + ", ".join(f"{k}={v}" for k, v in steps.items()))
            refs = meta.ref_file._instance or {}
            for reftype, record in refs.items():
                print(f"  ref {reftype:<8} {record.get('name')}  sha256 {str(record.get('sha256'))[:16]}...")
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

    p = sub.add_parser("process", help="reduce files with the pipelines their EXP_TYPE selects")
    p.add_argument("files", nargs="+", help="raw (*_uncal.fits) or rate files, or folders of raw files")
    p.add_argument("-o", "--output-dir", default=".", help="where products go (default: here)")
    p.add_argument("--refstore", help=refstore_help)
    p.add_argument("--stage", type=int, choices=(1, 2, 3), default=3, help="last stage to run")
    p.set_defaults(func=cmd_process)

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
    p.add_argument("--dithers", type=int, default=4, help="dither positions")
    p.add_argument("--filter", default="Kbb", help="imager filter")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("refs", help="list, check, index or add to the reference store")
    p.add_argument("action", choices=("list", "check", "index", "add", "select"),
                   help="list: show; check: verify files and checksums; index: rebuild the rules "
                        "from headers; add FILES: copy in; select FILES: show the choice for exposures")  # fmt: skip
    p.add_argument("files", nargs="*", help="files for add/select")
    p.add_argument("--refstore", help=refstore_help)
    p.set_defaults(func=cmd_refs)

    p = sub.add_parser("info", help="summarise IRIS/Liger files")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("exptypes", help="the EXP_TYPE -> pipeline table")
    p.add_argument("--markdown", action="store_true", help="print as a Markdown table")
    p.set_defaults(func=cmd_exptypes)

    p = sub.add_parser("demo", help="simulate a small observation and reduce it end to end")
    p.add_argument("-o", "--output-dir", default="demo_output")
    p.add_argument("--size", type=int, default=256, help="detector window size in pixels")
    p.add_argument("--ngroups", type=int, default=6)
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_demo)
    return parser


def _configure_logging(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for name in ("stpipe", "iris_pipeline", "stcal", "py.warnings"):
        logging.getLogger(name).setLevel(level)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``iris-pipeline`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return args.func(args)
    except (IrisPipelineError, OSError, ValueError, KeyError) as err:
        if args.debug:
            raise
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"iris-pipeline: error: {message}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
