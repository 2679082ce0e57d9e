"""Generative-latent suite (TExplain Section 4.3, Table 1, Figure 4): explain a text-to-image model's final
latents and score the explanations against captions of the images those latents decode to.

The paper generates images from COCO captions of 26 categories with Stable Diffusion, keeps the final
latents (just before the VAE decoder), explains them with a translator trained on latents, captions the
generated images with BLIP, and scores explanations against captions per category: cosine 0.845, ROUGE
40.39, METEOR 38.95; Figure 4 shows word clouds of captions and explanations side by side.

Two paths run the same scoring (scoring.py) and write the same records:

- real (``generator`` = a Stable Diffusion id or folder, ``captioner`` = a BLIP id or folder; GPU and
  network): prompts are COCO captions containing each category's word (harness/datasets/coco_captions.py),
  ``images_per_prompt`` images per prompt with per-image seeds (stable_diffusion.py), a translator trained
  on SD-VAE latents of COCO's captioned train images, BLIP captions (blip_captioner.py); references:
  ``captioner`` = BLIP's captions, ``truth`` = the prompt.
- stand-in (the offline default): a captioned synthetic world (harness/worlds/captions_world.py) at
  ``image_size``; the "generator" is a small diffusers AutoencoderKL trained here on the world's train
  split (stand_in_vae.py), whose latents of held-out images are explained by a translator trained on the
  latents of the train split; the "captioner" is the run's own classifier -> translator -> LM stack reading
  the decoded images (its first ``num_captions`` sentences); references: ``captioner`` and ``truth`` (the
  world's five true captions of the image).

Latents enter the translator as a token grid: (C, h, w) -> h*w tokens of C channels (row-major).
Metrics (harness/metrics/captions, every definition labelled): ``<reference>.<metric>`` is the mean over
images (interval over images), ``<reference>.<metric>.category_mean`` the mean over categories of the
category-pooled score (the paper's per-category average), and ``.corpus`` the whole set's score for the
metrics that aggregate statistics (METEOR 1.5, BLEU-4).

Verdicts (contracts/verdicts.py): captions written from one template score well against each other whatever
they show (a world caption of a different scene scores ROUGE-L ~0.4 against a scene's five), so a high score
alone says nothing. Each headline metric (ROUGE-L, METEOR, cosine), against each reference kind, gets a
verdict against the ``mismatched_captions`` control: the same explanation sentences scored against the captions of
another image (scoring.py's fixed, seeded derangement, another category wherever possible), paired over
images; pass when the lower end of the 95% interval of the difference is above 0, fail when the whole
interval lies below ``MIN_EFFECT`` (0.02).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from contracts.hub_models import HubModel
from contracts.intervals import mean_interval
from contracts.run_context import CaptionedFeatures
from contracts.suite import SUITES, StepSeconds, Suite, matches_metric
from contracts.verdicts import Verdict, VerdictRule, decide
from harness.datasets.coco_captions import read_coco_captions, read_coco_scenes
from harness.metrics.captions import METRIC_NAMES, caption_metric, provenance
from harness.worlds.captions_world import CaptionsWorldSpec, make_captions_world
from harness.worlds.vocabulary import OBJECT_CLASSES
from suites.generative_latents.config import GenerativeLatentsConfig
from suites.generative_latents.scoring import mismatched_partners, score_all
from texplain.errors import TExplainError
from texplain.hashing import hash_file, hash_json
from texplain.precision import cpu_flags, cpu_model
from texplain.words import WordStats, merge_stats, word_stats

log = logging.getLogger(__name__)

REFERENCES = ("captioner", "truth")
_REFERENCE_TEXT = {
    "captioner": "the captions of the decoded image (BLIP's, or the stand-in captioner's)",
    "truth": "the text the image came from (the prompt, or the synthetic world's true captions)",
}
AGGREGATED = ("meteor_jar", "bleu4")  # set scores from pooled statistics, reported as .corpus too
HEADLINE = ("captioner.rouge_l_coco", "captioner.meteor_*", "captioner.cosine")
# The mismatched-captions control's smallest difference that matters, in the metrics' own units (ROUGE-L, METEOR and the
# cosine all lie in [0, 1]): 0.02 is about one shared word in a 10-word sentence's ROUGE-L.
MIN_EFFECT = 0.02
VERDICT_RULE = VerdictRule(("mismatched_captions",), MIN_EFFECT, (), "content")
PERMUTED_MEANS = "mismatched_captions: the same explanations scored against the captions of another image, of another category where possible"
# TExplain Table 1 (26 COCO categories, SD latents, BLIP captions, BERT cosine).
PAPER_TABLE1 = {"cosine": 0.845, "rouge": 40.39, "meteor": 38.95, "categories": 26}


def _verdict_metric(name: str) -> bool:
    """The caption metrics that get a verdict: the headline's (ROUGE-L of pycocoevalcap, both METEORs, the cosine)."""
    return any(matches_metric(f"captioner.{name}", pattern) for pattern in HEADLINE)


