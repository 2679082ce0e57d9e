"""Typed run configuration: one YAML file per run into frozen dataclasses with defaults (docs/design.md#configuration,
after nanoGPT's configurator).

``load_config(name_or_path, overrides)`` reads a shipped profile (harness/configs/<name>.yaml) or a
path, applies ``a.b=value`` overrides (values parsed as YAML, then type-checked), and refuses unknown
keys with a suggestion. The resolved config is saved with every run and checkpoint.

Habits users bring from Hydra and lm-eval, so a config written that way does what its author expects:

- a YAML of one's own can start with ``extends: quickstart`` (a profile name or a path relative to the
  file): the base's keys are deep-merged under the file's own, and the run is named by the file's own
  ``name`` (or its file name), never the profile's;
- one ``seed`` drives the run: the world's seed, the training shuffles and each suite's world follow it
  (``world.seed = train.seed = seed``, ``suites.<name>.world_seed = seed + 1``) unless the config sets
  them explicitly, so ``--set seed=1`` really is another draw of everything;
- ``limit`` (``texplain run --limit N``) explains and scores only the first N images of each stage, a
  smoke run for a user's CI; metrics.json says so, and its numbers are not comparable with a full run.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contracts.dataset_formats import DATASET_FORMATS
from contracts.plugins import load_plugins
from contracts.suite import SUITES
from texplain.errors import TExplainError
from texplain.registry import did_you_mean
from texplain.sampling import SamplingConfig
from texplain.training import TrainConfig

CONFIG_DIR = Path(__file__).parent / "configs"


class ConfigError(TExplainError, ValueError):
    pass


@dataclass(frozen=True)
class WorldConfig:
    """The synthetic world the default run explains (harness/worlds/default_world.py)."""

    num_images: int = 600
    image_size: int = 224
    seed: int = 0
    class_background_correlation: float | None = None
    # Captions written per training image from its scene graph (Scene.caption_variants; COCO has five).
    # Each is one training pair, so an epoch costs this many times more: trade epochs for variants (measured: docs/measurements.md).
    captions_per_image: int = 1


@dataclass(frozen=True)
class ModelsConfig:
    # packaged:<name>, timm:<name>[@checkpoint] or python:<module>:<factory>@<layer> (texplain/classifier.py)
    classifier: str = "packaged:efficientnet_lite0"
    decoder_kind: str = "prefix"
    decoder: str = "packaged:smollm2-135m"
    device: str = "auto"
    # A dry run: the classifier's and the decoder's architectures with seeded random weights, nothing
    # downloaded (texplain/random_weights.py). It proves the code path at the real shapes; its words mean nothing,
    # and config.json, metrics.json, the report and the translator's checkpoint say so.
    random_weights: bool = False
    # Preprocessing of a python: classifier (input_size, mean, std, interpolation, crop_pct, crop_mode), over the
    # model's pretrained_cfg or the default (texplain/python_classifier.py); packaged and timm models carry their own.
    preprocessing: dict = field(default_factory=dict)

    def decoder_key(self) -> dict:
        """The decoder as translator stages are keyed by it: kind and spec, and random weights when on
        (absent otherwise, so the keys of runs on real weights are what they were)."""
        return {"kind": self.decoder_kind, "spec": self.decoder, **({"random_weights": True} if self.random_weights else {})}


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
    # Which tokens count as words (texplain/words.py WordFilter): number words kept or not; "lemminflect":
    # only words of that lexicon count (fragments such as "ing", "jpg" are dropped and listed in the records),
    # "none": every letter token; extra_words: class names the lexicon lacks (e.g. waterbird).
    keep_numbers: bool = True
    lexicon: str = "lemminflect"
    extra_words: tuple[str, ...] = ()
    # Sampling precision: auto = from the hardware (texplain/precision.py): bf16 on CPUs that run it
    # natively and on GPUs, else fp32. Words are identical for the same seed on the same kind of machine.
    precision: str = "auto"


@dataclass(frozen=True)
class ControlsConfig:
    """The controls the run's explanations are scored against (explainers/, verdicts: contracts/verdicts.py).

    The image-blind, permuted, truth-caption and class-prior controls cost nothing and always run; a trained
    control trains a translator of its own with the run's recipe and budget (a training each), and runs
    only where ``trained`` names it. A verdict whose control did not run is inconclusive, never a pass."""

    trained: tuple[str, ...] = ("shuffled_captions", "random_classifier")


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
        sources = data_sources()
        if self.source not in sources:
            raise ValueError(f"data.source '{self.source}' is unknown.{did_you_mean(self.source, sources)} Choose one of {', '.join(sources)}")
        if self.source != "synthetic" and not self.root:
            raise ValueError(f"data.source '{self.source}' needs data.root (the dataset folder or file)")


def data_sources() -> list[str]:
    """The run's training-data sources: the synthetic world, and every registered captioned dataset format."""
    load_plugins()  # the dataset formats register themselves (contracts/dataset_formats.py)
    return ["synthetic", *DATASET_FORMATS.sources()]


