"""Statistics over examples and seeds: mean ± std and the percentile bootstrap CI of a mean.

    mean, std = mean_std([0.41, 0.43, 0.40])
    lo, hi = bootstrap_ci(correct)          # correct: (seeds, examples) or (examples,) of 0/1 or scores
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

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


def bootstrap_ci_of(statistic: Callable[[np.ndarray], float], n: int, n_boot: int = 1000, level: float = 0.95,
                    seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of a statistic that is not a mean (corpus BLEU): `statistic(indices)`
    is computed on `n_boot` resamples of the n example indices, drawn with replacement."""
    if n < 1:
        raise ValueError("bootstrap_ci_of needs at least one example")
    rng = np.random.default_rng(seed)
    stats = [statistic(rng.integers(0, n, size=n)) for _ in range(n_boot)]
    alpha = (1.0 - level) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))
