"""The one training loop: pretraining, continual pretraining and (through objectives) finetuning.

    from babyllama.config import load_config
    from babyllama.train import train
    result = train(load_config("recipes/quickstart.toml"))

A step: `grad_accum` micro-batches (forward under autocast, backward), gradient clipping, optimizer
step with the scheduled learning rate. Every `log_every` steps a line goes to metrics.jsonl, every
`eval_every` steps the validation loss (and bits per byte), every `save_every` steps a resumable
checkpoint. Ctrl-C / SIGTERM stop at the next step boundary with a checkpoint. At the end: final
checkpoint, run_dir/model/, loss.png and samples.txt.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence

import torch
from torch import nn

from babyllama.checkpoint.model_dir import load_llama_weights, read_model_config, save_model
from babyllama.config import TrainConfig, config_hash, save_config
from babyllama.model import Llama
from babyllama.train import distributed as D
from babyllama.train.objectives import LanguageModeling, Objective
from babyllama.train.optim import build_optimizer
from babyllama.train.schedule import lr_at
from babyllama.checkpoint.run_dir import latest_checkpoint, load_state, rng_state, save_checkpoint, set_rng_state
from babyllama.checkpoint.run_dir import load_module_weights as load_checkpoint_weights
from babyllama.utils.device import pick_device, seed_everything
from babyllama.utils.io import BabyLlamaError, atomic_write_text

RUN_FILES = ("config.toml", "metrics.jsonl", "checkpoints", "model", "loss.png", "samples.txt")


class BatchSource(Protocol):
    """What the loop needs from training data (TokenLoader is one)."""

    def next_batch(self) -> Any: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


# eval_data(rank, world_size) -> this rank's share of the validation batches
EvalData = Callable[[int, int], Iterable[Any]]
# callback(step, record): called on every rank after each optimizer step; record holds what was
# measured at this step (always "step" and "lr"; "loss" etc. on log steps). Raising
# KeyboardInterrupt stops the run with a checkpoint, like Ctrl-C.
Callback = Callable[[int, dict[str, Any]], None]


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


# ---------------------------------------------------------------- device, precision, peak FLOPs

def pick_precision(name: str, device: torch.device) -> str:
    """'auto' = bf16 on CUDA when supported, else fp32. fp16 (with a GradScaler) needs CUDA."""
    if name == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if name == "fp16" and device.type != "cuda":
        raise BabyLlamaError(f"train.precision = 'fp16' needs CUDA (device is {device.type}); use bf16 or fp32")
    return name


# Dense peak FLOP/s used for MFU. GPUs: tensor-core bf16/fp16 figures from the vendors' data sheets.
GPU_PEAK = {"H100": 989e12, "A100": 312e12, "A10": 125e12, "L4": 121e12, "L40": 181e12, "4090": 165e12,
            "3090": 71e12, "V100": 125e12, "T4": 65e12}
# CPU: a rough per-thread fp32 figure at an assumed 3 GHz with 2 FMA units (2 FLOPs each):
# 8 lanes with AVX2 = 96 GFLOP/s, 16 lanes with AVX-512 = 192 GFLOP/s. An estimate, not a measurement.
CPU_PEAK_PER_THREAD = {"AVX512": 192e9, "AVX2": 96e9}
MPS_PEAK = 10e12


def peak_flops(device: torch.device, precision: str) -> float:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = next((v for k, v in GPU_PEAK.items() if k in name), 100e12)
        return peak if precision in ("bf16", "fp16") else peak / 2  # tf32 is about half
    if device.type == "mps":
        return MPS_PEAK
    capability = torch.backends.cpu.get_cpu_capability()
    return CPU_PEAK_PER_THREAD.get(capability, 48e9) * torch.get_num_threads()


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if precision == "fp16":
        return torch.autocast(device_type=device.type, dtype=torch.float16)
    return contextlib.nullcontext()


# ---------------------------------------------------------------- files of a run

class MetricsLog:
    """metrics.jsonl: one JSON object per line, each line flushed and fsynced."""

    def __init__(self, path: Path, enabled: bool, keep_through: int | None) -> None:
        self.path, self.f = path, None
        if not enabled:
            return
        kept = []
        if keep_through is not None and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line from a crash
                if isinstance(rec, dict) and rec.get("step", 0) <= keep_through:
                    kept.append(line + "\n")
        atomic_write_text(path, "".join(kept))
        self.f = open(path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        if self.f is None:
            return
        self.f.write(json.dumps(record) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


def check_run_dir(run_dir: Path, cfg: TrainConfig, resume: bool, overwrite: bool) -> list[Path]:
    """Refuse to mix two runs in one folder. Returns the old run's files that overwrite will replace
    (removed only once the new run is set up, so a failing start leaves them alone)."""
    existing = [run_dir / name for name in RUN_FILES if (run_dir / name).exists()]
    if resume:
        if not (run_dir / "config.toml").is_file():
            raise BabyLlamaError(f"{run_dir}: no run to resume here (config.toml missing); "
                                 f"start a new run without --resume")
        return []
    if existing and not overwrite:
        old = run_dir / "config.toml"
        same = old.is_file() and _same_config(old, cfg)
        what = "this run already" if same else "a different run"
        raise BabyLlamaError(f"{run_dir}: holds {what} ({', '.join(p.name for p in existing)}); pass --resume "
                             f"{run_dir} to continue it, --overwrite to replace it, or choose another train.run_dir")
    return existing


def _same_config(path: Path, cfg: TrainConfig) -> bool:
    from babyllama.config import load_config

    try:
        return config_hash(load_config(path)) == config_hash(cfg)
    except BabyLlamaError:
        return False


# ---------------------------------------------------------------- stopping on Ctrl-C / SIGTERM

class StopFlag:
    """The first SIGINT/SIGTERM asks the loop to stop at the next step boundary; a second SIGINT aborts."""

    def __init__(self, announce: bool) -> None:
        self.requested = False
        self.announce = announce
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        if self.announce:
            print(f"\n{signal.Signals(signum).name}: stopping after this step and saving a checkpoint "
                  f"(Ctrl-C again to abort without saving)", file=sys.stderr, flush=True)

    def __enter__(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


# ---------------------------------------------------------------- helpers

def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def _try_compile(model: nn.Module, device: torch.device, probe: tuple[torch.Tensor, torch.Tensor] | None,
                 objective: Objective, log: Callable[[str], None]) -> nn.Module:
    """torch.compile the model; on CPU, try one forward/backward on the probe batch and fall back to
    eager with a warning if compiling fails (e.g. no C++ compiler)."""
    compiled = torch.compile(model)
    if device.type != "cpu" or probe is None:
        return compiled
    saved = torch.get_rng_state()
    try:
        loss, _ = objective.loss(compiled, probe)
        loss.backward()
    except Exception as e:  # a missing C compiler and the like
        log(f"warning: torch.compile failed on CPU ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
            f"training without it")
        compiled = model
    finally:
        model.zero_grad(set_to_none=True)
        torch.set_rng_state(saved)
    return compiled


def _log_fn(quiet: bool, is_main: bool) -> Callable[..., None]:
    """Rank 0 prints through tqdm (so the progress bar stays intact); quiet keeps only warnings and
    forced notes, which go to stderr."""
    def log(msg: str, force: bool = False) -> None:
        if not is_main:
            return
        loud = force or msg.startswith("warning:")
        if loud or not quiet:
            from tqdm import tqdm

            tqdm.write(msg, file=sys.stderr if loud else sys.stdout)
    return log


# ---------------------------------------------------------------- the loop

def train(cfg: TrainConfig, model: nn.Module | None = None, objective: Objective | None = None, *,
          train_data: BatchSource | None = None, eval_data: EvalData | None = None, tokenizer: Any = None,
          resume: bool = False, overwrite: bool = False, quiet: bool = False,
          callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Train per `cfg` and return a summary. By default the model is built from cfg.model (or loaded from
    cfg.train.init_from), the objective is next-token language modeling, training data is a TokenLoader on
    cfg.data.data_dir and validation uses iter_eval_batches. Pass model / objective / train_data /
    eval_data to reuse the loop for finetuning. resume=True continues from run_dir's latest checkpoint."""
    tc = cfg.train
    device = pick_device(tc.device, "train.device")
    info = D.setup(device.type)
    try:
        return _train(cfg, info, device, model, objective, train_data, eval_data, tokenizer, resume, overwrite,
                      quiet, callbacks)
    finally:
        D.cleanup(info)


