"""The training loop's core: one model, one objective, one optimizer, and no files.

    trainer = Trainer(cfg, model, objective, train_data, eval_data, device=torch.device("cpu"))
    trainer.fit([my_callback])      # train to cfg.optim.max_steps
    state = trainer.state_dict()    # with the model's weights, all it takes to continue exactly

A step: `grad_accum` micro-batches (forward under autocast, backward; under DDP gradients are synced
on the last one only), gradient clipping, an optimizer step at the scheduled learning rate. The
validation loss is measured every `eval_every` steps and at the end. Whatever a run writes
(metrics, checkpoints, plots, samples) and how it stops (signals) plugs in as callbacks.
"""
from __future__ import annotations

import contextlib
import math
import sys
import time
import warnings
from typing import Any, Callable, Iterable, Protocol, Sequence

import torch
from torch import nn

from babyllama.config import TrainConfig
from babyllama.train import distributed as D
from babyllama.train import fsdp as F
from babyllama.train.objectives import LanguageModeling, Objective
from babyllama.train.optim import build_optimizer
from babyllama.train.rng import rng_state, set_rng_state
from babyllama.train.schedule import lr_at
from babyllama.utils.device import pick_device, seed_everything
from babyllama.utils.io import BabyLlamaError


class BatchSource(Protocol):
    """What the loop needs from training data (TokenLoader is one)."""

    def next_batch(self) -> Any: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


# eval_data(rank, world_size) -> this rank's share of the validation batches
EvalData = Callable[[int, int], Iterable[Any]]


class Callback:
    """Hooks of the loop; override those you need (any object with some of these methods will do).
    Every process calls every hook, in list order, so collectives such as trainer.state_dict() are
    safe; write files where trainer.is_main only. Set trainer.should_stop = True to stop after this
    step (a checkpoint is due then)."""

    def on_start(self, trainer: "Trainer") -> None:
        """Before the first step, after any resume."""

    def on_eval(self, trainer: "Trainer", record: dict[str, Any]) -> None:
        """After each validation pass; record holds "step" and "val_loss" (and "val_bpb")."""

    def on_log(self, trainer: "Trainer", record: dict[str, Any]) -> None:
        """A record worth keeping: a step's train loss (every log_every steps) and/or its validation,
        or a validation pass outside a step (before the first step, at the end of a resumed run)."""

    def on_step(self, trainer: "Trainer", record: dict[str, Any]) -> None:
        """After each optimizer step; record holds "step" and "lr", plus what was measured."""

    def on_checkpoint(self, trainer: "Trainer") -> None:
        """A checkpoint is due: every save_every steps, on a stop, and at the end."""

    def on_end(self, trainer: "Trainer", outcome: str) -> None:
        """Always called last: outcome is "finished", "stopped" or "failed" (an exception follows)."""


class StepFunction(Callback):
    """A plain function fn(step, record) called after each step; raising KeyboardInterrupt in it asks
    for a stop, like Ctrl-C."""

    def __init__(self, fn: Callable[[int, dict[str, Any]], None]) -> None:
        self.fn = fn

    def on_step(self, trainer: "Trainer", record: dict[str, Any]) -> None:
        try:
            self.fn(trainer.step, record)
        except KeyboardInterrupt:
            trainer.should_stop = True


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


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def _warn_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


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


# ---------------------------------------------------------------- the trainer

