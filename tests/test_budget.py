"""train.max_minutes: max_steps fixed from the first steps' timing (a fake clock, no real timing)."""
import json
import math

import pytest
import torch

from babyllama.checkpoint.model_dir import load_model_dir
from babyllama.config import load_config
from babyllama.train import budget, train
from babyllama.train.trainer import Callback
from babyllama.utils.io import BabyLlamaError
from helpers import tiny_stories_data


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tiny_stories_data(tmp_path_factory.mktemp("data"))


def cfg_for(data_dir, run_dir, *extra):
    return load_config(None, [f"data.data_dir={data_dir}", f"train.run_dir={run_dir}", "model.dim=32",
                              "model.n_layers=2", "model.n_heads=4", "model.dropout=0.1", "data.seq_len=32",
                              "data.batch_size=4", "optim.max_steps=1000", "optim.warmup_steps=6",
                              "train.log_every=1", "train.eval_every=0", "train.eval_batches=2",
                              "train.num_samples=0", "train.device=cpu", *extra])


class FakeTime(Callback):
    """A clock that moves only when told: `step_s` per training step, `eval_s` per validation pass."""

    def __init__(self, step_s: float, eval_s: float, stop_at: int | None = None) -> None:
        self.now, self.step_s, self.eval_s, self.stop_at = 0.0, step_s, eval_s, stop_at

    def __call__(self) -> float:
        return self.now

    def on_eval(self, trainer, record) -> None:
        self.now += self.eval_s

    def on_step(self, trainer, record) -> None:
        self.now += self.step_s
        if trainer.step == self.stop_at:
            trainer.should_stop = True


def fitting_steps(budget_s, elapsed, done, step_s, eval_s, eval_every):
    """Brute force: walk the steps one by one and keep the last total whose run still fits."""
    reserve = max(budget.RESERVE_S, budget.RESERVE_SHARE * budget_s)
    best, t = done, elapsed
    for total in range(done + 1, done + 100_000):
        t += step_s + (eval_s if eval_every and total % eval_every == 0 else 0.0)
        final = 0.0 if eval_every and total % eval_every == 0 else eval_s
        if t + final + reserve > budget_s:
            return best
        best = total
    raise AssertionError("budget too large for the brute force")


@pytest.mark.parametrize("args", [(600, 20, 6, 1.5, 4.0, 0), (600, 20, 6, 1.5, 4.0, 50), (60, 15, 6, 2.0, 3.0, 4),
                                  (30, 29, 6, 2.0, 3.0, 0), (600, 3, 9, 0.25, 11.0, 7)])
def test_plan_steps_is_the_largest_run_that_fits(args):
    assert budget.plan_steps(*args) == fitting_steps(*args)


def weights(model_dir):
    return load_model_dir(model_dir, with_tokenizer=False)[0].state_dict()


def test_budget_fixes_max_steps_and_equals_a_plain_run(data_dir, tmp_path, monkeypatch):
    clock = FakeTime(step_s=2.0, eval_s=3.0)
    monkeypatch.setattr(budget, "clock", clock)
    res = train(cfg_for(data_dir, tmp_path / "b", "train.max_minutes=1"), quiet=True, callbacks=[clock])
    # no validation before step 1 (eval_every = 0): steps 2..6 are timed (2 s each), then one validation
    # pass (the fake clock stands still in it); 60 s - 12 s - 5 s reserve -> 21 more steps
    rec = json.loads((tmp_path / "b" / "budget.json").read_text())
    assert rec["max_steps"] == fitting_steps(60, 12, 6, 2.0, 0.0, 0) == 27
    first = rec["decisions"][0]
    assert first["step_seconds"] == 2.0 and rec["eval_seconds"] == 0.0 and first["step"] == 6
    # the clock kept its pace, so the choice made again (at 60% of 27; 20% is too close to the first)
    # gave the same number
    assert [(d["step"], d["max_steps"]) for d in rec["decisions"]] == [(6, 27), (17, 27)] and rec["final"]
    assert res.step == 27 and not res.interrupted and res.val_loss is not None and res.model_dir.is_dir()
    # the same run with optim.max_steps = 27 and no budget: the same schedule, bit for bit
    plain = train(cfg_for(data_dir, tmp_path / "p", "optim.max_steps=27"), quiet=True)
    wb, wp = weights(res.model_dir), weights(plain.model_dir)
    assert all(torch.equal(wb[k], wp[k]) for k in wb)


