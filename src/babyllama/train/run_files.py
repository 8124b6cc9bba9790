"""The callbacks that write a run folder (its layout is checkpoint/run_dir.py's): config.toml,
metrics.jsonl, checkpoints, model/, loss.png and samples.txt. Only rank 0 writes."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from babyllama.checkpoint.model_dir import save_model
from babyllama.checkpoint.run_dir import (CONFIG_FILE, LOSS_PLOT, METRICS_FILE, MODEL_DIR, SAMPLES_FILE,
                                          checkpoint_dir, remove_stale_temporaries, save_checkpoint)
from babyllama.config import config_hash, save_config
from babyllama.model import Llama
from babyllama.report.plots import plot_loss, read_metrics
from babyllama.report.records import (code_version, hardware, manifest_summary, metric_summary, now, read_samples,
                                      write_record)
from babyllama.train import distributed as D
from babyllama.train.trainer import Callback, Trainer
from babyllama.utils.io import atomic_write_text


class RunFolder(Callback):
    """When training starts: clear what interrupted writes left, remove the files of the run being
    replaced (`replace`: only now, so a start that fails leaves them alone), write config.toml."""

    def __init__(self, run_dir: Path, replace: list[Path]) -> None:
        self.run_dir, self.replace = run_dir, replace

    def on_start(self, trainer: Trainer) -> None:
        if trainer.is_main:
            remove_stale_temporaries(self.run_dir)
            for p in self.replace:
                shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(trainer.cfg, self.run_dir / CONFIG_FILE)
        D.barrier(trainer.dist)


class MetricsFile(Callback):
    """metrics.jsonl: each logged record plus "elapsed" on a line, flushed and fsynced. A resumed run
    keeps the lines up to its checkpoint's step (later ones are redone); unreadable lines are dropped
    with a warning."""

    def __init__(self, run_dir: Path, resumed: bool, warn: Callable[[str], None]) -> None:
        self.path, self.resumed, self.warn = run_dir / METRICS_FILE, resumed, warn
        self.f: Any = None

    def on_start(self, trainer: Trainer) -> None:
        if not trainer.is_main:
            return
        kept = read_metrics(self.path, self.warn) if self.resumed and self.path.is_file() else []
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept if r["step"] <= trainer.step))
        self.f = open(self.path, "a", encoding="utf-8")

    def on_log(self, trainer: Trainer, record: dict[str, Any]) -> None:
        if self.f is not None:
            self.f.write(json.dumps({**record, "elapsed": trainer.elapsed}) + "\n")
            self.f.flush()
            os.fsync(self.f.fileno())

    def on_end(self, trainer: Trainer, outcome: str) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


class Checkpoints(Callback):
    """checkpoints/step_N when one is due (keeping the newest train.keep_checkpoints). The state a run
    resumed from is not written again; `last` is the newest checkpoint of the run."""

    def __init__(self, run_dir: Path, tokenizer: Any, resumed_from: Path | None) -> None:
        self.run_dir, self.tokenizer, self.last = run_dir, tokenizer, resumed_from
        self.saved_step: int | None = None

    def on_start(self, trainer: Trainer) -> None:
        self.saved_step = trainer.step if self.last is not None else None

    def on_checkpoint(self, trainer: Trainer) -> None:
        if trainer.step == self.saved_step:
            return
        state = trainer.state_dict()  # every rank: it gathers the data cursors and RNG states
        if trainer.is_main:
            state.update(config_hash=config_hash(trainer.cfg), config=trainer.cfg.to_dict())
            self.last = save_checkpoint(self.run_dir, trainer.step, trainer.model, state, self.tokenizer,
                                        keep=trainer.cfg.train.keep_checkpoints)
        else:
            self.last = checkpoint_dir(self.run_dir, trainer.step)
        self.saved_step = trainer.step
        D.barrier(trainer.dist)


class FinalModel(Callback):
    """run_dir/model/ when the run finishes (a Llama only), its config.json noting the training."""

    def __init__(self, run_dir: Path, tokenizer: Any) -> None:
        self.run_dir, self.tokenizer = run_dir, tokenizer
        self.model_dir: Path | None = None

    def on_end(self, trainer: Trainer, outcome: str) -> None:
        if outcome != "finished" or not trainer.is_main or not isinstance(trainer.model, Llama):
            return
        trained = {"steps": trainer.step, "tokens": trainer.tokens_seen, "val_loss": trainer.last["val_loss"],
                   "val_bpb": trainer.last["val_bpb"], "data_dir": trainer.cfg.data.data_dir}
        self.model_dir = save_model(trainer.model, self.run_dir / MODEL_DIR, self.tokenizer,
                                    extra={"trained": trained})


class LossPlot(Callback):
    """loss.png from metrics.jsonl when the run finishes or stops."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def on_end(self, trainer: Trainer, outcome: str) -> None:
        if outcome != "failed" and trainer.is_main:
            plot_loss(self.run_dir / METRICS_FILE, self.run_dir / LOSS_PLOT, title=f"{self.run_dir.name}: loss")


