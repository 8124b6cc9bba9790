"""Compute-optimal sizing: isoFLOP fits and the power law of the optimum (Chinchilla's approach 2).

For each compute budget C, the final loss of models of N parameters trained on D = C / (6 N) tokens
is fitted by a parabola in log10 N; its vertex is that budget's compute-optimal size N*(C). Over the
budgets, log10 N* = a log10 C + b gives the power law N* = 10^b C^a (and D* = C / (6 N*)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class IsoFlop:
    flops: float
    params: list[float]          # the ladder's sizes
    losses: list[float]          # mean final loss per size
    coef: tuple[float, float, float] | None  # loss = c0 x^2 + c1 x + c2, x = log10 params
    optimum: float               # N*: the parabola's vertex, or the best size when the fit has none
    optimum_loss: float
    from_fit: bool               # False when the parabola opens downwards or the vertex is off the ladder

    @property
    def optimum_tokens(self) -> float:
        return self.flops / (6 * self.optimum)


def fit_isoflop(flops: float, params: Sequence[float], losses: Sequence[float]) -> IsoFlop:
    """The parabola in log10 N through (params, losses) and its minimum. With fewer than three sizes,
    a parabola opening downwards, or a vertex outside the ladder, the optimum is the best size seen."""
    x, y = np.log10(np.asarray(params, dtype=float)), np.asarray(losses, dtype=float)
    order = np.argsort(x)
    x, y = x[order], y[order]
    best = int(np.argmin(y))
    coef = None
    if len(x) >= 3:
        coef = tuple(float(c) for c in np.polyfit(x, y, 2))
        if coef[0] > 0:
            vertex = -coef[1] / (2 * coef[0])
            if x[0] <= vertex <= x[-1]:
                loss = float(np.polyval(coef, vertex))
                return IsoFlop(flops, [float(10 ** v) for v in x], y.tolist(), coef, float(10 ** vertex), loss, True)
    return IsoFlop(flops, [float(10 ** v) for v in x], y.tolist(), coef, float(10 ** x[best]), float(y[best]), False)


@dataclass
class PowerLaw:
    exponent: float   # a in N* = k C^a
    log10_k: float

    def __call__(self, flops: float) -> float:
        return 10 ** (self.log10_k + self.exponent * math.log10(flops))


def fit_power_law(flops: Sequence[float], optima: Sequence[float]) -> PowerLaw | None:
    """log10 N* = a log10 C + log10 k by least squares; None with fewer than two budgets."""
    if len(flops) < 2:
        return None
    a, b = np.polyfit(np.log10(np.asarray(flops, float)), np.log10(np.asarray(optima, float)), 1)
    return PowerLaw(float(a), float(b))
