"""The ``texplain`` command line.

    texplain run [--config NAME|PATH] [--set key.path=value ...] [--out DIR] [--quiet]
    texplain profiles
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from texplain.errors import TExplainError


def _run(args) -> int:
    from harness.config import load_config
    from harness.run import run

    config = load_config(args.config, args.set)
    path = run(config, Path(args.out), progress=not args.quiet)
    metrics = json.loads((path / "metrics.json").read_text())
    print(f"run directory: {path}")
    for key, value in sorted(metrics["metrics"].items()):
        print(f"  {key}: {value:.3f}" if isinstance(value, float) else f"  {key}: {value}")
    print(f"  stage seconds: {metrics['stage_seconds']} (total {metrics['total_seconds']:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="texplain", description="Explain a frozen classifier's features through a frozen language model.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="the main job: world, features, translator, explanations, metrics")
    run_parser.add_argument("--config", default="quickstart", help="profile name (harness/configs) or YAML path")
    run_parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. --set sampling.num_sentences=100")
    run_parser.add_argument("--out", default="runs", help="parent folder of run directories")
    run_parser.add_argument("--quiet", action="store_true", help="no progress bars, log lines only")
    commands.add_parser("profiles", help="list shipped configuration profiles")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "profiles":
            from harness.config import profile_names

            print("\n".join(profile_names()))
            return 0
    except TExplainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
