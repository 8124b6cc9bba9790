"""The continual-pretraining study's table and plots, from the runs' metrics.jsonl (val/NAME/bpb curves).

    runs = {"ext + replay": "runs/continual/ext_replay", ...}
    print(bpb_table(runs, ["zh", "en"]))
    plot_bpb(runs, ["zh", "en"], "docs/continual/bpb.png")
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from babyllama.report.plots import read_metrics, save_png

Runs = Mapping[str, "str | os.PathLike"]


def bpb_curves(run_dir: str | os.PathLike, name: str) -> list[tuple[int, float]]:
    """(step, bits per byte) of validation set `name` at each evaluation of a run."""
    key = f"val/{name}/bpb"
    return [(r["step"], r[key]) for r in read_metrics(Path(run_dir) / "metrics.jsonl") if r.get(key) is not None]


def bpb_summary(runs: Runs, names: list[str]) -> dict[str, dict[str, tuple[float, float]]]:
    """{run label: {set name: (bpb at the first evaluation, bpb at the last)}}."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for label, run in runs.items():
        out[label] = {}
        for n in names:
            c = bpb_curves(run, n)
            if c:
                out[label][n] = (c[0][1], c[-1][1])
    return out


def bpb_table(runs: Runs, names: list[str]) -> str:
    """A Markdown table: per run, each set's bits per byte before, after and the change."""
    head = "| run | " + " | ".join(f"{n} bpb before | {n} bpb after | {n} change" for n in names) + " |"
    rule = "|---|" + "---:|" * (3 * len(names))
    rows = [head, rule]
    for label, sets in bpb_summary(runs, names).items():
        cells = []
        for n in names:
            a, b = sets.get(n, (float("nan"), float("nan")))
            cells += [f"{a:.3f}", f"{b:.3f}", f"{b - a:+.3f}"]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def plot_bpb(runs: Runs, names: list[str], out_png: str | os.PathLike, title: str = "") -> Path:
    """One panel per validation set: bits per byte against step, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4), dpi=100, squeeze=False)
    for ax, n in zip(axes[0], names):
        for label, run in runs.items():
            c = bpb_curves(run, n)
            if c:
                ax.plot(*zip(*c), label=label, marker="o", markersize=2.5, linewidth=1.3)
        ax.set_title(f"{n}: bits per byte (validation)")
        ax.set_xlabel("step")
        ax.set_ylabel("bits per byte")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_png(fig, out_png)