class SuitesConfig:
    """The ``suites`` section: one field per registered suite, holding that suite's frozen config.

    The fields are not listed here. Each suite carries its config class (``config_class`` in
    suites/<name>.py), and ``suites_config_class()`` builds this section as a frozen dataclass from the
    suites registry on first use, so adding a suite is one new module. The built class subclasses this
    one, and from_dict, to_dict (config.json, the run directory's hash), dataclasses.replace and
    type-checked ``suites.<name>.<key>`` overrides see an ordinary dataclass. The suites are found
    through the registry of contracts/suite.py once their package is loaded (contracts/plugins.py).
    """

    def __reduce__(self):
        # The dataclass is built at run time, so pickle could not find it by name: rebuild it from the sections.
        return (_rebuild_suites_config, (tuple((f.name, getattr(self, f.name)) for f in dataclasses.fields(self)),))


# One class per set of registered suites: dataclass equality needs both sides to be of the same class,
# so two configs read under the same registry must get the same class, not a fresh one each time.
_SUITES_CONFIG_CLASSES: dict[tuple, type] = {}


def suites_config_class() -> type:
    """The frozen dataclass of the ``suites`` section for the suites registered now (see SuitesConfig)."""
    load_plugins()  # registers every suite (contracts/plugins.py)
    sections = []
    for name in SUITES.names():
        suite = SUITES.get(name)
        config_class = suite.config_class
        field_names = {f.name for f in dataclasses.fields(config_class)} if dataclasses.is_dataclass(config_class) else set()
        if "enabled" not in field_names or not config_class.__dataclass_params__.frozen:
            raise ConfigError(
                f"suite '{name}' ({suite.__module__}.{suite.__qualname__}): config_class must be a frozen dataclass "
                f"with an 'enabled: bool' field, got {config_class!r}; define one in the suite's module (as suites/only_bg.py does)"
            )
        sections.append((name, config_class))
    key = tuple(sections)
    if key not in _SUITES_CONFIG_CLASSES:
        built = dataclasses.make_dataclass(
            "SuitesConfig", [(name, cls, field(default_factory=cls)) for name, cls in sections],
            bases=(SuitesConfig,), frozen=True, namespace={"__doc__": SuitesConfig.__doc__},
        )
        built.__module__ = __name__
        _SUITES_CONFIG_CLASSES[key] = built
    return _SUITES_CONFIG_CLASSES[key]


def _default_suites() -> SuitesConfig:
    return suites_config_class()()


def _rebuild_suites_config(sections: tuple) -> SuitesConfig:
    return suites_config_class()(**dict(sections))


