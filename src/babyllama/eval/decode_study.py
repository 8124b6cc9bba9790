"""Decoding study: run a grid of prompts x decoding settings and compare the texts by statistics.

    settings = [parse_setting("greedy"), parse_setting("hot:temperature=1.5,top_k=50")]
    rows, records = run_study(model, tok, BUILTIN_PROMPTS, settings)
    write_outputs(Path("decode_study"), rows, records, BUILTIN_PROMPTS, {"title": "..."})

(the command line is `babyllama decode-study MODEL --setting ...`, cli/decode_study.py). `write_outputs`
writes to the output folder:
    table.md / table.csv / results.json   one row of statistics per setting
    samples.md / samples.jsonl            every generated text
    stats.png                             a bar chart per statistic
    diversity_vs_quality.png              distinct-2 against the model's own perplexity of the texts

Statistics per setting (words = lower-cased words and punctuation, see babyllama.eval.textstats):
tokens and words per text, distinct-1/2/3 and self-BLEU over the first sample of every prompt (the
same number of texts for every setting, so the columns compare), repeated 4-gram rate, type-token
ratio, mean log-probability of the generated tokens under the model and its perplexity, the share
of texts that ended with EOS, and - for sampling settings - self-BLEU among the samples of one
prompt (low = diverse samples).
"""
from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from babyllama.decode.engine import generate
from babyllama.decode.settings import GenerationConfig, GenerationResult, SettingError, parse_assignments
from babyllama.eval.textstats import distinct_n, repeated_ngram_rate, self_bleu, type_token_ratio, words
from babyllama.utils.io import atomic_path, atomic_write_json, atomic_write_text

# The prompts of the assignment seeds (story prompts and the minllama sentence completion).
BUILTIN_PROMPTS: list[str] = [
    "Once upon a time, there was a little brown dog named Spot.",
    "Tim and Lily were playing in the park.",
    "I have wanted to see this thriller for a while, and it didn't disappoint. Keanu Reeves, "
    "playing the hero John Wick, is",
    "Once upon a time, Tom is very hungry, but he doesn't",
    "Once upon a time, there is a girl named Lily. One day, she",
    "Tom had a coin that he liked very much.",
    "Anna liked to speak to her toys.",
    "Once upon a time, the water is dirty.",
]

# name -> GenerationConfig overrides
BUILTIN_SETTINGS: dict[str, dict[str, Any]] = {
    "greedy": {},
    "beam-4": {"num_beams": 4},
    "greedy+rep-1.3": {"repetition_penalty": 1.3},
    "greedy+no-repeat-3": {"no_repeat_ngram_size": 3},
    "temp-0.7": {"temperature": 0.7},
    "temp-1.0": {"temperature": 1.0},
    "temp-1.5": {"temperature": 1.5},
    "top-k-40": {"temperature": 1.0, "top_k": 40},
    "top-p-0.9": {"temperature": 1.0, "top_p": 0.9},
    "min-p-0.1": {"temperature": 1.0, "min_p": 0.1},
    "top-p-0.9+freq-0.5": {"temperature": 1.0, "top_p": 0.9, "frequency_penalty": 0.5},
}

COLUMNS = ["setting", "texts", "tokens", "words", "distinct_1", "distinct_2", "distinct_3", "repeat_4gram",
           "type_token_ratio", "self_bleu", "self_bleu_within", "mean_logprob", "perplexity", "eos_rate",
           "seconds"]


@dataclass
class Setting:
    name: str
    overrides: dict[str, Any]


def parse_setting(spec: str) -> Setting:
    """'NAME' (a built-in) or 'NAME:key=value,key=value'."""
    name, colon, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise SettingError(f"--setting {spec!r}: give NAME or NAME:key=value,...")
    if not colon:
        if name not in BUILTIN_SETTINGS:
            raise SettingError(f"--setting {spec!r}: unknown built-in setting; built-ins: "
                               f"{', '.join(BUILTIN_SETTINGS)}; or write NAME:key=value,...")
        return Setting(name, dict(BUILTIN_SETTINGS[name]))
    items = [s for s in rest.split(",") if s.strip()]
    return Setting(name, parse_assignments(items))


def summarize(name: str, results: Sequence[GenerationResult], seconds: float) -> dict[str, Any]:
    """Statistics of one setting's results (all prompts and samples)."""
    firsts = [r.text for r in results if r.sample_index == 0]
    toks = [words(r.text) for r in results]
    n = max(len(results), 1)
    lps = [lp for r in results for lp in (r.logprobs or [])]
    mean_lp = sum(lps) / len(lps) if lps else float("nan")
    by_prompt: dict[int, list[str]] = {}
    for r in results:
        by_prompt.setdefault(r.prompt_index, []).append(r.text)
    within = [self_bleu(v) for v in by_prompt.values() if len(v) > 1]
    return {
        "setting": name,
        "texts": len(results),
        "tokens": sum(len(r.tokens) for r in results) / n,
        "words": sum(len(t) for t in toks) / n,
        "distinct_1": distinct_n(firsts, 1),
        "distinct_2": distinct_n(firsts, 2),
        "distinct_3": distinct_n(firsts, 3),
        "repeat_4gram": sum(repeated_ngram_rate(t, 4) for t in toks) / n,
        "type_token_ratio": sum(type_token_ratio(t) for t in toks) / n,
        "self_bleu": self_bleu(firsts),
        "self_bleu_within": sum(within) / len(within) if within else float("nan"),
        "mean_logprob": mean_lp,
        "perplexity": math.exp(-mean_lp) if lps else float("nan"),
        "eos_rate": sum(r.finish_reason == "stop" for r in results) / n,
        "seconds": seconds,
    }


