"""A training run: pretraining, continual pretraining, or any objective, with its run folder.

    from babyllama.config import load_config
    from babyllama.train import train
    result = train(load_config("recipes/quickstart.toml"))

`train` builds what the config names (data, tokenizer, model), resumes from the run folder's newest
good checkpoint, and runs the loop core (trainer.py) with the run folder's callbacks (run_files.py):
metrics.jsonl every `log_every` steps, the validation loss (and bits per byte) every `eval_every`
steps, a resumable checkpoint every `save_every` steps, and at the end a final checkpoint,
run_dir/model/, loss.png and samples.txt. Ctrl-C / SIGTERM stop after the current step with a
checkpoint. To train without a run folder, use `babyllama.train.trainer.fit`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn

from babyllama.checkpoint.model_dir import load_model_dir
from babyllama.checkpoint.run_dir import (CONFIG_FILE, MODEL_DIR, RUN_FILES, TEMPORARY, list_checkpoints,
                                          load_newest_checkpoint)
from babyllama.config import TrainConfig, config_hash, load_config
from babyllama.model import Llama
from babyllama.train import distributed as D
from babyllama.train.budget import budget_callbacks
from babyllama.train.callbacks import ConsoleLog, ProgressBar, StopOnSignal, console_log
from babyllama.train.continual import continual_callbacks, mixture_loader
from babyllama.train.objectives import LanguageModeling, Objective
from babyllama.train.live_log import LiveLog
from babyllama.train.run_files import (Checkpoints, FinalModel, LossPlot, MetricsFile, RunFolder, RunRecord,
                                       Samples)
from babyllama.train.sharded_checkpoints import ShardedCheckpoints, load_newest_sharded
from babyllama.train.trainer import BatchSource, Callback, EvalData, Trainer
from babyllama.utils.device import pick_device, seed_everything
from babyllama.utils.io import BabyLlamaError


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    train_loss: float | None
    val_loss: float | None
    val_bpb: float | None
    tokens_seen: int
    elapsed: float
    interrupted: bool
    checkpoint: Path | None
    model_dir: Path | None
    stop_signal: int | None = None  # the signal (SIGINT, SIGTERM) that stopped the run, if one did


# ---------------------------------------------------------------- may this folder hold this run?

def check_run_dir(run_dir: Path, cfg: TrainConfig, resume: bool, overwrite: bool) -> list[Path]:
    """Refuse to mix two runs in one folder. Returns the files the new run replaces, removed only
    once it is set up (so a failing start leaves them alone): an old run's with overwrite, or what a
    first launch of this same run left before its first checkpoint."""
    existing = [run_dir / name for name in RUN_FILES if (run_dir / name).exists()]
    if resume:
        check_resumable(run_dir)
        return []
    if not existing or overwrite:
        return existing
    old = run_dir / CONFIG_FILE
    same = old.is_file() and _same_config(old, cfg)
    if (same or not old.is_file()) and not _saved_anything(run_dir):
        return existing
    what = "this run already" if same else "a different run"
    raise BabyLlamaError(f"{run_dir}: holds {what} ({', '.join(p.name for p in existing)}); pass --resume "
                         f"{run_dir} to continue it, --overwrite to replace it, or choose another train.run_dir")


def check_resumable(run_dir: Path) -> None:
    """Raise a BabyLlamaError saying why `run_dir` cannot be resumed, if it cannot."""
    if list_checkpoints(run_dir):
        if not (run_dir / CONFIG_FILE).is_file():
            raise BabyLlamaError(f"{run_dir / CONFIG_FILE}: missing; cannot resume this run")
        return
    if run_dir.is_dir() and _is_run_start(run_dir):
        raise BabyLlamaError(f"no checkpoint yet in {run_dir}; start it again with the same command")
    raise BabyLlamaError(f"{run_dir}: no run to resume here (config.toml missing); start a new run without --resume")


def resume_config(run_dir: str | os.PathLike, overrides: Sequence[str] = ()) -> TrainConfig:
    """The config of the run in run_dir (its config.toml, then `overrides`) to resume it with."""
    run_dir = Path(run_dir)
    check_resumable(run_dir)
    cfg = load_config(run_dir / CONFIG_FILE, overrides)
    cfg.train.run_dir = str(run_dir)
    return cfg


def _saved_anything(run_dir: Path) -> bool:
    return bool(list_checkpoints(run_dir)) or (run_dir / MODEL_DIR).exists()


def _is_run_start(run_dir: Path) -> bool:
    """An empty folder, or one holding only what a run writes first (its files or their temporaries)."""
    names = [p.name for p in run_dir.iterdir()]
    return all(n in RUN_FILES or (TEMPORARY.match(n) and TEMPORARY.match(n).group(1) in RUN_FILES) for n in names)


def _same_config(path: Path, cfg: TrainConfig) -> bool:
    try:
        return config_hash(load_config(path)) == config_hash(cfg)
    except BabyLlamaError:
        return False


# ---------------------------------------------------------------- a run

def train(cfg: TrainConfig, model: nn.Module | None = None, objective: Objective | None = None, *,
          train_data: BatchSource | None = None, eval_data: EvalData | None = None, tokenizer: Any = None,
          resume: bool = False, overwrite: bool = False, quiet: bool = False,
          callbacks: Sequence[Callback | Callable[[int, dict[str, Any]], None]] = ()) -> TrainResult:
    """Train per `cfg` in the run folder cfg.train.run_dir and return a summary. By default the model
    is built from cfg.model (or loaded from cfg.train.init_from), the objective is next-token language
    modeling, training data is a TokenLoader on cfg.data.data_dir and validation uses
    iter_eval_batches. resume=True continues from run_dir's newest good checkpoint. `callbacks` run
    after the progress bar and before the run folder's own (a plain fn(step, record) works too)."""
    device = pick_device(cfg.train.device, "train.device")
    dist = D.setup(device.type)
    try:
        if device.type == "cuda" and dist.enabled:
            device = torch.device("cuda", dist.local_rank)
        return _run(cfg, dist, device, model, objective, train_data, eval_data, tokenizer, resume, overwrite,
                    quiet, callbacks)
    finally:
        D.cleanup(dist)