def _definitions() -> dict[str, str]:
    table = {}
    for ref in REFERENCES:
        for name in METRIC_NAMES:
            what = caption_metric(name).definition
            table[f"{ref}.{name}"] = f"{what}; per image (its explanation sentences vs {_REFERENCE_TEXT[ref]}), mean over images"
            if _verdict_metric(name):
                table[f"{ref}.{name}"] += (f"; its verdict: above the same explanations scored against another image's captions "
                                           f"(mismatched_captions, another category where possible) on the same images, min effect {MIN_EFFECT:g}")
            table[f"{ref}.{name}.category_mean"] = f"{what}; per category with its images' sentences and captions pooled, mean over categories"
        for name in AGGREGATED:
            table[f"{ref}.{name}.corpus"] = f"{caption_metric(name).definition}; over every segment of every image at once"
    table["num_images"] = "generated (stand-in: decoded) images scored"
    table["num_categories"] = "number of categories scored (each pools its images' sentences and captions)"
    return table


@SUITES.register("generative_latents")
class GenerativeLatentsSuite(Suite):
    name = "generative_latents"
    # 2: the stand-in captioner samples only the num_captions sentences it keeps; 3: records carry the mismatched-captions
    # control (each explanation scored against another image's captions) that the verdicts rest on.
    version = 4  # 4: the control renamed mismatched_captions (the main run's permuted is another image's explanation); 3: it and the verdict rows
    config_class = GenerativeLatentsConfig
    headline = HEADLINE
    # Two categories, one held-out image each, 32 px, one epoch of everything, Java-free metrics: seconds.
    tiny_options = {
        "categories": "boat,car", "images_per_category": 1, "image_size": 32, "train_images": 8, "translator_epochs": 1,
        "vae_epochs": 1, "num_captions": 2, "metrics": "rouge_l_coco,rouge_l_f1,meteor_nltk,cosine", "tokenizer": "lower",
    }
    definitions = _definitions()
    higher_is_better = {name: True for name in _definitions() if not name.startswith("num_")}
    paper = {
        "captioner.cosine.category_mean": "0.845 (TExplain Table 1: cosine of BERT embeddings, 26 COCO categories)",
        "captioner.rouge_l_coco.category_mean": "0.4039 (TExplain Table 1: ROUGE 40.39, definition not stated)",
        "captioner.meteor_jar.category_mean": "0.3895 (TExplain Table 1: METEOR 38.95, definition not stated)",
    }

    @classmethod
    def preflight(cls, config: GenerativeLatentsConfig) -> list[str]:
        if config.stand_in:
            return []
        problems = []
        if config.coco_root is None or not Path(config.coco_root).is_dir():
            problems.append(f"suites.generative_latents.coco_root: {config.coco_root} is not a folder; the real path reads COCO captions (annotations/captions_<split>.json) for prompts and for its translator")
        else:
            for split in (config.coco_split, config.coco_train_split):
                if not (Path(config.coco_root) / "annotations" / f"captions_{split}.json").is_file():
                    problems.append(f"suites.generative_latents.coco_root: {config.coco_root}/annotations/captions_{split}.json is missing")
        if not config.category_list():
            problems.append("suites.generative_latents.categories: the real path needs COCO category words (comma-separated)")
        return problems

    @classmethod
    def hub_models(cls, config: GenerativeLatentsConfig) -> list[HubModel]:
        """On the real path: Stable Diffusion, the BLIP captioner, and the embedder when the cosine is scored
        and it is not the packaged one."""
        if config.stand_in:
            return []
        key = "suites.generative_latents"
        models = [
            HubModel(f"{key}.generator", config.generator, ("model_index.json",), "Stable Diffusion (diffusers)"),
            HubModel(f"{key}.captioner", config.captioner, ("config.json",), "BLIP captioner (transformers)"),
        ]
        kind, _, name = config.embedder.partition(":")
        if "cosine" in config.metrics_config().metrics and kind in ("bert", "st") and name:
            models.append(HubModel(f"{key}.embedder", name, ("config.json", "modules.json"), "sentence embedder"))
        return models

    # ------------------------------------------------------------------------------------------
    # The contract
    # ------------------------------------------------------------------------------------------

    def run(self, context, work_dir: Path) -> Iterator[dict]:
        if not context.has_store:
            # A context without the run's stage store (a test's): the sub-steps live in the suite's folder.
            context = context.with_own_store(work_dir / "stages")
        # Seconds per step (details "seconds"): "prepare" holds the generator, the latent translator and the
        # captioner, each also timed on its own on the stand-in path.
        self._timed = StepSeconds()
        with self._timed("prepare"):
            data = self._stand_in(context, work_dir) if self.config.stand_in else self._real(context, work_dir)
        ids = data["ids"]
        latent_ids = [f"latent/{i}" for i in ids]
        with self._timed("explain_latents"):
            sentences = context.explain(latent_ids, data["tokens"], work_dir / "samples_latents.jsonl",
                                        description="generative_latents: explain latents", translator=data["translator"])
        explanations = {i: sentences[f"latent/{i}"] for i in ids}
        nltk_data = str(context.cache_root / "nltk_data")
        metrics_config = self.config.metrics_config(nltk_data)
        # The mismatched-captions control: each explanation against another image's captions (scoring.py), decided in verdicts().
        partners = mismatched_partners(ids, data["categories"], context.config.seed)
        with self._timed("scoring"):
            scores = score_all(explanations, data["references"], data["categories"], metrics_config, partners)
        categories = list(dict.fromkeys(data["categories"][i] for i in ids))
        metric_names = list(metrics_config.metrics)
        for image_id in ids:
            category = data["categories"][image_id]
            stats = word_stats(explanations[image_id])
            yield {
                "image_id": image_id,
                "category": category,
                "references": {ref: data["references"][ref][image_id] for ref in REFERENCES},
                "explanation_words": stats.to_json(),
                "top_words": stats.top_k(10),
                "per_image_metrics": {f"{ref}.{m}": scores["per_image"][ref][m][image_id] for ref in REFERENCES for m in metric_names},
                # The category's pooled scores and the whole set's, on every record, so that aggregate needs
                # nothing but the records (re-scoring would need Java and the embedder).
                "category_scores": {ref: {m: scores["per_category"][ref][m][category] for m in metric_names} for ref in REFERENCES},
                "set_scores": {ref: {m: scores["corpus"][ref][m] for m in metric_names if m in AGGREGATED} for ref in REFERENCES},
                # The same sentences scored against the captions of the partner image (none with a single image).
                "mismatched_captions": ({"partner": partners[image_id],
                              "per_image_metrics": {f"{ref}.{m}": scores["mismatched_captions"][ref][m][image_id] for ref in REFERENCES for m in metric_names}}
                             if partners else None),
                "categories": categories,
                "metric_names": metric_names,
                "path": data["path"],
            }

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        if not records:
            return {"num_images": 0, "num_categories": 0}
        metrics: dict[str, float] = {}
        names = records[0]["metric_names"]
        first_of_category = {}
        for record in records:
            first_of_category.setdefault(record["category"], record)
        for ref in REFERENCES:
            for name in names:
                metrics[f"{ref}.{name}"] = float(np.mean([r["per_image_metrics"][f"{ref}.{name}"] for r in records]))
                metrics[f"{ref}.{name}.category_mean"] = float(np.mean([r["category_scores"][ref][name] for r in first_of_category.values()]))
                if name in AGGREGATED:
                    metrics[f"{ref}.{name}.corpus"] = float(records[0]["set_scores"][ref][name])
        metrics["num_images"] = len(records)
        metrics["num_categories"] = len(first_of_category)
        return metrics

    def summarize(self, records: list[dict], context, out_dir: Path) -> tuple[dict, list[str]]:
        from suites.generative_latents.figures import side_by_side

        details: dict = {
            "caption_metrics": provenance(self.config.metrics_config()),
            "per_category": category_table(records),
            "how_scored": "per image: each sentence TExplain sampled for the image's latent is a hypothesis against all the image's "
                          "captions; per category: the sentences and captions of its images pooled (harness/metrics/captions)",
            **getattr(self, "_facts", {}),
            # Wall seconds per step in this invocation, when run() ran in this process.
            "seconds": dict(self._timed.seconds) if hasattr(self, "_timed") else {},
        }
        if records:
            details["path"] = records[0]["path"]
            # The category means' 95% BCa intervals over categories (metrics.json's "intervals" are over images).
            pooled = {}
            for entry in details["per_category"].values():
                for ref in REFERENCES:
                    for name, value in entry[ref].items():
                        pooled.setdefault(f"{ref}.{name}.category_mean", []).append(value["pooled"])
            details["category_mean_intervals"] = {
                name: interval.to_json() for name, values in pooled.items() if (interval := mean_interval(values)) is not None
            }
        if context.device.type == "cpu":
            flags = set(cpu_flags())
            native = "native bf16 (AMX/AVX512-BF16)" if {"amx_bf16", "avx512_bf16"} & flags else "no native bf16"
            machine = f"CPU: {cpu_model()}, {native}; training precision {context.train_precision}"
        else:
            machine = f"device: {torch.cuda.get_device_name(context.device)}"
        label = (f"STAND-IN: {self.stand_in(context)}. {machine}" if self.config.stand_in else machine)
        figures = []
        by_category: dict[str, list[dict]] = defaultdict(list)
        for record in records:
            by_category[record["category"]].append(record)
        for category, group in by_category.items():
            captions = word_stats([c for r in group for c in r["references"]["captioner"]])
            explanations = merge_stats(WordStats.from_json(r["explanation_words"]) for r in group)
            name = f"clouds_{category}.png"
            captioner = "stand-in captioner's captions" if self.config.stand_in else "BLIP captions"
            side_by_side(category, captions, explanations, out_dir / name, captioner, label, seed=context.config.seed)
            figures.append(name)
        return details, figures

    def tables(self, records: list[dict], details: dict) -> list[dict]:
        if not records:
            return []
        metrics = self.aggregate(records)
        names = records[0]["metric_names"]
        n = metrics["num_categories"]

        def cell(ref: str, name: str, scale: float) -> str | float:
            key = f"{ref}.{name}.category_mean"
            return round(metrics[key] * scale, 3 if scale == 1 else 2) if name in names else "-"

        path = records[0]["path"]
        rows = [["TExplain (paper): SD latents vs BLIP captions, BERT cosine", PAPER_TABLE1["categories"], PAPER_TABLE1["cosine"], PAPER_TABLE1["rouge"], PAPER_TABLE1["meteor"]]]
        for ref in REFERENCES:
            rows.append([f"ours ({path}) vs {ref}: ROUGE-L pycocoevalcap, METEOR 1.5 jar", n, cell(ref, "cosine", 1), cell(ref, "rouge_l_coco", 100), cell(ref, "meteor_jar", 100)])
            rows.append([f"ours ({path}) vs {ref}: ROUGE-L rouge-score F1, METEOR NLTK", n, cell(ref, "cosine", 1), cell(ref, "rouge_l_f1", 100), cell(ref, "meteor_nltk", 100)])
        table1 = {
            "title": "Table 1: explanations of latents vs captions of the generated images (mean over categories, category-pooled)",
            "header": ["", "categories", "cosine", "ROUGE", "METEOR"],
            "rows": rows,
            "note": f"cosine: {self.config.embedder} ({'the paper used BERT; not comparable' if not self.config.embedder.startswith('bert:') else 'BERT'}); "
                    "ROUGE and METEOR x100. The paper does not state its ROUGE or METEOR implementation."
                    + (" Stand-in generator and captioner (see the label)." if path == "stand-in" else ""),
        }
        header = ["category", "images"] + [f"{m} vs captioner" for m in ("rouge_l_coco", "meteor_jar", "cosine") if m in names]
        per_category_rows = []
        for category, entry in category_table(records).items():
            row = [category, entry["images"]]
            for m in ("rouge_l_coco", "meteor_jar", "cosine"):
                if m in names:
                    value = entry["captioner"][m]
                    interval = value.get("interval")
                    text = f"{value['mean']:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")
                    row.append(text + f"; pooled {value['pooled']:.3f}")
            per_category_rows.append(row)
        per_category = {
            "title": "Per category: mean over its images [95% BCa interval over images]; pooled = its sentences and captions pooled",
            "header": header, "rows": per_category_rows, "note": None,
        }
        return [table1, per_category]

    def verdicts(self, records: list[dict], details: dict) -> list[dict]:
        return [v.to_json() for v in caption_verdicts(records)]

    def stand_in(self, context) -> str | None:
        if not self.config.stand_in:
            return None
        return ("the generator is a small AutoencoderKL trained here on a synthetic captioned world (its latents of held-out world "
                "images are explained, not Stable Diffusion's), and the captioner is the run's own classifier-translator-LM stack "
                "reading the decoded images, not BLIP")

    # ------------------------------------------------------------------------------------------
    # The two paths: each returns ids, categories, latent tokens, the latent translator and references
    # ------------------------------------------------------------------------------------------

    def _stand_in(self, context, work_dir: Path) -> dict:
        from suites.generative_latents import stand_in_vae as sv

        cfg = self.config
        categories = cfg.category_list() or OBJECT_CLASSES
        unknown = [c for c in categories if c not in OBJECT_CLASSES]
        if unknown:
            raise TExplainError(f"suites.generative_latents.categories: {unknown} are not classes of the synthetic world; choose from {', '.join(OBJECT_CLASSES)} (or set a real generator)")
        # Classes are drawn uniformly, so 4x the needed held-out images leaves every category enough.
        spec = CaptionsWorldSpec(train_size=cfg.train_images, val_size=4 * cfg.images_per_category * len(categories) + 8,
                                 captions_per_image=5, classes=tuple(categories), image_size=cfg.image_size, seed=cfg.world_seed)
        root = context.cache_root / "worlds" / f"captions-{hash_json(spec.to_json())[:16]}"
        with context.workers.main_first():
            make_captions_world(spec, root, progress=context.progress)

        def grouped(split: str) -> tuple[list[Path], list[list[str]], list[str]]:
            captions: dict[Path, list[str]] = {}
            for image, caption in read_coco_captions(root, split):
                captions.setdefault(image, []).append(caption)
            scenes = read_coco_scenes(root, split) or {}
            paths = list(captions)
            return paths, [captions[p] for p in paths], [scenes[p.name]["object_class"] for p in paths]

        train_paths, train_captions, _ = grouped(spec.train_split)
        val_paths, val_captions, val_classes = grouped(spec.val_split)
        chosen, counts = [], defaultdict(int)
        for index, name in enumerate(val_classes):
            if counts[name] < cfg.images_per_category:
                counts[name] += 1
                chosen.append(index)
        if context.limit:
            chosen = chosen[: context.limit]

        # The stand-in generator: a VAE trained on the train split (a cached sub-step).
        vae_config = sv.StandInVAEConfig(epochs=cfg.vae_epochs, batch_size=cfg.vae_batch_size, seed=context.config.seed)
        stage = context.stage("generative_latents-vae", {"world": spec.to_json(), "vae": dataclasses.asdict(vae_config)})
        train_images = sv.load_images(train_paths, cfg.image_size)  # (N, 3, S, S) in [-1, 1]
        with self._timed("stand_in_vae"):
            if stage.done:
                from diffusers import AutoencoderKL

                vae = AutoencoderKL.from_pretrained(stage / "vae").eval()
                history = stage.outputs()["history"]
            else:
                vae, history = sv.train_vae(train_images, vae_config, progress=context.progress)
                if context.workers.is_main:
                    vae.save_pretrained(stage / "vae")
                    stage.mark_done({"history": history})
        val_images = sv.load_images([val_paths[i] for i in chosen], cfg.image_size)
        train_latents = sv.encode(vae, train_images)  # (N, C, h, w), scaled
        val_latents = sv.encode(vae, val_images)  # (n, C, h, w)
        decoded = sv.decode(vae, val_latents)  # (n, 3, S, S)

        # The latent translator: trained on (latent, caption) pairs of the train split (a cached step).
        k = cfg.train_captions_per_image
        source = CaptionedFeatures(
            tokens=sv.latent_tokens(train_latents), captions=[c[:k] for c in train_captions],
            source={"kind": "stand-in AutoencoderKL latents", "vae_stage": stage.key, "scaling_factor": float(vae.config.scaling_factor),
                    "latent_shape": list(train_latents.shape[1:])},
            data={"world": spec.to_json(), "captions_per_image": k},
        )
        n_val = max(1, len(train_paths) // 10)
        items = list(range(len(train_paths)))
        with self._timed("latent_translator"):
            trained = context.train_translator("generative_latents-translator", source, items[:-n_val], items[-n_val:],
                                               train={"epochs": cfg.translator_epochs})

        # The stand-in captioner: the run's classifier -> translator -> LM reading the decoded images.
        ids = [f"{val_classes[i]}/{val_paths[i].stem}" for i in chosen]
        decoded_paths = []
        for image_id, image in zip(ids, sv.to_pil(decoded)):
            path = work_dir / "decoded" / f"{image_id.replace('/', '_')}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)
            decoded_paths.append(path)
        with self._timed("stand_in_captioner"):
            captioner_tokens = context.extract(decoded_paths).tokens  # (n, T, D)
            captioned = context.explain([f"decoded/{i}" for i in ids], captioner_tokens, work_dir / "samples_captioner.jsonl",
                                        description="generative_latents: stand-in captioner", num_sentences=cfg.num_captions)
        self._facts = {
            "stand_in_vae": {"config": dataclasses.asdict(vae_config), "history": history, "scaling_factor": float(vae.config.scaling_factor),
                             "latent_shape": list(val_latents.shape[1:]), "reconstruction_mse_held_out": round(float(torch.mean((decoded - val_images) ** 2)), 6)},
            "latent_translator": {"history": trained.history, "train_pairs": len(items[:-n_val]) * k},
            "world": spec.to_json(),
        }
        return {
            "ids": ids,
            "categories": {i: val_classes[c] for i, c in zip(ids, chosen)},
            "tokens": sv.latent_tokens(val_latents),  # (n, h*w, C)
            "translator": trained.translator,
            "references": {
                "captioner": {i: captioned[f"decoded/{i}"][: cfg.num_captions] for i in ids},
                "truth": {i: val_captions[c] for i, c in zip(ids, chosen)},
            },
            "path": "stand-in",
        }

    def _real(self, context, work_dir: Path) -> dict:
        from PIL import Image
        from safetensors.torch import load_file, save_file

        from suites.generative_latents import stable_diffusion as sd
        from suites.generative_latents.blip_captioner import caption_images, load_blip
        from suites.generative_latents.coco_prompts import category_prompts
        from suites.generative_latents.stand_in_vae import latent_tokens
        from texplain.sampling.rng import image_seed

        cfg = self.config
        root = Path(cfg.coco_root)
        dtype = torch.float16 if context.device.type == "cuda" else torch.float32
        pipe = sd.load_pipeline(cfg.generator, context.device, dtype)

        # The translator learns SD's latent space from COCO's captioned train images (a cached step).
        annotation = root / "annotations" / f"captions_{cfg.coco_train_split}.json"
        captions: dict[Path, list[str]] = {}
        for image, caption in read_coco_captions(root, cfg.coco_train_split):
            if image in captions or len(captions) < cfg.train_images:
                captions.setdefault(image, []).append(caption)
        paths = list(captions)
        identity = {"generator": cfg.generator, "image_size": cfg.image_size, "annotations_hash": hash_file(annotation), "images": len(paths)}
        stage = context.stage("generative_latents-train-latents", identity)
        if stage.done:
            latents = load_file(str(stage / "latents.safetensors"))["latents"]
        else:
            parts = [sd.encode_images(pipe.vae, [Image.open(p).convert("RGB") for p in paths[i : i + 32]], cfg.image_size) for i in range(0, len(paths), 32)]
            latents = torch.cat(parts)  # (N, 4, h, w)
            save_file({"latents": latents.contiguous()}, str(stage / "latents.safetensors"))
            stage.mark_done({"images": len(paths)})
        k = cfg.train_captions_per_image
        source = CaptionedFeatures(latent_tokens(latents), [captions[p][:k] for p in paths],
                                   {"kind": "stable-diffusion VAE latents", "generator": cfg.generator, "image_size": cfg.image_size,
                                    "latent_shape": list(latents.shape[1:])},
                                   {"coco": str(annotation), "annotations_hash": identity["annotations_hash"], "images": len(paths), "captions_per_image": k})
        n_val = max(1, len(paths) // 20)
        items = list(range(len(paths)))
        trained = context.train_translator("generative_latents-translator", source, items[:-n_val], items[-n_val:], train={"epochs": cfg.translator_epochs})

        # Generate: per category, its prompts, images_per_prompt images each, one seed per image.
        prompts = category_prompts(root, cfg.coco_split, cfg.category_list(), cfg.prompts_per_category)
        ids, categories, truth, images, all_latents = [], {}, {}, [], []
        for category, texts in prompts.items():
            for p, prompt in enumerate(texts):
                group = [f"{category}/p{p}/i{j}" for j in range(cfg.images_per_prompt)]
                if context.limit and len(ids) >= context.limit:
                    break
                saved = work_dir / "generated" / f"{category}_p{p}.safetensors"
                seeds = [image_seed(context.config.seed, image_id) % (2**31) for image_id in group]
                if saved.is_file():  # generated by an earlier, killed attempt under the same key
                    group_latents = load_file(str(saved))["latents"]
                    decoded = sd.decode(pipe, group_latents.to(context.device, dtype))
                else:
                    generated = sd.generate(pipe, seeds, prompt=prompt, num_inference_steps=cfg.num_inference_steps,
                                            guidance_scale=cfg.guidance_scale, height=cfg.image_size, width=cfg.image_size)
                    group_latents, decoded = generated.latents, generated.images
                    saved.parent.mkdir(parents=True, exist_ok=True)
                    save_file({"latents": group_latents.contiguous()}, str(saved))
                for image_id, image in zip(group, decoded):
                    image.save(work_dir / "generated" / f"{image_id.replace('/', '_')}.png")
                    ids.append(image_id)
                    categories[image_id] = category
                    truth[image_id] = [prompt]
                images.extend(decoded)
                all_latents.append(group_latents)
        del pipe
        model, processor = load_blip(cfg.captioner, context.device)
        blip = caption_images(model, processor, images, cfg.num_captions, cfg.caption_mode,
                              seeds=[image_seed(context.config.seed, f"blip/{i}") % (2**31) for i in ids])
        self._facts = {"latent_translator": {"history": trained.history, "train_images": len(paths)}, "prompts": prompts,
                       "generator": cfg.generator, "captioner": cfg.captioner, "caption_mode": cfg.caption_mode}
        return {
            "ids": ids,
            "categories": categories,
            "tokens": latent_tokens(torch.cat(all_latents)),  # (n, h*w, 4)
            "translator": trained.translator,
            "references": {"captioner": dict(zip(ids, blip)), "truth": truth},
            "path": f"{cfg.generator} + {cfg.captioner}",
        }


def caption_verdicts(records: list[dict]) -> list[Verdict]:
    """Each headline caption metric, against each reference kind: TExplain's explanations of an image's latent
    scored against that image's captions, minus the same explanations scored against its partner's (the
    mismatched-captions control), paired over images. A template shared by every caption scores the same in both, so
    only what the explanation says about this image can pass."""
    if not records:
        return []
    rows = []
    for ref in REFERENCES:
        for name in (n for n in records[0]["metric_names"] if _verdict_metric(n)):
            key = f"{ref}.{name}"
            texplain = [r["per_image_metrics"][key] for r in records]
            # Every image has a partner or none has (one image; records written before the control existed).
            permuted = [r["mismatched_captions"]["per_image_metrics"][key] for r in records] if all(r.get("mismatched_captions") for r in records) else None
            why = ("one image: no other image's captions to score against" if len(records) < 2
                   else "these records predate the mismatched-captions control (suite version 4)")
            verdict = decide(f"generative_latents.{key}", texplain, {"mismatched_captions": permuted}, VERDICT_RULE,
                             not_run={"mismatched_captions": why} if permuted is None else None)
            verdict.reason += f" ({PERMUTED_MEANS})"
            rows.append(verdict)
    return rows


def category_table(records: list[dict]) -> dict[str, dict]:
    """Per category: images, and per reference and metric the mean over its images with a 95% BCa
    interval over them (none under two images) and its pooled score."""
    by_category: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_category[record["category"]].append(record)
    table = {}
    for category, group in by_category.items():
        entry: dict = {"images": len(group)}
        for ref in REFERENCES:
            entry[ref] = {}
            for name in group[0]["metric_names"]:
                values = [r["per_image_metrics"][f"{ref}.{name}"] for r in group]
                interval = mean_interval(values) if len(values) > 1 else None
                entry[ref][name] = {"mean": float(np.mean(values)), "interval": [interval.low, interval.high] if interval else None,
                                    "pooled": group[0]["category_scores"][ref][name]}
        table[category] = entry
    return table
