"""The real path of the generative-latent suite (TExplain Section 4.3) with tiny random-weight components
built from configs, no download: a Stable Diffusion pipeline of diffusers' own pipeline-test sizes
(UNet2DConditionModel, AutoencoderKL, CLIPTextModel, DDIMScheduler; prompt embeddings passed, so no
tokenizer), and a tiny BLIP with its processor built from a local vocabulary.

Checked: the pipeline runs with output_type="latent" and a step callback that returns its dict; the
captured latents have SD's shape (B, 4, H/f, W/f); our decoding (vae.decode(latents / scaling_factor))
gives exactly the pipeline's own images for the same seeds; each image depends on its own seed only;
VAE encoding of captioned images lands in the same scaled space; BLIP returns N captions per image, sampled
and beam; the COCO prompt reader picks captions by category word.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from suites.generative_latents import stable_diffusion as sd
from suites.generative_latents.blip_captioner import caption_images
from suites.generative_latents.coco_prompts import category_prompts
from suites.generative_latents.stand_in_vae import latent_tokens
from texplain.errors import TExplainError


@pytest.fixture(scope="module")
def tiny_pipe():
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(4, 8), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                                cross_attention_dim=8, norm_num_groups=2)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False)
    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=[4, 8], in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 2,
                        up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4, norm_num_groups=2)
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=2, hidden_size=8, intermediate_size=16, layer_norm_eps=1e-5,
                                                num_attention_heads=2, num_hidden_layers=2, pad_token_id=1, vocab_size=1000))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=None, unet=unet, scheduler=scheduler, safety_checker=None,
                                   feature_extractor=None, image_encoder=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        ids = torch.randint(3, 1000, (2, 7), generator=torch.Generator().manual_seed(0))
        embeds = text_encoder(ids)[0]  # (2, 7, 8): a prompt and the empty (negative) prompt
    return pipe, embeds[:1], embeds[1:]


def test_latents_are_captured_and_decode_to_the_pipelines_own_images(tiny_pipe):
    pipe, prompt, negative = tiny_pipe
    out = sd.generate(pipe, [11, 12], prompt_embeds=prompt, negative_prompt_embeds=negative, num_inference_steps=3, guidance_scale=7.5)
    assert out.latents.shape == (2, 4, 32, 32)  # (B, 4, H/2, W/2): the test VAE downsamples by 2, the default image is 64 px
    assert out.steps_seen == 3
    assert [im.size for im in out.images] == [(64, 64), (64, 64)]
    own = pipe(prompt_embeds=prompt.repeat(2, 1, 1), negative_prompt_embeds=negative.repeat(2, 1, 1), num_inference_steps=3, guidance_scale=7.5,
               generator=[torch.Generator().manual_seed(s) for s in (11, 12)], output_type="pil").images
    for ours, theirs in zip(out.images, own):
        assert np.array_equal(np.asarray(ours), np.asarray(theirs))
    # A different seed gives a different image: the comparison above can fail.
    assert not np.array_equal(np.asarray(out.images[0]), np.asarray(out.images[1]))


def test_each_image_depends_on_its_own_seed(tiny_pipe):
    pipe, prompt, negative = tiny_pipe
    pair = sd.generate(pipe, [11, 12], prompt_embeds=prompt, negative_prompt_embeds=negative, num_inference_steps=2)
    alone = sd.generate(pipe, [12], prompt_embeds=prompt, negative_prompt_embeds=negative, num_inference_steps=2)
    assert torch.allclose(pair.latents[1], alone.latents[0], atol=1e-5)


def test_the_step_callback_sees_the_final_latents(tiny_pipe):
    pipe, prompt, negative = tiny_pipe
    seen = {}

    def on_step_end(pipeline, step, timestep, kwargs):
        seen[step] = kwargs["latents"].clone()
        return kwargs  # the pipeline pops "latents" from what the callback returns

    latents = pipe(prompt_embeds=prompt, negative_prompt_embeds=negative, num_inference_steps=2, generator=[torch.Generator().manual_seed(3)],
                   output_type="latent", callback_on_step_end=on_step_end).images
    assert sorted(seen) == [0, 1] and torch.equal(seen[1], latents)


def test_captioned_images_are_encoded_into_the_same_scaled_space(tiny_pipe):
    pipe, prompt, negative = tiny_pipe
    images = sd.generate(pipe, [5, 6], prompt_embeds=prompt, negative_prompt_embeds=negative, num_inference_steps=2).images
    latents = sd.encode_images(pipe.vae, images, size=64)
    assert latents.shape == (2, 4, 32, 32)
    x = torch.from_numpy(np.stack([np.asarray(im, dtype=np.float32) for im in images])).permute(0, 3, 1, 2) / 127.5 - 1.0
    with torch.no_grad():
        expected = pipe.vae.encode(x).latent_dist.mode() * pipe.vae.config.scaling_factor
    assert torch.allclose(latents, expected, atol=1e-4)
    assert latent_tokens(latents).shape == (2, 32 * 32, 4)  # (N, h*w, C): the translator's token grid


def test_a_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(TExplainError, match=r"could not load Stable Diffusion.*generator=stand-in"):
        sd.load_pipeline(str(tmp_path / "no-such-model"), torch.device("cpu"))


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory):
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor, BlipTextConfig, BlipVisionConfig

    folder = tmp_path_factory.mktemp("blip")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"word{i}" for i in range(94)]  # 99 tokens
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    text = BlipTextConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                          bos_token_id=2, sep_token_id=3, pad_token_id=0)
    vision = BlipVisionConfig(image_size=30, patch_size=2, hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(BlipConfig(text_config=text.to_dict(), vision_config=vision.to_dict())).eval()
    processor = BlipProcessor(BlipImageProcessor(size={"height": 30, "width": 30}), BertTokenizer(str(folder / "vocab.txt")))
    return model, processor


@pytest.mark.parametrize("mode", ["sampled", "beam"])
def test_blip_returns_n_captions_per_image(tiny_blip, mode):
    from PIL import Image

    model, processor = tiny_blip
    images = [Image.new("RGB", (64, 64), colour) for colour in ("red", "blue")]
    captions = caption_images(model, processor, images, num_captions=3, mode=mode, seeds=[1, 2], max_new_tokens=5)
    assert len(captions) == 2 and all(len(c) == 3 for c in captions)
    assert all(isinstance(t, str) and t for c in captions for t in c)
    assert all(set(t.split()) <= {f"word{i}" for i in range(94)} for c in captions for t in c)
    if mode == "sampled":  # seeded per image: the same seeds give the same captions
        assert caption_images(model, processor, images, 3, mode, seeds=[1, 2], max_new_tokens=5) == captions


def test_prompts_are_coco_captions_containing_the_category_word(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "val2017").mkdir()
    images = [{"id": i, "file_name": f"{i:012d}.jpg"} for i in (1, 2, 3)]
    for image in images:
        (tmp_path / "val2017" / image["file_name"]).write_bytes(b"")
    captions = [(1, "A kitchen with a stove."), (1, "Another kitchen view."), (2, "Two buses on a street."), (3, "A bus stop."), (3, "kitchenware")]
    (tmp_path / "annotations" / "captions_val2017.json").write_text(json.dumps(
        {"images": images, "annotations": [{"id": n, "image_id": i, "caption": c} for n, (i, c) in enumerate(captions)]}))
    # One caption per image, whole words only (kitchenware is not a kitchen), plurals (s, es) allowed.
    assert category_prompts(tmp_path, "val2017", ("kitchen", "bus"), 2) == {"kitchen": ["A kitchen with a stove."], "bus": ["Two buses on a street.", "A bus stop."]}
    with pytest.raises(TExplainError, match="contains the category word 'zebra'"):
        category_prompts(tmp_path, "val2017", ("zebra",), 1)
