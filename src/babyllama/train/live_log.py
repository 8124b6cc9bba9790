"""Optional live logging of a run: TensorBoard event files (train.tensorboard = true, written to
run_dir/tensorboard; view with `tensorboard --logdir runs`) and Weights & Biases (train.wandb = true).
Both are off by default; reports never need them (they read record.json and metrics.jsonl)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from babyllama.checkpoint.run_dir import TENSORBOARD_DIR
from babyllama.train.trainer import Callback, Trainer
from babyllama.utils.optional import require


class LiveLog(Callback):
    """Every number of every logged record (loss, val_loss, lr, tokens_per_s, ...) at its step."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.tb: Any = None
        self.wandb: Any = None

    def on_start(self, trainer: Trainer) -> None:
        tc = trainer.cfg.train
        if not trainer.is_main or not (tc.tensorboard or tc.wandb):
            return
        if tc.tensorboard:
            require("tensorboard", "for train.tensorboard = true")
            from torch.utils.tensorboard import SummaryWriter

            # purge_step: a resumed run drops the events after its checkpoint, as metrics.jsonl does
            self.tb = SummaryWriter(str(self.run_dir / TENSORBOARD_DIR), purge_step=trainer.step or None)
        if tc.wandb:
            wandb = require("wandb", "for train.wandb = true")
            self.wandb = wandb.init(project=tc.wandb_project, name=self.run_dir.name, dir=str(self.run_dir),
                                    config=trainer.cfg.to_dict(), resume="allow")

    def on_log(self, trainer: Trainer, record: dict[str, Any]) -> None:
        numbers = {k: float(v) for k, v in record.items()
                   if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}
        if self.tb is not None:
            for k, v in numbers.items():
                self.tb.add_scalar(k, v, record["step"])
            self.tb.flush()
        if self.wandb is not None:
            self.wandb.log(numbers, step=record["step"])

    def on_end(self, trainer: Trainer, outcome: str) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None
        if self.wandb is not None:
            self.wandb.finish(exit_code=0 if outcome == "finished" else 1)
            self.wandb = None
