"""Training batches drawn from several tasks by weight: proportional, temperature, or explicit weights.

    p = mixture_weights({"squad": 347, "cnn_dm": 174, "sst": 8544}, temperature=2.0)
    batches = TaskBatches({"squad": rows_a, "sst": rows_b}, p, batch_size=8, collate=collate, seed=0)

Without explicit weights task i is drawn with probability p_i = n_i^(1/T) / sum_j n_j^(1/T), n_i its
number of training examples: T = 1 samples in proportion to size (as if the tasks were pooled), a
large T approaches an even mixture and lets a small task be seen as often as a big one. Each slot of
global batch b picks its task with `data.mixture.draw_sources` seeded by (seed, b), as MixtureLoader
does for token shards; within a task the examples come in a seeded order reshuffled each epoch
(`data.chat.ExampleBatches`). The resumable state is the batch counter and each task's cursor.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from babyllama.data.chat import ExampleBatches
from babyllama.data.mixture import draw_sources, parse_named
from babyllama.utils.io import BabyLlamaError


def parse_weights(text: str, tasks: Sequence[str], where: str = "tasks.weights") -> dict[str, float] | None:
    """Explicit weights for exactly `tasks` (None for ''); an error for a missing, unknown or bad one."""
    if not text.strip():
        return None
    named = parse_named(text, where, "squad=2, sst=1")
    unknown, missing = set(named) - set(tasks), [t for t in tasks if t not in named]
    if unknown or missing:
        what = f"unknown: {', '.join(sorted(unknown))}" if unknown else f"missing: {', '.join(missing)}"
        raise BabyLlamaError(f"{where}: give one weight for each task of tasks.names ({', '.join(tasks)}); {what}")
    out = {}
    for t in tasks:
        try:
            out[t] = float(named[t])
        except ValueError:
            raise BabyLlamaError(f"{where}: weight {named[t]!r} of {t} is not a number") from None
    return out


def mixture_weights(sizes: Mapping[str, int], weights: Mapping[str, float] | None = None,
                    temperature: float = 1.0, where: str = "tasks") -> dict[str, float]:
    """Each task's sampling probability: the explicit weights normalised, else n_i^(1/T) normalised."""
    if not sizes:
        raise BabyLlamaError(f"{where}: no tasks to mix")
    if weights is None:
        if not temperature > 0 or not math.isfinite(temperature):
            raise BabyLlamaError(f"{where}.temperature: {temperature} must be a finite number > 0")
        raw = {t: float(n) ** (1.0 / temperature) if n > 0 else 0.0 for t, n in sizes.items()}
    else:
        raw = {t: float(weights[t]) for t in sizes}
        bad = [t for t, w in raw.items() if not math.isfinite(w) or w < 0]
        if bad:
            raise BabyLlamaError(f"{where}.weights: the weight of {bad[0]} ({raw[bad[0]]}) must be a finite "
                                 f"number >= 0")
    total = sum(raw.values())
    if total <= 0:
        raise BabyLlamaError(f"{where}: every task has weight 0 (or no examples); give one a weight > 0")
    return {t: w / total for t, w in raw.items()}


class TaskBatches:
    """Endless training batches: each of the batch_size examples of a global batch from a task drawn
    by `probs`; rank r of world_size collates its share of the global batch."""

    def __init__(self, rows: Mapping[str, Sequence[Any]], probs: Mapping[str, float], batch_size: int,
                 collate: Callable[[list[Any]], Any], *, seed: int = 0, shuffle: bool = True,
                 rank: int = 0, world_size: int = 1) -> None:
        self.names = [t for t in rows if probs.get(t, 0.0) > 0]
        empty = [t for t in self.names if not rows[t]]
        if empty:
            raise BabyLlamaError(f"task {empty[0]!r} has no training examples but a weight > 0")
        self.tasks = [ExampleBatches(rows[t], 1, _first, seed=seed + 7919 * k, shuffle=shuffle)
                      for k, t in enumerate(self.names)]
        p = np.array([probs[t] for t in self.names], dtype=np.float64)
        self.probs = p / p.sum()
        self._cum = np.cumsum(self.probs)
        self._cum[-1] = 1.0
        self.batch_size, self.collate, self.seed = batch_size, collate, seed
        self.rank, self.world_size = rank, world_size
        self._batch = 0
        self.drawn = np.zeros(len(self.names), dtype=np.int64)  # examples drawn per task so far

    def draw(self, batch: int) -> np.ndarray:
        """The task index of each example of global batch `batch`."""
        return draw_sources(self._cum, self.seed, batch, self.batch_size)

    def next_batch(self) -> Any:
        choice = self.draw(self._batch)
        self._batch += 1
        picked = [self.tasks[k].next_batch() for k in choice.tolist()]  # every rank advances every cursor
        self.drawn += np.bincount(choice, minlength=len(self.names))
        share = self.batch_size // self.world_size
        return self.collate(picked[self.rank * share:(self.rank + 1) * share])

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "tasks", "batch": self._batch, "tasks": self.names, "probs": self.probs.tolist(),
                "cursors": [t.state_dict() for t in self.tasks], "drawn": self.drawn.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != "tasks" or state.get("tasks") != self.names:
            raise BabyLlamaError(f"loader state is not for the tasks {self.names}; resume with the tasks.names "
                                 f"the run began with")
        if not np.allclose(state["probs"], self.probs):
            raise BabyLlamaError(f"the task weights changed since the checkpoint ({state['probs']} -> "
                                 f"{self.probs.tolist()}); resume with the same tasks settings")
        self._batch = int(state["batch"])
        for t, s in zip(self.tasks, state["cursors"]):
            t.load_state_dict(s)
        self.drawn = np.array(state.get("drawn", [0] * len(self.names)), dtype=np.int64)


def _first(rows: list[Any]) -> Any:
    return rows[0]
