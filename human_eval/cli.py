"""``texplain ratings``: the human rating studies of TExplain (Section 4.2, Figure 3) in Label Studio.

    texplain ratings export RUN_DIR [--per-class 8] [--selection per_class|random|stratified] [--seed 0]
                                    [--sources main,only_bg] [--classes a,b,c] [--attention-checks 6]
                                    [--images local-files|base64] [--document-root DIR]
    texplain ratings push RUN_DIR --url URL --token TOKEN
    texplain ratings pull RUN_DIR --url URL --token TOKEN | --file export.json [--file ...]
                                  [--min-check-accuracy 0.75] [--count-level ordinal|interval] [--bootstrap 1000]

export writes <run>/ratings/ (human_eval/export.py); push creates the two projects and imports the tasks
(idempotent; human_eval/server.py); pull reads every task back, analyses the ratings
(human_eval/analysis.py) and rebuilds the run's report with them, then prints how many annotations it
read and kept (in all, per study, per rater). The token (a personal access token) may also come from
$LABEL_STUDIO_API_KEY. Exit codes (harness/cli/exit_codes.py): 0 done; 2 bad input (a missing or
unfinished run directory, a manual export of one study only), unreachable server, refused token,
mismatched project (the message says which and the fix); 3 internal error.

pull prints nothing before everything is written (results.json, the plots, the report), so that a reader
who stops reading early (`| head`) costs output, never results.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from contracts.run_extensions import COMMANDS
from harness.reporting.report import write_report
from human_eval.analysis import RESULTS, rater_label, rater_labels, set_aside, write_results
from human_eval.export import MANIFEST, RATINGS_DIR, export_studies, read_export
from human_eval.server import TOKEN_ADVICE, for_export, pull, push, read_export_files, require_both_studies, start_commands
from human_eval.settings import AnalysisSettings, ImageSettings, RatingSettings, StudySettings
from texplain.errors import InputFileError, TExplainError


def _settings(args):

    study = StudySettings(
        sources=tuple(s.strip() for s in args.sources.split(",") if s.strip()), selection=args.selection,
        per_class=args.per_class, classes=tuple(c.strip() for c in args.classes.split(",")) if args.classes else None,
        seed=args.seed, attention_checks=args.attention_checks, only_bg_variation=args.only_bg_variation,
    )
    return RatingSettings(study=study, images=ImageSettings(mode=args.images, document_root=args.document_root))


def _print_export(exported) -> None:
    manifest = exported.manifest
    for study, project in sorted(manifest["projects"].items()):
        print(f"study ({study}): {project['tasks']} tasks ({project['attention_checks']} attention checks) -> '{project['title']}'")
    print(f"written: {exported.folder}/ (study_a/b.config.xml, study_a/b.tasks.json, manifest.json"
          + (", images/" if manifest["images_mode"] == "local-files" else "") + ")")
    if manifest["images_mode"] == "local-files":

        print(f"images: start Label Studio with {start_commands('http://localhost:8080', exported)}; "
              "or export with --images base64 (no file serving needed)")


def _require_run_dir(run_dir: Path, command: str) -> None:
    """A missing or unfinished run directory is said as such, before any talk of exports."""

    if not run_dir.exists():
        raise InputFileError(f"ratings {command}: the run directory {run_dir} does not exist; pass the directory of a finished "
                             "`texplain run` (e.g. runs/quickstart-<hash>)")
    if not run_dir.is_dir():
        raise InputFileError(f"ratings {command}: {run_dir} is not a directory; pass the directory of a finished `texplain run`")
    if not (run_dir / "metrics.json").is_file() and not (run_dir / RATINGS_DIR / MANIFEST).is_file():
        raise InputFileError(f"ratings {command}: {run_dir} is not a finished run directory (no metrics.json, written at the end of "
                             "`texplain run`, and no exported studies); finish the run (rerun `texplain run` with the same config) "
                             "or pass another directory")


def _export(args) -> int:

    _print_export(export_studies(Path(args.run_dir), _settings(args)))
    return 0


def _token(args) -> str:

    token = args.token or os.environ.get("LABEL_STUDIO_API_KEY")
    if not token:

        raise TExplainError(f"no token for {args.url}: {TOKEN_ADVICE}")
    return token


def _push(args) -> int:

    run_dir = Path(args.run_dir)
    _require_run_dir(run_dir, "push")
    if not (run_dir / RATINGS_DIR / MANIFEST).is_file():
        print(f"no export in {run_dir / RATINGS_DIR}: exporting both studies with the default settings first")
        _print_export(export_studies(run_dir))
    exported = read_export(run_dir)
    token = _token(args)
    with for_export(exported):
        result = push(exported, args.url, token)
    for study in sorted(result.projects):
        state = "created" if result.created[study] else "found"
        print(f"study ({study}): project {result.projects[study]} {state} on {args.url}; {result.imported[study]} tasks imported, "
              f"{result.already_there[study]} already there")
    print(f"pushed in {result.seconds:.1f} s; when raters are done: texplain ratings pull {run_dir} --url {args.url} --token ...")
    return 0


def _pull(args) -> int:

    run_dir = Path(args.run_dir)
    if bool(args.file) == bool(args.url):
        raise TExplainError("ratings pull: pass either --url URL --token TOKEN (read from the server) or --file export.json (a manual export)")
    _require_run_dir(run_dir, "pull")
    exported = read_export(run_dir)
    started = time.perf_counter()
    if args.file:
        files = [Path(f) for f in args.file]
        pulled, source = read_export_files(files), ", ".join(args.file)
        require_both_studies(pulled, exported, files)  # before anything is written
    else:
        pulled, source = pull(exported, args.url, _token(args)), args.url
    defaults = exported.settings.analysis
    settings = AnalysisSettings(
        min_check_accuracy=defaults.min_check_accuracy if args.min_check_accuracy is None else args.min_check_accuracy,
        count_level=args.count_level or defaults.count_level,
        bootstrap_resamples=args.bootstrap or defaults.bootstrap_resamples, bootstrap_seed=defaults.bootstrap_seed, level=defaults.level,
    )
    results = write_results(exported, pulled, source, settings)
    report = None
    if (run_dir / "metrics.json").is_file():

        report = write_report(run_dir).html
    _print_pull(results, source, time.perf_counter() - started)
    print(f"written: {exported.folder / RESULTS} and {', '.join(results['figures'])}")
    if report is not None:
        print(f"report: {report}")
    return 0


def _print_pull(results: dict, source: str, seconds: float) -> None:

    a, b = results["study_a"], results["study_b"]
    dropped = ", ".join(rater_labels(results, results["raters_dropped"])) or "none"
    print(f"pulled from {source} in {seconds:.1f} s: {results['raters']} raters, dropped {dropped}")
    counted = results["annotations"]
    print(f"annotations: {counted['read']} read, {counted['kept']} kept in the statistics")
    for study, row in sorted(counted["by_study"].items()):
        print(f"  study ({study}): {row['read']} read, {row['kept']} kept; set aside: {', '.join(set_aside(row))}")
    for rater, summary in results["per_rater"].items():
        note = f"; dropped: {summary['checks_passed']} of {summary['checks']} attention checks passed" if summary["dropped"] else ""
        print(f"  {rater_label(rater, summary['email'])}: {summary['annotations_read']} read, {summary['ratings_kept']} kept{note}")
    print(f"study (a): {a['ratings']} ratings of {a['items_rated']}/{a['items']} images; mean matched words {a['mean_count']}")
    print(f"study (b): {b['ratings']} ratings; share of yes {b['share_yes']}")
    for study, rows in (("a", a["agreement"]), ("b", b["agreement"])):
        for name, value in rows.items():
            print(f"  ({study}) {name}: " + (f"{value['value']:.3f}" if value["value"] is not None else f"undefined ({value['reason']})"))


def register(commands: argparse._SubParsersAction) -> None:
    ratings = commands.add_parser(
        "ratings", help="human rating studies in Label Studio: export, push, pull (the paper's Section 4.2, Figure 3)",
        description="Exit 0: done; 2: bad input, unreachable server, refused token or mismatched project (the message names the fix); 3: internal error.",
    )
    actions = ratings.add_subparsers(dest="ratings_command", required=True)
    export = actions.add_parser("export", help="write both studies (labeling configs, tasks JSON, images) into RUN_DIR/ratings/")
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("--sources", default="main,only_bg", help="records to draw from: main (records.jsonl), only_bg (the Only-BG suite's); comma-separated")
    export.add_argument("--selection", default="per_class", choices=("per_class", "random", "stratified"),
                        help="per_class: N per class; random: N x classes from all; stratified: per class, half right and half wrong predictions")
    export.add_argument("--per-class", type=int, default=8, help="images per class (default 8)")
    export.add_argument("--classes", help="only these classes, comma-separated (the paper: three classes of the Background Challenge)")
    export.add_argument("--seed", type=int, default=0, help="seed of the choice and order of images and checks")
    export.add_argument("--attention-checks", type=int, default=6, help="attention-check tasks per study (default 6; 0 for none)")
    export.add_argument("--only-bg-variation", default="only_bg_t", choices=("only_bg_t", "original"), help="Only-BG images shown (default only_bg_t)")
    export.add_argument("--images", default="local-files", choices=("local-files", "base64"),
                        help="local-files (default: served by the server from its document root) or base64 (inlined; slow for large images)")
    export.add_argument("--document-root", help="the server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: the run directory's parent)")
    export.set_defaults(handler=_export)
    for name, text in (("push", "create the two projects on a Label Studio server and import the tasks (again: nothing duplicated)"),
                       ("pull", "read the ratings back (server or --file), analyse them, rebuild the report")):
        action = actions.add_parser(name, help=text)
        action.add_argument("run_dir", metavar="RUN_DIR")
        action.add_argument("--url", required=(name == "push"), help="the server, e.g. http://localhost:8080")
        action.add_argument("--token", help="a personal access token (the server's Account & Settings > Personal Access Token; "
                                            "legacy tokens are refused by default); default $LABEL_STUDIO_API_KEY")
        if name == "pull":
            action.add_argument("--file", action="append", default=[], metavar="EXPORT.json", help="a JSON export from Label Studio's UI, instead of --url (repeatable)")
            action.add_argument("--min-check-accuracy", type=float, help="drop raters below this share of passed attention checks (default 0.75; 0 keeps all)")
            action.add_argument("--count-level", choices=("ordinal", "interval"), help="Krippendorff level for study (a)'s counts (default ordinal)")
            action.add_argument("--bootstrap", type=int, help="bootstrap resamples over items for the agreement intervals (default 1000)")
        action.set_defaults(handler=_push if name == "push" else _pull)


COMMANDS.register("ratings")(register)