@dataclass(frozen=True)
class RunConfig:
    name: str = "quickstart"
    seed: int = 0
    limit: int | None = None  # smoke runs: explain and score at most this many images per stage
    data: DataConfig = field(default_factory=DataConfig)
    world: WorldConfig = field(default_factory=WorldConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    translator: TranslatorConfig = field(default_factory=TranslatorConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    controls: ControlsConfig = field(default_factory=ControlsConfig)
    suites: SuitesConfig = field(default_factory=_default_suites)


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
    if origin is tuple and isinstance(value, (list, tuple)):
        # tuple[str, ...]: a YAML or JSON list (config.json writes tuples as lists).
        args = typing.get_args(annotation)
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        if item is not None:
            return tuple(_check_type(element, item, f"{where}[{i}]") for i, element in enumerate(value))
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
        if hint is SuitesConfig:
            hint = suites_config_class()  # its fields are the registered suites: an unknown suite gets "did you mean"
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


def _config_path(name_or_path: str | Path, relative_to: Path | None = None) -> Path:
    """A profile name (harness/configs/<name>.yaml) or a YAML path, relative to `relative_to` if given."""
    path = Path(name_or_path)
    if not path.suffix:
        if str(name_or_path) not in profile_names():
            names = profile_names()
            raise ConfigError(f"unknown profile '{name_or_path}'.{did_you_mean(str(name_or_path), names)} Profiles: {', '.join(names)}; or pass a YAML path")
        return CONFIG_DIR / f"{name_or_path}.yaml"
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    return path


def _deep_merge(base: dict, own: dict) -> dict:
    """`own` over `base`; mappings merge key by key, anything else replaces (a list is not appended to)."""
    merged = dict(base)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_config_file(name_or_path: str | Path, relative_to: Path | None = None, _chain: tuple[Path, ...] = ()) -> dict:
    """The raw mapping of a config file, its ``extends:`` chain resolved (not yet type-checked)."""
    path = _config_path(name_or_path, relative_to)
    if path.resolve() in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, path.resolve()))
        raise ConfigError(f"{path}: 'extends' loops back on itself ({cycle}); remove one of the extends lines")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file holds a mapping of sections (name, seed, world, ...), not {type(data).__name__}")
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise ConfigError(f"{path}: 'extends' names one profile or YAML path, got {base_name!r}")
    base = read_config_file(base_name, path.parent, (*_chain, path.resolve()))
    # The run is named by the file that extends, not by the profile it starts from.
    data.setdefault("name", path.stem)
    return _deep_merge(base, data)


def _is_set(raw: dict, *keys: str) -> bool:
    node: Any = raw
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return node is not None


def derive_seeds(config: RunConfig, raw: dict) -> RunConfig:
    """world.seed, train.seed and every suite's world_seed follow `seed` unless `raw` sets them."""
    if not _is_set(raw, "world", "seed"):
        config = dataclasses.replace(config, world=dataclasses.replace(config.world, seed=config.seed))
    if not _is_set(raw, "train", "seed"):
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=config.seed))
    suites = config.suites
    for suite_field in dataclasses.fields(suites):
        suite_config = getattr(suites, suite_field.name)
        has_world_seed = dataclasses.is_dataclass(suite_config) and any(f.name == "world_seed" for f in dataclasses.fields(suite_config))
        if has_world_seed and not _is_set(raw, "suites", suite_field.name, "world_seed"):
            # +1: a suite's world must not be the main world drawn again.
            suites = dataclasses.replace(suites, **{suite_field.name: dataclasses.replace(suite_config, world_seed=config.seed + 1)})
    return dataclasses.replace(config, suites=suites)


def load_config(name_or_path: str | Path = "quickstart", overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    raw = read_config_file(name_or_path)
    from_dict(RunConfig, raw)  # validate the file on its own first: its errors name its keys
    for assignment in overrides:
        apply_override(raw, assignment)
    config = from_dict(RunConfig, raw)
    if config.limit is not None and config.limit < 1:
        raise ConfigError(f"limit must be >= 1 (images per stage), got {config.limit}")
    if config.world.captions_per_image < 1:
        raise ConfigError(f"world.captions_per_image must be >= 1 (captions written per training image), got {config.world.captions_per_image}")
    return derive_seeds(config, raw)
