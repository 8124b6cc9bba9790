"""Score a model on the generation tasks of `data.tasks` (SQuAD, CNN/DailyMail, SST-5, CFIMDB): a
greedy answer to each test example, its score, and a baseline scored the same way.

    report = evaluate_generation(model, tok, "squad", n=100)
    report["metrics"]["f1"]         # {"mean": 12.3, "ci95_low": ..., "ci95_high": ..., "n": 100}
    report["baselines"]["f1"]       # {"first sentence": 4.1, "random span": 2.0}

Prompts come from `data.tasks.render_prompt` (the chat template; the input is cut so that the
prompt and the answer fit the context). Generation stops at the end of the assistant's turn (any
chat token, BOS or EOS). A model without chat tokens gets the same text as a plain prompt and its
answer ends at the first newline (a blank line for cnn_dm). Per task:

- squad: 24 new tokens; exact match and F1 (official normalisation, best over the gold answers);
  baselines: the context's first sentence, a random 1-5 word span of it.
- cnn_dm: 128 new tokens; ROUGE-1/2/L/Lsum (rouge-score) and corpus BLEU (sacrebleu); baseline:
  the article's first three sentences (lead-3).
- sst, cfimdb: 4 new tokens; accuracy of the first label word in the answer, and the share of
  answers that name a label; baseline: the train split's majority label.

SQuAD, CNN/DM and SST are scored on their test split, CFIMDB on dev: the minllama copy's CFIMDB
test file has every label 0 (the real labels are hidden), and any split whose labels are all one
gives a warning.

Every metric is in percent, with a bootstrap 95% CI over examples (for corpus BLEU: BLEU recomputed
on each of 200 resamples).
"""
from __future__ import annotations

import random
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from babyllama.data.chat import has_chat_tokens
from babyllama.data.tasks import TaskExample, label_names, load_task, render_prompt
from babyllama.decode import GenerationConfig, generate
from babyllama.decode.chat import chat_stops
from babyllama.eval.metrics import (corpus_bleu, corpus_bleu_ci, mean_ci, rouge_scores, sample_subset, split_sentences,
                                    squad_scores)
from babyllama.utils.io import BabyLlamaError

MAX_NEW_TOKENS = {"squad": 24, "cnn_dm": 128, "sst": 4, "cfimdb": 4}
# the minllama copy of CFIMDB hides its test labels (every line says 0), so it is scored on dev
DEFAULT_SPLIT = {"squad": "test", "cnn_dm": "test", "sst": "test", "cfimdb": "dev"}
PLAIN_STOPS = {"squad": "\n", "cnn_dm": "\n\n", "sst": "\n", "cfimdb": "\n"}  # a base model's answer ends here


def answers(model: Any, tokenizer: Any, examples: Sequence[TaskExample], config: GenerationConfig,
            batch_size: int = 32) -> list[str]:
    """The greedy answer to each example's prompt, cut at the end of the assistant's turn (for a
    model without chat tokens, prompted with plain text: at BOS or the task's PLAIN_STOPS)."""
    if not has_chat_tokens(tokenizer):
        stops: tuple[tuple[int, ...], tuple[str, ...]] = ((tokenizer.bos_id,), tuple({PLAIN_STOPS[ex.task]
                                                                                   for ex in examples}))
    else:
        stops = chat_stops(tokenizer)
    cfg = config.replace(add_bos=False, stop_token_ids=tuple(sorted(set(config.stop_token_ids) | set(stops[0]))),
                         stop=tuple(sorted(set(config.stop) | set(stops[1]))))
    prompts = [render_prompt(ex, tokenizer, model.config.max_seq_len, reserve=cfg.max_new_tokens) for ex in examples]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # less padding per batch
    results = generate(model, tokenizer, [prompts[i] for i in order], cfg, batch_size=batch_size)
    out = [""] * len(prompts)
    for i, r in zip(order, results):
        out[i] = r.text.strip()
    return out


def first_label(text: str, names: Sequence[str]) -> str | None:
    """The first word of `text` that is a label name (case-insensitive), or None."""
    lower = {n.lower(): n for n in names}
    return next((lower[w] for w in re.findall(r"[a-z]+", text.lower()) if w in lower), None)


def random_span(text: str, rng: random.Random, longest: int = 5) -> str:
    words = text.split()
    k = rng.randint(1, min(longest, len(words)))
    start = rng.randrange(len(words) - k + 1)
    return " ".join(words[start:start + k])


