"""Learning-rate schedules: linear warmup, then cosine / linear decay to min_lr, or constant.

Steps count from 0. During warmup (step < warmup) the rate is lr * (step + 1) / warmup, so the
last warmup step reaches lr. Decay runs from step = warmup (lr) to step = max_steps (min_lr);
later steps stay at min_lr.
"""
from __future__ import annotations

import math

SCHEDULES = ("cosine", "linear", "constant")


def lr_at(step: int, *, lr: float, warmup_steps: int, max_steps: int, min_lr: float,
          schedule: str = "cosine") -> float:
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose from {SCHEDULES}")
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return lr
    if step >= max_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, max_steps - warmup_steps)
    if schedule == "linear":
        return lr + (min_lr - lr) * progress
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)