def test_resume_uses_the_recorded_steps_without_timing_again(data_dir, tmp_path, monkeypatch):
    clock = FakeTime(step_s=2.0, eval_s=3.0, stop_at=10)
    monkeypatch.setattr(budget, "clock", clock)
    cfg = cfg_for(data_dir, tmp_path / "r", "train.max_minutes=1")
    first = train(cfg, quiet=True, callbacks=[clock])
    assert first.interrupted and first.step == 10
    slow = FakeTime(step_s=50.0, eval_s=50.0)  # a re-timing would choose far fewer steps
    monkeypatch.setattr(budget, "clock", slow)
    resumed = train(cfg_for(data_dir, tmp_path / "r", "train.max_minutes=1"), resume=True, quiet=True,
                    callbacks=[slow])
    assert resumed.step == 27 and json.loads((tmp_path / "r" / "budget.json").read_text())["max_steps"] == 27
    plain = train(cfg_for(data_dir, tmp_path / "p", "optim.max_steps=27"), quiet=True)
    wr, wp = weights(resumed.model_dir), weights(plain.model_dir)
    assert all(torch.equal(wr[k], wp[k]) for k in wr)


def test_budget_counts_the_evaluations_and_can_end_right_after_timing(data_dir, tmp_path, monkeypatch):
    clock = FakeTime(step_s=2.0, eval_s=3.0)
    monkeypatch.setattr(budget, "clock", clock)
    # eval_every = 4: the pass before step 1 is timed (3 s); the one at step 4 is left out of the step time
    res = train(cfg_for(data_dir, tmp_path / "e", "train.max_minutes=1", "train.eval_every=4"), quiet=True,
                callbacks=[clock])
    rec = json.loads((tmp_path / "e" / "budget.json").read_text())
    assert rec["decisions"][0]["step_seconds"] == 2.0 and rec["eval_seconds"] == 3.0
    assert res.step == rec["max_steps"] == fitting_steps(60, 3 + 6 * 2 + 3, 6, 2.0, 3.0, 4)
    # a budget already spent by the timing: the run ends at once, evaluated and saved
    clock = FakeTime(step_s=20.0, eval_s=3.0)
    monkeypatch.setattr(budget, "clock", clock)
    res = train(cfg_for(data_dir, tmp_path / "s", "train.max_minutes=1"), quiet=True, callbacks=[clock])
    assert res.step == 6 and res.val_loss is not None and res.model_dir.is_dir()


def test_budget_needs_warmup_steps_to_time(data_dir, tmp_path):
    with pytest.raises(BabyLlamaError, match="optim.warmup_steps >= 2"):
        train(cfg_for(data_dir, tmp_path / "w", "train.max_minutes=1", "optim.warmup_steps=1"), quiet=True)


class SlowingTime(FakeTime):
    """Steps take `step_s` up to step `at`, then `later_s`: a machine that slows down mid-run."""

    def __init__(self, step_s: float, later_s: float, at: int) -> None:
        super().__init__(step_s, eval_s=0.0)
        self.later_s, self.at = later_s, at

    def on_step(self, trainer, record) -> None:
        self.now += self.step_s if trainer.step <= self.at else self.later_s


def test_budget_chooses_again_when_the_machine_slows_down(data_dir, tmp_path, monkeypatch):
    clock = SlowingTime(step_s=0.5, later_s=1.0, at=8)
    monkeypatch.setattr(budget, "clock", clock)
    res = train(cfg_for(data_dir, tmp_path / "s", "train.max_minutes=1"), quiet=True, callbacks=[clock])
    rec = json.loads((tmp_path / "s" / "budget.json").read_text())
    first, second = rec["decisions"][0], rec["decisions"][1]
    # six warmup steps at 0.5 s, then the first choice; from step 9 on a step takes 1 s
    assert first["max_steps"] == fitting_steps(60, 3.0, 6, 0.5, 0.0, 0)
    at = math.ceil(0.2 * first["max_steps"])
    slow = at - 8  # steps 9..at
    assert second["step"] == at and second["step_seconds"] == pytest.approx((2 * 0.5 + slow * 1.0) / (2 + slow))
    assert second["max_steps"] < first["max_steps"]
    # the last choice times 1 s steps only, and the run ends within the budget minus the reserve
    assert rec["decisions"][-1]["step_seconds"] == 1.0 and rec["final"]
    assert res.step == rec["max_steps"] and clock.now <= 60 - budget.RESERVE_S