def _train(cfg: TrainConfig, info: D.DistInfo, device: torch.device, model: nn.Module | None,
           objective: Objective | None, train_data: BatchSource | None, eval_data: EvalData | None,
           tokenizer: Any, resume: bool, overwrite: bool, quiet: bool,
           callbacks: Sequence[Callback]) -> TrainResult:
    tc, dc, oc = cfg.train, cfg.data, cfg.optim
    if device.type == "cuda" and info.enabled:
        device = torch.device("cuda", info.local_rank)
    precision = pick_precision(tc.precision, device)
    log = _log_fn(quiet, info.is_main)
    run_dir = Path(tc.run_dir)
    old_files = check_run_dir(run_dir, cfg, resume, overwrite)
    D.barrier(info)  # every rank has checked the folder before rank 0 writes into it
    if dc.batch_size % info.world_size:
        raise BabyLlamaError(f"data.batch_size ({dc.batch_size}) is the global micro-batch and must be divisible "
                             f"by the number of processes ({info.world_size})")
    local_batch = dc.batch_size // info.world_size
    if device.type == "cuda":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.set_float32_matmul_precision("high")  # TF32 matmuls
    seed_everything(tc.seed)

    # ---- data and tokenizer
    manifest = None
    if dc.data_dir:
        from babyllama.data.prepare import load_manifest

        manifest = load_manifest(dc.data_dir)
    elif train_data is None:
        raise BabyLlamaError("data.data_dir is not set; prepare data with `babyllama prepare --out DIR` "
                             "and set data.data_dir = DIR")
    if tokenizer is None:
        tokenizer = _find_tokenizer(dc.data_dir if manifest is not None else None, tc.init_from, log)
    if train_data is None:
        from babyllama.data.loader import TokenLoader

        train_data = TokenLoader(dc.data_dir, dc.train_split, local_batch, dc.seq_len, rank=info.rank,
                                 world_size=info.world_size, seed=tc.seed, shuffle=dc.shuffle)
    bytes_per_token = None
    if eval_data is None and objective is None and manifest is not None:
        from babyllama.data.loader import iter_eval_batches
        from babyllama.data.prepare import split_info

        try:
            val = split_info(manifest, dc.val_split, dc.data_dir)
        except BabyLlamaError:
            val = None
        if val is not None and val["tokens"] > dc.seq_len:
            bytes_per_token = val["bytes"] / val["tokens"] if val["bytes"] else None
            # eval_batches counts global batches; each rank evaluates its share in per-rank batches
            max_b = tc.eval_batches * info.world_size if tc.eval_batches else None

            def eval_data(rank: int, world: int) -> Iterable[Any]:
                return iter_eval_batches(dc.data_dir, dc.val_split, local_batch, dc.seq_len, max_batches=max_b,
                                         rank=rank, world_size=world)
        else:
            log(f"warning: {dc.data_dir} has no '{dc.val_split}' split longer than seq_len; no validation loss")
    objective = objective or LanguageModeling()
    data_vocab = manifest["vocab_size"] if manifest is not None else (tokenizer.vocab_size if tokenizer else None)

    # ---- model
    if model is None:
        model = _build_model(cfg, data_vocab)
    raw: nn.Module = model.to(device)
    mcfg = getattr(raw, "config", None)
    if mcfg is not None and dc.seq_len > mcfg.max_seq_len:
        raise BabyLlamaError(f"data.seq_len ({dc.seq_len}) exceeds the model's max_seq_len ({mcfg.max_seq_len})")
    if mcfg is not None and data_vocab is not None and data_vocab > mcfg.vocab_size:
        raise BabyLlamaError(f"{dc.data_dir}: the data's tokenizer has {data_vocab} tokens but the model's "
                             f"vocab_size is {mcfg.vocab_size}; set model.vocab_size = 0 (take it from the data)")
    raw.train()
    optimizer = build_optimizer(raw, oc.name, oc.lr, oc.betas, oc.eps, oc.weight_decay, device.type)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    if info.enabled:
        torch.manual_seed(tc.seed + 1000 * info.rank)  # dropout differs per rank; init was shared

    # ---- resume
    step, elapsed0, tokens_seen = 0, 0.0, 0
    last: dict[str, Any] = {"loss": None, "val_loss": None, "val_bpb": None}
    ckpt = latest_checkpoint(run_dir) if resume else None
    if resume and ckpt is None:
        log(f"warning: {run_dir} has no checkpoint yet; starting this run from step 0")
    if ckpt is not None:
        state = load_state(ckpt)
        load_checkpoint_weights(raw, ckpt / "model.safetensors")
        ranks = state["ranks"]
        if len(ranks) != info.world_size:
            raise BabyLlamaError(f"{ckpt}: written by {len(ranks)} process(es); resume with the same number "
                                 f"(now {info.world_size})")
        optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        train_data.load_state_dict(ranks[info.rank]["data"])
        set_rng_state(ranks[info.rank]["rng"])
        step = int(state["step"])
        m = state.get("metrics", {})
        elapsed0, tokens_seen = float(m.get("elapsed", 0.0)), int(m.get("tokens_seen", 0))
        last.update({k: m.get(k) for k in last})
        if state.get("config_hash") != config_hash(cfg):
            log(f"note: the config differs from the one saved with {ckpt.name}; continuing with the new one")
        log(f"resumed from {ckpt} at step {step}")
    if info.is_main:
        for p in old_files:  # --overwrite: the old run goes only now that the new one is ready
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.toml")
    D.barrier(info)

    fwd: nn.Module = raw
    if tc.compile:
        x = torch.zeros(local_batch, dc.seq_len, dtype=torch.long, device=device)
        probe = (x, x.clone()) if isinstance(objective, LanguageModeling) else None
        fwd = _try_compile(raw, device, probe, objective, log)
    ddp = D.wrap(fwd, info, device)
    metrics = MetricsLog(run_dir / "metrics.jsonl", info.is_main, keep_through=step if ckpt is not None else None)
    flops_per_token = mcfg.flops_per_token(dc.seq_len) if hasattr(mcfg, "flops_per_token") else None
    peak = peak_flops(device, precision) * info.world_size
    amp = autocast_context(device, precision)
    final_lr = cfg.final_lr

    def evaluate() -> tuple[float | None, float | None]:
        if eval_data is None:
            return None, None
        raw.eval()
        total = torch.zeros(2, dtype=torch.float64, device=device)
        with torch.no_grad():
            for batch in eval_data(info.rank, info.world_size):
                batch = to_device(batch, device)
                with amp:
                    loss, _ = objective.loss(fwd, batch)
                w = objective.num_targets(batch)
                total += torch.stack([loss.detach().double() * w, torch.tensor(float(w), device=device)])
        raw.train()
        total = D.all_reduce_sum(total, info)
        if total[1] == 0:
            return None, None
        val_loss = float(total[0] / total[1])
        bpb = val_loss / math.log(2) / bytes_per_token if bytes_per_token else None
        return val_loss, bpb

    def do_eval(record: dict[str, Any]) -> None:
        val_loss, bpb = evaluate()
        if val_loss is not None:
            record["val_loss"] = val_loss
            last["val_loss"] = val_loss
            if bpb is not None:
                record["val_bpb"] = bpb
                last["val_bpb"] = bpb
            log(f"step {step}: val loss {val_loss:.4f}" + (f", {bpb:.4f} bits/byte" if bpb is not None else ""))

    def save(elapsed: float) -> Path:
        per_rank = D.gather({"data": train_data.state_dict(), "rng": rng_state()}, info)
        path = run_dir / "checkpoints" / f"step_{step:06d}"
        if info.is_main:
            state = {"step": step, "optimizer": optimizer.state_dict(),
                     "scaler": scaler.state_dict() if scaler.is_enabled() else None, "ranks": per_rank,
                     "config_hash": config_hash(cfg), "config": cfg.to_dict(),
                     "metrics": {"elapsed": elapsed, "tokens_seen": tokens_seen, **last}}
            path = save_checkpoint(run_dir, step, raw, state, tokenizer, keep=tc.keep_checkpoints)
        D.barrier(info)
        return path

    def write_samples(label: str) -> list[str]:
        if not info.is_main or tokenizer is None or tc.num_samples == 0 or not isinstance(raw, Llama):
            return []
        from babyllama.sample import sample_text

        texts = sample_text(raw, tokenizer, tc.sample_prompt, tc.sample_tokens, temperature=tc.sample_temperature,
                            top_k=tc.sample_top_k, num_samples=tc.num_samples, seed=tc.seed + step)
        block = f"=== {label} (step {step}) ===\n" + "".join(f"--- sample {i + 1}\n{t}\n" for i, t in enumerate(texts))
        with open(run_dir / "samples.txt", "a", encoding="utf-8") as f:
            f.write(block)
        log(block.rstrip())
        return texts

    # ---- go
    if mcfg is not None:
        n_params = sum(p.numel() for p in raw.parameters())
        log(f"model {n_params / 1e6:.2f}M params | {dc.batch_size * tc.grad_accum * dc.seq_len:,} tokens/step "
            f"({dc.batch_size} x {tc.grad_accum} x {dc.seq_len}) | {device.type} {precision} | "
            f"{info.world_size} process(es) | {oc.max_steps} steps | run {run_dir}")
    from tqdm import tqdm

    bar = tqdm(total=oc.max_steps, initial=step, disable=quiet or not info.is_main, dynamic_ncols=True,
               unit="step", desc="train")
    t_start = time.perf_counter()
    interrupted, last_saved, last_eval = False, None, None
    if step == 0 and tc.eval_every > 0:
        rec = {"step": 0}
        do_eval(rec)
        last_eval = 0
        if len(rec) > 1:
            metrics.write({**rec, "elapsed": elapsed0})
    window_tokens, window_time = 0, 0.0
    try:
        with StopFlag(announce=info.is_main) as stop:
            while step < oc.max_steps:
                t0 = time.perf_counter()
                lr = lr_at(step, lr=oc.lr, warmup_steps=oc.warmup_steps, max_steps=oc.max_steps, min_lr=final_lr,
                           schedule=oc.schedule)
                for g in optimizer.param_groups:
                    g["lr"] = lr
                loss_sum = torch.zeros((), device=device)
                extra: dict[str, float] = {}
                step_tokens = 0
                for micro in range(tc.grad_accum):
                    batch = to_device(train_data.next_batch(), device)
                    sync = micro == tc.grad_accum - 1 or not info.enabled
                    with (contextlib.nullcontext() if sync else ddp.no_sync()):
                        with amp:
                            loss, m = objective.loss(ddp, batch)
                        scaler.scale(loss / tc.grad_accum).backward()
                    loss_sum += loss.detach().float()
                    for k, v in m.items():
                        extra[k] = extra.get(k, 0.0) + float(v) / tc.grad_accum
                    step_tokens += objective.num_tokens(batch) * info.world_size
                scaler.unscale_(optimizer)
                grad_norm = torch.nn.utils.clip_grad_norm_(raw.parameters(), oc.grad_clip or float("inf"))
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                tokens_seen += step_tokens
                window_tokens += step_tokens
                window_time += time.perf_counter() - t0
                elapsed = elapsed0 + time.perf_counter() - t_start

                record: dict[str, Any] = {"step": step, "lr": lr}
                if step % tc.log_every == 0 or step == oc.max_steps:
                    train_loss = float(D.all_reduce_mean(loss_sum / tc.grad_accum, info))
                    tps = window_tokens / max(window_time, 1e-9)
                    record.update(loss=train_loss, grad_norm=float(grad_norm), tokens_per_s=tps,
                                  mfu=tps * flops_per_token / peak if flops_per_token else None,
                                  tokens=tokens_seen, **extra)
                    last["loss"] = train_loss
                    window_tokens, window_time = 0, 0.0
                    bar.set_postfix(loss=f"{train_loss:.4f}", tok_s=f"{tps:,.0f}", refresh=False)
                if (tc.eval_every and step % tc.eval_every == 0) or step == oc.max_steps:
                    do_eval(record)
                    last_eval = step
                if len(record) > 2:
                    metrics.write({**record, "elapsed": elapsed})
                bar.update(1)
                for cb in callbacks:
                    try:
                        cb(step, record)
                    except KeyboardInterrupt:
                        stop.requested = True
                if tc.sample_every and step % tc.sample_every == 0 and step != oc.max_steps:
                    write_samples("samples")
                stop_now = D.any_rank(stop.requested, info, device)
                if stop_now or (tc.save_every and step % tc.save_every == 0 and step != oc.max_steps):
                    last_saved = save(elapsed)
                if stop_now:
                    interrupted = True
                    break
    except BaseException:
        metrics.close()
        raise
    finally:
        bar.close()

    elapsed = elapsed0 + time.perf_counter() - t_start
    model_dir = None
    if interrupted:
        log(f"note: stopped at step {step}; checkpoint {last_saved}; continue with "
            f"`babyllama pretrain --resume {run_dir}`", force=True)
    if not interrupted:
        if last_eval != step:
            rec = {"step": step}
            do_eval(rec)
            if len(rec) > 1:
                metrics.write({**rec, "elapsed": elapsed})
        last_saved = save(elapsed)
        if info.is_main and isinstance(raw, Llama):
            model_dir = save_model(raw, run_dir / "model", tokenizer,
                                   extra={"trained": {"steps": step, "tokens": tokens_seen,
                                                      "val_loss": last["val_loss"], "val_bpb": last["val_bpb"],
                                                      "data_dir": dc.data_dir}})
    metrics.close()
    if info.is_main:
        from babyllama.report.plots import plot_loss

        plot_loss(run_dir / "metrics.jsonl", run_dir / "loss.png", title=f"{run_dir.name}: loss")
    if not interrupted:
        write_samples("final samples")
        log(f"done: {step} steps, {tokens_seen:,} tokens in {elapsed:.0f}s; train loss {last['loss']}, "
            f"val loss {last['val_loss']}; model in {model_dir}")
    return TrainResult(run_dir=run_dir, step=step, train_loss=last["loss"], val_loss=last["val_loss"],
                       val_bpb=last["val_bpb"], tokens_seen=tokens_seen, elapsed=elapsed, interrupted=interrupted,
                       checkpoint=last_saved, model_dir=model_dir)


