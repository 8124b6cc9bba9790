"""Continual pretraining's parts of a run: mixtures, named validation sets, and stage options.

- `data.mixture = "DIR=W, DIR=W"`: training batches from data.mixture.MixtureLoader.
- `data.val_sets = "NAME=DIR, ..."`: at every validation pass each set's val_split is scored with
  eval.perplexity.evaluate (windows of seq_len tokens, stride seq_len; at most eval_batches *
  batch_size * seq_len tokens, 0 = all), exactly as `babyllama ppl MODEL --data DIR --split val
  --context T --stride T [--max-tokens N]` scores it, and logged as val/NAME/loss and val/NAME/bpb;
  the end of the run prints each set's bits per byte at the first validation (step 0) and now.
- `train.new_rows_only_steps = K` and `optim.old_lr_scale = s`: for the first K steps only the rows a
  vocabulary extension added move; after that the other parameters (and the old rows) move at s times
  the learning rate. Both act on the optimizer's update: p_old + s * (p_new - p_old) is exactly an
  AdamW step at lr * s (AdamW's moments do not depend on lr), and s = 0 keeps p_old.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from babyllama.checkpoint.run_dir import METRICS_FILE
from babyllama.config import TrainConfig
from babyllama.data.mixture import MixtureLoader, parse_mixture, parse_named
from babyllama.data.prepare import load_manifest, split_info
from babyllama.model import unwrap_model
from babyllama.report.plots import read_metrics
from babyllama.train.trainer import Callback, Trainer
from babyllama.utils.io import BabyLlamaError, read_json


def mixture_loader(cfg: TrainConfig, rank: int, world_size: int, tokenizer_hash: str | None) -> MixtureLoader:
    """The MixtureLoader that cfg.data.mixture names, checked against the data_dir's tokenizer."""
    dc = cfg.data
    loader = MixtureLoader(parse_mixture(dc.mixture), dc.train_split, dc.batch_size // world_size, dc.seq_len,
                           rank=rank, world_size=world_size, seed=cfg.train.seed, shuffle=dc.shuffle)
    for folder, ld in zip(loader.folders, loader.loaders):
        if tokenizer_hash and (ld.stream.manifest.get("tokenizer") or {}).get("sha256") != tokenizer_hash:
            raise BabyLlamaError(f"data.mixture: {folder} was tokenized with another tokenizer than data.data_dir "
                                 f"({dc.data_dir}); prepare it with {dc.data_dir}/tokenizer.model")
    return loader


def parse_val_sets(text: str, where: str = "data.val_sets") -> list[tuple[str, str]]:
    """[(name, folder)] from "NAME=DIR, NAME=DIR"."""
    return list(parse_named(text, where, "zh=data/zh, en=data/en", "NAME=DIR").items())


class ValidationSets(Callback):
    """Scores each named validation set at every validation pass (see the module docstring)."""

    def __init__(self, sets: list[tuple[str, str]], tokenizer: Any, split: str, seq_len: int, max_tokens: int | None,
                 log: Callable[..., None], metrics_path: Path | None = None) -> None:
        for name, folder in sets:
            manifest = load_manifest(folder)
            split_info(manifest, split, folder)
            made_with = (manifest.get("tokenizer") or {}).get("sha256")
            if tokenizer is not None and made_with and made_with != tokenizer.hash:
                raise BabyLlamaError(f"data.val_sets: {name} ({folder}) was tokenized with another tokenizer than "
                                     f"the model's; prepare it with the run's tokenizer")
        self.sets, self.tokenizer, self.split, self.seq_len = sets, tokenizer, split, seq_len
        self.max_tokens, self.log, self.metrics_path = max_tokens, log, metrics_path
        self.first: dict[str, Any] = {}
        self.latest: dict[str, Any] = {}

    def on_start(self, trainer: Trainer) -> None:
        if self.metrics_path is not None and self.metrics_path.is_file():  # a resumed run: its step-0 values
            self.first = next((r for r in read_metrics(self.metrics_path) if _set_keys(r)), {})

    def on_eval(self, trainer: Trainer, record: dict[str, Any]) -> None:
        from babyllama.eval.perplexity import evaluate

        model = unwrap_model(trainer.model)
        for name, folder in self.sets:
            res = evaluate(model, self.tokenizer, folder, split=self.split, context=self.seq_len, stride=self.seq_len,
                           max_tokens=self.max_tokens)
            record[f"val/{name}/loss"] = res.mean_nll
            record[f"val/{name}/bpb"] = res.bits_per_byte
        if not self.first:
            self.first = dict(record)
        self.latest = dict(record)

    def on_end(self, trainer: Trainer, outcome: str) -> None:
        if outcome != "failed" and self.first and self.latest and trainer.is_main:
            self.log(before_after_table(self.first, self.latest, [n for n, _ in self.sets]), force=True)


