"""The real generator: Stable Diffusion's final latents and the images they decode to (TExplain Section
4.3: "the final latents, just before the VAE decoder", explained by TExplain; Rombach et al. 2022).

diffusers' ``StableDiffusionPipeline`` with ``output_type="latent"`` skips its own decoding and returns the
final latents already in the UNet's (scaled) space, ``(B, 4, H/8, W/8)``. They are decoded here with
``vae.decode(latents / vae.config.scaling_factor)`` and post-processed by the pipeline's own image
processor, so each latent and its image are paired exactly, and the image equals the pipeline's own output
for the same seed (tested with diffusers' pipeline-test sizes). Each image has its own seed (one
``torch.Generator`` per image), so an image does not depend on the batch it was generated in.

The translator learns the same latent space from captioned images: ``encode_images`` is SD's VAE encoder
(input in [-1, 1]), ``latent_dist.mode()`` times the scaling factor (as img2img's ``retrieve_latents``
does with ``sample_mode="argmax"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from texplain.errors import TExplainError


@dataclass
class Generated:
    latents: torch.Tensor  # (B, 4, h, w) final latents, scaled (the UNet's space)
    images: list[Image.Image]  # vae.decode(latents / scaling_factor), post-processed as the pipeline does
    seeds: list[int]
    steps_seen: int  # denoising steps the step callback saw


def load_pipeline(spec: str, device: torch.device, dtype: torch.dtype = torch.float32):
    """A StableDiffusionPipeline by hub id or folder, without its safety checker (the images are scored,
    not shown to anyone)."""
    from diffusers import StableDiffusionPipeline

    try:
        pipe = StableDiffusionPipeline.from_pretrained(spec, dtype=dtype, safety_checker=None, requires_safety_checker=False)
    except (OSError, ValueError) as error:
        raise TExplainError(
            f"could not load Stable Diffusion {spec!r} ({str(error).splitlines()[0]}); pass a diffusers folder or a hub id on a machine "
            "that reaches the hub (suites.generative_latents.generator), or use the offline stand-in: --set suites.generative_latents.generator=stand-in "
            "--set suites.generative_latents.captioner=stand-in"
        ) from error
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


@torch.no_grad()
def generate(pipe, seeds: list[int], prompt: str | None = None, prompt_embeds: torch.Tensor | None = None,
             negative_prompt_embeds: torch.Tensor | None = None, num_inference_steps: int = 50, guidance_scale: float = 7.5,
             height: int | None = None, width: int | None = None) -> Generated:
    """One image per seed for one prompt (text, or its embeddings (1, L, D) when no tokenizer is at hand)."""
    device = pipe._execution_device
    generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]  # CPU generators: same noise on any device
    steps = {"count": 0, "latents": None}

    def on_step_end(pipeline, step: int, timestep, callback_kwargs: dict) -> dict:
        # The pipeline pops "latents" from what this returns, so it must return the dict it was given.
        steps["count"] += 1
        steps["latents"] = callback_kwargs["latents"]
        return callback_kwargs

    count = len(seeds)
    arguments = dict(num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, height=height, width=width,
                     generator=generators, output_type="latent", callback_on_step_end=on_step_end,
                     callback_on_step_end_tensor_inputs=["latents"])
    if prompt_embeds is not None:
        arguments["prompt_embeds"] = prompt_embeds.to(device).repeat(count, 1, 1)  # (B, L, D)
        if negative_prompt_embeds is not None:
            arguments["negative_prompt_embeds"] = negative_prompt_embeds.to(device).repeat(count, 1, 1)
    else:
        arguments["prompt"] = [prompt] * count
    latents = pipe(**arguments).images  # (B, 4, h, w), scaled
    return Generated(latents.float().cpu(), decode(pipe, latents), list(seeds), steps["count"])


@torch.no_grad()
def decode(pipe, latents: torch.Tensor) -> list[Image.Image]:
    """The pipeline's own decoding, done here: vae.decode(latents / scaling_factor), then its image processor."""
    vae = pipe.vae
    images = vae.decode(latents.to(vae.device, vae.dtype) / vae.config.scaling_factor, return_dict=False)[0]  # (B, 3, H, W) in [-1, 1]
    return pipe.image_processor.postprocess(images, output_type="pil", do_denormalize=[True] * images.shape[0])


@torch.no_grad()
def encode_images(vae, images: list[Image.Image], size: int, batch_size: int = 8) -> torch.Tensor:
    """SD-space latents (N, 4, size/8, size/8) of captioned images: resized to size x size, [-1, 1], mode of
    the posterior times the scaling factor."""
    from diffusers.image_processor import VaeImageProcessor

    processor = VaeImageProcessor(vae_scale_factor=2 ** (len(vae.config.block_out_channels) - 1))
    parts = []
    for start in range(0, len(images), batch_size):
        batch = processor.preprocess(images[start : start + batch_size], height=size, width=size)  # (B, 3, size, size) in [-1, 1]
        parts.append(vae.encode(batch.to(vae.device, vae.dtype)).latent_dist.mode().float().cpu())
    return torch.cat(parts) * vae.config.scaling_factor
