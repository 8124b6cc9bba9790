"""`babyllama report`: one report from run folders and sweep folders.

    build_report(["runs/sweep_lr", "runs/quickstart"], "report/")

writes report/report.md, report/report.html (self-contained: figures inlined as base64 PNG),
report/tables/*.tex (booktabs), report/report.tex (a small LaTeX document holding every table) and
report/figures/*.png + *.pdf. Runs of different tasks go in different sections, never one table;
unfinished runs are reported as such and left out of the means.
"""
from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from babyllama.report import figures as F
from babyllama.report.records import Run, is_run_dir, load_run
from babyllama.report.scaling import fit_isoflop, fit_power_law
from babyllama.report.summary import FLOPS_KEY, PLAN_FILE, by_task, group_cells, varying_settings
from babyllama.report.tables import (Table, dataset_table, fmt, latex_escape, results_table, runs_table, to_html,
                                     to_latex, to_markdown)
from babyllama.utils.io import BabyLlamaError, atomic_write_text, read_json

RESULT_METRICS = ("final.val_loss", "final.val_bpb", "best.val_loss", "final.train_loss", "progress.tokens_per_s")


@dataclass
class Study:
    """Runs reported together: a sweep (keys = its grid) or loose runs of one task (keys = the
    settings that differ between them)."""
    title: str
    runs: list[Run]
    keys: list[str]
    settings_of: Callable[[Run], dict[str, Any]] | None = None


def collect(paths: Sequence[str | os.PathLike]) -> list[Study]:
    """Studies from sweep folders (sweep.json), run folders, and folders of run folders."""
    studies: list[Study] = []
    loose: list[Run] = []
    for p in map(Path, paths):
        if (p / PLAN_FILE).is_file():
            studies += _sweep_studies(p)
        elif p.is_dir() and is_run_dir(p):
            loose.append(load_run(p))
        elif p.is_dir() and any(is_run_dir(d) for d in p.iterdir() if d.is_dir()):
            loose += [load_run(d) for d in sorted(p.iterdir()) if d.is_dir() and is_run_dir(d)]
        else:
            raise BabyLlamaError(f"{p}: not a run folder, a sweep folder or a folder of runs")
    for task, runs in by_task(loose).items():
        studies.append(Study(f"Runs ({task})", runs, varying_settings(runs)))
    return studies


def _sweep_studies(folder: Path) -> list[Study]:
    plan = read_json(folder / PLAN_FILE)
    keys = ([FLOPS_KEY, "params"] if plan.get("flops") else []) + list(plan["grid"])
    runs, settings = [], {}
    for entry in plan["runs"]:
        d = folder / entry["dir"]
        if d.is_dir() and is_run_dir(d):
            run = load_run(d)
            runs.append(run)
            settings[id(run)] = {**entry["settings"], "params": entry.get("params")}
    if not runs:
        raise BabyLlamaError(f"{folder}: a sweep folder with no runs yet; run the sweep first")
    tasks = by_task(runs)
    return [Study(f"Sweep {folder.name}" + (f" ({task})" if len(tasks) > 1 else ""), rs, keys,
                  lambda run: settings[id(run)]) for task, rs in tasks.items()]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "study"


def build_report(paths: Sequence[str | os.PathLike], out: str | os.PathLike, title: str = "Experiments") -> Path:
    """Write the report (see the module doc) into `out` and return report.md's path."""
    out = Path(out)
    studies = collect(paths)
    blocks: list[tuple[str, Any]] = [("h1", title)]
    tables: list[Table] = []
    all_runs = [r for s in studies for r in s.runs]
    blocks.append(("p", _setup_line(all_runs)))
    datasets = _datasets(all_runs)
    if datasets:
        t = dataset_table(datasets)
        tables.append(t)
        blocks += [("h2", "Data"), ("table", t)]
    for study in studies:
        blocks += _study_blocks(study, out, tables)
    evals = _evaluations_table(all_runs)
    if evals is not None:
        tables.append(evals)
        blocks += [("h2", "Evaluations"), ("table", evals)]
    for t in tables:
        atomic_write_text(out / "tables" / f"{t.label}.tex", to_latex(t))
    atomic_write_text(out / "report.tex", _latex_document(title, tables))
    atomic_write_text(out / "report.md", _markdown(blocks))
    atomic_write_text(out / "report.html", _html(title, blocks))
    return out / "report.md"


