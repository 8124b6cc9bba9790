"""Runs grouped into cells (the same settings, different seeds) and each metric's mean, standard
deviation and count over a cell's finished runs; the sweep summary (summary.csv, summary.json).

The standard deviation is the sample one (ddof = 1, numpy's np.std(x, ddof=1)); it is None for a
single run, where it is not defined.
"""
from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from babyllama.report.records import Run
from babyllama.utils.io import atomic_write_json, atomic_write_text
from babyllama.utils.stats import mean_std

# metric -> (label, lower is better). Names are Run.metric's dotted names.
METRICS: dict[str, tuple[str, bool]] = {
    "final.val_loss": ("val loss", True),
    "final.val_bpb": ("val bits/byte", True),
    "best.val_loss": ("best val loss", True),
    "final.train_loss": ("train loss", True),
    "progress.tokens_per_s": ("tokens/s", False),
    "progress.wall_time_s": ("wall time (s)", True),
}
PLAN_FILE = "sweep.json"  # a sweep folder's plan (train/sweep.py writes it)
FLOPS_KEY = "flops"       # the compute budget dimension of a sizing sweep
# settings every run of a sweep differs in without being a hyper-parameter
NOT_SETTINGS = ("train.run_dir", "train.seed", "train.device")


@dataclass
class Stat:
    mean: float | None
    std: float | None
    n: int


def seed_stat(values: Iterable[float | None]) -> Stat:
    """Mean, sample standard deviation (ddof = 1; None below two values) and count of the values
    that are not None or NaN."""
    xs = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not xs:
        return Stat(None, None, 0)
    mean, std = mean_std(xs)
    return Stat(mean, std if len(xs) > 1 else None, len(xs))


@dataclass
class Cell:
    """Runs sharing `settings` (hyper-parameter -> value); they differ in their seed only."""
    settings: dict[str, Any]
    runs: list[Run] = field(default_factory=list)

    @property
    def finished(self) -> list[Run]:
        return [r for r in self.runs if r.finished]

    def stat(self, metric: str) -> Stat:
        return seed_stat(r.metric(metric) for r in self.finished)

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.settings.items()) or "all runs"


def varying_settings(runs: Sequence[Run]) -> list[str]:
    """The config keys (section.key) whose value differs between runs, seeds and folders aside."""
    keys: list[str] = []
    sections = {s for r in runs for s in (r.record.get("config") or {})}
    for section in sorted(sections):
        names = {k for r in runs for k in (r.record.get("config") or {}).get(section, {})}
        for name in sorted(names):
            key = f"{section}.{name}"
            if key not in NOT_SETTINGS and len({repr(r.setting(key)) for r in runs}) > 1:
                keys.append(key)
    return keys


def group_cells(runs: Sequence[Run], keys: Sequence[str], settings_of: Any = None) -> list[Cell]:
    """Runs grouped by their values of `keys` (settings_of(run) -> {key: value} when given, else the
    run's config), in first-seen order."""
    cells: dict[tuple, Cell] = {}
    for run in runs:
        values = settings_of(run) if settings_of else {k: run.setting(k) for k in keys}
        values = {k: values.get(k) for k in keys}
        ident = tuple(repr(values[k]) for k in keys)
        cells.setdefault(ident, Cell(values)).runs.append(run)
    return list(cells.values())


def by_task(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """Runs of each task (pretrain, and whatever other objectives wrote), never mixed in one table."""
    out: dict[str, list[Run]] = {}
    for run in runs:
        out.setdefault(run.task, []).append(run)
    return out


def summary_rows(cells: Sequence[Cell], metrics: Sequence[str] = tuple(METRICS)) -> list[dict[str, Any]]:
    """One flat row per cell: its settings, runs (all and finished), and mean/std/n per metric."""
    rows = []
    for cell in cells:
        row: dict[str, Any] = dict(cell.settings)
        row["runs"], row["finished"] = len(cell.runs), len(cell.finished)
        for m in metrics:
            s = cell.stat(m)
            row[f"{m}.mean"], row[f"{m}.std"], row[f"{m}.n"] = s.mean, s.std, s.n
        rows.append(row)
    return rows


def write_summary(out_dir: str | os.PathLike, cells: Sequence[Cell], extra: dict[str, Any] | None = None
                  ) -> tuple[Path, Path]:
    """summary.csv and summary.json (the rows, plus `extra`) in out_dir."""
    out = Path(out_dir)
    rows = summary_rows(cells)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
    atomic_write_text(out / "summary.csv", buf.getvalue())
    atomic_write_json(out / "summary.json", {**(extra or {}), "std": "sample standard deviation (ddof=1)",
                                             "cells": rows})
    return out / "summary.csv", out / "summary.json"