def run_study(model: Any, tokenizer: Any, prompts: Sequence[str], settings: Sequence[Setting], *,
              base: GenerationConfig | None = None, samples: int = 4, batch_size: int = 32,
              progress: bool = True) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Generate for every setting; returns (rows of statistics, sample records)."""
    base = base or GenerationConfig()
    if samples < 1:
        raise SettingError(f"--samples {samples}: must be >= 1")
    if not prompts:
        raise SettingError("no prompts for the study")
    names = [s.name for s in settings]
    if len(set(names)) != len(names):
        raise SettingError(f"setting names must be unique, got {names}")
    rows, records = [], []
    for s in settings:
        cfg = base.replace(**s.overrides)
        sampling = not cfg.greedy
        cfg = cfg.replace(logprobs=True, num_return_sequences=samples if sampling else 1)
        t0 = time.perf_counter()
        res = generate(model, tokenizer, list(prompts), cfg, batch_size=batch_size)
        dt = time.perf_counter() - t0
        row = summarize(s.name, res, dt)
        rows.append(row)
        for r in res:
            records.append({"setting": s.name, "prompt_index": r.prompt_index, "sample_index": r.sample_index,
                            "prompt": r.prompt, "text": r.text, "tokens": len(r.tokens),
                            "finish_reason": r.finish_reason,
                            "mean_logprob": (sum(r.logprobs) / len(r.logprobs)) if r.logprobs else None})
        if progress:
            print(f"  {s.name:<22} {len(res):>3} texts  {row['tokens']:6.1f} tok/text  distinct-2 "
                  f"{row['distinct_2']:.3f}  rep-4 {row['repeat_4gram']:.3f}  ppl {row['perplexity']:7.3f}  "
                  f"{dt:5.1f}s", file=sys.stderr)
    return rows, records


# ---- output ---------------------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.3f}"
    return str(v)


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    head = "| " + " | ".join(COLUMNS) + " |"
    sep = "|" + "|".join("---" if c == "setting" else "---:" for c in COLUMNS) + "|"
    body = ["| " + " | ".join(_fmt(r[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join([head, sep, *body]) + "\n"


def csv_table(rows: Sequence[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: ("" if isinstance(r[c], float) and math.isnan(r[c]) else r[c]) for c in COLUMNS})
    return buf.getvalue()


def samples_markdown(records: Sequence[dict[str, Any]], prompts: Sequence[str]) -> str:
    out = ["# Samples\n"]
    for pi, p in enumerate(prompts):
        out.append(f"## Prompt {pi}: {p}\n")
        for r in records:
            if r["prompt_index"] == pi:
                text = " ".join(r["text"].split())
                out.append(f"- **{r['setting']}** #{r['sample_index']} ({r['tokens']} tokens, "
                           f"{r['finish_reason']}): {text}")
        out.append("")
    return "\n".join(out) + "\n"


def plot(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["setting"] for r in rows]
    metrics = ["tokens", "distinct_1", "distinct_2", "distinct_3", "repeat_4gram", "type_token_ratio",
               "self_bleu", "perplexity"]
    fig, axes = plt.subplots(2, 4, figsize=(16, 2.2 + 0.35 * len(rows) * 2), constrained_layout=True)
    for ax, m in zip(axes.flat, metrics):
        vals = [r[m] if not (isinstance(r[m], float) and math.isnan(r[m])) else 0.0 for r in rows]
        ax.barh(range(len(names)), vals, color="tab:blue")
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names if ax in axes[:, 0] else [], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(m)
        ax.grid(axis="x", alpha=0.3)
    paths = [out_dir / "stats.png", out_dir / "diversity_vs_quality.png"]
    with atomic_path(paths[0]) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 5), constrained_layout=True)
    for r in rows:
        ax.scatter(r["distinct_2"], r["perplexity"], s=30)
        ax.annotate(r["setting"], (r["distinct_2"], r["perplexity"]), fontsize=8, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xlabel("distinct-2 (higher = more diverse)")
    ax.set_ylabel("model perplexity of its own output (lower = likelier)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    with atomic_path(paths[1]) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return paths


def write_outputs(out_dir: Path, rows: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]],
                  prompts: Sequence[str], meta: dict[str, Any], plots: bool = True) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "table.md", f"# Decoding study\n\n{meta.get('title', '')}\n\n" + markdown_table(rows))
    atomic_write_text(out_dir / "table.csv", csv_table(rows))
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]
    atomic_write_json(out_dir / "results.json", {**meta, "prompts": list(prompts), "rows": clean})
    atomic_write_text(out_dir / "samples.jsonl",
                      "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    atomic_write_text(out_dir / "samples.md", samples_markdown(records, prompts))
    if plots:
        plot(rows, out_dir)
