"""``texplain validate``: run the controls and the verdicts for a finished run, reusing what it computed.

    texplain validate RUN_DIR [--set KEY=VALUE ...] [--out OUT] [--quiet]

A reviewer holding someone else's run directory (config.json, translator/, samples.jsonl) checks its
translator without retraining it: the run is resumed from its own config with the trained controls on
(``controls.trained``: shuffled captions and a random classifier, each trained with the run's recipe and
budget), its translator and explanations adopted wherever this machine's stage store has not got them
(harness/pipeline/run.py, ``adopt``), and the verdict table written into the run directory's metrics.json
and report (contracts/verdicts.py). The world, the features and the controls are computed here; a run whose
stage store is at hand (the same --out) reuses everything it finished.

Exit codes as ``texplain run``: 0 done, 2 bad input (not a finished run directory), 3 internal error, 130
interrupted (rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from texplain.errors import TExplainError


def validate(run_dir: Path, overrides: list[str], out: Path | None = None, progress: bool = True) -> Path:
    """The run directory that holds the run's verdicts (the same one when its config already ran the controls)."""
    from harness.config import load_config
    from harness.pipeline.run import run

    run_dir = Path(run_dir)
    config_file = run_dir / "config.json"
    if not config_file.is_file():
        raise TExplainError(f"{run_dir} is not a run directory (no config.json); pass a folder such as runs/quickstart-<hash>")
    if not (run_dir / "done").exists():
        raise TExplainError(f"{run_dir} is an unfinished run; finish it first with `texplain run --config {config_file}`")
    config = load_config(config_file, overrides)
    return run(config, Path(out) if out else run_dir.parent, progress=progress, adopt=run_dir)


def _validate(args) -> int:
    path = validate(Path(args.run_dir), list(args.set), args.out, progress=not args.quiet)
    metrics = json.loads((path / "metrics.json").read_text())
    rows = (metrics.get("verdicts") or {}).get("rows", [])
    print(f"run directory: {path}")
    for row in rows:
        print(f"  {row['metric']}: {row['verdict'].upper()} (TExplain {row['texplain']:.3f} over {row['n']} images): {row['reason']}")
    if not rows:
        print("  no verdicts: the held-out images have no truth to score (see the report)")
    print(f"  report: {path / 'report.html'}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "validate", help="run the controls and verdicts for a finished run (its translator is not retrained)",
        description="Exit 0: verdicts written; 2: not a finished run directory, or its translator does not fit the features; "
        "3: internal error; 130: interrupted (rerun to resume).",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory, e.g. runs/quickstart-<hash>")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override the run's config, e.g. --set controls.trained=[shuffled_captions]")
    parser.add_argument("--out", help="parent folder of the validated run directory (default: the run's own parent, reusing its stage store)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars, log lines only")
    parser.set_defaults(handler=_validate)
