"""Statistics for accuracies over seeds: chance and majority baselines, summaries (mean_std and
bootstrap_ci live in utils/stats.py and are re-exported here).

    mean, std = mean_std([0.41, 0.43, 0.40])
    lo, hi = bootstrap_ci(correct)          # correct: (seeds, examples) or (examples,) of 0/1
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from babyllama.utils.stats import bootstrap_ci, mean_std

__all__ = ["accuracy", "bootstrap_ci", "chance_accuracy", "format_summary", "majority_baseline", "mean_std",
           "summarize"]


def chance_accuracy(num_labels: int) -> float:
    """Expected accuracy of guessing uniformly among the labels."""
    return 1.0 / num_labels


def majority_baseline(train_labels: Sequence[int], eval_labels: Sequence[int]) -> tuple[int, float]:
    """The most frequent training label (smallest on ties) and its accuracy on eval_labels."""
    counts = Counter(train_labels)
    label = min(counts, key=lambda k: (-counts[k], k))
    return label, sum(1 for y in eval_labels if y == label) / len(eval_labels)


def accuracy(preds: Sequence[int], labels: Sequence[int]) -> float:
    if len(preds) != len(labels) or not labels:
        raise ValueError(f"accuracy needs equal non-empty lists, got {len(preds)} and {len(labels)}")
    return sum(int(p == y) for p, y in zip(preds, labels)) / len(labels)


def summarize(accs: Sequence[float], correct: np.ndarray | Sequence, n_boot: int = 2000) -> dict[str, float]:
    """mean, std, bootstrap CI and number of seeds, as a plain dict."""
    m, s = mean_std(list(accs))
    lo, hi = bootstrap_ci(correct, n_boot=n_boot)
    return {"mean": m, "std": s, "ci95_low": lo, "ci95_high": hi, "seeds": len(accs)}


def format_summary(s: dict[str, float]) -> str:
    return f"{s['mean']:.3f} ± {s['std']:.3f} [95% CI {s['ci95_low']:.3f}-{s['ci95_high']:.3f}]"
