"""Overrides that shrink the quickstart profile to a run of seconds on the real packaged models: a tiny
world, one short epoch, a few short sentences and a two-class Only-BG suite (the other suites off). Shared by the end-to-end tests.

Precision is pinned to fp32: the quickstart says auto (bf16 on CPUs with native bf16), and an end-to-end
test must neither depend on the CPU's bf16 speed (100x slower on AVX2-only CPUs) nor give other words
on another kind of CPU. bf16 behaviour is tested on small tensors (test_precision, test_static_llama)."""

TINY_QUICKSTART = [
    "world.num_images=30", "world.image_size=64", "explain.num_images=3", "explain.num_val=4",
    "explain.single_image_clouds=1", "train.epochs=1", "train.batch_size=8", "train.warmup_steps=2",
    "train.precision=fp32", "explain.precision=fp32",
    "sampling.num_sentences=3", "sampling.min_words=3", "sampling.max_words=6", "sampling.batch_size=3",
    "translator.options={hidden_dim: 64, num_layers: 3}",
    "suites.only_bg.num_classes=2", "suites.only_bg.val_per_class=2", "suites.only_bg.original_per_class=1",
    "suites.only_bg.train_per_class=6", "suites.only_bg.image_size=64",
    # The Waterbirds and generative-latent suites train models of their own (minutes at quickstart size); their
    # tiny end-to-end runs are tests/test_waterbirds_suite.py, tests/test_generative_latents_suite.py and the
    # suite contract test, so the real-model end-to-end tests keep Only-BG only.
    "suites.waterbirds.enabled=false", "suites.generative_latents.enabled=false",
    # The sanity suite retrains the translator twice; tests/test_sanity_suite.py and the suite contract test run it.
    "suites.sanity.enabled=false",
    # The trained controls train two more translators; tests/test_validate.py runs them end to end.
    "controls.trained=[]",
]
