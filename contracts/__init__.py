"""The floor that plug-ins stand on: the contracts and registries a suite, an explainer, a dataset format,
a post-run step or a report section is written against. It imports only ``texplain``; the harness,
the suites, the explainers and human_eval import it, and it imports none of them (it loads the plug-in
packages by name, contracts/plugins.py).

    suite.py            the suite contract (Suite) and SUITES
    run_context.py      RunContext: what a suite gets from the run; CaptionedFeatures, TrainedTranslator
    explainers.py       the explainer contract (WordExplainer) and EXPLAINERS
    dataset_formats.py  DATASET_FORMATS: how a format is recognised, checked and trained on
    metrics.py          METRICS: every metric's definition and direction
    run_extensions.py   POST_RUN_STEPS and REPORT_SECTIONS
    plugins.py          the plug-in packages and how they are loaded
    intervals.py        95% bootstrap intervals over images
    formats.py          format versions of the result files
    files.py            atomic writes of result files
"""
