"""The evaluation tasks `babyllama evaluate --task NAME` runs: name -> (function, one-line help).

A task is fn(model, tokenizer, *, path, n, seed, config, batch_size) -> a report dict with "task",
"n", "metrics" ({name: {"mean", "ci95_low", "ci95_high", "n"}}) and "rows" (one per example).
Register a new task with one line in TASKS.
"""
from __future__ import annotations

from typing import Any, Callable

from babyllama.eval.story_instructions import evaluate_story_instructions
from babyllama.utils.io import BabyLlamaError

TASKS: dict[str, tuple[Callable[..., dict[str, Any]], str]] = {
    "story-instructions": (evaluate_story_instructions,
                           "verifiable story instructions: required words, character, place, happy ending"),
}


def get_task(name: str) -> Callable[..., dict[str, Any]]:
    if name not in TASKS:
        raise BabyLlamaError(f"--task {name!r}: unknown task; choose from {', '.join(TASKS)}")
    return TASKS[name][0]


def format_report(report: dict[str, Any]) -> str:
    """The metrics as a small table: name, mean, 95% CI, prompts."""
    lines = [f"{report['task']} ({report.get('mode', '')}, {report['n']} prompts)",
             f"{'metric':<12} {'mean':>6}  95% CI          n"]
    for name, m in report["metrics"].items():
        lines.append(f"{name:<12} {m['mean']:6.3f}  [{m['ci95_low']:.3f}, {m['ci95_high']:.3f}]  {m['n']}")
    return "\n".join(lines)
