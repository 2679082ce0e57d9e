"""The frozen language model's interface: one contract, two kinds (docs/design.md#decoder-kinds).

- ``prefix``: the translator's output is k input embeddings of a causal LM ("soft prefix", as in
  ClipCap / LiMBeR);
- ``cross_attention``: the translator's output is a (tokens, d) memory that a text decoder
  cross-attends to (BLIP's BERT-based text decoder, the paper's likely "dec(.)").

Both give the same four operations: the caption loss used to train the translator, and
``prefill``/``extend`` with a key-value cache used by the sampler. A decoder may also offer a faster
decode path, ``static_stepper`` (decoders/stepper.py; None by default), which the sampler asks for and
uses when offered. Both kinds are frozen: eval mode, no parameter requires grad; gradients reach the
translator through activations only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from texplain.caption_token_weights import weighted_token_mean
from texplain.decoders.stepper import SlotStepper
from texplain.hashing import hash_state_dict


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


class FrozenDecoder(ABC):
    kind: ClassVar[str]

    def __init__(self, spec: str, model: torch.nn.Module, tokenizer: Any, device: torch.device | str = "cpu"):
        self.spec = spec
        self.device = torch.device(device)
        self.model = freeze(model).to(self.device)
        self.tokenizer = tokenizer
        self.vocab_size = int(self.model.get_output_embeddings().weight.shape[0])
        self._weights_hash: str | None = None
        # How the model was built when that is not the usual way, e.g. random weights for a dry run
        # (texplain/decoders/random_init.py); it enters identity(), so checkpoints and runs record it.
        self.origin: dict = {}
        self._starts_chunk: torch.Tensor | None = None
        self._has_word_char: torch.Tensor | None = None
        self._ends_in_space: torch.Tensor | None = None

    # ---- what a translator must produce -------------------------------------------------------
    @property
    @abstractmethod
    def conditioning_dim(self) -> int:
        """d of the (k, d) conditioning the translator must output."""

    @property
    @abstractmethod
    def eos_token_id(self) -> int: ...

    # ---- training -----------------------------------------------------------------------------
    @abstractmethod
    def caption_logits(self, conditioning: torch.Tensor, caption_ids: torch.Tensor, caption_mask: torch.Tensor) -> torch.Tensor:
        """Logits (B, L, V) predicting caption_ids (B, L) given the conditioning (B, k, d)."""

    def tokenize_captions(self, captions: list[str], max_tokens: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
        """Caption token ids followed by EOS, right-padded: ids (B, L), mask (B, L)."""
        rows = [self.caption_token_ids(caption, max_tokens) for caption in captions]
        length = max(len(r) for r in rows)
        ids = torch.full((len(rows), length), self.eos_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        return ids.to(self.device), mask.to(self.device)

    def caption_token_ids(self, caption: str, max_tokens: int = 64) -> list[int]:
        """Token ids of a caption then EOS (at most max_tokens); kept, since every epoch asks again."""
        cache = self.__dict__.setdefault("_caption_id_cache", {})
        key = (caption, max_tokens)
        ids = cache.get(key)
        if ids is None:
            ids = self.tokenizer(self._caption_text(caption), add_special_tokens=False)["input_ids"][: max_tokens - 1] + [self.eos_token_id]
            cache[key] = ids
        return ids

    def _caption_text(self, caption: str) -> str:
        return caption

    def caption_loss(self, conditioning: torch.Tensor, captions: list[str], token_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Mean token cross-entropy of the captions (and their EOS) given the conditioning (B, k, d).

        token_weights: (V,) a weight per target token id (texplain/caption_token_weights.py), or None
        for the plain mean."""
        ids, mask = self.tokenize_captions(captions)
        logits = self.caption_logits(conditioning, ids, mask)  # (B, L, V)
        real = mask.reshape(-1) == 1
        targets = ids.reshape(-1)[real]
        token_losses = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1])[real], targets, reduction="none")
        return weighted_token_mean(token_losses, targets, token_weights)

    # ---- sampling -----------------------------------------------------------------------------
    @abstractmethod
    def prefill(self, conditioning: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Logits (B, V) of the first caption token and a cache, for conditioning (B, k, d)."""

    @abstractmethod
    def extend(self, cache: Any, token_ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Logits (B, V) of the next token after appending token_ids (B,), and the updated cache."""

    def static_stepper(self, rows: int, max_tokens: int, dtype: torch.dtype | None = None) -> SlotStepper | None:
        """A fast decode path for the sampler's static engine, or None when this decoder has none.

        ``rows`` slots for sentences of at most ``max_tokens`` tokens; ``dtype`` the compute dtype the
        sampler runs under (its autocast dtype; None: the model's own). The default offers none, and the
        sampler then uses ``prefill``/``extend``, which every decoder has."""
        return None

    def decode(self, ids: list[int]) -> str:
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return " ".join(text.split())

    def banned_token_ids(self) -> list[int]:
        """Special tokens other than EOS: never sampled (chat markers, [MASK], [DEC]...)."""
        special = set(getattr(self.tokenizer, "all_special_ids", []) or [])
        # Added tokens flagged special (SmolLM2's <repo_name>, <file_sep>, ...) are not in all_special_ids
        # but vanish when decoded with skip_special_tokens: sampled, they would count as a word and leave
        # an empty sentence.
        for token_id, token in (getattr(self.tokenizer, "added_tokens_decoder", None) or {}).items():
            if getattr(token, "special", False):
                special.add(int(token_id))
        special.discard(self.eos_token_id)
        return sorted(i for i in special if 0 <= i < self.vocab_size)

    def _token_strings(self) -> list[str]:
        tokens = self.tokenizer.convert_ids_to_tokens(list(range(self.vocab_size)))
        return [t if isinstance(t, str) else "" for t in tokens]

    def _token_texts(self) -> list[str]:
        """The text each token stands for. Byte-level BPE spells bytes as printable stand-ins ('Ġ' for a
        space, 'Ċ' for a newline, and 'Ċ'.isalnum() is True), so those are mapped back to bytes first."""
        strings = self._token_strings()
        if not any(t.startswith("Ġ") for t in strings):
            return [t.replace("▁", " ") for t in strings]
        byte_of = _byte_level_alphabet()
        texts = []
        for t in strings:
            if all(c in byte_of for c in t):
                # A token may hold part of a multi-byte character; that part is not a letter.
                texts.append(bytes(byte_of[c] for c in t).decode("utf-8", errors="replace"))
            else:
                texts.append(t)  # added tokens are stored as plain text
        return texts

    def has_word_char_mask(self) -> torch.Tensor:
        """(V,) bool: the token's text contains a letter or digit (and the token is not special)."""
        if self._has_word_char is None:
            special = set(self.banned_token_ids()) | {self.eos_token_id}
            self._has_word_char = torch.tensor(
                [any(c.isalnum() for c in t) and i not in special for i, t in enumerate(self._token_texts())], dtype=torch.bool
            )
        return self._has_word_char

    def ends_in_space_mask(self) -> torch.Tensor:
        """(V,) bool: the token's text ends in whitespace (newline 'Ċ' or space 'Ġ' in byte-level BPE),
        so the next token begins a word even without a leading-space marker."""
        if self._ends_in_space is None:
            strings = self._token_strings()
            byte_level = any(t.startswith("Ġ") for t in strings)
            marks = ("Ġ", "Ċ", "ĉ") if byte_level else (" ", "\n", "\t")
            self._ends_in_space = torch.tensor([t.endswith(marks) for t in strings], dtype=torch.bool)
        return self._ends_in_space

    def select_rows(self, cache: Any, rows: torch.Tensor) -> Any:
        """Keep (or repeat) the given batch rows of a cache: finished sentences leave the batch, and a
        prefix run once per image is expanded to that image's rows."""
        if cache is None:  # decoders without a cache (test doubles)
            return None
        cache.reorder_cache(rows.to(self.device))
        return cache

    def starts_chunk_mask(self) -> torch.Tensor:
        """(V,) bool: the token begins a new whitespace-delimited chunk of text.

        Byte-level BPE marks a leading space with 'Ġ', SentencePiece with '▁'; WordPiece marks
        continuations with '##'; word-level vocabularies have no markers (every token stands alone).
        The sampler counts words as chunks that contain a letter or digit, i.e. as ``text.split()`` does.
        """
        if self._starts_chunk is None:
            tokens = self._token_strings()
            if any(t.startswith("Ġ") for t in tokens):
                starts = [t.startswith("Ġ") for t in tokens]
            elif any(t.startswith("▁") for t in tokens):
                starts = [t.startswith("▁") for t in tokens]
            else:
                starts = [not t.startswith("##") for t in tokens]
            self._starts_chunk = torch.tensor(starts, dtype=torch.bool)
        return self._starts_chunk

    # ---- identity -----------------------------------------------------------------------------
    def identity(self) -> dict:
        """What a translator checkpoint must match: kind, spec, conditioning size, vocabulary, weights."""
        if self._weights_hash is None:
            self._weights_hash = hash_state_dict(self.model.state_dict())
        return {
            "kind": self.kind,
            "spec": self.spec,
            "conditioning_dim": self.conditioning_dim,
            "vocab_size": self.vocab_size,
            "weights_hash": self._weights_hash,
            **self.origin,  # empty for a decoder loaded the usual way: identities of real models unchanged
        }


def _byte_level_alphabet() -> dict[str, int]:
    """Character -> byte of GPT-2-style byte-level BPE: bytes that print as themselves ('!'..'~',
    '¡'..'¬', '®'..'ÿ') keep their code point; the other 68 are spelled by code points 256, 257, ...
    in byte order (so a space is 'Ġ' = 256 + 32 and a newline 'Ċ' = 256 + 10)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    alphabet = {chr(b): b for b in printable}
    spelled = 0
    for byte in range(256):
        if byte not in printable:
            alphabet[chr(256 + spelled)] = byte
            spelled += 1
    return alphabet
