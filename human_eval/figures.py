"""The two plots of the rating studies, in the layout of TExplain's Figure 3 (Section 4.2): left, the
distribution of the number of words (of 10) that raters found to match the image; right, the share of
"yes" when asked whether the classifier's top prediction and the most frequent explanation word are
related, with its 95% bootstrap interval over items. matplotlib PNGs (Agg: no display needed).

The paper's Figure 3 prints no values, and no reading of its bars is on record in this project
(PAPER_FIGURE_3 is empty), so the plots show our ratings alone and the report says so.
"""

from __future__ import annotations

from pathlib import Path

# Numbers read from the paper's Figure 3, if someone transcribes them: {"left": {count: share}, "right": share_yes}.
PAPER_FIGURE_3: dict = {}

LEFT, RIGHT = "figure3_left_counts.png", "figure3_right_yes.png"


def draw_figures(results: dict, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    a, b = results["study_a"], results["study_b"]
    figure, axis = plt.subplots(figsize=(5.2, 3.4), dpi=110)
    counts = sorted(a["count_share"].items(), key=lambda kv: int(kv[0]))
    axis.bar([int(k) for k, _ in counts], [v or 0.0 for _, v in counts], color="#2563eb")
    axis.set_xlabel("words (of those shown) that match the image")
    axis.set_ylabel("share of ratings")
    axis.set_xticks([int(k) for k, _ in counts])
    axis.set_title(f"(a) matched words: {a['ratings']} ratings, {a['items_rated']} images", fontsize=10)
    figure.tight_layout()
    paths.append(folder / LEFT)
    figure.savefig(paths[-1])
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(3.6, 3.4), dpi=110)
    share = b["share_yes"] if b["share_yes"] is not None else 0.0
    axis.bar(["yes", "no"], [share, 1.0 - share if b["share_yes"] is not None else 0.0], color=["#15803d", "#dc2626"])
    interval = b.get("item_share_yes_interval")
    if interval and b.get("item_share_yes") is not None:
        mean = b["item_share_yes"]
        axis.errorbar([0], [mean], yerr=[[mean - interval["low"]], [interval["high"] - mean]], fmt="o", color="black", capsize=4,
                      label="mean over images, 95% CI")
        axis.legend(fontsize=7, loc="upper right")
    axis.set_ylim(0, 1)
    axis.set_ylabel("share of ratings")
    axis.set_title(f"(b) related: {b['ratings']} ratings", fontsize=10)
    figure.tight_layout()
    paths.append(folder / RIGHT)
    figure.savefig(paths[-1])
    plt.close(figure)
    return paths