def _run(cfg: TrainConfig, dist: D.DistInfo, device: torch.device, model: nn.Module | None,
         objective: Objective | None, train_data: BatchSource | None, eval_data: EvalData | None,
         tokenizer: Any, resume: bool, overwrite: bool, quiet: bool, callbacks: Sequence[Any]) -> TrainResult:
    tc, dc = cfg.train, cfg.data
    log = console_log(quiet, dist.is_main)
    run_dir = Path(tc.run_dir)
    replaced = check_run_dir(run_dir, cfg, resume, overwrite)
    D.barrier(dist)  # every rank has checked the folder before rank 0 writes into it
    if dc.batch_size % dist.world_size:
        raise BabyLlamaError(f"data.batch_size ({dc.batch_size}) is the global micro-batch and must be divisible "
                             f"by the number of processes ({dist.world_size})")
    seed_everything(tc.seed)
    data = _language_data(cfg, dist, train_data, tokenizer, log, with_eval=objective is None and eval_data is None)
    if eval_data is None:
        eval_data = data.eval_data
    if model is None:
        model = _build_model(cfg, data.vocab_size)
    _check_model(model, cfg, data.vocab_size)
    trainer = Trainer(cfg, model, objective or LanguageModeling(), data.train_data, eval_data, device=device,
                      dist=dist, bytes_per_token=data.bytes_per_token, log=log)
    budget = budget_callbacks(cfg, run_dir, resume, log)  # a resumed run takes its recorded max_steps here
    resumed_from = _resume(trainer, run_dir, log) if resume else None

    stop = StopOnSignal()
    saver = ShardedCheckpoints if tc.parallel == "fsdp" else Checkpoints
    checkpoints, final_model = saver(run_dir, data.tokenizer, resumed_from), FinalModel(run_dir, data.tokenizer)
    plugins = [stop, ProgressBar(enabled=not quiet), ConsoleLog(log), *callbacks,
               *continual_callbacks(cfg, data.tokenizer, run_dir, resumed_from is not None, log),
               RunFolder(run_dir, replaced), *budget, MetricsFile(run_dir, resumed_from is not None, log), checkpoints,
               final_model, LossPlot(run_dir), Samples(run_dir, data.tokenizer, log), LiveLog(run_dir),
               RunRecord(run_dir)]
    _log_summary(trainer, run_dir, log)
    outcome = trainer.fit(plugins)
    if outcome == "stopped":
        log(f"note: stopped at step {trainer.step}; checkpoint {checkpoints.last}; continue with "
            f"`babyllama pretrain --resume {run_dir}`", force=True)
    else:
        log(f"done: {trainer.step} steps, {trainer.tokens_seen:,} tokens in {trainer.elapsed:.0f}s; train loss "
            f"{trainer.last['loss']}, val loss {trainer.last['val_loss']}; model in {final_model.model_dir}")
    return TrainResult(run_dir=run_dir, step=trainer.step, train_loss=trainer.last["loss"],
                       val_loss=trainer.last["val_loss"], val_bpb=trainer.last["val_bpb"],
                       tokens_seen=trainer.tokens_seen, elapsed=trainer.elapsed, interrupted=outcome == "stopped",
                       checkpoint=checkpoints.last, model_dir=final_model.model_dir, stop_signal=stop.signum)


