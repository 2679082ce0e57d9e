"""The Waterbirds suite's settings: the run config's ``suites.waterbirds`` section (TExplain, Section 4.4,
Table 2; MaskTune, Asgari et al., NeurIPS 2022, for the MaskTune baseline's recipe).

One frozen dataclass, read by harness/config.py from the registry. ``dataset: synthetic`` renders a
Waterbirds-format world (harness/worlds/waterbirds_world.py) with a planted class-place correlation and
scores detection against that truth; any other value is the root of a Waterbirds release (metadata.csv).
"""

from __future__ import annotations

from dataclasses import dataclass, field

OPTIMIZERS = ("sgd", "adamw")
LOCALIZERS = ("class_cam", "word_cam")


@dataclass(frozen=True)
class WaterbirdsConfig:
    enabled: bool = True
    dataset: str = "synthetic"
    # --- the synthetic world (dataset: synthetic) ---------------------------------------------------
    train_size: int = 240
    val_size: int = 80
    test_size: int = 160
    train_correlation: float = 0.95  # planted share of each class on its own place family (Waterbirds: 0.95)
    world_image_size: int = 96
    world_seed: int = 1  # follows the run's seed + 1 unless set (harness/config.py derive_seeds)
    # --- the classifier, fine-tuned end to end (ERM) --------------------------------------------------
    classifier: str = "packaged:efficientnet_lite0"  # packaged:<name> or timm:<name>[@checkpoint]
    image_size: int = 96  # the crop the classifier sees; the resize before it is image_size / crop_pct
    crop_pct: float = 0.875  # timm's convention: resize the short side to image_size / crop_pct, center-crop
    epochs: int = 6
    batch_size: int = 32
    optimizer: str = "adamw"
    lr: float = 3e-4
    momentum: float = 0.9  # sgd only
    weight_decay: float = 1e-4
    augment: bool = True  # horizontal flips in training (MaskTune also random-resized-crops; see training.py)
    # The classifier's own precision (texplain/precision.py names; 'auto' follows the hardware). fp32 by
    # default: measured on a Xeon with native bf16, bf16 autocast trained efficientnet-lite0 at 96 px 16x
    # slower (50 s against 3 s an epoch: its depthwise convolutions have no fast bf16 kernel on CPU).
    classifier_precision: str = "fp32"
    seeds: int = 3  # runs of every method (Table 2: 3); each seed trains its own ERM model and translator
    # --- the mitigation fine-tune (one protocol for TExplain, MaskTune and RandMask) ------------------
    finetune_epochs: int = 1  # MaskTune: exactly one epoch
    finetune_optimizer: str = "sgd"
    finetune_lr: float = 1e-4  # MaskTune's Waterbirds script: SGD, lr 1e-4, no scheduler
    # --- explanation (TExplain on the ERM model's own features) ---------------------------------------
    translator_epochs: int = 1
    # Begin the fine-tuned model's translator from the run's trained translator wherever its tensors fit
    # (the token-wise MLP; the token mixer is new when the token counts differ): see the report for its effect.
    translator_warm_start: bool = False
    translator_batch_size: int = 16
    num_sentences: int = 4  # per training image, for the dominant word (the paper: 1000)
    min_words: int = 8
    max_words: int = 14
    test_explained: int = 16  # test images explained per class (Figure 7's test clouds)
    # Class words per class name: an image is selected when its dominant word is none of its class's
    # words. Empty: for a synthetic world its object words, for the real dataset "bird" and synonyms.
    class_words: dict = field(default_factory=dict)  # {class name: [words]}; harness/config.py checks a plain dict
    localizers: str = "class_cam,word_cam"  # comma-separated, both reported and labelled
    # --- masking (MaskTune's threshold) ----------------------------------------------------------------
    threshold_std: float = 2.0  # masked: heatmap > mean + threshold_std * std of its strictly positive pixels
    gradcam_layer: str = "auto"  # a module name of the timm model; auto: ViT blocks[-1].norm1, CNN its last feature stage
    word_cam_sentences: int = 2  # sampled sentences holding the word whose log-likelihood word_cam differentiates
    # --- detection (synthetic worlds only: the truth is known) ----------------------------------------
    score_detection: bool = True
    detect_per_class: int = 40  # planted-world train images per class explained by both the ERM and the balanced model
    sample_figure_images: int = 4

    def __post_init__(self) -> None:
        if not 0.5 <= self.train_correlation <= 1.0:
            raise ValueError(f"suites.waterbirds.train_correlation must be in [0.5, 1] (a shortcut), got {self.train_correlation}")
        for name in ("train_size", "val_size", "test_size", "epochs", "batch_size", "seeds", "num_sentences",
                     "image_size", "world_image_size", "finetune_epochs", "translator_epochs", "word_cam_sentences"):
            if getattr(self, name) < 1:
                raise ValueError(f"suites.waterbirds.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("optimizer", "finetune_optimizer"):
            if getattr(self, name) not in OPTIMIZERS:
                raise ValueError(f"suites.waterbirds.{name} must be one of {', '.join(OPTIMIZERS)}, got {getattr(self, name)!r}")
        unknown = [name for name in self.localizer_names if name not in LOCALIZERS]
        if unknown or not self.localizer_names:
            raise ValueError(f"suites.waterbirds.localizers must name some of {', '.join(LOCALIZERS)} (comma-separated), got {self.localizers!r}")
        for name, words in self.class_words.items():
            if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                raise ValueError(f"suites.waterbirds.class_words.{name} must be a list of words, got {words!r}")
        if not 0.0 < self.crop_pct <= 1.0:
            raise ValueError(f"suites.waterbirds.crop_pct must be in (0, 1], got {self.crop_pct}")

    @property
    def localizer_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.localizers.split(",") if name.strip())

    @property
    def synthetic(self) -> bool:
        return self.dataset == "synthetic"
