"""Sampling explanations: N sentences per image from the frozen LM, conditioned on the translator's output
(paper, Section 3: nucleus sampling, p = 0.95, 20-30 words, N = 1000). One concept per file:

- ``config.py``: ``SamplingConfig``, what the sampler is asked for;
- ``rng.py``: per-image seeds and counter-based uniforms (a sentence does not depend on its batch);
- ``nucleus.py``: the nucleus draw by CDF inversion; ``nucleus_kernel.py`` beside it, the compiled CPU
  kernel that finds the nucleus without sorting the vocabulary;
- ``engines.py``: the two engines that run the decoder (its static-cache stepper, or prefill/extend) and
  the word-length rules they share;
- ``stopping.py``: optional adaptive stopping, a policy handed a draw function (stop an image once more
  sentences would probably not change its top words);
- ``sampler.py``: the entry points, ``sample_sentences`` and ``sample_sentences_batch``.
"""

from texplain.sampling.config import ENGINES, STOPPING, SamplingConfig
from texplain.sampling.nucleus import nucleus_probabilities, sample_from_uniforms
from texplain.sampling.rng import counter_uniforms, image_seed
from texplain.sampling.sampler import resolve_engine, sample_sentences, sample_sentences_batch
from texplain.sampling.stopping import AdaptiveStopping, StopRecord

__all__ = [
    "ENGINES", "STOPPING", "SamplingConfig", "counter_uniforms", "image_seed", "nucleus_probabilities",
    "resolve_engine", "sample_from_uniforms", "sample_sentences", "sample_sentences_batch",
    "AdaptiveStopping", "StopRecord",
]