class Trainer:
    """Steps, evaluation and resumable state for `model` under `objective` (settings from cfg.optim
    and cfg.train). `model` is moved to `device`; its weights are what a checkpoint saves."""

    def __init__(self, cfg: TrainConfig, model: nn.Module, objective: Objective, train_data: BatchSource,
                 eval_data: EvalData | None = None, *, device: torch.device, dist: D.DistInfo | None = None,
                 bytes_per_token: float | None = None, log: Callable[[str], None] = _warn_stderr) -> None:
        tc, oc = cfg.train, cfg.optim
        self.cfg, self.objective, self.train_data, self.eval_data = cfg, objective, train_data, eval_data
        self.device, self.dist = device, dist or D.DistInfo()
        self.precision = pick_precision(tc.precision, device)
        if device.type == "cuda":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.set_float32_matmul_precision("high")  # TF32 matmuls
        self.bytes_per_token = bytes_per_token
        self.model = model.to(device)
        self.model.train()
        if tc.parallel == "fsdp":  # shard before the optimizer takes the parameters (they become DTensors)
            F.check(cfg, self.dist, self.precision)
            F.shard(self.model, self.dist, device, self.precision)
            self.eval_data = F.lockstep(eval_data, self.dist, device)
        self.optimizer = build_optimizer(self.model, oc.name, oc.lr, oc.betas, oc.eps, oc.weight_decay, device.type)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision == "fp16")
        if self.dist.enabled:
            torch.manual_seed(tc.seed + 1000 * self.dist.rank)  # dropout differs per rank; init was shared
        self._forward: nn.Module = self.model  # what evaluation runs: compiled or not, never DDP
        if tc.compile:
            x = torch.zeros(cfg.data.batch_size // self.dist.world_size, cfg.data.seq_len, dtype=torch.long,
                            device=device)
            probe = (x, x.clone()) if isinstance(objective, LanguageModeling) else None
            self._forward = _try_compile(self.model, device, probe, objective, log)
        self._ddp = self._forward if tc.parallel == "fsdp" else D.wrap(self._forward, self.dist, device)
        self._amp = autocast_context(device, self.precision)
        mcfg = getattr(self.model, "config", None)
        self.flops_per_token = mcfg.flops_per_token(cfg.data.seq_len) if hasattr(mcfg, "flops_per_token") else None
        self.peak_flops = peak_flops(device, self.precision) * self.dist.world_size
        # progress, saved in state_dict()
        self.step, self.tokens_seen, self.elapsed = 0, 0, 0.0
        self.eval_step: int | None = None  # the step of the last validation pass
        self.val_metrics: dict[str, float] = {}  # the objective's metrics at the last validation pass
        self.last: dict[str, float | None] = {"loss": None, "val_loss": None, "val_bpb": None}
        self.should_stop = False
        self.callbacks: list[Any] = []
        self._window = [0, 0.0]  # tokens and seconds since the last logged step
        self._clock = (time.perf_counter(), 0.0)  # (when fit began, elapsed then)

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    # ---- resumable state

    def state_dict(self) -> dict[str, Any]:
        """All but the weights that continuing exactly needs: optimizer, scaler, step, counters and
        every process's data cursor and RNG states. Under DDP a collective: call it on every rank."""
        ranks = D.gather({"data": self.train_data.state_dict(), "rng": rng_state()}, self.dist)
        return {"step": self.step, "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None, "ranks": ranks,
                "eval_step": self.eval_step,
                "metrics": {"elapsed": self.elapsed, "tokens_seen": self.tokens_seen, **self.last}}

    def load_state_dict(self, state: dict[str, Any], source: str = "checkpoint") -> None:
        """Continue from `state` (load the model's weights separately); `source` names it in errors."""
        ranks = state["ranks"]
        if len(ranks) != self.dist.world_size:
            raise BabyLlamaError(f"{source}: written by {len(ranks)} process(es); resume with the same number "
                                 f"(now {self.dist.world_size})")
        if state["optimizer"] is not None:  # None: loaded already (sharded checkpoints)
            self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.train_data.load_state_dict(ranks[self.dist.rank]["data"])
        set_rng_state(ranks[self.dist.rank]["rng"])
        self.step = int(state["step"])
        self.eval_step = state.get("eval_step")
        m = state.get("metrics", {})
        self.elapsed, self.tokens_seen = float(m.get("elapsed", 0.0)), int(m.get("tokens_seen", 0))
        self.last.update({k: m.get(k) for k in self.last})

    # ---- one optimizer step

    def train_step(self) -> dict[str, Any]:
        """grad_accum micro-batches, clipping and an optimizer step; returns the step's record."""
        tc, oc = self.cfg.train, self.cfg.optim
        t0 = time.perf_counter()
        lr = lr_at(self.step, lr=oc.lr, warmup_steps=oc.warmup_steps, max_steps=oc.max_steps,
                   min_lr=self.cfg.final_lr, schedule=oc.schedule)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        loss_sum = torch.zeros((), device=self.device)
        extra: dict[str, float] = {}
        step_tokens = 0
        for micro in range(tc.grad_accum):
            batch = to_device(self.train_data.next_batch(), self.device)
            sync = micro == tc.grad_accum - 1 or not self.dist.enabled
            with (contextlib.nullcontext() if sync else D.no_sync(self._ddp)):
                with self._amp:
                    loss, m = self.objective.loss(self._ddp, batch)
                self.scaler.scale(loss / tc.grad_accum).backward()
            loss_sum += loss.detach().float()
            for k, v in m.items():
                extra[k] = extra.get(k, 0.0) + float(v) / tc.grad_accum
            step_tokens += self.objective.num_tokens(batch) * self.dist.world_size
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), oc.grad_clip or float("inf"))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.tokens_seen += step_tokens
        self._window[0] += step_tokens
        self._window[1] += time.perf_counter() - t0
        self._tick()
        record: dict[str, Any] = {"step": self.step, "lr": lr}
        if self.step % tc.log_every == 0 or self.step == oc.max_steps:
            train_loss = float(D.all_reduce_mean(loss_sum / tc.grad_accum, self.dist))
            tps = self._window[0] / max(self._window[1], 1e-9)
            record.update(loss=train_loss, grad_norm=float(grad_norm), tokens_per_s=tps,
                          mfu=tps * self.flops_per_token / self.peak_flops if self.flops_per_token else None,
                          tokens=self.tokens_seen, **extra)
            self.last["loss"] = train_loss
            self._window = [0, 0.0]
        return record

    # ---- evaluation

    def evaluate(self, eval_data: EvalData | None = None) -> tuple[float | None, float | None]:
        """(validation loss, bits per byte) over eval_data (default: the run's), weighted by targets and
        summed over ranks; (None, None) without validation data. The objective's own metrics, weighted
        the same way, are left in self.val_metrics as val_<name>."""
        self.val_metrics = {}
        if eval_data is None:
            eval_data = self.eval_data  # already in lockstep under fsdp (__init__)
        elif self.cfg.train.parallel == "fsdp":  # a sharded forward is a collective: ranks stop together
            eval_data = F.lockstep(eval_data, self.dist, self.device)
        if eval_data is None:
            return None, None
        self.model.eval()
        total = torch.zeros(2, dtype=torch.float64, device=self.device)
        sums: dict[str, float] = {}
        with torch.no_grad():
            for batch in eval_data(self.dist.rank, self.dist.world_size):
                batch = to_device(batch, self.device)
                with self._amp:
                    loss, metrics = self.objective.loss(self._forward, batch)
                w = self.objective.num_targets(batch)
                total += torch.stack([loss.detach().double() * w, torch.tensor(float(w), device=self.device)])
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0.0) + float(v) * w
        self.model.train()
        if sums:
            total = torch.cat([total, torch.tensor(list(sums.values()), dtype=torch.float64, device=self.device)])
        total = D.all_reduce_sum(total, self.dist)
        if total[1] == 0:
            return None, None
        self.val_metrics = {f"val_{k}": v / float(total[1]) for k, v in zip(sums, total[2:].tolist())}
        val_loss = float(total[0] / total[1])
        bpb = val_loss / math.log(2) / self.bytes_per_token if self.bytes_per_token else None
        return val_loss, bpb

    def _evaluate_into(self, record: dict[str, Any]) -> None:
        val_loss, bpb = self.evaluate()
        self.eval_step = self.step
        if val_loss is None:
            return
        record["val_loss"] = self.last["val_loss"] = val_loss
        if bpb is not None:
            record["val_bpb"] = self.last["val_bpb"] = bpb
        record.update(self.val_metrics)
        self._call("on_eval", record)

    def _evaluate_alone(self) -> None:
        """A validation pass outside a step, logged as a record of its own."""
        record: dict[str, Any] = {"step": self.step}
        self._evaluate_into(record)
        if len(record) > 1:
            self._call("on_log", record)

    # ---- the loop

    def fit(self, callbacks: Sequence[Callback | Callable[[int, dict[str, Any]], None]] = ()) -> str:
        """Train to optim.max_steps or until a stop is asked; returns "finished" or "stopped".
        Plain functions among `callbacks` are called as fn(step, record) after each step."""
        self.callbacks = [c if isinstance(c, Callback) or not callable(c) else StepFunction(c) for c in callbacks]
        self._clock = (time.perf_counter(), self.elapsed)
        outcome = "failed"
        try:
            self._call("on_start")
            if self.step == 0 and self.cfg.train.eval_every > 0:
                self._evaluate_alone()
            outcome = self._steps()
            if outcome == "finished":
                self._tick()
                if self.eval_step != self.step:  # not measured at this step yet (a resumed run)
                    self._evaluate_alone()
                self._call("on_checkpoint")
        finally:
            self._tick()
            self._call("on_end", outcome)
        return outcome

    def _steps(self) -> str:
        tc = self.cfg.train
        while self.step < self.cfg.optim.max_steps:  # re-read: a time budget fixes it after the first steps
            max_steps = self.cfg.optim.max_steps
            record = self.train_step()
            if (tc.eval_every and self.step % tc.eval_every == 0) or self.step == max_steps:
                self._evaluate_into(record)
            if len(record) > 2:
                self._call("on_log", record)
            self._call("on_step", record)
            stop = D.any_rank(self.should_stop, self.dist, self.device)
            if stop or (tc.save_every and self.step % tc.save_every == 0 and self.step != max_steps):
                self._call("on_checkpoint")
            if stop:
                return "stopped"
        return "finished"

    def _tick(self) -> None:
        start, elapsed0 = self._clock
        self.elapsed = elapsed0 + time.perf_counter() - start

    def _call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(self, *args)


def fit(cfg: TrainConfig, model: nn.Module, objective: Objective, train_data: BatchSource,
        eval_data: EvalData | None = None, callbacks: Sequence[Any] = (),
        log: Callable[[str], None] = _warn_stderr) -> Trainer:
    """Train `model` in this process with only `callbacks`: no run folder, no files, no signal
    handling unless a callback brings it (finetuning uses this). Seeds with cfg.train.seed first."""
    seed_everything(cfg.train.seed)
    trainer = Trainer(cfg, model, objective, train_data, eval_data,
                      device=pick_device(cfg.train.device, "train.device"), log=log)
    trainer.fit(callbacks)
    return trainer
