"""Human rating studies of TExplain's explanations in Label Studio (TExplain, Section 4.2, Figure 3;
docs/design.md#human-rating-studies).

Study (a): raters see an image and its 10 most frequent explanation words and mark the words that match
the image (Figure 3, left: the count of relevant words). Study (b): raters see the classifier's top
prediction and the most frequent explanation word and say whether they are related (Figure 3, right).

    settings.py        typed, frozen settings: which images, how many, attention checks, images mode, analysis
    label_configs.py   the two labeling configurations (XML), validated offline with the SDK's LabelInterface
    items.py           the explained images a study is built from (main run and Only-BG suite records)
    images.py          how images reach the server: local-file serving (default) or base64 data URIs
    tasks.py           Label Studio tasks with stable ids, and the attention-check tasks
    export.py          writes <run>/ratings/: configs, tasks JSON for manual import, images, manifest
    server.py          push and pull through label-studio-sdk 2.x (idempotent push), with clear errors
    annotations.py     a Label Studio JSON export read back into one row per rating
    attention.py       raters who fail the attention checks, and their removal
    agreement.py       Krippendorff's alpha and Fleiss' kappa with bootstrap intervals over items
    analysis.py        Figure 3's quantities, per-rater summaries and agreement: <run>/ratings/results.json
    figures.py         the two plots (matplotlib PNGs)
    report_section.py  the report's "Human ratings" section
"""

# Registers the post-run export, the report's ratings section and the `ratings` commands (contracts/run_extensions.py).
from human_eval import export as _export  # noqa: E402,F401
from human_eval import report_section as _report_section  # noqa: E402,F401
from human_eval import cli as _cli  # noqa: E402,F401  (the `texplain ratings` commands)
