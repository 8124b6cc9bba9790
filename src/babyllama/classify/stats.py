"""Statistics for accuracies over seeds: mean ± std, bootstrap 95% CI, chance and majority baselines.

    mean, std = mean_std([0.41, 0.43, 0.40])
    lo, hi = bootstrap_ci(correct)          # correct: (seeds, examples) or (examples,) of 0/1
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import numpy as np


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single value)."""
    if not values:
        raise ValueError("mean_std needs at least one value")
    m = sum(values) / len(values)
    if len(values) == 1:
        return m, 0.0
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def bootstrap_ci(correct: Sequence | np.ndarray, n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of accuracy, resampling examples with replacement.

    `correct` is (examples,) or (seeds, examples) of 0/1; with several seeds the statistic is the
    accuracy averaged over seeds, and every seed sees the same resampled examples."""
    c = np.asarray(correct, dtype=np.float64)
    if c.ndim == 1:
        c = c[None, :]
    if c.ndim != 2 or c.shape[1] == 0:
        raise ValueError(f"correct must be (examples,) or (seeds, examples) and non-empty, got shape {c.shape}")
    per_example = c.mean(0)  # averaging over seeds first gives the same statistic per resample
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(per_example), size=(n_boot, len(per_example)))
    stats = per_example[idx].mean(1)
    alpha = (1.0 - level) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


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