def _study_blocks(study: Study, out: Path, tables: list[Table]) -> list[tuple[str, Any]]:
    slug = _slug(study.title)
    cells = group_cells(study.runs, study.keys, study.settings_of)
    blocks: list[tuple[str, Any]] = [("h2", study.title)]
    unfinished = [str(r.path) for r in study.runs if not r.finished]
    if unfinished:
        blocks.append(("p", f"Unfinished (stopped, failed or killed; left out of the means): "
                            f"{', '.join(unfinished)}."))
    if study.keys or any(len(c.runs) > 1 for c in cells):
        t = results_table(cells, study.keys, RESULT_METRICS, study.title, label=f"{slug}-results",
                          best_within=FLOPS_KEY if FLOPS_KEY in study.keys else None)
        tables.append(t)
        blocks.append(("table", t))
    stem = out / "figures" / f"{slug}-curves"
    F.curves(cells, stem, title=study.title)
    blocks.append(("img", stem))
    for key in study.keys:
        if key in (FLOPS_KEY, "params") or len({repr(c.settings.get(key)) for c in cells}) < 2:
            continue
        if all(F._number(c.settings.get(key)) is not None for c in cells):
            stem = out / "figures" / f"{slug}-{_slug(key)}"
            F.metric_vs_setting(cells, key, "final.val_loss", stem,
                                others=[k for k in study.keys if k not in (key, "params")])
            blocks.append(("img", stem))
    if FLOPS_KEY in study.keys:
        blocks += _sizing_blocks(cells, out / "figures" / f"{slug}-isoflop", tables, slug)
    t = runs_table(study.runs, f"{study.title}: runs")
    t.label = f"{slug}-runs"
    tables.append(t)
    blocks.append(("table", t))
    return blocks


def _sizing_blocks(cells: list, stem: Path, tables: list[Table], slug: str) -> list[tuple[str, Any]]:
    """isoFLOP fits per budget, the power law of the optimum, and the compute-optimal size."""
    budgets: dict[float, list[tuple[float, float]]] = {}
    for c in cells:
        s = c.stat("final.val_loss")
        if s.mean is not None and c.settings.get("params"):
            budgets.setdefault(float(c.settings[FLOPS_KEY]), []).append((float(c.settings["params"]), s.mean))
    fits = [fit_isoflop(C, *zip(*pts)) for C, pts in sorted(budgets.items()) if len(pts) >= 2]
    if not fits:
        return [("p", "Not enough finished runs for isoFLOP fits.")]
    fitted = [f for f in fits if f.from_fit]  # an optimum at the ladder's edge only bounds the true one
    law = fit_power_law([f.flops for f in fitted], [f.optimum for f in fitted])
    F.isoflop_plot(fits, law, stem)
    rows = [[f"{f.flops:.0e}", fmt(round(f.optimum)), fmt(round(f.optimum_tokens)), fmt(f.optimum_loss),
             "isoFLOP fit" if f.from_fit else "best size seen"] for f in fits]
    t = Table("Compute-optimal sizes", ["FLOPs C", "N* (params)", "D* (tokens)", "val loss at N*", "from"],
              rows, caption="Compute-optimal sizes: the minimum of a parabola in log10 N fitted to the final "
              "validation loss at each budget (D* = C / 6N*).", label=f"{slug}-optima")
    tables.append(t)
    big = fits[-1]
    text = (f"Compute-optimal size for the largest budget, C = {big.flops:.0e} FLOPs: N* ≈ {big.optimum:,.0f} "
            f"parameters trained on D* ≈ {big.optimum_tokens:,.0f} tokens "
            f"({big.optimum_tokens / big.optimum:.1f} tokens per parameter; "
            f"{'isoFLOP fit' if big.from_fit else 'the best size of the ladder: the fit has no minimum inside it'}).")
    if law is not None:
        text += (f" Power law through the {len(fitted)} fitted optima: N* = {10 ** law.log10_k:.3g} · "
                 f"C^{law.exponent:.3f}.")
    else:
        text += f" No power law: {len(fitted)} budget(s) have a minimum inside the ladder; two are needed."
    return [("img", stem), ("table", t), ("p", text)]


