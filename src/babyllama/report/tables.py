"""Tables of a report, each drawn as Markdown, LaTeX (booktabs, for the ACL and NeurIPS templates)
and HTML from one `Table`: results per cell (mean ± std over seeds, best in bold), runs, datasets.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from babyllama.report.records import Run
from babyllama.report.summary import METRICS, Cell, Stat

# decimals per metric in tables
DECIMALS = {"final.val_loss": 4, "final.val_bpb": 4, "best.val_loss": 4, "final.train_loss": 4,
            "progress.tokens_per_s": 0, "progress.wall_time_s": 1}


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    bold: set[tuple[int, int]] = field(default_factory=set)  # (row, column) cells to set in bold
    caption: str = ""
    label: str = "table"
    numeric_from: int = 1  # columns from this one on are right-aligned


def fmt(value: Any, decimals: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{decimals}f}" if decimals == 0 else f"{value:.{decimals}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def fmt_stat(s: Stat, decimals: int) -> str:
    if s.n == 0:
        return "–"
    return fmt(s.mean, decimals) if s.std is None else f"{fmt(s.mean, decimals)} ± {fmt(s.std, decimals)}"


def results_table(cells: Sequence[Cell], keys: Sequence[str], metrics: Sequence[str], title: str,
                  label: str = "results", best_within: str | None = None) -> Table:
    """A row per cell: its settings, then mean ± std of each metric over its finished runs; the best
    mean of each loss in bold (among the rows sharing a value of `best_within`, e.g. a compute
    budget, when given). The caption names the number of seeds."""
    rows, bold = [], set()
    ns = sorted({c.stat(metrics[0]).n for c in cells})
    show_n = len(ns) > 1
    columns = [*keys, *(["n"] if show_n else []), *(METRICS[m][0] for m in metrics)]
    offset = len(keys) + show_n
    for cell in cells:
        row = [fmt(cell.settings.get(k)) for k in keys]
        unfinished = len(cell.runs) - len(cell.finished)
        if unfinished and row:
            row[0] += " †"
        if show_n:
            row.append(str(cell.stat(metrics[0]).n))
        row += [fmt_stat(cell.stat(m), DECIMALS.get(m, 4)) for m in metrics]
        rows.append(row)
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(cells):
        groups.setdefault(repr(c.settings.get(best_within)) if best_within else "", []).append(i)
    for j, m in enumerate(metrics):
        if m.startswith("progress."):  # speeds and times are not results to rank
            continue
        for members in groups.values():
            means = [(cells[i].stat(m).mean, i) for i in members if cells[i].stat(m).mean is not None]
            if len(means) > 1:
                best = min(means) if METRICS[m][1] else max(means)
                bold.add((best[1], offset + j))
    if ns == [1]:
        seeds = "single runs (n = 1 seed per row, no standard deviation)"
    else:
        seeds = "mean ± sample standard deviation over " + (
            f"n = {ns[0]} seeds per row" if len(ns) == 1 else f"n = {ns[0]}–{ns[-1]} seeds per row (column n)")
    within = f" per {best_within}" if best_within else ""
    caption = f"{title}: {seeds}; best{within} in bold."
    if any(len(c.runs) > len(c.finished) for c in cells):
        caption += " † some runs of this row are unfinished and left out."
    return Table(title, columns, rows, bold, caption, label, numeric_from=len(keys))


def runs_table(runs: Sequence[Run], title: str = "Runs") -> Table:
    """One row per run: status, steps, tokens, wall time, speed and losses."""
    columns = ["run", "status", "steps", "tokens", "wall time (s)", "tokens/s", "train loss", "val loss",
               "val bits/byte", "best val loss"]
    rows = []
    twice = {r.name for r in runs if sum(q.name == r.name for q in runs) > 1}
    for r in runs:
        p = r.record.get("progress") or {}
        name = f"{r.path.parent.name}/{r.name}" if r.name in twice else r.name
        rows.append([name, r.status, fmt(p.get("step")), fmt(p.get("tokens")), fmt(p.get("wall_time_s"), 1),
                     fmt(p.get("tokens_per_s"), 0), fmt(r.metric("final.train_loss")),
                     fmt(r.metric("final.val_loss")), fmt(r.metric("final.val_bpb")),
                     fmt(r.metric("best.val_loss"))])
    return Table(title, columns, rows, caption=f"{title}: one row per run folder (unfinished runs marked).",
                 label="runs", numeric_from=2)


def dataset_table(datasets: dict[str, dict[str, Any]]) -> Table:
    """Per data folder and split: documents, tokens, UTF-8 bytes and bytes per token (from manifests)."""
    rows = []
    for name, d in datasets.items():
        for split, s in (d.get("splits") or {}).items():
            rows.append([name, split, fmt(s["documents"]), fmt(s["tokens"]), fmt(s["bytes"]),
                         fmt(s["bytes"] / s["tokens"] if s["tokens"] else None, 3)])
    return Table("Datasets", ["data", "split", "documents", "tokens", "bytes", "bytes/token"], rows,
                 caption="Datasets: documents, tokens and UTF-8 bytes per split, from each data folder's manifest.",
                 label="datasets", numeric_from=2)


# ---------------------------------------------------------------- renderers

def to_markdown(t: Table) -> str:
    def cell(i: int, j: int, text: str) -> str:
        text = text.replace("|", "\\|")
        return f"**{text}**" if (i, j) in t.bold and text != "–" else text

    align = ["---" if j < t.numeric_from else "---:" for j in range(len(t.columns))]
    lines = ["| " + " | ".join(t.columns) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell(i, j, v) for j, v in enumerate(row)) + " |" for i, row in enumerate(t.rows)]
    return "\n".join(lines) + f"\n\n*{t.caption}*\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    out = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)
    return out.replace("–", "--").replace("†", r"$^\dagger$").replace("±", r"$\pm$")


def _latex_cell(text: str, bold: bool) -> str:
    m = re.fullmatch(r"(-?[\d,.]+) ± ([\d,.]+)", text)
    if m:
        inner = rf"{m.group(1)} \pm {m.group(2)}".replace(",", "{,}")
        return rf"$\mathbf{{{inner}}}$" if bold else f"${inner}$"
    text = latex_escape(text)
    return rf"\textbf{{{text}}}" if bold and text != "--" else text


def to_latex(t: Table) -> str:
    """A booktabs table (needs \\usepackage{booktabs}); paste into an ACL or NeurIPS paper."""
    spec = "".join("l" if j < t.numeric_from else "r" for j in range(len(t.columns)))
    size = r"\small" if len(t.columns) <= 7 else r"\scriptsize\setlength{\tabcolsep}{3pt}"  # wide: still one column
    lines = [r"\begin{table}[t]", r"\centering", size, rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(latex_escape(c) for c in t.columns) + r" \\", r"\midrule"]
    for i, row in enumerate(t.rows):
        lines.append(" & ".join(_latex_cell(v, (i, j) in t.bold) for j, v in enumerate(row)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{latex_escape(t.caption)}}}",
              rf"\label{{tab:{t.label}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_html(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = []
    for i, row in enumerate(t.rows):
        tds = []
        for j, v in enumerate(row):
            cls = ' class="num"' if j >= t.numeric_from else ""
            text = html.escape(v)
            tds.append(f"<td{cls}>{f'<b>{text}</b>' if (i, j) in t.bold else text}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<p class=\"caption\">{html.escape(t.caption)}</p>")
