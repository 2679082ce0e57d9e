"""The stand-in "generator" of the offline default: a small diffusers ``AutoencoderKL`` trained here on the
captioned synthetic world (TExplain Section 4.3 explains Stable Diffusion's final latents, the tensor just
before its VAE decoder; nothing installable here ships Stable Diffusion or any VAE, docs/design.md#offline-models-and-stand-ins).

What it keeps of the real thing: the latent is the input of a VAE decoder (so it decodes to an image, as
SD's final latent does), the VAE class is diffusers' own, and the latent is scaled as SD scales it: the
scaling factor is 1 / std of the training latents (Rombach et al. 2022 set SD's 0.18215 that way), stored
in the VAE's config as ``scaling_factor``, so ``latents = vae.encode(x).latent_dist.mode() * scaling_factor``
and ``x = vae.decode(latents / scaling_factor)`` exactly as for SD. What it does not have: a diffusion
model (the latents are encodings of world images, not denoised noise) and SD's perceptual and adversarial
losses (trained with MSE plus a KL weight of 1e-6, the weight of SD's KL term).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StandInVAEConfig:
    # 3 blocks: latents are image_size / 4 on a side. Small channels and no mid-block attention keep training
    # to ~8 ms per 64 px image under CPU bf16 (~15 in fp32), measured on an Intel Xeon with AMX/AVX512-BF16.
    block_out_channels: tuple[int, ...] = (16, 32, 64)
    latent_channels: int = 4  # as SD's
    epochs: int = 10
    batch_size: int = 32
    lr: float = 2e-3
    kl_weight: float = 1e-6
    seed: int = 0
    precision: str = "fp32"  # resolved (texplain/precision.py): "bf16" trains under CPU/GPU bf16 autocast

    @property
    def downsampling(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)


def build_vae(config: StandInVAEConfig):
    from diffusers import AutoencoderKL

    blocks = len(config.block_out_channels)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=config.latent_channels,
        down_block_types=("DownEncoderBlock2D",) * blocks, up_block_types=("UpDecoderBlock2D",) * blocks,
        block_out_channels=tuple(config.block_out_channels), layers_per_block=1,
        norm_num_groups=min(32, min(config.block_out_channels)), mid_block_add_attention=False,
    )


def load_images(paths: list[Path], size: int) -> torch.Tensor:
    """(N, 3, size, size) in [-1, 1], the VAE's input range (as diffusers' VaeImageProcessor normalizes)."""
    arrays = [np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BICUBIC), dtype=np.float32) for p in paths]
    # .contiguous(): plain NCHW memory, not the channels-last view the permute leaves.
    return (torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) / 127.5 - 1.0).contiguous()  # (N, 3, H, W)


def train_vae(images: torch.Tensor, config: StandInVAEConfig, progress: bool = False):
    """Train the stand-in VAE on (N, 3, H, W) images in [-1, 1]; returns it in eval mode with its
    scaling_factor set, and the per-epoch reconstruction MSE."""
    torch.manual_seed(config.seed)
    vae = build_vae(config)
    optimizer = torch.optim.Adam(vae.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    history = []
    for epoch in range(config.epochs):
        vae.train()
        order = torch.randperm(images.shape[0], generator=generator)
        losses = []
        for start in range(0, len(order), config.batch_size):
            batch = images[order[start : start + config.batch_size]]  # (B, 3, H, W)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.precision == "bf16"):
                posterior = vae.encode(batch).latent_dist
                reconstruction = vae.decode(posterior.sample(generator)).sample  # (B, 3, H, W)
            mse = torch.nn.functional.mse_loss(reconstruction.float(), batch)
            loss = mse + config.kl_weight * posterior.kl().float().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(mse.detach()))
        history.append({"epoch": epoch + 1, "reconstruction_mse": round(float(np.mean(losses)), 6)})
        if progress:
            log.info("stand-in VAE epoch %d: reconstruction MSE %.4f", epoch + 1, history[-1]["reconstruction_mse"])
    vae.eval()
    with torch.no_grad():
        latents = encode(vae, images, scaling_factor=1.0)  # (N, C, h, w), unscaled
    # SD's recipe for its scaling factor: unit variance of the scaled latents.
    vae.register_to_config(scaling_factor=float(1.0 / latents.std()))
    return vae, history


@torch.no_grad()
def encode(vae, images: torch.Tensor, scaling_factor: float | None = None, batch_size: int = 64) -> torch.Tensor:
    """Scaled latents (N, C, h, w) of images in [-1, 1]: latent_dist.mode() times the scaling factor,
    the latent space of SD's UNet (and of output_type="latent")."""
    factor = vae.config.scaling_factor if scaling_factor is None else scaling_factor
    parts = [vae.encode(images[i : i + batch_size].to(vae.device, vae.dtype)).latent_dist.mode() for i in range(0, images.shape[0], batch_size)]
    return torch.cat(parts).float().cpu() * factor


@torch.no_grad()
def decode(vae, latents: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Images (N, 3, H, W) in [-1, 1] of scaled latents: vae.decode(latents / scaling_factor)."""
    factor = vae.config.scaling_factor
    parts = [vae.decode(latents[i : i + batch_size].to(vae.device, vae.dtype) / factor).sample for i in range(0, latents.shape[0], batch_size)]
    return torch.cat(parts).float().cpu().clamp(-1.0, 1.0)


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """(N, 3, H, W) in [-1, 1] -> PIL images (rounded as diffusers' VaeImageProcessor does)."""
    arrays = ((images.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()  # (N, H, W, 3)
    return [Image.fromarray(a) for a in arrays]


def latent_tokens(latents: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) -> (N, h*w, C): the latent grid as tokens of C channels, row-major, for the translator."""
    n, c, h, w = latents.shape
    return latents.permute(0, 2, 3, 1).reshape(n, h * w, c)  # (N, h*w, C)
