"""`babyllama sweep`: grid checks with the overrides' own messages, restart skips finished runs, a
folder holding another sweep is refused, summaries against numpy, sizing steps, one process per
device, and TensorBoard event files."""
import csv
import json
import shutil

import numpy as np
import pytest
from helpers import tiny_stories_data

from babyllama.config import load_config
from babyllama.model import Llama
from babyllama.report.records import read_record
from babyllama.train import train
from babyllama.train.sweep import parse_grid, plan_runs, run_sweep, split_values
from babyllama.utils.io import BabyLlamaError


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tiny_stories_data(tmp_path_factory.mktemp("data"), seed=1)


@pytest.fixture
def recipe(data_dir, tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(f"""
[model]
dim = 16
n_layers = 1
n_heads = 2
multiple_of = 16
[data]
data_dir = "{data_dir}"
seq_len = 16
batch_size = 4
[optim]
max_steps = 4
warmup_steps = 1
[train]
eval_every = 0
eval_batches = 2
log_every = 2
save_every = 0
num_samples = 0
device = "cpu"
""")
    return str(path)


def message(fn) -> str:
    with pytest.raises(BabyLlamaError) as e:
        fn()
    return str(e.value)


def test_grid_values_are_checked_like_overrides(recipe):
    for good, bad in (("", "optim.lrr=1e-3"), ("1e-3,", "optim.lr=fast"), ("32,", "model.dim=-4"),
                      ("cosine,", "optim.schedule=wavy")):
        key, value = bad.split("=")
        assert message(lambda: parse_grid([f"{key}={good}{value}"], recipe)) == \
            message(lambda: load_config(recipe, [bad]))
    assert "sets train.seed itself" in message(lambda: parse_grid(["train.seed=1,2"], recipe))
    assert "appears twice" in message(lambda: parse_grid(["optim.lr=1e-3", "lr=2e-3"], recipe))
    assert "expected section.key=" in message(lambda: parse_grid(["optim.lr"], recipe))
    assert parse_grid(["lr=1e-3,2e-3", "optim.betas=[0.9,0.95],[0.8,0.9]"], recipe) == \
        {"optim.lr": ["1e-3", "2e-3"], "optim.betas": ["[0.9,0.95]", "[0.8,0.9]"]}
    assert split_values("a, [b,c] ,d") == ["a", "[b,c]", "d"]


def test_restart_skips_finished_runs_and_refuses_another_grid(recipe, tmp_path):
    out = tmp_path / "sweep"
    lines: list[str] = []
    run_sweep(recipe, ["optim.lr=1e-3,3e-3"], seeds=2, out=out, log=lines.append)
    runs = sorted(out.glob("*/seed_*"))
    assert len(runs) == 4 and all(read_record(r)["status"] == "finished" for r in runs)
    assert sorted(read_record(r)["config"]["train"]["seed"] for r in runs) == [1337, 1337, 1338, 1338]
    before = {r: (r / "record.json").read_bytes() for r in runs}
    # one run lost its end (killed): restart redoes it alone
    shutil.rmtree(runs[0])
    lines.clear()
    run_sweep(recipe, ["optim.lr=1e-3,3e-3"], seeds=2, out=out, log=lines.append)
    assert "3 finished already, 1 to run" in lines[0]
    assert sum(line.startswith("[") for line in lines) == 1
    for r in runs[1:]:
        assert (r / "record.json").read_bytes() == before[r]  # untouched
    assert read_record(runs[0])["status"] == "finished"
    # the summary equals numpy over the records
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        losses = [read_record(r)["final"]["val_loss"] for r in out.glob(f"optim.lr={row['optim.lr']}/seed_*")]
        assert float(row["final.val_loss.mean"]) == pytest.approx(np.mean(losses), rel=1e-12)
        assert float(row["final.val_loss.std"]) == pytest.approx(np.std(losses, ddof=1), rel=1e-12)
        assert int(row["final.val_loss.n"]) == 2
    plan = (out / "sweep.json").read_bytes()
    for grid, seeds in ((["optim.lr=1e-3,1e-2"], 2), (["optim.lr=1e-3,3e-3"], 3)):
        assert "holds a different sweep" in message(lambda: run_sweep(recipe, grid, seeds=seeds, out=out))
    assert (out / "sweep.json").read_bytes() == plan
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert "not a sweep folder" in message(lambda: run_sweep(recipe, ["optim.lr=1e-3"], out=tmp_path / "other"))


def test_flops_budgets_set_the_steps(recipe, tmp_path, data_dir):
    runs = plan_runs(recipe, {"model.dim": ["16", "32"]}, [0], tmp_path, flops=["1e8", "4e8"])
    assert len(runs) == 4
    for r in runs:
        cfg = load_config(recipe, r.overrides)
        params = sum(p.numel() for p in Llama(cfg.model.to_llama(vocab_size=300, seq_len=16)).parameters())
        assert r.params == params
        want = round(float(r.settings["flops"]) / (6 * params) / (4 * 16))
        assert cfg.optim.max_steps == want and cfg.optim.warmup_steps <= want // 10


def test_one_process_per_device(recipe, tmp_path):
    out = tmp_path / "par"
    lines: list[str] = []
    run_sweep(recipe, ["optim.lr=1e-3,3e-3"], out=out, devices=["cpu", "cpu"], log=lines.append)
    runs = sorted(out.glob("*/seed_*"))
    assert len(runs) == 2 and all(read_record(r)["status"] == "finished" for r in runs)
    assert sum("exit 0" in line for line in lines) == 2
    assert sorted(read_record(r)["config"]["optim"]["lr"] for r in runs) == [1e-3, 3e-3]


def test_tensorboard_events_hold_the_logged_losses(recipe, tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard not installed (pip install 'babyllama[logging]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "tb"
    train(load_config(recipe, [f"train.run_dir={run}", "train.tensorboard=true"]), quiet=True)
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    got = {e.step: e.value for e in acc.Scalars("loss")}
    want = {r["step"]: r["loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            if "loss" in r}
    assert got.keys() == want.keys() and all(got[k] == pytest.approx(want[k], rel=1e-6) for k in want)
    assert not (tmp_path / "off").exists()
    train(load_config(recipe, [f"train.run_dir={tmp_path / 'off'}"]), quiet=True)
    assert not (tmp_path / "off" / "tensorboard").exists()  # off by default
