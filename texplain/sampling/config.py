"""What the sampler is asked for: the sampling settings of one explanation run (paper, Section 3:
nucleus sampling, top-p = 0.95, N = 1000 sentences of 20-30 words per image).

A file of its own because the engines (engines.py), adaptive stopping (stopping.py) and the entry points
(sampler.py) all read it, and it reads none of them: the package's imports then run one way.
"""

from __future__ import annotations

from dataclasses import dataclass

ENGINES = ("auto", "static", "generic")
STOPPING = ("fixed", "adaptive")


@dataclass(frozen=True)
class SamplingConfig:
    num_sentences: int = 1000  # N per image; with stopping="adaptive" the most that are drawn
    top_p: float = 0.95
    temperature: float = 1.0
    min_words: int = 20
    max_words: int = 30
    batch_size: int = 100  # sentences per forward pass; does not change the output
    engine: str = "auto"  # auto | static | generic (texplain/sampling/engines.py); does not change the distribution
    stopping: str = "fixed"  # fixed: exactly num_sentences (paper parity); adaptive: texplain/sampling/stopping.py
    stop_top_k: int = 10  # adaptive: the top-k word set that must be stable
    stop_chunk: int = 50  # adaptive: sentences drawn between two checks
    stop_agreement: float = 0.9  # adaptive: predicted top-k Jaccard with the fixed-N result needed to stop
    stop_gain: float = 0.0  # adaptive: also stop once more sentences are predicted to raise that Jaccard by less than this per 100 (0: off)

    def __post_init__(self):
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0 <= self.min_words <= self.max_words:
            raise ValueError(f"need 0 <= min_words <= max_words, got {self.min_words} and {self.max_words}")
        if self.num_sentences < 1 or self.batch_size < 1:
            raise ValueError("num_sentences and batch_size must be >= 1")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got '{self.engine}'")
        if self.stopping not in STOPPING:
            raise ValueError(f"stopping must be one of {', '.join(STOPPING)}, got '{self.stopping}'")
        if self.stop_top_k < 1 or self.stop_chunk < 1 or not 0.0 < self.stop_agreement <= 1.0:
            raise ValueError("need stop_top_k >= 1, stop_chunk >= 1 and 0 < stop_agreement <= 1")
        if self.stop_gain < 0:
            raise ValueError(f"stop_gain must be >= 0 (0: off), got {self.stop_gain}")

    @property
    def max_tokens(self) -> int:
        # English words average ~1.3 tokens; the bound only stops pathological runs (dates, code, emoji),
        # and for those it wins over min_words.
        return 2 * self.max_words + 8
