"""Settings of the generative-latent suite (TExplain Section 4.3, Table 1, Figure 4): the run config's
``suites.generative_latents`` section.

``generator`` and ``captioner`` choose the path: ``stand-in`` (the offline default: a VAE trained here on a
captioned synthetic world, and the run's own classifier -> translator -> LM stack captioning the decoded
images) or a diffusers Stable Diffusion id or folder and a transformers BLIP id or folder (the paper's
setting, for a machine with a GPU and a network). Lists are comma-separated strings (the config reader
takes scalars).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.metrics.captions import CaptionMetricsConfig, parse_metric_list

STAND_IN = "stand-in"
CAPTION_MODES = ("sampled", "beam")
# Our choice of 26 COCO words for the real path: the paper names kitchen, bathroom and bus (Figure 4) but
# does not list its 26 categories. Prompts of a category are COCO captions that contain its word.
COCO_CATEGORIES = (
    "kitchen,bathroom,bus,train,airplane,giraffe,elephant,zebra,pizza,cat,dog,horse,bed,toilet,motorcycle,"
    "skateboard,surfboard,boat,clock,umbrella,bench,laptop,sheep,cow,bicycle,truck"
)


@dataclass(frozen=True)
class GenerativeLatentsConfig:
    enabled: bool = True
    generator: str = STAND_IN  # or a Stable Diffusion id / folder (diffusers StableDiffusionPipeline)
    captioner: str = STAND_IN  # or a BLIP id / folder (transformers BlipForConditionalGeneration)
    # Categories: stand-in: "" = the world's object classes (or a subset of them); real: COCO words.
    categories: str = ""
    images_per_category: int = 4  # stand-in: held-out world images per category
    image_size: int = 64  # stand-in world and VAE; real: SD's resolution (512)
    world_seed: int = 2
    train_images: int = 200  # images the latent translator (and the stand-in VAE) train on
    train_captions_per_image: int = 1  # captions per training image the translator sees (the world has 5)
    translator_epochs: int = 3
    vae_epochs: int = 4  # stand-in VAE
    vae_batch_size: int = 8
    num_captions: int = 5  # captions per generated image (BLIP's N; the stand-in captioner's first N sentences)
    caption_mode: str = "sampled"  # BLIP: N nucleus-sampled captions, or the N best beams (blip_captioner.py)
    # Real path: COCO captions (harness/datasets/coco_captions.py) for prompts and for the translator's latents.
    coco_root: str | None = None
    coco_split: str = "val2017"  # prompts
    coco_train_split: str = "train2017"  # captioned images the latent translator trains on
    prompts_per_category: int = 2
    images_per_prompt: int = 4
    num_inference_steps: int = 50
    guidance_scale: float = 7.5
    # Caption metrics (harness/metrics/captions): comma-separated names, or "all".
    metrics: str = "all"
    tokenizer: str = "ptb"
    embedder: str = "packaged:all-minilm-l6-v2"
    embedder_pooling: str = "mean"
    meteor_timeout_s: float = 300.0

    def __post_init__(self) -> None:
        for name in ("images_per_category", "image_size", "train_images", "train_captions_per_image", "translator_epochs",
                     "vae_epochs", "vae_batch_size", "num_captions", "prompts_per_category", "images_per_prompt", "num_inference_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"suites.generative_latents.{name} must be >= 1, got {getattr(self, name)}")
        if self.caption_mode not in CAPTION_MODES:
            raise ValueError(f"suites.generative_latents.caption_mode must be one of {', '.join(CAPTION_MODES)}, got {self.caption_mode!r}")
        if (self.generator == STAND_IN) != (self.captioner == STAND_IN):
            raise ValueError("suites.generative_latents: generator and captioner are both 'stand-in' or both real models (a SD id and a BLIP id)")
        self.metrics_config()  # unknown metric names, tokenizer or pooling fail at config loading

    @property
    def stand_in(self) -> bool:
        return self.generator == STAND_IN

    def category_list(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.categories.split(",") if part.strip())

    def metrics_config(self, nltk_data: str | None = None) -> CaptionMetricsConfig:
        return CaptionMetricsConfig(
            metrics=parse_metric_list(self.metrics), tokenizer=self.tokenizer, embedder=self.embedder,
            embedder_pooling=self.embedder_pooling, meteor_timeout_s=self.meteor_timeout_s, nltk_data=nltk_data,
        )