def _setup_line(runs: Sequence[Run]) -> str:
    hw = {(h.get("cpu"), h.get("gpu"), h.get("threads"), h.get("torch")) for r in runs
          if (h := r.record.get("hardware"))}
    code = {(c.get("version"), (c.get("git_commit") or "")[:10], c.get("git_dirty")) for r in runs
            if (c := r.record.get("babyllama"))}
    parts = [f"{len(runs)} runs ({sum(r.finished for r in runs)} finished)."]
    for cpu, gpu, threads, torch in sorted(hw, key=repr):
        parts.append(f"Hardware: {gpu or cpu}, {threads} thread(s), torch {torch}.")
    for version, commit, dirty in sorted(code, key=repr):
        parts.append(f"babyllama {version}" + (f" at {commit}{' (modified)' if dirty else ''}" if commit else "") + ".")
    return " ".join(parts)


def _datasets(runs: Sequence[Run]) -> dict[str, dict[str, Any]]:
    """Data folder -> manifest summary, from the records (or the manifests of old runs' data_dir)."""
    from babyllama.data.prepare import load_manifest
    from babyllama.report.records import manifest_summary

    out: dict[str, dict[str, Any]] = {}
    for r in runs:
        data = r.record.get("data")
        name = (data or {}).get("data_dir") or r.setting("data.data_dir")
        if not name or name in out:
            continue
        if data is None:
            try:
                data = manifest_summary(load_manifest(name), name)
            except BabyLlamaError:
                continue
        out[name] = data
    return out


def _evaluations_table(runs: Sequence[Run]) -> Table | None:
    """Evaluations appended to the records: the numbers at the top level of each result."""
    rows = []
    for r in runs:
        for e in r.record.get("evaluations") or []:
            res = e.get("result") or {}
            nums = ", ".join(f"{k} {fmt(v)}" for k, v in res.items() if isinstance(v, (int, float))
                             and not isinstance(v, bool))
            rows.append([str(r.path), e.get("name", "?"), nums])
    if not rows:
        return None
    return Table("Evaluations", ["run", "evaluation", "result"], rows, numeric_from=3, label="evaluations",
                 caption="Evaluations recorded in the runs' record.json (babyllama ppl --record and others).")


# ---------------------------------------------------------------- Markdown, HTML, LaTeX

def _render(blocks: list[tuple[str, Any]], how: dict[str, Callable[[Any], str]]) -> list[str]:
    return [how[kind](value) for kind, value in blocks]


def _markdown(blocks: list[tuple[str, Any]]) -> str:
    def image(stem: Path) -> str:
        name = Path(stem).name
        return f"![{name}](figures/{name}.png) ([PDF](figures/{name}.pdf))\n"

    return "\n".join(_render(blocks, {"h1": lambda v: f"# {v}\n", "h2": lambda v: f"## {v}\n",
                                      "p": lambda v: f"{v}\n", "table": to_markdown, "img": image}))


_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:14px}"
        "th,td{padding:3px 10px;border-bottom:1px solid #ddd}th{border-bottom:2px solid #444;text-align:left}"
        "td.num{text-align:right;font-variant-numeric:tabular-nums}.caption{font-style:italic;color:#555}"
        "img{max-width:100%}")


def _html(title: str, blocks: list[tuple[str, Any]]) -> str:
    def image(stem: Path) -> str:
        data = base64.b64encode(Path(f"{stem}.png").read_bytes()).decode("ascii")
        return f'<p><img alt="{html.escape(Path(stem).name)}" src="data:image/png;base64,{data}"></p>'

    body = _render(blocks, {"h1": lambda v: f"<h1>{html.escape(v)}</h1>", "h2": lambda v: f"<h2>{html.escape(v)}</h2>",
                            "p": lambda v: f"<p>{html.escape(v)}</p>", "table": to_html, "img": image})
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _latex_document(title: str, tables: Sequence[Table]) -> str:
    inputs = "\n".join(rf"\input{{tables/{t.label}.tex}}" for t in tables)
    return (r"\documentclass{article}" "\n" r"\usepackage[utf8]{inputenc}" "\n" r"\usepackage{booktabs}" "\n"
            r"\usepackage[margin=2cm]{geometry}" "\n" r"\begin{document}" "\n"
            rf"\section*{{{latex_escape(title)}}}" "\n" r"\setlength{\tabcolsep}{4pt}" "\n"
            f"{inputs}\n" r"\end{document}" "\n")
