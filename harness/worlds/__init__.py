"""Synthetic worlds with known ground truth, written in the formats of the real datasets (docs/design.md#synthetic-worlds).

A scene is a scene graph (object, colour, size, position, background, distractors) from which the
caption is written and the image and its exact object mask are rendered. Each world writes its scenes
exactly as the real dataset is laid out, so the readers of harness/datasets/ and the suites cannot
tell the two apart; the scene graphs go to a JSON-lines sidecar as ground truth.

Scenes, along the flow:
- vocabulary.py: the closed set of words (classes, backgrounds, colours, sizes, positions, distractors)
- scene.py: the scene graph, `WorldSpec` and the seeded sampling of scenes (`sample_scenes`, `scene_with`)
- caption_text.py: the caption of a scene graph, and further variants of it
- rendering.py: scene graph -> image and exact mask (background painters, distractors, object shapes)

Worlds:
- default_world.py: the world the default run explains (images/, masks/, scenes.jsonl, captions.jsonl)
- waterbirds_world.py: Waterbirds (metadata.csv, planted class-place correlation in train)
- backgrounds_world.py: the Background Challenge (eight variations, fg masks)
- captions_world.py: COCO captions (annotations/captions_<split>.json)
- planting.py, output.py: exact planted correlation counts; writing a world's folder
"""