def _resume(trainer: Trainer, run_dir: Path, log: Callable[..., None]) -> Path:
    if trainer.cfg.train.parallel == "fsdp":
        found = load_newest_sharded(trainer, run_dir, warn=log)
    else:
        found = load_newest_checkpoint(run_dir, trainer.model, warn=log)
    if found is None:  # checkpoints vanished since check_resumable
        raise BabyLlamaError(f"no checkpoint yet in {run_dir}; start it again with the same command")
    ckpt, state = found
    trainer.load_state_dict(state, source=str(ckpt))
    if state.get("config_hash") != config_hash(trainer.cfg):
        log(f"note: the config differs from the one saved with {ckpt.name}; continuing with the new one")
    log(f"resumed from {ckpt} at step {trainer.step}")
    return ckpt


def _log_summary(trainer: Trainer, run_dir: Path, log: Callable[..., None]) -> None:
    if getattr(trainer.model, "config", None) is None:
        return
    dc, n = trainer.cfg.data, sum(p.numel() for p in trainer.model.parameters())
    accum = trainer.cfg.train.grad_accum
    log(f"model {n / 1e6:.2f}M params | {dc.batch_size * accum * dc.seq_len:,} tokens/step "
        f"({dc.batch_size} x {accum} x {dc.seq_len}) | {trainer.device.type} {trainer.precision} | "
        f"{trainer.dist.world_size} process(es) | {trainer.cfg.optim.max_steps} steps | run {run_dir}")


# ---------------------------------------------------------------- data, tokenizer and model from the config

@dataclass
class _Data:
    train_data: BatchSource
    eval_data: EvalData | None
    tokenizer: Any
    vocab_size: int | None
    bytes_per_token: float | None