def _score_squad(examples: Sequence[TaskExample], preds: list[str], seed: int) -> tuple[dict, dict, list[dict]]:
    refs = [list(ex.references) for ex in examples]
    got = squad_scores(preds, refs)
    rng = random.Random(seed)
    first = squad_scores([(split_sentences(ex.input) or [""])[0] for ex in examples], refs)
    span = squad_scores([random_span(ex.input, rng) for ex in examples], refs)
    metrics = {m: mean_ci(got[m]) for m in ("em", "f1")}
    baselines = {m: {"first sentence": float(np.mean(first[m])), "random span": float(np.mean(span[m]))}
                 for m in ("em", "f1")}
    return metrics, baselines, [{"em": e, "f1": f} for e, f in zip(got["em"], got["f1"])]


def _score_cnn_dm(examples: Sequence[TaskExample], preds: list[str], seed: int) -> tuple[dict, dict, list[dict]]:
    refs = [ex.target for ex in examples]
    got = rouge_scores(preds, refs)
    lead = [" ".join(split_sentences(ex.input)[:3]) for ex in examples]
    lead_rouge = rouge_scores(lead, refs)
    metrics = {m: mean_ci(v) for m, v in got.items()}
    metrics["bleu"] = corpus_bleu_ci(preds, refs)
    baselines = {m: {"lead-3": float(np.mean(v))} for m, v in lead_rouge.items()}
    baselines["bleu"] = {"lead-3": corpus_bleu(lead, refs)}
    rows = [{m: round(got[m][i], 3) for m in got} for i in range(len(preds))]
    return metrics, baselines, rows


def _score_labels(task: str, examples: Sequence[TaskExample], preds: list[str], path: Any,
                  seed: int) -> tuple[dict, dict, list[dict]]:
    names = label_names(task, path) or []
    picked = [first_label(p, names) for p in preds]
    correct = [100.0 * (p == ex.target) for p, ex in zip(picked, examples)]
    named = [100.0 * (p is not None) for p in picked]
    if path is None or Path(path).is_dir():
        train, where = load_task(task, path, split="train", seed=seed), "train split"
    else:  # a single file has no train split: the evaluated examples' own majority
        train, where = list(examples), "evaluated examples"
    majority = Counter(ex.target for ex in train).most_common(1)[0][0]
    majority_acc = 100.0 * float(np.mean([ex.target == majority for ex in examples]))
    metrics = {"accuracy": mean_ci(correct), "names_a_label": mean_ci(named)}
    baselines = {"accuracy": {f"majority label {majority!r} ({where})": majority_acc}}
    if len(examples) >= 20 and len({ex.target for ex in examples}) == 1:
        warnings.warn(f"{task}: every one of the {len(examples)} gold labels is {examples[0].target!r}; the "
                      f"file's labels may be placeholders (score another split)", stacklevel=2)
    return metrics, baselines, [{"label": p, "correct": c > 0} for p, c in zip(picked, correct)]


def evaluate_generation(model: Any, tokenizer: Any, task: str, *, path: Any = None, n: int | None = None,
                        seed: int = 0, config: GenerationConfig | None = None, batch_size: int = 32,
                        split: str | None = None, max_new_tokens: int | None = None, **_: Any) -> dict[str, Any]:
    """Generate an answer for `n` examples of the task's split drawn with `seed` (None: all), score them;
    returns the task report (metrics, baselines, rows, settings, subset)."""
    if task not in MAX_NEW_TOKENS:
        raise BabyLlamaError(f"--task {task!r}: not a generation task; choose from {', '.join(MAX_NEW_TOKENS)}")
    split = split or DEFAULT_SPLIT[task]
    examples = load_task(task, path, split=split, seed=seed)
    total = len(examples)
    examples = sample_subset(examples, n, seed)
    cfg = (config or GenerationConfig()).replace(max_new_tokens=max_new_tokens or MAX_NEW_TOKENS[task])
    preds = answers(model, tokenizer, examples, cfg, batch_size)
    if task == "squad":
        metrics, baselines, scores = _score_squad(examples, preds, seed)
    elif task == "cnn_dm":
        metrics, baselines, scores = _score_cnn_dm(examples, preds, seed)
    else:
        metrics, baselines, scores = _score_labels(task, examples, preds, path, seed)
    rows = [{"id": ex.id, "source": ex.source, "prediction": p, "references": list(ex.references), **s}
            for ex, p, s in zip(examples, preds, scores)]
    return {"task": task, "mode": "chat" if has_chat_tokens(tokenizer) else "plain", "n": len(examples),
            "metrics": metrics, "baselines": baselines,
            "subset": None if len(examples) == total else f"{len(examples)} of {total} {split} examples, drawn with "
                                                          f"seed {seed}",
            "settings": {"split": split, "data_seed": seed, "max_new_tokens": cfg.max_new_tokens,
                         "decoding": "greedy" if cfg.temperature == 0 and cfg.num_beams == 1 else "configured"},
            "rows": rows}
