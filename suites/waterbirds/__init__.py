"""Waterbirds mitigation suite (TExplain Section 4.4, Table 2, Figure 7), one concept per file:

config.py (settings), data.py (the dataset and its images), training.py (ERM and fine-tunes),
detection.py (translator and explanations of the fine-tuned model, detection score), selection.py
(dominant non-class word), localizers.py (class_cam, word_cam with grad-cam), masks.py (MaskTune's
threshold, mapping back through resize and crop, RandMask rectangles), methods.py (which images get
which masks), group_metrics.py (worst-group and three averages), report.py (Table 2, Figure 7),
verdicts.py (the headlines' verdicts, decided over seeds), and suite.py (the steps, registered as
``waterbirds``). Importing this package registers the suite.
"""

from suites.waterbirds import suite  # noqa: F401  (registers the suite)
