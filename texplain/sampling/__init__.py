"""Sampling explanations: N sentences per image from the frozen LM, conditioned on the translator's output
(paper, Section 3: nucleus sampling, p = 0.95, 20-30 words, N = 1000).

- ``sampler.py``: the configuration, per-image seeds, the nucleus draw and the two engines;
- ``nucleus_kernel.py``: the compiled CPU kernel that finds the nucleus without sorting the vocabulary;
- ``stopping.py``: optional adaptive stopping (stop an image once more sentences would not change its top words).
"""

from texplain.sampling.sampler import (
    ENGINES,
    STOPPING,
    SamplingConfig,
    counter_uniforms,
    image_seed,
    nucleus_probabilities,
    resolve_engine,
    sample_from_uniforms,
    sample_sentences,
    sample_sentences_batch,
)

__all__ = [
    "ENGINES", "STOPPING", "SamplingConfig", "counter_uniforms", "image_seed", "nucleus_probabilities",
    "resolve_engine", "sample_from_uniforms", "sample_sentences", "sample_sentences_batch",
]