def _find_tokenizer(data_dir: str | None, init_from: str | None, log: Callable[[str], None]) -> Any:
    """The data's tokenizer (it made the tokens), else the init_from model's; None if neither has one."""
    from babyllama.tokenizer import Tokenizer

    paths = [Path(d) / "tokenizer.model" for d in (data_dir, init_from) if d]
    found = [Tokenizer.load(p) for p in paths if p.is_file()]
    if len(found) == 2 and found[0].hash != found[1].hash:
        log(f"warning: the data's tokenizer differs from the one in {init_from}; the model is trained on "
            f"token ids from {data_dir}")
    return found[0] if found else None


def _build_model(cfg: TrainConfig, data_vocab: int | None) -> Llama:
    """A fresh model from cfg.model, or the init_from folder's model (with cfg.model.dropout)."""
    if cfg.train.init_from:
        src = Path(cfg.train.init_from)
        lcfg = read_model_config(src)
        lcfg.dropout = cfg.model.dropout
        model = Llama(lcfg)
        load_llama_weights(model, src / "model.safetensors")
        return model
    if data_vocab is None and cfg.model.vocab_size == 0:
        raise BabyLlamaError("model.vocab_size = 0 means 'from the data', but no data tokenizer is known")
    if cfg.model.vocab_size and data_vocab and cfg.model.vocab_size < data_vocab:
        raise BabyLlamaError(f"model.vocab_size ({cfg.model.vocab_size}) is smaller than the data's tokenizer "
                             f"({data_vocab}); set model.vocab_size = 0")
    try:
        return Llama(cfg.model.to_llama(vocab_size=data_vocab, seq_len=cfg.data.seq_len))
    except ValueError as e:
        raise BabyLlamaError(f"[model] {e}") from None
