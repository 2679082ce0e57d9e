"""The harness around the method: configs, runs (stages, caching, resume), CLI, datasets and synthetic worlds."""
