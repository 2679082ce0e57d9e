"""``texplain report`` and ``texplain compare``: sub-commands on finished run directories.

    texplain report RUN_DIR [--examples N] [--screenshot PNG]
    texplain compare RUN_A RUN_B [--fail-if 'METRIC<VALUE' | verdict-worse[:METRIC] ...] [--bootstrap 1000] [--seed 0]
                     [--top-words 10] [--common-only] [--out FILE.json] [--markdown FILE.md]

Exit codes of compare, for use in a user's CI (harness/cli/exit_codes.py): 0 no threshold crossed, 1 a
threshold crossed (a delta beyond its value, or a verdict that got worse), 2 bad input (missing or malformed
run directory or record, bad --fail-if, unknown metric, runs on different images), 3 an internal error
(traceback written to a file), 130 interrupted.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _report(args) -> int:
    from harness.reporting.report import write_report

    paths = write_report(Path(args.run_dir), examples=args.examples)
    print(f"written: {paths.html} (self-contained: images embedded) and {paths.markdown} (images in {paths.assets}/ and the run directory)")
    if args.screenshot:
        from harness.reporting.screenshot import screenshot

        png = screenshot(paths.html, Path(args.screenshot), width=args.width, height=args.height)
        print(f"screenshot: {png}")
    return 0


def _compare(args) -> int:
    from harness.reporting.compare import (
        check_thresholds,
        compare_runs,
        format_text,
        parse_threshold,
        write_outputs,
    )
    from harness.reporting.run_reader import read_run

    # Syntax first: a typo in --fail-if should fail before minutes of bootstrapping.
    thresholds = [parse_threshold(text) for text in args.fail_if]
    comparison = compare_runs(
        read_run(Path(args.run_a)), read_run(Path(args.run_b)),
        resamples=args.bootstrap, seed=args.seed, top_words=args.top_words, common_only=args.common_only,
    )
    check_thresholds(comparison, thresholds)
    print(format_text(comparison))
    write_outputs(comparison, Path(args.out) if args.out else None, Path(args.markdown) if args.markdown else None)
    for path in (args.out, args.markdown):
        if path:
            print(f"written: {path}")
    if comparison.failed:
        crossed = [t.expression for t in comparison.thresholds if t.crossed]
        print(f"FAILED: {len(crossed)} threshold(s) crossed: {', '.join(crossed)}")
        return 1
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report", help="(re)build report.html and report.md of a run directory",
        description="Exit 0: the report was written; 2: missing or malformed run directory; 3: internal error.",
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. runs/quickstart-<hash>")
    report.add_argument("--examples", type=int, default=6, help="single-image examples to show (default 6)")
    report.add_argument("--screenshot", metavar="PNG", help="also render report.html in headless Chromium to this PNG")
    report.add_argument("--width", type=int, default=1280, help="screenshot width in CSS pixels")
    report.add_argument("--height", type=int, default=12000, help="screenshot window height; empty rows below the page are cut off")
    report.set_defaults(handler=_report)

    compare = commands.add_parser(
        "compare",
        help="regression-test run B against run A: metric deltas with bootstrap CIs, verdict changes, word-cloud overlap, thresholds",
        description="Deltas are B - A over the images both runs explained (matched by image_id), with a paired bootstrap "
        "interval where the metric has per-image values; directions and definitions come from the metrics registry. "
        "Each headline metric's verdict (pass, inconclusive, fail) is shown in A and in B, changed ones first. "
        "Exit 0: no threshold crossed; 1: a threshold crossed (a delta beyond its value, or a verdict that got worse); 2: bad input (missing or malformed run directory or record, "
        "bad --fail-if, unknown metric, runs on different images); 3: internal error (the traceback is written to a file).",
    )
    compare.add_argument("run_a", metavar="RUN_A", help="the reference run (e.g. the old translator)")
    compare.add_argument("run_b", metavar="RUN_B", help="the candidate run (e.g. the new translator)")
    compare.add_argument(
        "--fail-if", action="append", default=[], metavar="'METRIC<VALUE' | verdict-worse[:METRIC]",
        help="exit 1 when the delta B - A of METRIC is below (<, <=) or above (>, >=) VALUE; repeatable; any metric of "
        "the table, suite metrics included (those without per-image values are gated on their delta, which has no interval); "
        "e.g. --fail-if 'explain.object_in_top_k_rate<-0.02' --fail-if 'only_bg.recall_at_k.shortcut<-0.1'. "
        "verdict-worse: exit 1 when any headline metric's verdict is worse in B than in A (pass > inconclusive > fail: "
        "pass -> inconclusive, pass -> fail, inconclusive -> fail); a metric whose verdict is absent in either run (a run "
        "without verdicts) does not count. verdict-worse:METRIC: only that metric's verdict, which both runs must have "
        "(else exit 2); e.g. --fail-if verdict-worse --fail-if verdict-worse:explain.object_in_top_k_rate",
    )
    compare.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples over images (default 1000)")
    compare.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling")
    compare.add_argument("--top-words", type=int, default=10, help="words per class for the word-cloud Jaccard overlap (default 10)")
    compare.add_argument("--common-only", action="store_true", help="compare on the images both runs explained instead of refusing runs on different image sets")
    compare.add_argument("--out", metavar="FILE.json", help="write the comparison as JSON")
    compare.add_argument("--markdown", metavar="FILE.md", help="write the comparison as markdown")
    compare.set_defaults(handler=_compare)
