"""The ``texplain`` command line.

    texplain run [--config NAME|PATH] [--set key.path=value ...] [--out DIR] [--quiet]
    texplain explain --translator DIR IMAGE... [--out DIR] [--num-sentences N] [--seed S] [--trust-pickle]
    texplain profiles

Further commands live in their own modules (listed in COMMAND_MODULES); each has
``register(commands)`` which adds its sub-parsers and sets ``handler`` on them with
``parser.set_defaults(handler=fn)``; ``fn(args) -> int`` is the exit code (0 or 1, see
harness/cli/exit_codes.py); `main` maps a TExplainError to 2, any other exception to 3 (traceback written
to a file, secrets removed), Ctrl-C to 130, and a reader of stdout that went away (``| head``) to a quiet
exit (exit_codes.py says which code).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from pathlib import Path

from contracts.plugins import load_plugins
from contracts.run_extensions import COMMANDS
from contracts.suite import SUITES
from harness.cli import exit_codes
from texplain.errors import TExplainError

# Modules that add sub-commands; each defines register(commands: argparse._SubParsersAction).
COMMAND_MODULES: list[str] = ["harness.cli.report", "harness.cli.data", "harness.cli.validate"]


def suite_headlines(suite_metrics: dict[str, dict]) -> list[str]:
    """One line per suite of a finished run: the metrics that the suite's `headline` names (contracts/suite.py)."""
    lines = []
    for name, values in sorted(suite_metrics.items()):
        headline = SUITES.get(name).headline_metrics(values)
        lines.append(f"  suite {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(headline.items())))
    return lines


def _run(args) -> int:
    from harness.config import load_config
    from harness.pipeline.run import run

    overrides = list(args.set) + ([f"limit={args.limit}"] if args.limit is not None else [])
    config = load_config(args.config, overrides)
    if args.print_config:
        import yaml

        from harness.config import to_dict

        print(yaml.safe_dump(to_dict(config), sort_keys=False), end="")
        return 0
    path = run(config, Path(args.out), progress=not args.quiet)
    metrics = json.loads((path / "metrics.json").read_text())
    print(f"run directory: {path}")
    for key, value in sorted(metrics["metrics"].items()):
        print(f"  {key}: {value:.3f}" if isinstance(value, float) else f"  {key}: {value}")
    for line in suite_headlines(metrics.get("suites", {})):
        print(line)
    print(f"  stage seconds: {metrics['stage_seconds']} (total {metrics['total_seconds']:.0f} s)")
    print(f"  report: {path / 'report.html'}")
    return 0


def _explain(args) -> int:
    from harness.cli.explain import explain
    from texplain.sampling import SamplingConfig

    try:
        sampling = SamplingConfig(num_sentences=args.num_sentences, top_p=args.top_p, min_words=args.min_words, max_words=args.max_words, batch_size=max(1, min(args.num_sentences, 100)))
    except ValueError as error:  # bad options are bad input (exit 2), not an internal error
        raise TExplainError(f"explain: {error}; fix --num-sentences, --top-p, --min-words or --max-words") from error
    rows = explain(Path(args.translator), [Path(p) for p in args.images], Path(args.out), sampling, seed=args.seed, device=args.device, progress=not args.quiet, trust_pickle=args.trust_pickle, precision=args.precision)
    for row in rows:
        words = ", ".join(f"{w} ({f:.2f})" for w, f in row["top_words"]) or f"none ({row.get('wordcloud_empty') or 'no content words'})"
        print(f"{row['image']}: classifier says '{row['classifier_top1']['name']}'; top words: {words}")
    print(f"written: {Path(args.out) / 'explanations.jsonl'} and {Path(args.out) / 'wordclouds'}/")
    return 0


def _profiles(args) -> int:
    from harness.config import profile_names

    print("\n".join(profile_names()))
    return 0


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def version_text() -> str:
    """'texplain <harness version> (git <commit>)'; the commit is 'unknown' when installed from a wheel."""
    from harness.pipeline.provenance import git_commit, harness_version

    return f"texplain {harness_version()} (git {git_commit()})"


class _VersionAction(argparse.Action):
    """--version, computed only when asked (it runs git)."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="texplain", description="Explain a frozen classifier's features through a frozen language model.",
        epilog=exit_codes.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="print the harness version and git commit, then exit")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="log level on the terminal and in the run directory's run.log (default INFO)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also log every HTTP request (to a Label Studio server); implied by --log-level DEBUG")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser(
        "run", help="the main job: world, features, translator, explanations, metrics",
        description="Exit 0: the run finished; 2: bad config or input (the message names the fix); 3: internal error; "
        "130: interrupted (rerun the same command to resume from the finished stages).",
    )
    run_parser.add_argument("--config", default="quickstart", help="profile name (harness/configs) or YAML path")
    run_parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. --set sampling.num_sentences=100")
    run_parser.add_argument("--out", default="runs", help="parent folder of run directories")
    run_parser.add_argument("--quiet", action="store_true", help="no progress bars, log lines only")
    run_parser.add_argument("--limit", type=int, metavar="N", help="smoke run: explain and score at most N images per stage (marked in metrics.json; not comparable with full runs)")
    run_parser.add_argument("--print-config", action="store_true", help="print the resolved config (YAML) and exit; nothing runs")
    run_parser.set_defaults(handler=_run)
    explain_parser = commands.add_parser("explain", help="explain your own images with a trained translator")
    explain_parser.add_argument("--translator", required=True, help="the translator folder of a finished run (runs/<run>/translator: model.safetensors + config.json)")
    explain_parser.add_argument("--trust-pickle", action="store_true",
                                help="also load an old pickle checkpoint (translator.pt); unpickling can run code, use only for files you trust")
    explain_parser.add_argument("images", nargs="+", help="image files")
    explain_parser.add_argument("--out", default="explanations", help="output folder")
    explain_parser.add_argument("--num-sentences", type=int, default=100, help="sentences per image (the paper: 1000)")
    explain_parser.add_argument("--top-p", type=float, default=0.95)
    explain_parser.add_argument("--min-words", type=int, default=20)
    explain_parser.add_argument("--max-words", type=int, default=30)
    explain_parser.add_argument("--seed", type=int, default=0)
    explain_parser.add_argument("--device", default="auto")
    explain_parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                                help="sampling precision (default auto: bf16 where the CPU runs it natively or on a GPU, else fp32)")
    explain_parser.add_argument("--quiet", action="store_true")
    explain_parser.set_defaults(handler=_explain)
    commands.add_parser("profiles", help="list shipped configuration profiles").set_defaults(handler=_profiles)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(commands)
    # Command groups that plug-in packages add (e.g. human_eval's `ratings`; contracts/run_extensions.py).
    load_plugins()
    for name in COMMANDS.names():
        COMMANDS.get(name)(commands)
    return parser


# Libraries that log a line per HTTP request at INFO; a `ratings` command makes a dozen of them.
CHATTY_LOGGERS = ("httpx", "httpcore")


def configure_logging(args, argv: list[str] | None) -> None:
    logging.basicConfig(level=getattr(logging, args.log_level), format=LOG_FORMAT, datefmt="%H:%M:%S")
    verbose = args.verbose or args.log_level == "DEBUG"
    for name in CHATTY_LOGGERS:
        # Request lines are debugging detail; NOTSET lets them through at the root's level when asked for.
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
    exit_codes.redact_logs(argv)


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone; True when it cannot be checked (stdout replaced)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return True
    import select

    if not hasattr(select, "poll"):
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(mask & (select.POLLERR | select.POLLHUP) for _, mask in poller.poll(0))


def _silence_stdout() -> None:
    """Point stdout at devnull, so that the output still buffered, flushed again when the interpreter
    exits, does not raise a second BrokenPipeError ('Exception ignored ...' and exit code 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (AttributeError, OSError, ValueError):
        sys.stdout = open(os.devnull, "w")


def _flushed() -> bool:
    """Flush stdout; False (and stdout silenced) when its reader has gone."""
    try:
        sys.stdout.flush()
        return True
    except BrokenPipeError:
        _silence_stdout()
        return False


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        _flushed()  # --help or --version into a closed pipe
        raise
    configure_logging(args, argv)
    try:
        code = int(args.handler(args))
    except BrokenPipeError as error:
        if not _stdout_closed():  # another pipe (a subprocess, a socket): a failure the harness did not foresee
            return exit_codes.internal_error(error, argv)
        # The reader of our output left while the command was working (`| head`): stop quietly, as any
        # Unix tool ended by SIGPIPE does.
        _silence_stdout()
        return exit_codes.BROKEN_PIPE
    except TExplainError as error:
        print(f"error: {exit_codes.redact(str(error), argv, keys=False)}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    except KeyboardInterrupt:
        return exit_codes.interrupted()
    except Exception as error:  # anything else is a bug: exit 3, never Python's 1 ("threshold crossed")
        return exit_codes.internal_error(error, argv)
    # The last output may still sit in the buffer; a reader gone by now only missed output of a command
    # that finished, so the command's own code stands.
    _flushed()
    return code


if __name__ == "__main__":
    sys.exit(main())
