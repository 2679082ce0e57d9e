"""METEOR (Banerjee & Lavie 2005; Denkowski & Lavie, "Meteor Universal", 2014) in the two definitions in
use, each labelled (TExplain Table 1 reports "METEOR" without saying which):

- ``meteor_jar``: METEOR 1.5 through pycocoevalcap 1.2's jar (``java -jar -Xmx2G meteor-1.5.jar - - -stdio
  -l en -norm``): exact, stem, synonym and paraphrase matches, English parameters. A set's score comes
  from the jar's *aggregated statistics* over all its segments (its ``EVAL`` line), not from the mean of
  segment scores (pycocoevalcap's README: "changes ... to properly aggregate the statistics").
- ``meteor_nltk``: NLTK's ``meteor_score`` (a reimplementation after Lavie & Agarwal 2007: exact, Porter
  stem and WordNet synonym matches, no paraphrase table, alpha 0.9, beta 3, gamma 0.5); with several
  references the best one; a set's score is the mean over its images. It runs high against the jar on
  single sentences (about +0.25 to +0.3 reported: huggingface/evaluate#115, nltk#2655).

The jar is driven by pycocoevalcap's own ``Meteor`` class, with three guards it lacks: Java and the jar
are checked first (a missing one is one sentence naming the fix), every string is cleaned of newlines
and '|||' (text.py), and every call runs under a timeout, after which the jar is killed and the call
fails with the fix instead of hanging.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from contracts.metrics import HIGHER, METRICS
from harness.metrics.captions.scored_set import ScoredSet
from harness.metrics.captions.text import pycocoevalcap_file, require_java
from harness.metrics.captions.wordnet import prepare_wordnet
from texplain.errors import TExplainError


class MeteorJar:
    """One running METEOR 1.5 jar; ``score(segments)`` is the aggregated score and the segment scores.

    segments: (tokenized hypothesis, [tokenized references]) pairs, already cleaned. Use as a context
    manager (or call close) so the JVM ends with the scoring.
    """

    def __init__(self, timeout_s: float = 300.0):
        require_java("METEOR 1.5 (pycocoevalcap's meteor-1.5.jar)")
        pycocoevalcap_file("meteor", "meteor-1.5.jar")
        pycocoevalcap_file("meteor", "data", "paraphrase-en.gz")
        from pycocoevalcap.meteor.meteor import Meteor

        self.timeout_s = float(timeout_s)
        self._meteor = Meteor()

    def score(self, segments: list[tuple[str, list[str]]]) -> tuple[float, list[float]]:
        if not segments:
            raise ValueError("METEOR needs at least one segment")
        for hypothesis, references in segments:
            if not references:
                raise ValueError(f"segment {hypothesis!r} has no references")
            if any("\n" in t or "\r" in t or "|||" in t for t in (hypothesis, *references)):
                raise ValueError("METEOR input must be cleaned first (harness/metrics/captions/text.py clean): a newline or '|||' desynchronises the jar")
        gts = {i: references for i, (_, references) in enumerate(segments)}
        res = {i: [hypothesis] for i, (hypothesis, _) in enumerate(segments)}
        result: dict = {}

        def work() -> None:
            try:
                result["value"] = self._meteor.compute_score(gts, res)
            except Exception as error:  # reported below, in the caller's thread
                result["error"] = error

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        worker.join(self.timeout_s)
        timed_out = worker.is_alive()  # read before stopping: killing the jar ends the worker with an error
        if timed_out or "error" in result:
            stderr = self._stop()
            if timed_out:
                raise TExplainError(
                    f"METEOR 1.5 (pycocoevalcap's meteor-1.5.jar) gave no answer for {len(segments)} segments within "
                    f"{self.timeout_s:.0f} s and was stopped; raise suites.generative_latents.meteor_timeout_s, or check "
                    f"that `java -jar -Xmx2G meteor-1.5.jar` can start (2 GB heap).{stderr}"
                )
            raise TExplainError(f"METEOR 1.5 (pycocoevalcap's meteor-1.5.jar) failed: {result['error']!r}.{stderr}") from result["error"]
        score, scores = result["value"]
        return float(score), [float(s) for s in scores]

    def _stop(self) -> str:
        """Kill the jar; returns the end of its stderr for the error message."""
        process = self._meteor.meteor_p
        process.kill()
        try:
            _, stderr = process.communicate(timeout=10)
        except Exception:
            stderr = b""
        # compute_score holds Meteor's lock when it fails; its __del__ takes the lock again, so a fresh
        # one keeps garbage collection from waiting forever.
        self._meteor.lock = threading.Lock()
        text = (stderr or b"").decode(errors="replace").strip()
        return f" The jar said: {text[-400:]}" if text else ""

    def close(self) -> None:
        if self._meteor.meteor_p.poll() is None:
            self._stop()

    def __enter__(self) -> MeteorJar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _MemoStemmer:
    """NLTK's Porter stemmer, each word stemmed once: METEOR stems every word of every hypothesis/reference
    pair again (a suite's 36,000 pairs spent 38 of 82 s in `PorterStemmer.stem`); the stem is a pure function."""

    def __init__(self):
        from nltk.stem.porter import PorterStemmer

        self.stem = functools.lru_cache(maxsize=None)(PorterStemmer().stem)


class _MemoWordNet:
    """WordNet's `synsets(word)` (all METEOR asks of it), each word looked up once; the synsets are read-only."""

    def __init__(self):
        from nltk.corpus import wordnet

        self.synsets = functools.lru_cache(maxsize=None)(wordnet.synsets)


@functools.lru_cache(maxsize=1)
def _memo_tools() -> tuple[_MemoStemmer, _MemoWordNet]:
    return _MemoStemmer(), _MemoWordNet()


def meteor_nltk(hypothesis: str, references: list[str]) -> float:
    """NLTK's METEOR of one tokenized hypothesis against tokenized references (call prepare_wordnet first).
    NLTK's own defaults (Porter stemmer, WordNet, alpha 0.9, beta 3, gamma 0.5), memoised: the same scores."""
    from nltk.translate.meteor_score import meteor_score

    stemmer, wordnet = _memo_tools()
    return float(meteor_score([r.split() for r in references], hypothesis.split(), stemmer=stemmer, wordnet=wordnet))


@METRICS.per_set(
    "caption.meteor_jar", HIGHER,
    "METEOR 1.5 (pycocoevalcap's jar: exact, stem, synonym, paraphrase; -l en -norm) from the jar's aggregated statistics over the segments",
    "pycocoevalcap", {"command": "java -jar -Xmx2G meteor-1.5.jar - - -stdio -l en -norm", "aggregation": "jar EVAL over segments"},
)
def score_meteor_jar(scored: ScoredSet) -> tuple[dict[str, float], float]:
    jar = scored.meteor or MeteorJar(scored.config.meteor_timeout_s)
    try:
        per_key = {k: jar.score(scored.segments[k])[0] for k in scored.keys}
        return per_key, jar.score(scored.all_segments())[0]
    finally:
        if scored.meteor is None:
            jar.close()


@METRICS.per_set(
    "caption.meteor_nltk", HIGHER,
    "METEOR as NLTK's meteor_score computes it (exact, Porter stem, WordNet 3.0 synonyms; alpha 0.9, beta 3, gamma 0.5; best reference); mean over segments",
    "nltk", {"alpha": 0.9, "beta": 3.0, "gamma": 0.5, "wordnet": "3.0 from Debian wordnet-base"},
)
def score_meteor_nltk(scored: ScoredSet) -> tuple[dict[str, float], float]:
    prepare_wordnet(Path(scored.config.nltk_data) if scored.config.nltk_data else None)
    return scored.mean_over_segments(meteor_nltk)
