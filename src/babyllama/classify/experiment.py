"""Classification experiments as library functions, shared by `babyllama classify`, compat and notebooks.

    splits = load_splits(data="../shared/data/sst")            # examples per split, label names, name
    model, tok = babyllama.loading.load("runs/quickstart")
    exp = run_prompting(model, tok, splits, model_name="quickstart")
    exp = run_finetuning(model, tok, splits, FinetuneConfig(mode="head"), seeds=[1, 2, 3])
    print(exp.title, format_table(exp.record["results"], exp.record["baselines"]), sep="\\n")
    save_experiment(exp, "runs/cls/sst")                         # results.json + prediction files

A record holds per-split accuracies (mean ± std over seeds, bootstrap 95% CI), chance and majority
baselines; predictions are written in minllama's format (`PRED ||| sentence`).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from babyllama.classify import data as cdata
from babyllama.classify import stats
from babyllama.classify.finetune import FinetuneConfig, encode_texts, finetune_seeds, predict_logits
from babyllama.classify.head import Classifier
from babyllama.classify.prompting import DEFAULT_TEMPLATE, score_labels
from babyllama.utils.io import BabyLlamaError, atomic_write_json

SPLITS = ("train", "dev", "test")
TABLE_FILE = "results.json"


@dataclass
class Splits:
    """Examples per split ("train", "dev", "test"; only those given), the label names and a data set name."""
    examples: dict[str, list[cdata.Example]]
    label_names: list[str]
    name: str


@dataclass
class Experiment:
    """What a run gives: the results.json record, a title for its table, and prediction files
    (file name -> (predicted labels, sentences))."""
    record: dict[str, Any]
    title: str
    predictions: dict[str, tuple[list[int], list[str]]] = field(default_factory=dict)


@dataclass
class SplitPredictions:
    preds: list[int]
    accuracy: float
    seconds: float


def check_max_len(max_len: int | None, flag: str = "--max-len") -> None:
    """A sentence cut must keep at least one token (None = no cut)."""
    if max_len is not None and max_len < 1:
        raise BabyLlamaError(f"{flag} {max_len}: must be >= 1 (tokens of each sentence to keep); "
                             f"leave it out to keep whole sentences")


def _given_file(path: str | os.PathLike, flag: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise BabyLlamaError(f"{flag} {path}: " + ("is a folder, not a file" if path.is_dir() else "file not found"))
    return path


def read_label_names(path: str | os.PathLike, flag: str = "--label-names") -> list[str]:
    """The label names of a file the user named with `flag`; a missing file names both."""
    return cdata.read_label_names(_given_file(path, flag))


def load_splits(data: str | os.PathLike | None = None, files: dict[str, str | os.PathLike | None] | None = None,
                label_names: str | os.PathLike | None = None, *, text_field: str = "text",
                label_field: str = "label", limit: int | None = None, name: str | None = None) -> Splits:
    """Examples from a minllama-layout folder (`data`) and/or explicit split files (`files`, which win).

    `.jsonl/.json/.csv/.tsv` files are tables (text_field, label_field); other files `LABEL ||| sentence`."""
    files = files or {}
    paths = {s: _given_file(files[s], f"--{s}") if files.get(s) else None for s in SPLITS}
    names_file = _given_file(label_names, "--label-names") if label_names else None
    if data:
        found = cdata.find_dataset_files(data)
        for s in SPLITS:
            paths[s] = paths[s] or getattr(found, s)
        names_file = names_file or found.label_names
    names = cdata.read_label_names(names_file) if names_file else None
    examples: dict[str, list[cdata.Example]] = {}
    for s in SPLITS:
        path = paths[s]
        if path is None:
            continue
        if path.suffix.lower() in (".jsonl", ".json", ".csv", ".tsv"):
            ex, table_names = cdata.read_table(path, text_field, label_field, names)
            names = names or table_names
        else:
            ex = cdata.read_label_file(path)
        examples[s] = ex[:limit] if limit else ex
    if not examples:
        raise BabyLlamaError("no data: give --data FOLDER or --train/--dev/--test files")
    if names is None:
        raise BabyLlamaError("no label names: give --label-names FILE.json (a JSON list like [\"bad\", \"good\"])")
    for s, ex in examples.items():
        cdata.check_labels(ex, len(names), paths[s])
    first = next(p for p in paths.values() if p)  # in split order
    name = name or (Path(data).name if data else first.stem.rsplit("-", 1)[0])
    return Splits(examples, names, name)


def baselines(splits: dict[str, list[cdata.Example]], num_labels: int) -> dict[str, dict[str, Any]]:
    """Per split: chance accuracy, the majority label (from train when present) and its accuracy."""
    train_labels = [e.label for e in splits.get("train", [])]
    out = {}
    for s, ex in splits.items():
        labels = [e.label for e in ex]
        maj_label, maj_acc = stats.majority_baseline(train_labels or labels, labels)
        out[s] = {"chance": stats.chance_accuracy(num_labels), "majority_label": maj_label,
                  "majority": maj_acc, "majority_from": "train" if train_labels else s,
                  "n": len(labels), "labels_constant": len(set(labels)) == 1}
    return out


def summarize_split(accs: list[float], preds: list[list[int]], labels: list[int]) -> dict[str, Any]:
    """mean ± std of the per-seed accuracies and a bootstrap CI over examples (all seeds together)."""
    correct = np.array([[int(p == y) for p, y in zip(pr, labels)] for pr in preds])
    return {**stats.summarize(accs, correct), "per_seed": accs}


def format_table(results: dict[str, Any], base: dict[str, Any]) -> str:
    """The per-split table the CLI prints under an experiment's title."""
    rows = [f"{'split':<6} {'n':>5} {'chance':>7} {'majority':>9}  accuracy (mean ± std over seeds, bootstrap 95% CI)"]
    for s, r in results.items():
        b = base[s]
        note = "  (all gold labels equal: placeholders? accuracy not meaningful)" if b["labels_constant"] else ""
        rows.append(f"{s:<6} {b['n']:>5} {b['chance']:>7.3f} {b['majority']:>9.3f}  {stats.format_summary(r)}{note}")
    return "\n".join(rows)


