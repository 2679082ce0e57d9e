"""Render a run's report.html in headless Chromium and save a PNG, to look at the report as a person would.

    .venv/bin/python scripts/screenshot_report.py RUN_DIR [--out PNG] [--width 1280] [--height 12000] [--rebuild]

Prints the PNG's path and a pixel summary; exits 1 when the render looks blank (almost one colour),
2 when Chromium is missing or fails. The rendering itself lives in harness/reporting/screenshot.py (the tests use it too).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from harness.reporting.report import write_report
from harness.reporting.screenshot import screenshot, summarize_pixels
from texplain.errors import TExplainError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, help="PNG path (default RUN_DIR/report.png)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=12000, help="window height; empty rows below the page are cut off")
    parser.add_argument("--rebuild", action="store_true", help="rebuild report.html first (texplain report)")
    args = parser.parse_args(argv)
    try:
        if args.rebuild or not (args.run_dir / "report.html").exists():
            write_report(args.run_dir)
        png = screenshot(args.run_dir / "report.html", args.out or args.run_dir / "report.png", args.width, args.height)
    except TExplainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary = summarize_pixels(png)
    print(f"{png}: {summary.width} x {summary.height} px, {summary.colours} colours, {summary.ink_share:.1%} ink")
    if summary.blank:
        print("the render looks blank", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