def _language_data(cfg: TrainConfig, dist: D.DistInfo, train_data: BatchSource | None, tokenizer: Any,
                   log: Callable[..., None], with_eval: bool) -> _Data:
    """The training batches, tokenizer and (with_eval) validation batches that cfg.data names, keeping
    the training batches and tokenizer the caller passed."""
    dc, tc = cfg.data, cfg.train
    local_batch = dc.batch_size // dist.world_size
    manifest = None
    if dc.data_dir:
        from babyllama.data.prepare import load_manifest

        manifest = load_manifest(dc.data_dir)
    elif train_data is None:
        raise BabyLlamaError("data.data_dir is not set; prepare data with `babyllama prepare --out DIR` "
                             "and set data.data_dir = DIR")
    if tokenizer is None:
        tokenizer = _find_tokenizer(dc.data_dir if manifest is not None else None, tc.init_from, log)
    if train_data is None and dc.mixture and manifest is not None:
        train_data = mixture_loader(cfg, dist.rank, dist.world_size, (manifest.get("tokenizer") or {}).get("sha256"))
    if train_data is None:
        from babyllama.data.loader import TokenLoader

        train_data = TokenLoader(dc.data_dir, dc.train_split, local_batch, dc.seq_len, rank=dist.rank,
                                 world_size=dist.world_size, seed=tc.seed, shuffle=dc.shuffle)
    bytes_per_token, eval_data = None, None
    if with_eval and manifest is not None:
        from babyllama.data.loader import iter_eval_batches
        from babyllama.data.prepare import split_info

        try:
            val = split_info(manifest, dc.val_split, dc.data_dir)
        except BabyLlamaError:
            val = None
        if val is not None and val["tokens"] > dc.seq_len:
            bytes_per_token = val["bytes"] / val["tokens"] if val["bytes"] else None
            # eval_batches counts global batches; each rank evaluates its share in per-rank batches
            max_b = tc.eval_batches * dist.world_size if tc.eval_batches else None

            def eval_data(rank: int, world: int) -> Iterable[Any]:
                return iter_eval_batches(dc.data_dir, dc.val_split, local_batch, dc.seq_len, max_batches=max_b,
                                         rank=rank, world_size=world)
        else:
            log(f"warning: {dc.data_dir} has no '{dc.val_split}' split longer than seq_len; no validation loss")
    vocab = manifest["vocab_size"] if manifest is not None else (tokenizer.vocab_size if tokenizer else None)
    return _Data(train_data, eval_data, tokenizer, vocab, bytes_per_token)


def _find_tokenizer(data_dir: str | None, init_from: str | None, log: Callable[..., None]) -> Any:
    """The data's tokenizer (it made the tokens), else the init_from model's; None if neither has one."""
    from babyllama.tokenizers import Tokenizer

    paths = [Path(d) / "tokenizer.model" for d in (data_dir, init_from) if d]
    found = [Tokenizer.load(p) for p in paths if p.is_file()]
    if len(found) == 2 and found[0].hash != found[1].hash:
        log(f"warning: the data's tokenizer differs from the one in {init_from}; the model is trained on "
            f"token ids from {data_dir}")
    return found[0] if found else None


def _build_model(cfg: TrainConfig, data_vocab: int | None) -> Llama:
    """A fresh model from cfg.model, or the init_from folder's model (with cfg.model.dropout)."""
    if cfg.train.init_from:
        model, _ = load_model_dir(cfg.train.init_from, with_tokenizer=False, dropout=cfg.model.dropout)
        return model.train()
    if data_vocab is None and cfg.model.vocab_size == 0:
        raise BabyLlamaError("model.vocab_size = 0 means 'from the data', but no data tokenizer is known")
    if cfg.model.vocab_size and data_vocab and cfg.model.vocab_size < data_vocab:
        raise BabyLlamaError(f"model.vocab_size ({cfg.model.vocab_size}) is smaller than the data's tokenizer "
                             f"({data_vocab}); set model.vocab_size = 0")
    try:
        return Llama(cfg.model.to_llama(vocab_size=data_vocab, seq_len=cfg.data.seq_len))
    except ValueError as e:
        raise BabyLlamaError(f"[model] {e}") from None


def _check_model(model: nn.Module, cfg: TrainConfig, data_vocab: int | None) -> None:
    mcfg = getattr(model, "config", None)
    if mcfg is not None and cfg.data.seq_len > mcfg.max_seq_len:
        raise BabyLlamaError(f"data.seq_len ({cfg.data.seq_len}) exceeds the model's max_seq_len ({mcfg.max_seq_len})")
    if mcfg is not None and data_vocab is not None and data_vocab > mcfg.vocab_size:
        raise BabyLlamaError(f"{cfg.data.data_dir}: the data's tokenizer has {data_vocab} tokens but the model's "
                             f"vocab_size is {mcfg.vocab_size}; set model.vocab_size = 0 (take it from the data)")
