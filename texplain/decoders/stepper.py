"""The optional fast decode path a decoder can offer the sampler: slots over a preallocated cache.

TExplain samples many sentences from few conditionings (N = 1000 sentences per image), and the generic
path (``FrozenDecoder.prefill``/``extend``) pays for that twice: the prefix's cache is copied into every
row, and a batch runs until its longest sentence ends. A ``SlotStepper`` instead holds ``rows`` slots of
one sentence each, runs each image's prefix once, and lets a finished sentence's slot take the next
sentence at once (continuous batching, as in Orca, Yu et al. OSDI 2022, and vLLM), so the batch stays full.

A decoder offers one through ``FrozenDecoder.static_stepper`` (None by default: the sampler then uses
prefill/extend). The sampler's static engine (texplain/sampling/engines.py) drives it and knows nothing
of the model behind it; the prefix decoder offers one for the models decoders/static_llama.py reproduces.

The promise a stepper must keep: a slot's logits depend only on its own image and tokens, never on which
other slots share the batch, so an image's sentences do not depend on the batching.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class SlotStepper(ABC):
    """``rows`` decoding slots; ``rows`` shrinks when ``keep`` compacts the batch."""

    rows: int

    @abstractmethod
    def prefill(self, conditionings: torch.Tensor) -> torch.Tensor:
        """Run the images' conditionings (B, k, d) once: first-token logits (B, V). Later calls name an
        image by its row here."""

    @abstractmethod
    def start(self, slots: torch.Tensor, images: torch.Tensor) -> None:
        """Begin a new sentence in each of ``slots`` (n,), conditioned on image ``images`` (n,) of the prefill."""

    @abstractmethod
    def step(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Feed one token per slot (R,); logits (R, V) of each slot's next token."""

    @abstractmethod
    def keep(self, slots: torch.Tensor) -> torch.Tensor:
        """Keep only ``slots`` (n,, sorted), which become slots 0..n-1; returns the old slot of each new
        one (n,), so the caller can reorder its own per-slot state the same way."""
