"""Typed run configuration: one YAML file per run into frozen dataclasses with defaults (DESIGN.md section 7,
after nanoGPT's configurator).

``load_config(name_or_path, overrides)`` reads a shipped profile (harness/configs/<name>.yaml) or a
path, applies ``a.b=value`` overrides (values parsed as YAML, then type-checked), and refuses unknown
keys with a suggestion. The resolved config is saved with every run and checkpoint.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from texplain.errors import TExplainError
from texplain.registry import did_you_mean
from texplain.sampling import SamplingConfig
from texplain.training import TrainConfig

CONFIG_DIR = Path(__file__).parent / "configs"


class ConfigError(TExplainError, ValueError):
    pass


@dataclass(frozen=True)
class WorldConfig:
    """The synthetic world the default run explains (harness/worlds/synthetic.py)."""

    num_images: int = 600
    image_size: int = 224
    seed: int = 0
    class_background_correlation: float | None = None


@dataclass(frozen=True)
class ModelsConfig:
    classifier: str = "packaged:efficientnet_lite0"
    decoder_kind: str = "prefix"
    decoder: str = "packaged:smollm2-135m"
    device: str = "auto"


@dataclass(frozen=True)
class TranslatorConfig:
    name: str = "mlp_bn"
    output_tokens: int = 8  # k conditioning tokens; 0 keeps the classifier's token count
    options: dict = field(default_factory=dict)  # passed to the translator class (e.g. hidden_dim)


@dataclass(frozen=True)
class ExplainConfig:
    num_images: int = 48  # held-out images explained (the first images of the world)
    num_val: int = 48  # validation images for the translator's loss
    top_k: int = 5  # the k of object/background top-k rates
    min_doc_freq: float = 0.0  # words in fewer sentences than this share are dropped
    single_image_clouds: int = 6
    # Sampling precision: auto = from the hardware (texplain/precision.py): bf16 on CPUs that run it
    # natively and on GPUs, else fp32. Words are identical for the same seed on the same kind of machine.
    precision: str = "auto"


@dataclass(frozen=True)
class DataConfig:
    """Where the translator's captioned training images come from.

    synthetic: the world of ``world`` (default); coco: ``root``/annotations/captions_<split>.json and
    its image folder; captions_jsonl: ``root`` is a captions.jsonl of {"image", "caption"} lines.
    """

    source: str = "synthetic"
    root: str | None = None
    split: str = "train2017"

    def __post_init__(self) -> None:
        if self.source not in DATA_SOURCES:
            raise ValueError(f"data.source '{self.source}' is unknown.{did_you_mean(self.source, list(DATA_SOURCES))} Choose one of {', '.join(DATA_SOURCES)}")
        if self.source != "synthetic" and not self.root:
            raise ValueError(f"data.source '{self.source}' needs data.root (the dataset folder or file)")


DATA_SOURCES = ("synthetic", "coco", "captions_jsonl")


@dataclass(frozen=True)
class OnlyBGConfig:
    """The Only-BG shortcut suite (suites/only_bg.py).

    dataset 'synthetic' renders a Background-Challenge-format world (harness/worlds) with a train split
    whose class-background correlation is planted (train_correlation) and a balanced val split, and
    scores the suite against that truth; otherwise it is the root of a Background-Challenge tree.
    """

    enabled: bool = True
    dataset: str = "synthetic"
    # ImageNet index -> IN-9 index JSON, for a 1000-class classifier on a real IN-9 tree.
    in9_mapping: str | None = None
    num_classes: int = 4  # synthetic: the first classes of the world, each with its own preferred background
    val_per_class: int = 8  # only_bg_t images explained per class
    original_per_class: int = 3  # original images explained per class (for the per-class clouds)
    train_per_class: int = 60  # synthetic: training images per class for the two stand-in classifiers
    train_correlation: float = 0.95  # synthetic: planted class-background correlation of the shortcut classifier
    image_size: int = 224
    world_seed: int = 1
    top_k: int = 5  # the k of recall@k over shortcut words

    def __post_init__(self) -> None:
        if not 0.0 <= self.train_correlation <= 1.0:
            raise ValueError(f"suites.only_bg.train_correlation must be in [0, 1], got {self.train_correlation}")
        for name in ("num_classes", "val_per_class", "top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"suites.only_bg.{name} must be >= 1, got {getattr(self, name)}")
        if self.num_classes < 2:
            raise ValueError("suites.only_bg.num_classes must be >= 2 (a shortcut needs classes to confuse)")


@dataclass(frozen=True)
class SuitesConfig:
    only_bg: OnlyBGConfig = field(default_factory=OnlyBGConfig)


@dataclass(frozen=True)
class RunConfig:
    name: str = "quickstart"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    world: WorldConfig = field(default_factory=WorldConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    translator: TranslatorConfig = field(default_factory=TranslatorConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    suites: SuitesConfig = field(default_factory=SuitesConfig)


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    """Return value converted to the annotated type, or raise ConfigError naming the key."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_type(value, option, where)
            except ConfigError:
                pass
        raise ConfigError(f"{where}: {value!r} is not a {annotation}")
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):
        # YAML 1.1 reads '1e-3' (no dot) as a string; accept what float() reads as a number.
        try:
            return float(value)
        except ValueError:
            pass
    if annotation is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if annotation in (str, bool) and isinstance(value, annotation):
        return value
    if annotation is dict and isinstance(value, dict):
        return value
    raise ConfigError(f"{where}: expected {getattr(annotation, '__name__', annotation)}, got {value!r}")


def from_dict(cls: type, data: dict, where: str = "") -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in fields:
            raise ConfigError(f"unknown config key '{path}'.{did_you_mean(key, list(fields))} Known here: {', '.join(fields)}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            values[key] = from_dict(hint, value, path)
        else:
            values[key] = _check_type(value, hint, path)
    try:
        return cls(**values)
    except ValueError as error:
        raise ConfigError(f"{where or 'config'}: {error}") from error


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def apply_override(data: dict, assignment: str) -> dict:
    """'a.b=value' into the nested dict (value parsed as YAML); unknown keys are caught by from_dict."""
    if "=" not in assignment:
        raise ConfigError(f"override '{assignment}' must look like key.path=value")
    key, _, raw = assignment.partition("=")
    value = yaml.safe_load(raw) if raw.strip() else ""
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{assignment}': '{part}' is not a section")
    node[parts[-1]] = value
    return data


def profile_names() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_config(name_or_path: str | Path = "quickstart", overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    path = Path(name_or_path)
    if not path.suffix:
        if str(name_or_path) not in profile_names():
            names = profile_names()
            raise ConfigError(f"unknown profile '{name_or_path}'.{did_you_mean(str(name_or_path), names)} Profiles: {', '.join(names)}; or pass a YAML path")
        path = CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    base = to_dict(from_dict(RunConfig, data))  # validate the file on its own first
    for assignment in overrides:
        apply_override(base, assignment)
    return from_dict(RunConfig, base)
