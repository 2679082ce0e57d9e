"""Convert an old pickle translator checkpoint (translator.pt, "texplain-translator/1") into the
safe folder layout (model.safetensors + config.json, texplain/checkpoint.py), once.

Converting unpickles the old file, which can run code, so it asks for --trust-pickle just as
``texplain explain`` does; the folder it writes then loads anywhere without that trust.

    python -m texplain.checkpoint_convert runs/<run>/translator.pt runs/<run>/translator --trust-pickle
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from texplain.checkpoint import load_translator, read_checkpoint, save_translator
from texplain.errors import TExplainError


def convert(source: Path, destination: Path, *, trust_pickle: bool = False) -> Path:
    """Read `source` (refused unless trust_pickle) and write it as a translator folder at `destination`."""
    payload = read_checkpoint(source, trust_pickle=trust_pickle)
    # Rebuilding the translator checks that the weights fit its recorded config before anything is written.
    translator, _ = load_translator(source, payload=payload)
    save_translator(destination, translator, payload["classifier"], payload["decoder"], payload.get("extra"))
    return Path(destination)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m texplain.checkpoint_convert", description=__doc__.split("\n")[0])
    parser.add_argument("source", help="the old translator.pt")
    parser.add_argument("destination", help="the folder to write (model.safetensors + config.json)")
    parser.add_argument("--trust-pickle", action="store_true", help="unpickle the source (only for files you trust)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        written = convert(Path(args.source), Path(args.destination), trust_pickle=args.trust_pickle)
    except TExplainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"written: {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