def _set_keys(record: dict[str, Any]) -> list[str]:
    return [k for k in record if k.startswith("val/") and k.endswith("/bpb")]


def before_after_table(first: dict[str, Any], last: dict[str, Any], names: list[str]) -> str:
    """Bits per byte of each set at the first and the last validation, and the change."""
    lines = [f"{'validation set':<16} {'bpb step ' + str(first['step']):>14} {'bpb step ' + str(last['step']):>14}"
             f" {'change':>9}"]
    for n in names:
        a, b = first.get(f"val/{n}/bpb"), last.get(f"val/{n}/bpb")
        if a is not None and b is not None:
            lines.append(f"{n:<16} {a:>14.4f} {b:>14.4f} {b - a:>+9.4f}")
    return "\n".join(lines)


class StageOptions(Callback):
    """train.new_rows_only_steps and optim.old_lr_scale (see the module docstring); `old_vocab` is the
    vocabulary size before extension: rows from it on are new."""

    def __init__(self, old_vocab: int, new_rows_only_steps: int, old_lr_scale: float) -> None:
        self.old_vocab, self.steps, self.scale = old_vocab, new_rows_only_steps, old_lr_scale
        self.trainer: Trainer | None = None
        self.saved: list[torch.Tensor] | None = None
        self.handles: list[Any] = []

    def on_start(self, trainer: Trainer) -> None:
        self.trainer = trainer
        model = unwrap_model(trainer.model)
        seen: dict[int, torch.nn.Parameter] = {}
        for p in model.parameters():
            seen.setdefault(id(p), p)
        self.params = list(seen.values())
        self.rows = {id(model.tok_embeddings.weight), id(model.output.weight)}
        self.handles = [trainer.optimizer.register_step_pre_hook(self._before),
                        trainer.optimizer.register_step_post_hook(self._after)]

    def current_scale(self) -> float:
        assert self.trainer is not None
        return 0.0 if self.trainer.step < self.steps else self.scale

    def _before(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.saved = None if self.current_scale() == 1.0 else [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def _after(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self.saved is None:
            return
        s = self.current_scale()
        for p, old in zip(self.params, self.saved):
            part, was = (p[:self.old_vocab], old[:self.old_vocab]) if id(p) in self.rows else (p, old)
            if s == 0.0:
                part.copy_(was)
            else:
                part.lerp_(was, 1.0 - s)  # was + s * (new - was)
        self.saved = None

    def on_end(self, trainer: Trainer, outcome: str) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


def continual_callbacks(cfg: TrainConfig, tokenizer: Any, run_dir: Path | None, resumed: bool,
                        log: Callable[..., None]) -> list[Callback]:
    """The callbacks cfg asks for: ValidationSets (data.val_sets) and StageOptions (the stage options)."""
    out: list[Callback] = []
    dc, tc = cfg.data, cfg.train
    if dc.val_sets:
        max_tokens = tc.eval_batches * dc.batch_size * dc.seq_len or None
        metrics = run_dir / METRICS_FILE if run_dir is not None and resumed else None
        out.append(ValidationSets(parse_val_sets(dc.val_sets), tokenizer, dc.val_split, dc.seq_len, max_tokens, log,
                                  metrics))
    if tc.new_rows_only_steps or cfg.optim.old_lr_scale != 1.0:
        out.append(StageOptions(old_vocab_size(tc.init_from), tc.new_rows_only_steps, cfg.optim.old_lr_scale))
    return out


def old_vocab_size(init_from: str | None) -> int:
    """The vocabulary size before `babyllama extend` of the init_from model folder."""
    where = "train.new_rows_only_steps / optim.old_lr_scale"
    if not init_from:
        raise BabyLlamaError(f"{where} need train.init_from: a model folder written by `babyllama extend`")
    meta = read_json(Path(init_from) / "config.json")
    old = (meta.get("extended") or {}).get("old_vocab_size") if isinstance(meta, dict) else None
    if not isinstance(old, int):
        raise BabyLlamaError(f"{where}: {init_from} was not made by `babyllama extend` (its config.json has no "
                             f"extended.old_vocab_size); these options act on the rows an extension added")
    return old
