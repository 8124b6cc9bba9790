"""Multitask finetuning: one model on several tasks at once (`babyllama multitask`), in the one loop.

    cfg = load_config("recipes/multitask.toml")   # train.init_from: a model folder; [tasks] the mixture
    result = multitask(cfg)

The model and its tokenizer get the chat tokens as for `sft` (`train.align.chat_model`). Each task of
tasks.names is read with `data.tasks.load_task` (its train split for training, its dev split for
validation), rendered with the chat template (the input cut to fit data.seq_len + 1 tokens, the
answer kept) and sampled into batches by `data.tasks.mixture.TaskBatches` with the probabilities of
`mixture_weights` (tasks.weights, or n_i^(1/T) with T = tasks.temperature). The loss is cross-entropy
on the answer's tokens only. At every validation pass the pooled dev loss is val_loss and each task's
own is logged as val/<task>/loss (metrics.jsonl); the end of the run prints each task's loss at the
first and the last validation, and how many examples of each task training drew.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from babyllama.checkpoint.run_dir import METRICS_FILE
from babyllama.config import TrainConfig
from babyllama.data.chat import Rendered, sft_tensors
from babyllama.data.tasks import load_task, render_rows
from babyllama.data.mixture import parse_named
from babyllama.data.tasks.mixture import TaskBatches, mixture_weights, parse_weights
from babyllama.data.tasks.readers import task_format
from babyllama.report.plots import read_metrics
from babyllama.train.align import _eval_batches, _rank, chat_model
from babyllama.train.callbacks import console_log
from babyllama.train.loop import TrainResult, train
from babyllama.train.objectives import LanguageModeling
from babyllama.train.trainer import Callback, EvalData, Trainer
from babyllama.utils.io import BabyLlamaError


def task_names(cfg: TrainConfig) -> list[str]:
    names = [n.strip() for n in cfg.tasks.names.split(",") if n.strip()]
    if not names:
        raise BabyLlamaError("tasks.names is not set; name the tasks to mix, e.g. tasks.names=squad,cnn_dm,sst")
    for n in names:
        task_format(n, "tasks.names")
    if len(set(names)) != len(names):
        raise BabyLlamaError(f"tasks.names: a task is named twice ({cfg.tasks.names})")
    return names


def task_rows(cfg: TrainConfig, tokenizer: Any, split: str, limit: int) -> dict[str, list[Rendered]]:
    """Each task's rendered examples of `split` (at most `limit` per task, the first ones; 0 = all)."""
    names = task_names(cfg)
    paths = parse_named(cfg.tasks.paths, "tasks.paths", "squad=my/squad.json, sst=my/sst")
    extra = set(paths) - set(names)
    if extra:
        raise BabyLlamaError(f"tasks.paths: {', '.join(sorted(extra))} is not in tasks.names ({cfg.tasks.names})")
    out = {}
    for n in names:
        examples = load_task(n, paths.get(n), split=split, seed=cfg.tasks.split_seed)
        out[n] = render_rows(examples[:limit or None], tokenizer, cfg.data.seq_len + 1, where=f"{n} ({split})")
    return out


class TaskValidation(Callback):
    """Each task's validation loss at every validation pass, as val/<task>/loss."""

    def __init__(self, sets: dict[str, EvalData], log: Callable[..., None], metrics_path: Path | None = None,
                 batches: TaskBatches | None = None) -> None:
        self.sets, self.log, self.metrics_path, self.batches = sets, log, metrics_path, batches
        self.first: dict[str, Any] = {}
        self.latest: dict[str, Any] = {}

    def on_start(self, trainer: Trainer) -> None:
        if self.metrics_path is not None and self.metrics_path.is_file():  # a resumed run: its first values
            self.first = next((r for r in read_metrics(self.metrics_path) if f"val/{next(iter(self.sets))}/loss" in r),
                              {})

    def on_eval(self, trainer: Trainer, record: dict[str, Any]) -> None:
        for name, data in self.sets.items():
            loss, _ = trainer.evaluate(data)
            if loss is not None:
                record[f"val/{name}/loss"] = loss
        trainer.val_metrics = {}
        if not self.first:
            self.first = dict(record)
        self.latest = dict(record)

    def on_end(self, trainer: Trainer, outcome: str) -> None:
        if outcome == "failed" or not trainer.is_main:
            return
        lines = [f"{'task':<10} {'val loss step ' + str(self.first.get('step')):>18} "
                 f"{'step ' + str(self.latest.get('step')):>10} {'drawn':>8}"]
        drawn = dict(zip(self.batches.names, self.batches.drawn.tolist())) if self.batches else {}
        for name in self.sets:
            a, b = self.first.get(f"val/{name}/loss"), self.latest.get(f"val/{name}/loss")
            if a is not None and b is not None:
                lines.append(f"{name:<10} {a:>18.4f} {b:>10.4f} {drawn.get(name, 0):>8}")
        self.log("\n".join(lines), force=True)


def multitask(cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False, quiet: bool = False) -> TrainResult:
    """Finetune train.init_from on the mixture of tasks.names (see the module docstring)."""
    names = task_names(cfg)
    weights = parse_weights(cfg.tasks.weights, names)
    model, tokenizer = chat_model(cfg)
    t = cfg.tasks
    train_rows = task_rows(cfg, tokenizer, "train", t.max_train_examples)
    val_rows = task_rows(cfg, tokenizer, "dev", t.max_val_examples)
    probs = mixture_weights({n: len(r) for n, r in train_rows.items()}, weights, t.temperature)
    rank, world = _rank()

    def collate(rows: list[Rendered]) -> Any:
        return sft_tensors(rows, tokenizer.pad_id)

    batches = TaskBatches(train_rows, probs, cfg.data.batch_size, collate, seed=cfg.train.seed,
                          shuffle=cfg.data.shuffle, rank=rank, world_size=world)
    local = cfg.data.batch_size // world
    pooled = [r for rows in val_rows.values() for r in rows]
    sets = {n: _eval_batches(rows, local, collate) for n, rows in val_rows.items() if rows}
    log = console_log(quiet, rank == 0)
    log("task mixture: " + ", ".join(f"{n} p={probs[n]:.3f} (n={len(train_rows[n])}, dev {len(val_rows[n])})"
                                     for n in names))
    metrics = Path(cfg.train.run_dir) / METRICS_FILE if resume else None
    return train(cfg, model, LanguageModeling(), train_data=batches, eval_data=_eval_batches(pooled, local, collate),
                 tokenizer=tokenizer, resume=resume, overwrite=overwrite, quiet=quiet,
                 callbacks=[TaskValidation(sets, log, metrics, batches)] if sets else [])
