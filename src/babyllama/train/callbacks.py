"""Callbacks that write no files: stopping on Ctrl-C / SIGTERM, the progress bar, console lines.
(The run folder's callbacks are in run_files.py; the Callback protocol is in trainer.py.)"""
from __future__ import annotations

import signal
import sys
import threading
from typing import Any, Callable

from babyllama.train.trainer import Callback, Trainer

Log = Callable[..., None]  # log(message, force=False)


def console_log(quiet: bool, is_main: bool) -> Log:
    """A log function: rank 0 prints through tqdm (so a progress bar stays intact); quiet keeps only
    warnings and forced notes, which go to stderr."""
    def log(msg: str, force: bool = False) -> None:
        if not is_main:
            return
        loud = force or msg.startswith("warning:")
        if loud or not quiet:
            from tqdm import tqdm

            tqdm.write(msg, file=sys.stderr if loud else sys.stdout)
    return log


class StopOnSignal(Callback):
    """The first SIGINT or SIGTERM asks the loop to stop after the current step (a checkpoint is
    saved then); a second SIGINT aborts at once. `signum` keeps the signal that stopped the run."""

    def __init__(self, announce: str | None = "stopping after this step and saving a checkpoint "
                                              "(Ctrl-C again to abort without saving)") -> None:
        self.announce = announce
        self.signum: int | None = None
        self._old: dict[int, Any] = {}
        self._trainer: Trainer | None = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = self.signum or signum
        if self._trainer is not None:
            self._trainer.should_stop = True
            if self.announce and self._trainer.is_main:
                print(f"\n{signal.Signals(signum).name}: {self.announce}", file=sys.stderr, flush=True)

    def on_start(self, trainer: Trainer) -> None:
        self._trainer = trainer
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handler)

    def on_end(self, trainer: Trainer, outcome: str) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()


class ProgressBar(Callback):
    """A tqdm bar over the steps on rank 0, showing the last train loss and tokens/s."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def on_start(self, trainer: Trainer) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=trainer.cfg.optim.max_steps, initial=trainer.step, dynamic_ncols=True,
                        disable=not (self.enabled and trainer.is_main), unit="step", desc="train")

    def on_log(self, trainer: Trainer, record: dict[str, Any]) -> None:
        if "loss" in record:
            self.bar.set_postfix(loss=f"{record['loss']:.4f}", tok_s=f"{record['tokens_per_s']:,.0f}", refresh=False)

    def on_step(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self.bar.total = trainer.cfg.optim.max_steps  # a time budget fixes it after the first steps
        self.bar.update(1)

    def on_end(self, trainer: Trainer, outcome: str) -> None:
        if self.bar is not None:
            self.bar.close()


class ConsoleLog(Callback):
    """Prints each validation result."""

    def __init__(self, log: Log) -> None:
        self.log = log

    def on_eval(self, trainer: Trainer, record: dict[str, Any]) -> None:
        bpb = record.get("val_bpb")
        self.log(f"step {record['step']}: val loss {record['val_loss']:.4f}"
                 + (f", {bpb:.4f} bits/byte" if bpb is not None else ""))
