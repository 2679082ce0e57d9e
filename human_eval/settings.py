"""Settings of the two rating studies (TExplain, Section 4.2, Figure 3): which images, how many, the
attention checks, how images reach Label Studio, and the analysis.

Typed frozen dataclasses with defaults (docs/design.md#configuration); a bad value is a TExplainError that names
the setting and the fix. The exported manifest (<run>/ratings/manifest.json) records the settings used,
so that a pull analyses the ratings with the settings the tasks were built with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from texplain.errors import TExplainError

SELECTIONS = ("per_class", "random", "stratified")
IMAGE_MODES = ("local-files", "base64")
SOURCES = ("main", "only_bg")
ALPHA_LEVELS = ("nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True)
class StudySettings:
    """Which explained images become tasks, and in what order."""

    # Records the studies draw from: "main" (the run's records.jsonl) and "only_bg" (the Only-BG suite's
    # records, foreground-hidden images; used when its images can be found).
    sources: tuple[str, ...] = ("main", "only_bg")
    # per_class: `per_class` images of each class; random: `per_class` x classes images from all;
    # stratified: per class, half with a right prediction and half with a wrong one (as far as there are).
    selection: str = "per_class"
    per_class: int = 8
    # The paper rates images of three classes of the Background Challenge; None keeps every class.
    classes: tuple[str, ...] | None = None
    seed: int = 0
    words: int = 10  # study (a) shows an image's 10 most frequent words (Figure 3, left)
    # Attention checks with a known answer, per study; raters below `min_check_accuracy` are dropped.
    attention_checks: int = 6
    # The Only-BG suite's variation whose image and words are shown (its records hold both).
    only_bg_variation: str = "only_bg_t"

    def __post_init__(self) -> None:
        bad = [s for s in self.sources if s not in SOURCES]
        if bad or not self.sources:
            raise TExplainError(f"ratings: sources {list(self.sources)} must be a non-empty subset of {list(SOURCES)}")
        if self.selection not in SELECTIONS:
            raise TExplainError(f"ratings: selection {self.selection!r} is not one of {list(SELECTIONS)}")
        if self.per_class < 1:
            raise TExplainError(f"ratings: per_class must be at least 1, got {self.per_class}")
        if not 1 <= self.words <= 50:
            raise TExplainError(f"ratings: words must lie in 1..50, got {self.words}")
        if self.attention_checks < 0:
            raise TExplainError(f"ratings: attention_checks must be >= 0, got {self.attention_checks}")
        if self.only_bg_variation not in ("only_bg_t", "original"):
            raise TExplainError(f"ratings: only_bg_variation must be 'only_bg_t' or 'original', got {self.only_bg_variation!r}")


@dataclass(frozen=True)
class ImageSettings:
    """How the server gets the images of study (a); README "Human rating studies" says how to switch.

    local-files (default): the images are copied into <run>/ratings/images/ and referenced as
    /data/local-files/?d=<path relative to document_root>; the server must run with
    LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<document_root>,
    and `push` attaches a local storage on the images folder to the project (without it the server
    answers 403). base64: the image is inlined as a data URI (no server setting, but large tasks make
    the interface slow: label-studio#6086), a fallback for a server whose settings you cannot change.
    """

    mode: str = "local-files"
    # The server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT; None: the run directory's parent (e.g. runs/),
    # so one server serves every run under it.
    document_root: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in IMAGE_MODES:
            raise TExplainError(f"ratings: images mode {self.mode!r} is not one of {list(IMAGE_MODES)}; pass --images local-files or --images base64")


@dataclass(frozen=True)
class AnalysisSettings:
    """How ratings are filtered and summarised."""

    # A rater whose share of correctly answered attention checks is below this is dropped (0 keeps all).
    min_check_accuracy: float = 0.75
    # Krippendorff's level for study (a)'s counts; study (b) and the per-word choices are nominal.
    count_level: str = "ordinal"
    bootstrap_resamples: int = 1000
    bootstrap_seed: int = 0
    level: float = 0.95

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_check_accuracy <= 1.0:
            raise TExplainError(f"ratings: min_check_accuracy must lie in [0, 1], got {self.min_check_accuracy}")
        if self.count_level not in ("ordinal", "interval"):
            raise TExplainError(f"ratings: count_level must be 'ordinal' or 'interval', got {self.count_level!r}")
        if self.bootstrap_resamples < 1:
            raise TExplainError(f"ratings: bootstrap_resamples must be >= 1, got {self.bootstrap_resamples}")
        if not 0.0 < self.level < 1.0:
            raise TExplainError(f"ratings: level must lie in (0, 1), got {self.level}")


@dataclass(frozen=True)
class RatingSettings:
    study: StudySettings = field(default_factory=StudySettings)
    images: ImageSettings = field(default_factory=ImageSettings)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "RatingSettings":
        def build(kind, values):
            names = {f.name for f in fields(kind)}
            unknown = sorted(set(values) - names)
            if unknown:
                raise TExplainError(f"ratings settings: unknown keys {unknown} for {kind.__name__}")
            converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
            return kind(**converted)

        return cls(build(StudySettings, data.get("study", {})), build(ImageSettings, data.get("images", {})),
                   build(AnalysisSettings, data.get("analysis", {})))
