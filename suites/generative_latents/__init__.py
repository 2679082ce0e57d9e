"""The generative-latent suite (TExplain Section 4.3, Table 1, Figure 4) as a sub-package of suites: the
suite and its config (suite.py, config.py), the real generator and captioner (stable_diffusion.py,
blip_captioner.py, coco_prompts.py), the offline stand-in generator (stand_in_vae.py), scoring
(scoring.py, on harness/metrics/captions) and the Figure 4 layout (figures.py).

Importing the package registers the suite (suites/__init__.py's discover imports it).
"""

from suites.generative_latents.suite import GenerativeLatentsSuite  # noqa: F401  (registers the suite)
