"""Plots derived from a run's metrics.jsonl (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from babyllama.utils.io import atomic_path


def read_metrics(path: str | os.PathLike, warn: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file. A line that is not UTF-8 or not a JSON record with a
    "step" (a torn last line after a crash, a damaged byte) is skipped, and named to `warn` if given."""
    out = []
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                why = "not valid UTF-8"
            except json.JSONDecodeError:
                why = "not valid JSON"
            else:
                if isinstance(rec, dict) and "step" in rec:
                    out.append(rec)
                    continue
                why = "not a metrics record"
            if warn is not None:
                warn(f"warning: {path}:{n}: {why}; line skipped")
    return out


def plot_loss(metrics: str | os.PathLike | list[dict[str, Any]], out_png: str | os.PathLike,
              title: str | None = None) -> Path:
    """Train loss, val loss and each named validation set's loss (where measured) against step,
    written atomically to out_png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics) if not isinstance(metrics, list) else metrics
    train = [(r["step"], r["loss"]) for r in records if r.get("loss") is not None]
    val = [(r["step"], r["val_loss"]) for r in records if r.get("val_loss") is not None]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    if train:
        ax.plot(*zip(*train), label="train loss", color="tab:blue", linewidth=1.2)
    if val:
        ax.plot(*zip(*val), label="val loss", color="tab:orange", marker="o", markersize=3, linewidth=1.5)
    names = sorted({k[4:-5] for r in records for k in r if k.startswith("val/") and k.endswith("/loss")})
    for i, name in enumerate(names):  # named validation sets (data.val_sets)
        curve = [(r["step"], r[f"val/{name}/loss"]) for r in records if r.get(f"val/{name}/loss") is not None]
        ax.plot(*zip(*curve), label=f"val loss: {name}", color=f"C{2 + i}", marker="s", markersize=3,
                linewidth=1.2, linestyle="--")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(title or "loss")
    ax.grid(alpha=0.3)
    if train or val or names:
        ax.legend()
    return save_png(fig, out_png)


def save_png(fig: Any, out_png: str | os.PathLike) -> Path:
    """Lay out a matplotlib figure, write it atomically as PNG and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out_png
