"""The evaluation tasks `babyllama evaluate --task NAME[,NAME...]` runs, and the results record.

A task's function takes (model, tokenizer, *, path, n, seed, config, batch_size, + its own options)
and returns a report: "task", "mode", "n", "metrics" ({name: {"mean", "ci95_low", "ci95_high",
"n"}}), "baselines" ({metric: {baseline name: value}}), "subset" (None, or what part of the set was
scored), "settings" and "rows" (one per example: the predictions). Register a new task with one
entry in TASKS; `default_n` is the subset size that keeps it under about ten minutes on one CPU
core for a model of a few million parameters (None: the whole set).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from babyllama.eval.generation import evaluate_generation
from babyllama.eval.mmlu import evaluate_mmlu
from babyllama.eval.story_instructions import evaluate_story_instructions
from babyllama.eval.wikitext import evaluate_wikitext
from babyllama.utils.io import BabyLlamaError


@dataclass(frozen=True)
class Task:
    run: Callable[..., dict[str, Any]]
    help: str
    default_n: int | None  # None: the whole set
    unit: str  # what n counts
    options: tuple[str, ...] = field(default=())  # task-specific keyword options it accepts


TASKS: dict[str, Task] = {
    "story-instructions": Task(evaluate_story_instructions, "verifiable story instructions: required words, "
                               "character, place, happy ending", 200, "prompts"),
    "squad": Task(partial(evaluate_generation, task="squad"), "extractive QA on SQuAD v1.1: exact match and F1",
                  None, "questions", ("split", "max_new_tokens")),
    "cnn_dm": Task(partial(evaluate_generation, task="cnn_dm"), "CNN/DailyMail summaries: ROUGE-1/2/L/Lsum, BLEU",
                   None, "articles", ("split", "max_new_tokens")),
    "sst": Task(partial(evaluate_generation, task="sst"), "SST-5 sentiment as a generated label word: accuracy",
                500, "sentences", ("split", "max_new_tokens")),
    "cfimdb": Task(partial(evaluate_generation, task="cfimdb"), "CFIMDB sentiment as a generated label word: "
                   "accuracy", None, "reviews", ("split", "max_new_tokens")),
    "mmlu": Task(evaluate_mmlu, "MMLU, 57 subjects, by the answer letter's log-probability: accuracy",
                 10, "test questions per subject", ("shots", "score")),
    "wikitext": Task(evaluate_wikitext, "WikiText-2 raw test: token and word perplexity, bits per byte",
                     None, "lines", ("context", "stride")),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise BabyLlamaError(f"--task {name!r}: unknown task; choose from {', '.join(TASKS)}")
    return TASKS[name]


def run_task(name: str, model: Any, tokenizer: Any, *, n: int | None, path: Any = None, seed: int = 0,
             config: Any = None, batch_size: int = 32, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """One task's report, with "seconds" (wall time) and the story task's defaults filled in."""
    task = get_task(name)
    kwargs = {k: v for k, v in (options or {}).items() if k in task.options and v is not None}
    if name == "story-instructions":
        if n is None:
            raise BabyLlamaError("--n all: story-instructions prompts are generated; give a number")
        if config is not None:
            config = config.replace(max_new_tokens=(options or {}).get("max_new_tokens") or 200)
    t0, c0 = time.perf_counter(), time.process_time()
    report = task.run(model, tokenizer, path=path, n=n, seed=seed, config=config, batch_size=batch_size, **kwargs)
    report["seconds"] = round(time.perf_counter() - t0, 2)
    report["cpu_seconds"] = round(time.process_time() - c0, 2)  # less than seconds on a busy machine
    report.setdefault("baselines", {})
    report.setdefault("subset", None)
    return report


def results_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One results row per metric: task, metric, value, ci95, baseline, n, subset, settings."""
    out = []
    for name, m in report["metrics"].items():
        ci = None if m.get("ci95_low") is None else [m["ci95_low"], m["ci95_high"]]
        out.append({"task": report["task"], "metric": name, "value": m["mean"], "ci95": ci,
                    "baseline": report.get("baselines", {}).get(name, {}), "n": m["n"],
                    "subset": report.get("subset"), "mode": report.get("mode"),
                    "settings": report.get("settings", {})})
    return out


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def format_report(report: dict[str, Any]) -> str:
    """The metrics as a small table: name, value, 95% CI, n, baselines; and the subset used."""
    lines = [f"{report['task']} ({report.get('mode', '')}, {report['n']} examples"
             + (f", {report['seconds']:.1f} s ({report['cpu_seconds']:.1f} s CPU)" if "seconds" in report else "")
             + ")",
             f"{'metric':<18} {'value':>9}  {'95% CI':<20} {'n':>6}  baselines"]
    for name, m in report["metrics"].items():
        ci = "" if m.get("ci95_low") is None else f"[{_num(m['ci95_low'])}, {_num(m['ci95_high'])}]"
        base = ", ".join(f"{k} {_num(v)}" for k, v in report.get("baselines", {}).get(name, {}).items())
        lines.append(f"{name:<18} {_num(m['mean']):>9}  {ci:<20} {m['n']:>6}  {base}")
    if report.get("subset"):
        lines.append(f"subset: {report['subset']} (--n all for the whole set)")
    return "\n".join(lines)