def prompt_predictions(model: Any, tokenizer: Any, examples: Sequence[cdata.Example], label_names: Sequence[str], *,
                       template: str = DEFAULT_TEMPLATE, normalize: str = "sum", batch_size: int = 16,
                       max_len: int | None = None) -> SplitPredictions:
    """Zero-shot predictions for one split: the label with the highest score after the prompt."""
    t = time.time()
    scores = score_labels(model, tokenizer, [e.text for e in examples], label_names, template, normalize,
                          batch_size, max_len)
    preds = scores.argmax(-1).tolist()
    return SplitPredictions(preds, stats.accuracy(preds, [e.label for e in examples]), time.time() - t)


def classifier_predictions(clf: Classifier, tokenizer: Any, examples: Sequence[cdata.Example], *,
                           max_len: int | None = None, batch_size: int = 32) -> SplitPredictions:
    """A trained classifier's predictions for one split (inputs encoded as in finetuning)."""
    t = time.time()
    seqs = encode_texts(tokenizer, [e.text for e in examples], max_len, clf.backbone.config.max_seq_len)
    preds = predict_logits(clf, seqs=seqs, pad_id=tokenizer.pad_id, batch_size=batch_size).argmax(-1).tolist()
    return SplitPredictions(preds, stats.accuracy(preds, [e.label for e in examples]), time.time() - t)


def _start_record(action: str, model_name: str, splits: Splits) -> dict[str, Any]:
    return {"action": action, "model": model_name, "data": splits.name, "label_names": splits.label_names,
            "baselines": baselines(splits.examples, len(splits.label_names))}


def run_prompting(model: Any, tokenizer: Any, splits: Splits, *, template: str = DEFAULT_TEMPLATE,
                  normalize: str = "sum", batch_size: int = 16, max_len: int | None = None,
                  model_name: str = "", started: float | None = None) -> Experiment:
    """Zero-shot prompting on every split but train (all splits when only train is given).
    `started`: when the run began (time.time()), for the record's wall time; default now."""
    started = time.time() if started is None else started
    check_max_len(max_len)
    record = _start_record("prompt", model_name, splits)
    evals = {s: ex for s, ex in splits.examples.items() if s != "train"} or splits.examples
    results, files = {}, {}
    for s, ex in evals.items():
        p = prompt_predictions(model, tokenizer, ex, splits.label_names, template=template, normalize=normalize,
                               batch_size=batch_size, max_len=max_len)
        results[s] = {**summarize_split([p.accuracy], [p.preds], [e.label for e in ex]), "seconds": p.seconds}
        files[f"{splits.name}-{s}-prompting-output.txt"] = (p.preds, [e.text for e in ex])
    record.update(template=template, normalize=normalize, results=results,
                  note="prompting is deterministic: one run, std 0 by construction", seconds=time.time() - started)
    return Experiment(record, f"{splits.name}: zero-shot prompting ({normalize}) with {model_name}", files)


def run_finetuning(model: Any, tokenizer: Any, splits: Splits, cfg: FinetuneConfig, seeds: Sequence[int], *,
                   model_name: str = "", started: float | None = None,
                   log: Callable[[str], None] | None = print) -> Experiment:
    """Finetune once per seed on train (best epoch by dev accuracy) and evaluate every other split."""
    started = time.time() if started is None else started
    check_max_len(cfg.max_text_tokens)
    if "train" not in splits.examples or "dev" not in splits.examples:
        raise BabyLlamaError("finetune needs --train and --dev (or a --data folder holding both)")
    seeds = list(seeds)
    if not seeds:
        raise BabyLlamaError("finetuning needs at least one seed")
    record = _start_record("finetune", model_name, splits)
    runs = finetune_seeds(model, tokenizer, splits.examples, len(splits.label_names), cfg, seeds, log=log)
    results, files = {}, {}
    for s, ex in splits.examples.items():
        if s == "train":
            continue
        labels = [e.label for e in ex]
        preds = [r.predictions[s] for r in runs]
        results[s] = summarize_split([stats.accuracy(p, labels) for p in preds], preds, labels)
        for r in runs:
            files[f"{splits.name}-{s}-finetuning-output-seed{r.seed}.txt"] = (r.predictions[s], [e.text for e in ex])
    record.update(config={**cfg.__dict__, "lr": cfg.learning_rate}, seeds=seeds, results=results,
                  runs=[{"seed": r.seed, "best_epoch": r.best_epoch, "dev_acc": r.dev_acc, "seconds": r.seconds,
                         "history": r.history} for r in runs], seconds=time.time() - started)
    title = (f"{splits.name}: finetuning ({cfg.mode}, {cfg.epochs} epochs, lr {cfg.learning_rate:g}) "
             f"with {model_name}")
    return Experiment(record, title, files)


def save_experiment(exp: Experiment, out: str | os.PathLike) -> Path:
    """Write the prediction files and results.json into `out` (each atomically); returns results.json."""
    out = Path(out)
    for name, (preds, texts) in exp.predictions.items():
        cdata.write_predictions(out / name, preds, texts)
    atomic_write_json(out / TABLE_FILE, exp.record)
    return out / TABLE_FILE
