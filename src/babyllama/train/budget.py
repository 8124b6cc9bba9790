"""A time budget for a run: `train.max_minutes`.

The learning-rate schedule needs its length up front, so the budget fixes `optim.max_steps` once, from
measurements: the loop times its first warmup steps (the first one, which allocates, is left out) and
one validation pass, and chooses the largest max_steps whose steps, evaluations (every `eval_every`
steps and at the end) and a reserve for the final checkpoint, model and samples fit in the minutes left.
The timed steps lie inside the warmup, where the learning rate does not depend on max_steps.

A machine's speed drifts (a shared or virtual CPU can slow by 20% for minutes), so the choice is
made again, from the steps timed since, when 20% and 60% of the chosen steps are done (REPLAN_AT):
the cosine then stretches or shrinks a little from that step on. Every choice goes to the run
folder's budget.json (`decisions`, the step each was made at); a resumed run takes the last recorded
max_steps and never times again, so its steps after the resume are those the recorded choices give.
(A run whose speed did not change re-chooses the same number: it is then the run a plain
`optim.max_steps = N` run would be.) The budget counts from the start of training (after the data
and model are set up, a few seconds).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable

from babyllama.checkpoint.run_dir import BUDGET_FILE
from babyllama.config import TrainConfig
from babyllama.train import distributed as D
from babyllama.train.trainer import Callback, Trainer
from babyllama.utils.io import BabyLlamaError, atomic_write_json, read_json

TIMED_STEPS = 10  # at most this many warmup steps are timed
RESERVE_S, RESERVE_SHARE = 5.0, 0.02  # kept free for the final checkpoint, model and samples
REPLAN_AT = (0.2, 0.6)  # shares of the chosen steps at which the choice is made again
MIN_REPLAN_STEPS = 5  # ... from at least this many timed steps since the previous choice

clock: Callable[[], float] = time.perf_counter  # tests replace it with a fake clock


def plan_steps(budget_s: float, elapsed_s: float, done: int, step_s: float, eval_s: float,
               eval_every: int) -> int:
    """The largest max_steps >= done such that the steps after `done`, the evaluations they bring
    (every eval_every steps, and one at the end) and the reserve fit in budget_s - elapsed_s."""
    left = budget_s - elapsed_s - max(RESERVE_S, RESERVE_SHARE * budget_s)
    step_s = max(step_s, 1e-6)  # a step always costs something: the searches below end

    def cost(total: int) -> float:
        evals = (total // eval_every - done // eval_every) if eval_every else 0
        final = 0 if eval_every and total % eval_every == 0 and total > done else 1
        return (total - done) * step_s + (evals + final) * eval_s

    per_step = step_s + (eval_s / eval_every if eval_every else 0.0)
    total = done + max(0, math.floor((left - eval_s) / per_step))  # close to the answer; the loops settle it
    while cost(total + 1) <= left:  # cost grows with total: settle on the last one that fits
        total += 1
    while total > done and cost(total) > left:
        total -= 1
    return total


class TimeBudget(Callback):
    """Times the first warmup steps, then sets trainer.cfg.optim.max_steps for the budget and writes
    the choice to `record` (budget.json; None: not written). Callbacks listed before it see each step
    (and its clock) first."""

    def __init__(self, minutes: float, record: Path | None, log: Callable[..., None] = print) -> None:
        self.budget_s, self.record, self.log = minutes * 60.0, record, log
        self.t0 = 0.0
        self.prev: float | None = None  # clock at the end of the previous step
        self.timed, self.count = 0.0, 0  # seconds and number of timed steps since the last choice
        self.raw, self.raw_count = 0.0, 0  # the same with the steps that held a validation pass
        self.evaluated = False  # a validation pass ran inside the current step (not timed)
        self.eval_s: float | None = None
        self.decisions: list[dict[str, Any]] = []
        self.next_choice = 0  # the step of the next choice (0: at the end of the timed warmup steps)

    def on_start(self, trainer: Trainer) -> None:
        self.t0 = clock()
        self.first = trainer.step  # 0, or the step a run stopped during its timing resumes from
        self.last_timed = self.first + min(TIMED_STEPS, trainer.cfg.optim.warmup_steps - self.first)
        if self.last_timed - self.first < 2:
            raise BabyLlamaError(f"train.max_minutes times warmup steps: it needs optim.warmup_steps >= "
                                 f"{self.first + 2} (now {trainer.cfg.optim.warmup_steps}); raise it, or set "
                                 f"train.max_minutes = 0 and optim.max_steps")

    def on_eval(self, trainer: Trainer, record: dict[str, Any]) -> None:
        if record["step"] == self.first and self.eval_s is None:  # the validation before the first step
            self.eval_s = clock() - self.t0
        self.evaluated = True

    def on_step(self, trainer: Trainer, record: dict[str, Any]) -> None:
        if self.next_choice is None:
            return
        now = clock()
        if self.prev is not None:  # the first step (allocations) is not timed
            self.raw, self.raw_count = self.raw + now - self.prev, self.raw_count + 1
            if not self.evaluated:
                self.timed, self.count = self.timed + now - self.prev, self.count + 1
        self.prev, self.evaluated = now, False
        if trainer.step < max(self.last_timed, self.next_choice):  # the first choice is made within the warmup
            return
        step_s = self.timed / self.count if self.count else self.raw / self.raw_count
        if self.eval_s is None:  # no validation before the first step: time one now (it changes nothing)
            t = clock()
            trainer.evaluate()
            self.eval_s = clock() - t if trainer.eval_data is not None else 0.0
        self.choose(trainer, step_s)
        self.timed = self.count = self.raw = self.raw_count = 0
        self.prev = clock()  # the choice itself (and a timing validation) is not a step

    def choose(self, trainer: Trainer, step_s: float) -> None:
        elapsed = clock() - self.t0
        tc = trainer.cfg.train
        steps = plan_steps(self.budget_s, elapsed, trainer.step, step_s, self.eval_s, tc.eval_every)
        steps = D.gather(steps, trainer.dist)[0]  # every rank follows rank 0's choice
        trainer.cfg.optim.max_steps = steps
        self.decisions.append({"step": trainer.step, "max_steps": steps, "step_seconds": step_s,
                               "elapsed": elapsed})
        later = [s for s in (math.ceil(share * steps) for share in REPLAN_AT)
                 if s >= trainer.step + MIN_REPLAN_STEPS and s < steps]
        self.next_choice = later[0] if later else None
        if trainer.is_main:
            if self.record is not None:
                atomic_write_json(self.record, {
                    "max_minutes": self.budget_s / 60.0, "max_steps": steps, "final": self.next_choice is None,
                    "eval_seconds": self.eval_s, "decisions": self.decisions,
                    "tokens_per_step": trainer.cfg.data.batch_size * tc.grad_accum * trainer.cfg.data.seq_len})
            what = "time budget" if len(self.decisions) == 1 else "time budget, chosen again"
            self.log(f"{what} {self.budget_s / 60:g} min at step {trainer.step}: {step_s:.3f} s/step, "
                     f"{self.eval_s:.1f} s/evaluation -> optim.max_steps = {steps}")


def budget_callbacks(cfg: TrainConfig, run_dir: Path | None, resumed: bool,
                     log: Callable[..., None] = print) -> list[Callback]:
    """[TimeBudget] for a run with train.max_minutes, else []. A resumed run whose budget.json holds
    the choice gets it as cfg.optim.max_steps (set here, before the loop starts) and no timing."""
    if not cfg.train.max_minutes:
        return []
    record = run_dir / BUDGET_FILE if run_dir is not None else None
    if resumed and record is not None and record.is_file():
        chosen = read_json(record)
        cfg.optim.max_steps = int(chosen["max_steps"])
        if not chosen.get("final", True):
            log(f"time budget: resumed before the choice was made again; keeping optim.max_steps = "
                f"{cfg.optim.max_steps} (from {record})")
        return []
    return [TimeBudget(cfg.train.max_minutes, record, log)]
