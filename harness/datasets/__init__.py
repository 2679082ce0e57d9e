"""Dataset readers: one module per format, shared by real data and synthetic worlds.

- waterbirds.py: ``metadata.csv`` + images (+ captions.jsonl, scene graphs of synthetic worlds)
- backgrounds_challenge.py: ``<variation>/<split>/<class>/<image>``, ``fg_mask``, ImageNet -> IN-9 mapping
- coco_captions.py: ``annotations/captions_<split>.json`` + images, and plain ``captions.jsonl``
- image_folder.py: ``<class>/<image>`` folders of a user's own images
- check.py: ``texplain data check``, every problem of a folder in one report

Each reader registers its format in ``DATASET_FORMATS`` (contracts/dataset_formats.py) and importing
this package imports every module in it, so a new format is one new module here: `data check` and the
run config's ``data.source`` find it in the registry.

Each reader validates what it reads and raises `texplain.errors.DatasetError` naming the file, the row
and the fix of every problem it found (problems.py).
"""

import sys

from contracts.plugins import import_submodules

import_submodules(sys.modules[__name__])