class Samples(Callback):
    """Samples from the model every train.sample_every steps and at the end, printed and appended to
    samples.txt (a Llama with a tokenizer only). A run resumed after it finished adds none."""

    def __init__(self, run_dir: Path, tokenizer: Any, log: Callable[[str], None]) -> None:
        self.path, self.tokenizer, self.log = run_dir / SAMPLES_FILE, tokenizer, log

    def on_step(self, trainer: Trainer, record: dict[str, Any]) -> None:
        every = trainer.cfg.train.sample_every
        if every and trainer.step % every == 0 and trainer.step != trainer.cfg.optim.max_steps:
            self.write(trainer, "samples")

    def on_end(self, trainer: Trainer, outcome: str) -> None:
        if outcome == "finished":
            self.write(trainer, "final samples")

    def write(self, trainer: Trainer, label: str) -> None:
        tc = trainer.cfg.train
        if not trainer.is_main or self.tokenizer is None or tc.num_samples == 0 or not isinstance(trainer.model, Llama):
            return
        header = f"=== {label} (step {trainer.step}) ===\n"
        if self.path.is_file() and header in self.path.read_text(encoding="utf-8", errors="replace"):
            return
        from babyllama.decode import sample_text

        texts = sample_text(trainer.model, self.tokenizer, tc.sample_prompt, tc.sample_tokens,
                            temperature=tc.sample_temperature, top_k=tc.sample_top_k, num_samples=tc.num_samples,
                            seed=tc.seed + trainer.step)
        block = header + "".join(f"--- sample {i + 1}\n{t}\n" for i, t in enumerate(texts))
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(block)
        self.log(block.rstrip())


class RunRecord(Callback):
    """record.json (report/records.py): config, code version, data manifest summary, hardware and
    model size when training starts (status "running"); progress, final and best metrics and the
    final samples when it ends (status "finished", "stopped" or "failed"). Register it last, so the
    samples and metrics of the end are written before it reads them."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.base: dict[str, Any] | None = None

    def on_start(self, trainer: Trainer) -> None:
        if not trainer.is_main:
            return
        cfg = trainer.cfg
        data = None
        if cfg.data.data_dir:
            from babyllama.data.prepare import load_manifest

            data = manifest_summary(load_manifest(cfg.data.data_dir), cfg.data.data_dir)
        from babyllama.train.objectives import LanguageModeling

        task = "pretrain" if isinstance(trainer.objective, LanguageModeling) else type(trainer.objective).__name__
        self.base = {"task": task, "started": now(), "babyllama": code_version(), "config": cfg.to_dict(),
                     "config_hash": config_hash(cfg), "data": data,
                     "hardware": hardware(trainer.device, trainer.precision, trainer.dist.world_size),
                     "model": {"params": sum(p.numel() for p in trainer.model.parameters()),
                               "flops_per_token": trainer.flops_per_token}}
        write_record(self.run_dir, {**self.base, "status": "running"})

    def on_end(self, trainer: Trainer, outcome: str) -> None:
        if not trainer.is_main or self.base is None:
            return
        metrics = read_metrics(self.run_dir / METRICS_FILE) if (self.run_dir / METRICS_FILE).is_file() else []
        final, best = metric_summary(metrics)
        final.update(step=trainer.step, train_loss=trainer.last["loss"], val_loss=trainer.last["val_loss"],
                     val_bpb=trainer.last["val_bpb"])
        speeds = sorted(r["tokens_per_s"] for r in metrics if r.get("tokens_per_s"))
        progress = {"step": trainer.step, "tokens": trainer.tokens_seen, "wall_time_s": trainer.elapsed,
                    "tokens_per_s": trainer.tokens_seen / trainer.elapsed if trainer.elapsed else None,
                    "train_tokens_per_s_median": speeds[len(speeds) // 2] if speeds else None}
        write_record(self.run_dir, {**self.base, "status": outcome, "ended": now(), "progress": progress,
                                    "final": final, "best": best,
                                    "samples": read_samples(self.run_dir / SAMPLES_FILE)})
