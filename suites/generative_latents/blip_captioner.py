"""The real captioner: BLIP (Li et al., "BLIP: Bootstrapping Language-Image Pre-training", 2022) captions
the generated images, as in TExplain Section 4.3, through transformers' ``BlipForConditionalGeneration``
and its processor.

N captions per image (``suites.generative_latents.num_captions``), in one of two modes:
``sampled`` (nucleus sampling, top-p 0.9, seeded per image) or ``beam`` (the N best of a beam search
with max(N, 3) beams). The decoder starts from ``text_config.bos_token_id`` and stops at its
``sep_token_id``; captions are decoded with the processor, special tokens skipped.
"""

from __future__ import annotations

import torch
from PIL import Image

from texplain.errors import TExplainError


def load_blip(spec: str, device: torch.device):
    """(model, processor) of a BLIP captioning checkpoint by hub id or folder."""
    from transformers import BlipForConditionalGeneration, BlipProcessor

    try:
        processor = BlipProcessor.from_pretrained(spec)
        model = BlipForConditionalGeneration.from_pretrained(spec)
    except (OSError, ValueError) as error:
        raise TExplainError(
            f"could not load BLIP {spec!r} ({str(error).splitlines()[0]}); pass a folder or a hub id on a machine that reaches the hub "
            "(suites.generative_latents.captioner), or use the offline stand-in (generator and captioner 'stand-in')"
        ) from error
    return model.to(device).eval(), processor


@torch.no_grad()
def caption_images(model, processor, images: list[Image.Image], num_captions: int, mode: str = "sampled",
                   seeds: list[int] | None = None, max_new_tokens: int = 30) -> list[list[str]]:
    """num_captions captions per image."""
    if mode not in ("sampled", "beam"):
        raise ValueError(f"caption mode must be 'sampled' or 'beam', got {mode!r}")
    result = []
    for index, image in enumerate(images):
        pixel_values = processor(images=image, return_tensors="pt")["pixel_values"].to(model.device, model.dtype)  # (1, 3, S, S)
        if mode == "sampled":
            torch.manual_seed(seeds[index] if seeds is not None else index)  # an image's captions depend on its seed only
            ids = model.generate(pixel_values=pixel_values, do_sample=True, top_p=0.9, num_return_sequences=num_captions, max_new_tokens=max_new_tokens)
        else:
            beams = max(num_captions, 3)
            ids = model.generate(pixel_values=pixel_values, num_beams=beams, num_return_sequences=num_captions, max_new_tokens=max_new_tokens)
        result.append([text.strip() for text in processor.batch_decode(ids, skip_special_tokens=True)])
    return result
