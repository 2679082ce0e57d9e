"""Synthetic worlds written in the formats of the real datasets (DESIGN.md section 6).

Each world renders scenes of harness/worlds/synthetic.py (scene graph -> image, exact mask, caption)
and writes them exactly as the real dataset is laid out, so the readers of harness/datasets/ and the
suites cannot tell the two apart; the scene graphs go to a JSON-lines sidecar as ground truth.

- waterbirds_world.py: Waterbirds (metadata.csv, planted class-place correlation in train)
- backgrounds_world.py: the Background Challenge (eight variations, fg masks)
- captions_world.py: COCO captions (annotations/captions_<split>.json)
"""
