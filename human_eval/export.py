"""Export of the two rating studies (TExplain, Section 4.2, Figure 3) into a run directory, for push or
for a manual import into Label Studio.

    <run>/ratings/
      study_a.config.xml   study_b.config.xml     labeling configs (Settings > Labeling Interface > Code)
      study_a.tasks.json   study_b.tasks.json     tasks (Import > upload the file)
      images/                                     the images of study (a) (local-files mode)
      manifest.json                               settings, run, task ids, image mode, document root, counts

Both configs and every task are validated offline with the SDK's LabelInterface before anything is
written. The default run (harness/pipeline/run.py) calls `export_for_run`, so that every finished run
carries its studies.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from contracts.files import write_json
from contracts.run_extensions import POST_RUN_STEPS
from harness.reporting.run_reader import read_json, read_run
from human_eval import images as image_modes
from human_eval.items import collect_items, select_items
from human_eval.label_configs import SPECS, STUDIES, validate_config, validate_task
from human_eval.settings import RatingSettings
from human_eval.tasks import TaskImage, build_tasks
from texplain.decoders.packaged_smollm2 import default_cache_dir
from texplain.errors import InputFileError, TExplainError

log = logging.getLogger(__name__)

RATINGS_DIR = "ratings"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "texplain-ratings/1"


# Label Studio limits a project title to 50 characters (PROJECT_TITLE_MAX_LEN).
TITLE_MAX = 50


def project_title(study: str, run_name: str) -> str:
    """'TExplain (a) <run>': push finds this run's projects by it; a long run name is cut and hashed."""
    title = f"TExplain ({study}) {run_name}"
    if len(title) > TITLE_MAX:
        digest = hashlib.sha256(run_name.encode()).hexdigest()[:8]
        title = f"TExplain ({study}) {run_name[: TITLE_MAX - len(title) + len(run_name) - 9]}~{digest}"
    return title


def config_file(study: str) -> str:
    return f"study_{study}.config.xml"


def tasks_file(study: str) -> str:
    return f"study_{study}.tasks.json"


@dataclass(frozen=True)
class Export:
    """An exported pair of studies, as read back from <run>/ratings/."""

    run_dir: Path
    folder: Path
    manifest: dict
    tasks: dict[str, list[dict]]
    configs: dict[str, str]

    @property
    def run_name(self) -> str:
        return self.manifest["run"]

    @property
    def settings(self) -> RatingSettings:
        return RatingSettings.from_json(self.manifest["settings"])

    def title(self, study: str) -> str:
        return self.manifest["projects"][study]["title"]

    @property
    def images_dir(self) -> Path:
        return self.folder / "images"

    @property
    def document_root(self) -> Path | None:
        root = self.manifest.get("document_root")
        return Path(root) if root else None


def _default_cache() -> Path:
    return default_cache_dir()  # $TEXPLAIN_CACHE, where the run's caches are


def export_studies(run_dir: Path, settings: RatingSettings = RatingSettings(), cache: Path | None = None) -> Export:
    """Build both studies from the finished run at `run_dir` and write them into <run>/ratings/."""
    run = read_run(Path(run_dir))
    run_name = run.path.resolve().name
    folder = run.path / RATINGS_DIR
    items, skipped = collect_items(run, settings.study, cache or _default_cache())
    chosen = select_items(items, settings.study)
    if not chosen:
        raise TExplainError(f"ratings: no image of {run.path} can be rated (records without top words, or images not found: {skipped}); "
                            "check that the run's world cache still exists (metrics.json world_dir)")
    images_dir = folder / "images"
    document_root = None
    task_images: dict[str, TaskImage] = {}
    if settings.images.mode == "local-files":
        document_root = image_modes.document_root_for(run.path, settings.images.document_root)
    for item in chosen:
        if settings.images.mode == "local-files":
            copied = image_modes.copy_image(item.image_path, images_dir, item.source, item.image_id)
            task_images[item.key] = TaskImage(image_modes.local_files_url(copied, document_root), copied.relative_to(folder).as_posix())
        else:
            task_images[item.key] = TaskImage(image_modes.data_uri(item.image_path), None)
    tasks = build_tasks(run_name, chosen, task_images, settings.study.words, settings.study.attention_checks, settings.study.seed)
    for study in STUDIES:
        validate_config(SPECS[study].config, f"study ({study})'s labeling config")
        for task in tasks[study]:
            validate_task(SPECS[study].config, task, f"study ({study})")
    folder.mkdir(parents=True, exist_ok=True)
    for study in STUDIES:
        (folder / config_file(study)).write_text(SPECS[study].config)
        write_json(folder / tasks_file(study), tasks[study])
    # The project title holds the run's name, so that push finds the projects of this run again.
    projects = {study: {"title": project_title(study, run_name), "description": f"{SPECS[study].title}; run {run_name}",
                        "config_sha256": hashlib.sha256(SPECS[study].config.encode()).hexdigest(),
                        "tasks": len(tasks[study]),
                        "attention_checks": sum(t["data"]["attention_check"] for t in tasks[study])}
                for study in STUDIES}
    manifest = {
        "format": MANIFEST_FORMAT,
        "run": run_name,
        "run_dir": str(run.path.resolve()),
        "settings": settings.to_json(),
        "images_mode": settings.images.mode,
        "document_root": str(document_root) if document_root else None,
        "images_dir": str(images_dir.resolve()) if settings.images.mode == "local-files" else None,
        "items": len(chosen),
        "items_available": len(items),
        "records_without_image_or_words": skipped,
        "sources": sorted({item.source for item in chosen}),
        "projects": projects,
    }
    write_json(folder / MANIFEST, manifest)
    return Export(run.path, folder, manifest, tasks, {s: SPECS[s].config for s in STUDIES})


def read_export(run_dir: Path) -> Export:
    """The studies exported into `run_dir` (by `texplain ratings export` or the default run)."""
    folder = Path(run_dir) / RATINGS_DIR
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise InputFileError(f"{manifest_path} is missing: the studies of {run_dir} were not exported; run `texplain ratings export {run_dir}` first")
    manifest = read_json(manifest_path, "the rating studies' manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise InputFileError(f"{manifest_path} is not a manifest of format {MANIFEST_FORMAT}; rerun `texplain ratings export {run_dir}`")
    tasks, configs = {}, {}
    for study in STUDIES:
        tasks[study] = read_json(folder / tasks_file(study), f"study ({study})'s tasks; rerun `texplain ratings export {run_dir}`")
        config_path = folder / config_file(study)
        if not config_path.is_file():
            raise InputFileError(f"{config_path} is missing; rerun `texplain ratings export {run_dir}`")
        configs[study] = config_path.read_text()
    return Export(Path(run_dir), folder, manifest, tasks, configs)


def export_for_run(run_dir: Path) -> Export | None:
    """The default run's step: export both studies with the default settings. A run whose images
    cannot be rated (e.g. a smoke run without records) gets a warning, not a failed run."""
    try:
        exported = export_studies(Path(run_dir))
    except TExplainError as error:
        log.warning("rating studies not exported: %s", error)
        return None
    log.info("rating studies exported to %s (%d images; push with `texplain ratings push %s --url URL --token TOKEN`)",
             exported.folder, exported.manifest["items"], run_dir)
    return exported


POST_RUN_STEPS.register("rating_studies")(export_for_run)
