"""Figures of a report, each saved as PNG and PDF (matplotlib, Agg backend): loss curves of several
runs against steps, tokens and wall time; a metric against a hyper-parameter with error bars (one
standard deviation over seeds); isoFLOP curves and the power law of the compute-optimal size."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

from babyllama.report.records import Run
from babyllama.report.scaling import IsoFlop, PowerLaw
from babyllama.report.summary import METRICS, Cell
from babyllama.utils.io import atomic_path

X_AXES = (("step", "step"), ("tokens", "tokens"), ("elapsed", "wall time (s)"))


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, stem: str | os.PathLike) -> list[Path]:
    """stem.png and stem.pdf, each written atomically; closes the figure."""
    plt, out = _plt(), []
    for ext in ("png", "pdf"):
        path = Path(f"{stem}.{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=130 if ext == "png" else None)
        out.append(path)
    plt.close(fig)
    return out


def _number(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def curves(cells: Sequence[Cell], stem: str | os.PathLike, title: str = "loss curves") -> list[Path]:
    """Train loss (thin) and val loss (dots) of every run, one colour per cell (its seeds share it),
    against steps, tokens and wall time side by side."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True)
    colors = plt.get_cmap("tab10" if len(cells) <= 10 else "viridis")
    for ci, cell in enumerate(cells):
        color = colors(ci % 10) if len(cells) <= 10 else colors(ci / max(1, len(cells) - 1))
        for ri, run in enumerate(cell.runs):
            # tokens and wall time: carried forward to val-only records (which have neither)
            tokens, elapsed, pts = 0, 0.0, []
            for r in run.metrics:
                tokens = r.get("tokens", tokens)
                elapsed = r.get("elapsed", elapsed)
                pts.append((r["step"], tokens, elapsed, r.get("loss"), r.get("val_loss")))
            for i, ax in enumerate(axes):  # x = step, tokens, wall time
                train = [(p[i], p[3]) for p in pts if p[3] is not None]
                val = [(p[i], p[4]) for p in pts if p[4] is not None]
                label = cell.label if ri == 0 and ax is axes[0] else None
                style = "-" if run.finished else ":"
                if train:
                    ax.plot(*zip(*train), style, color=color, linewidth=0.8, alpha=0.6, label=label)
                if val:
                    ax.plot(*zip(*val), "o" + style, color=color, markersize=3, linewidth=1.2,
                            label=None if train else label)
    for ax, (_, xlabel) in zip(axes, X_AXES):
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("cross-entropy (nats/token)")
    fig.suptitle(f"{title} (lines: train, dots: validation; dotted: unfinished)")
    if cells:
        axes[0].legend(fontsize=7)
    fig.tight_layout()
    return save(fig, stem)


def metric_vs_setting(cells: Sequence[Cell], key: str, metric: str, stem: str | os.PathLike,
                      others: Sequence[str] = ()) -> list[Path]:
    """Mean of `metric` against the value of setting `key`, error bars of one standard deviation over
    seeds; one line per combination of the `others` settings. A log x axis when the values span 3x."""
    plt = _plt()
    groups: dict[str, list[tuple[float, float, float]]] = {}
    for cell in cells:
        x, s = _number(cell.settings.get(key)), cell.stat(metric)
        if x is None or s.mean is None:
            continue
        rest = ", ".join(f"{k}={cell.settings.get(k)}" for k in others)
        groups.setdefault(rest, []).append((x, s.mean, s.std or 0.0))
    fig, ax = plt.subplots(figsize=(6, 4.2))
    xs_all = []
    for rest, pts in groups.items():
        pts.sort()
        xs, ys, es = zip(*pts)
        xs_all += xs
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=4, label=rest or None)
    if xs_all and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 3:
        ax.set_xscale("log")
        ax.minorticks_off()
    ticks = sorted(set(xs_all))
    ax.set_xticks(ticks, [f"{x:g}" for x in ticks])
    ax.set_xlabel(key)
    ax.set_ylabel(METRICS.get(metric, (metric,))[0])
    ax.set_title(f"{METRICS.get(metric, (metric,))[0]} vs {key} (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    if any(groups):
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, stem)


def isoflop_plot(fits: Sequence[IsoFlop], law: PowerLaw | None, stem: str | os.PathLike) -> list[Path]:
    """Left: final loss against parameters per budget, with the fitted parabolas and their minima.
    Right: the optima against compute, with the power law through them."""
    import numpy as np

    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.get_cmap("viridis")
    for i, f in enumerate(fits):
        color = colors(i / max(1, len(fits) - 1) * 0.85)
        ax.plot(f.params, f.losses, "o", color=color, label=f"C = {f.flops:.0e} FLOPs")
        if f.coef is not None:
            x = np.linspace(math.log10(min(f.params)), math.log10(max(f.params)), 100)
            ax.plot(10 ** x, np.polyval(f.coef, x), "-", color=color, linewidth=1)
        ax.plot([f.optimum], [f.optimum_loss], "*" if f.from_fit else "s", color=color,
                markersize=14 if f.from_fit else 9, markerfacecolor=color if f.from_fit else "none",
                markeredgecolor="black")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("final val loss (nats/token)")
    ax.set_title("isoFLOP curves (star: fitted optimum; square: best size, at the ladder's edge)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    for f in fits:
        ax2.plot([f.flops], [f.optimum], "*" if f.from_fit else "s", markersize=12 if f.from_fit else 8,
                 color="tab:red", markerfacecolor="tab:red" if f.from_fit else "none")
    cs = [f.flops for f in fits]
    if law is not None:
        x = np.logspace(math.log10(min(cs)) - 0.3, math.log10(max(cs)) + 0.3, 50)
        ax2.plot(x, [law(v) for v in x], "-", color="tab:gray",
                 label=f"N* = {10 ** law.log10_k:.3g} · C^{law.exponent:.2f} (fitted optima)")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("compute C (FLOPs = 6 N D)")
    ax2.set_ylabel("compute-optimal parameters N*")
    ax2.set_title("power law of the optimum")
    ax2.grid(alpha=0.3, which="both")
    if law is not None:
        ax2.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, stem)
