"""``texplain world ...`` and ``texplain data check``: write synthetic worlds in the real datasets' formats,
and check a dataset folder before a suite reads it.

    texplain world waterbirds  --out DIR [--train-size N --val-size N --test-size N --correlation P ...]
    texplain world backgrounds --out DIR [--classes a,b --images-per-class N --train-images-per-class N ...]
    texplain world captions    --out DIR [--train-size N --val-size N --captions-per-image K ...]
    texplain data check DIR [--format NAME]

Every world option maps to one field of the world's spec (harness/worlds/); ``--help`` lists them with
their defaults. ``data check`` lists every problem found and exits 1 when there is any (2 when the
folder is missing or matches no format; harness/cli/exit_codes.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.datasets.check import format_names
from harness.worlds.vocabulary import BACKGROUNDS, OBJECT_CLASSES


def _words(text: str) -> tuple[str, ...]:
    """A comma-separated list: 'boat,car' -> ('boat', 'car')."""
    return tuple(word.strip() for word in text.split(",") if word.strip())


def _correlation(text: str) -> float | None:
    """A probability, or 'none' for balanced backgrounds."""
    if text.strip().lower() in ("none", "balanced"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1] or 'none', got {text!r}") from None


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (created; must be empty or hold the same world)")
    parser.add_argument("--image-size", type=int, default=224, help="image side in pixels (default 224)")
    parser.add_argument("--seed", type=int, default=0, help="same seed and options give byte-identical files")
    parser.add_argument("--distractor-prob", type=float, default=0.5, help="probability of each distractor (sun, cloud, ball)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _world_waterbirds(args) -> int:
    from harness.worlds.waterbirds_world import (
        WaterbirdsWorldSpec,
        make_waterbirds_world,
    )

    spec = WaterbirdsWorldSpec(
        train_size=args.train_size, val_size=args.val_size, test_size=args.test_size, train_correlation=args.correlation,
        water_objects=args.water_objects, land_objects=args.land_objects, water_backgrounds=args.water_backgrounds,
        land_backgrounds=args.land_backgrounds, image_size=args.image_size, seed=args.seed, distractor_prob=args.distractor_prob,
    )
    out = make_waterbirds_world(spec, Path(args.out), progress=not args.quiet)
    print(f"Waterbirds world in {out} (metadata.csv, captions.jsonl, scenes.jsonl); check it with: texplain data check {out}")
    return 0


def _world_backgrounds(args) -> int:
    from harness.worlds.backgrounds_world import (
        BackgroundsWorldSpec,
        make_backgrounds_world,
    )

    spec = BackgroundsWorldSpec(
        classes=args.classes, backgrounds=args.backgrounds, images_per_class=args.images_per_class,
        train_images_per_class=args.train_images_per_class, train_correlation=args.train_correlation,
        val_correlation=args.val_correlation, image_size=args.image_size, seed=args.seed, distractor_prob=args.distractor_prob,
    )
    out = make_backgrounds_world(spec, Path(args.out), progress=not args.quiet)
    print(f"Background Challenge world in {out} (8 variations, fg_mask, scenes_<split>.jsonl); check it with: texplain data check {out}")
    return 0


def _world_captions(args) -> int:
    from harness.worlds.captions_world import CaptionsWorldSpec, make_captions_world

    spec = CaptionsWorldSpec(
        train_size=args.train_size, val_size=args.val_size, captions_per_image=args.captions_per_image, classes=args.classes,
        backgrounds=args.backgrounds, correlation=args.correlation, train_split=args.train_split, val_split=args.val_split,
        image_size=args.image_size, seed=args.seed, distractor_prob=args.distractor_prob,
    )
    out = make_captions_world(spec, Path(args.out), progress=not args.quiet)
    print(f"COCO-format captions world in {out} (annotations/captions_{args.train_split}.json ...); check it with: texplain data check {out}")
    return 0


def _data_check(args) -> int:
    from harness.datasets.check import check_dataset

    report = check_dataset(Path(args.path), args.format)
    print(report.render())
    return 0 if report.ok else 1


def register(commands: argparse._SubParsersAction) -> None:
    world = commands.add_parser("world", help="write a synthetic world in a real dataset's format")
    kinds = world.add_subparsers(dest="world_kind", required=True)
    classes, backgrounds = ",".join(OBJECT_CLASSES), ",".join(BACKGROUNDS)

    waterbirds = kinds.add_parser("waterbirds", help="Waterbirds format: metadata.csv, planted correlation in train")
    _add_common(waterbirds)
    waterbirds.add_argument("--train-size", type=int, default=1000)
    waterbirds.add_argument("--val-size", type=int, default=200)
    waterbirds.add_argument("--test-size", type=int, default=200)
    waterbirds.add_argument("--correlation", type=_correlation, default=0.95, help="train class-place correlation (default 0.95; 'none': balanced)")
    waterbirds.add_argument("--water-objects", type=_words, default=("boat",), help="objects of class y=1 (default boat)")
    waterbirds.add_argument("--land-objects", type=_words, default=("car",), help="objects of class y=0 (default car)")
    waterbirds.add_argument("--water-backgrounds", type=_words, default=("water",), help="place=1 backgrounds (default water)")
    waterbirds.add_argument("--land-backgrounds", type=_words, default=("forest", "grass"), help="place=0 backgrounds (default forest,grass)")
    waterbirds.set_defaults(handler=_world_waterbirds)

    bg = kinds.add_parser("backgrounds", help="Background Challenge format: eight variations and fg masks")
    _add_common(bg)
    bg.add_argument("--classes", type=_words, default=OBJECT_CLASSES, help=f"object classes (default {classes})")
    bg.add_argument("--backgrounds", type=_words, default=BACKGROUNDS, help=f"backgrounds; class i prefers background i (default {backgrounds})")
    bg.add_argument("--images-per-class", type=int, default=20, help="val images per class, in every variation")
    bg.add_argument("--train-images-per-class", type=int, default=0, help="train images per class (original only; 0: none)")
    bg.add_argument("--train-correlation", type=_correlation, default=0.95, help="train class-background correlation ('none': balanced)")
    bg.add_argument("--val-correlation", type=_correlation, default=None, help="val class-background correlation (default none: balanced)")
    bg.set_defaults(handler=_world_backgrounds)

    captions = kinds.add_parser("captions", help="COCO captions format, for training translators")
    _add_common(captions)
    captions.add_argument("--train-size", type=int, default=1000)
    captions.add_argument("--val-size", type=int, default=100)
    captions.add_argument("--captions-per-image", type=int, default=5)
    captions.add_argument("--classes", type=_words, default=OBJECT_CLASSES, help=f"object classes (default {classes})")
    captions.add_argument("--backgrounds", type=_words, default=BACKGROUNDS, help=f"backgrounds (default {backgrounds})")
    captions.add_argument("--correlation", type=_correlation, default=None, help="class-background correlation (default none: uniform)")
    captions.add_argument("--train-split", default="train2017", help="name of the train split (default train2017, as COCO)")
    captions.add_argument("--val-split", default="val2017", help="name of the val split (default val2017)")
    captions.set_defaults(handler=_world_captions)

    data = commands.add_parser("data", help="dataset tools")
    tools = data.add_subparsers(dest="data_tool", required=True)
    check = tools.add_parser(
        "check", help="report every problem of a dataset folder; exit 1 if any",
        description="Reads the folder with the readers the suites use, decoding every image and mask. "
        "Exit 0: no problems; 1: problems found (all listed); 2: the folder is missing or matches no known format; 3: internal error.",
    )
    check.add_argument("path", help="dataset folder (or a captions.jsonl file)")
    check.add_argument(
        "--format", default=None,
        choices=format_names(),
        help="read the folder as this format (default: detect it)",
    )
    check.set_defaults(handler=_data_check)
