"""Multitask finetuning: mixture weights, the task sampler's proportions and state, and a tiny run that logs
each task's validation loss (checked against the loss computed directly on the final model)."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from babyllama.checkpoint.model_dir import load_model_dir
from babyllama.config import load_config
from babyllama.data.chat import IGNORE_INDEX
from babyllama.data.tasks import load_task, render_example
from babyllama.data.tasks.mixture import TaskBatches, mixture_weights, parse_weights
from babyllama.train.multitask import multitask
from babyllama.utils.io import BabyLlamaError
from helpers import tiny_base_model

REPO = Path(__file__).resolve().parents[1]


def test_mixture_weights_proportional_temperature_and_explicit():
    sizes = {"a": 100, "b": 400, "c": 25}
    assert mixture_weights(sizes) == pytest.approx({"a": 100 / 525, "b": 400 / 525, "c": 25 / 525})
    # T = 2: square roots, 10 : 20 : 5
    assert mixture_weights(sizes, temperature=2.0) == pytest.approx({"a": 10 / 35, "b": 20 / 35, "c": 5 / 35})
    even = mixture_weights(sizes, temperature=1e9)
    assert even == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, abs=1e-6)
    assert mixture_weights(sizes, {"a": 1, "b": 0, "c": 3}) == pytest.approx({"a": 0.25, "b": 0.0, "c": 0.75})
    with pytest.raises(BabyLlamaError, match="every task has weight 0"):
        mixture_weights(sizes, {"a": 0, "b": 0, "c": 0})
    with pytest.raises(BabyLlamaError, match="weight of b"):
        mixture_weights(sizes, {"a": 1, "b": -1, "c": 0})


def test_parse_weights_names_what_is_wrong():
    assert parse_weights("squad=2, sst=0.5", ["squad", "sst"]) == {"squad": 2.0, "sst": 0.5}
    assert parse_weights("", ["squad"]) is None
    with pytest.raises(BabyLlamaError, match="tasks.weights: .*missing: sst"):
        parse_weights("squad=2", ["squad", "sst"])
    with pytest.raises(BabyLlamaError, match="unknown: glue"):
        parse_weights("squad=2, sst=1, glue=1", ["squad", "sst"])
    with pytest.raises(BabyLlamaError, match="weight 'x' of sst is not a number"):
        parse_weights("squad=2, sst=x", ["squad", "sst"])
    with pytest.raises(BabyLlamaError, match="'squad' is not NAME=VALUE \\(e.g. squad=2, sst=1\\)"):
        parse_weights("squad", ["squad"])


def _batches(probs, batch=16, **kw):
    rows = {t: [(t, i) for i in range(n)] for t, n in (("a", 7), ("b", 50), ("c", 3))}
    return TaskBatches(rows, probs, batch, lambda r: list(r), **kw)


def test_sampler_proportions_match_the_weights():
    probs = mixture_weights({"a": 7, "b": 50, "c": 3}, temperature=2.0)
    tb = _batches(probs, seed=3)
    n_batches = 500
    counts = {"a": 0, "b": 0, "c": 0}
    for _ in range(n_batches):
        for task, _i in tb.next_batch():
            counts[task] += 1
    n = n_batches * 16
    for t, p in probs.items():
        # each draw is Bernoulli(p): the share's standard deviation is sqrt(p(1-p)/n); 4.5 sd is a
        # false alarm about once in 150,000 runs
        assert abs(counts[t] / n - p) < 4.5 * math.sqrt(p * (1 - p) / n), (t, counts[t] / n, p)
    assert dict(zip(tb.names, tb.drawn.tolist())) == counts


def test_each_task_cycles_through_its_examples():
    tb = _batches({"a": 0.0, "b": 0.0, "c": 1.0}, batch=4, seed=1)
    seen = [i for _ in range(6) for _t, i in tb.next_batch()]  # 24 draws of c's 3 examples: 8 epochs
    for k in range(0, 24, 3):
        assert sorted(seen[k:k + 3]) == [0, 1, 2]
    assert tb.names == ["c"]  # weight-0 tasks are not sampled at all


def test_sampler_resumes_and_splits_across_ranks():
    probs = {"a": 0.3, "b": 0.5, "c": 0.2}
    a = _batches(probs, seed=7)
    for _ in range(5):
        a.next_batch()
    state = json.loads(json.dumps(a.state_dict()))
    b = _batches(probs, seed=7)
    b.load_state_dict(state)
    assert [a.next_batch() for _ in range(4)] == [b.next_batch() for _ in range(4)]
    whole = _batches(probs, seed=7)
    ranks = [_batches(probs, seed=7, rank=r, world_size=2) for r in range(2)]
    for _ in range(4):
        assert whole.next_batch() == ranks[0].next_batch() + ranks[1].next_batch()
    with pytest.raises(BabyLlamaError, match="task weights changed"):
        _batches({"a": 0.5, "b": 0.3, "c": 0.2}, seed=7).load_state_dict(state)


# ---------------------------------------------------------------- a tiny run


def _write_tasks(root: Path) -> dict[str, Path]:
    words = "the cat sat on a mat and a dog ran to the park with a red ball".split()

    def text(n, s):
        return " ".join(words[(s + 5 * i) % len(words)] for i in range(n)) + "."
    data = []
    for a in range(10):
        before, ans = text(20 + a, a), f"Tom{a}"
        ctx = f"{before} {ans} had a ball."
        data.append({"title": f"T{a}", "paragraphs": [{"context": ctx, "qas": [
            {"id": f"q{a}", "question": "Who had a ball?",
             "answers": [{"text": ans, "answer_start": len(before) + 1}]}]}]})
    (root / "squad.json").write_text(json.dumps({"version": "1.1", "data": data}))
    sst = root / "sst"
    sst.mkdir()
    (sst / "toy-label-mapping.json").write_text(json.dumps(["bad", "good"]))
    for split, n in (("train", 12), ("dev", 4)):
        (sst / f"toy-{split}.txt").write_text("".join(f"{i % 2} ||| {text(6, i)}\n" for i in range(n)))
    return {"squad": root / "squad.json", "sst": sst}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("mt")
    tiny_base_model(root / "base", max_seq_len=256)
    return root, _write_tasks(root)


def _cfg(root, paths, run, *extra):
    return load_config(None, [f"train.init_from={root / 'base'}", f"train.run_dir={run}", "tasks.names=squad,sst",
                              f"tasks.paths=squad={paths['squad']},sst={paths['sst']}", "data.seq_len=127",
                              "data.batch_size=4", "optim.max_steps=6", "optim.warmup_steps=1", "optim.lr=3e-3",
                              "train.log_every=1", "train.eval_every=3", "train.save_every=3", "train.num_samples=0",
                              "train.device=cpu", *extra])


def test_multitask_run_logs_each_tasks_validation_loss(setup, tmp_path):
    root, paths = setup
    r = multitask(_cfg(root, paths, tmp_path / "run", "tasks.weights=squad=1,sst=3"), quiet=True)
    recs = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [x for x in recs if "val_loss" in x]
    assert [x["step"] for x in evals] == [0, 3, 6]
    for x in evals:
        assert {"val/squad/loss", "val/sst/loss"} <= set(x)
    # independent: the final model's mean cross-entropy over each task's dev answers, token-weighted
    model, tok = load_model_dir(r.model_dir)
    model.eval()
    pooled_total, pooled_count = 0.0, 0
    for task in ("squad", "sst"):
        total, count = 0.0, 0
        for ex in load_task(task, paths[task], split="dev"):
            ids, labels = render_example(ex, tok, 128)
            with torch.no_grad():
                logits = model(torch.tensor([ids[:-1]])).logits
            y = torch.tensor(labels[1:])
            total += F.cross_entropy(logits[0].float(), y, ignore_index=IGNORE_INDEX, reduction="sum").item()
            count += int((y != IGNORE_INDEX).sum())
        assert evals[-1][f"val/{task}/loss"] == pytest.approx(total / count, rel=1e-4)
        pooled_total, pooled_count = pooled_total + total, pooled_count + count
    # the pooled val_loss is the token-weighted mean of the two
    assert min(evals[-1]["val/squad/loss"], evals[-1]["val/sst/loss"]) <= evals[-1]["val_loss"] \
        <= max(evals[-1]["val/squad/loss"], evals[-1]["val/sst/loss"])
    assert evals[-1]["val_loss"] == pytest.approx(pooled_total / pooled_count, rel=1e-4)


def test_multitask_resume_gives_the_same_losses(setup, tmp_path):
    root, paths = setup
    multitask(_cfg(root, paths, tmp_path / "a", "optim.schedule=constant", "tasks.temperature=3"), quiet=True)
    multitask(_cfg(root, paths, tmp_path / "b", "optim.schedule=constant", "tasks.temperature=3",
                   "optim.max_steps=3"), quiet=True)
    multitask(_cfg(root, paths, tmp_path / "b", "optim.schedule=constant", "tasks.temperature=3"), resume=True,
              quiet=True)

    def losses(run):
        return [(x["step"], k, x[k]) for x in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
                for k in ("loss", "val/squad/loss", "val/sst/loss") if k in x and x["step"] > 3]
    a, b = losses(tmp_path / "a"), losses(tmp_path / "b")
    assert [x[:2] for x in a] == [x[:2] for x in b] and len(a) == 5
    assert [x[2] for x in a] == pytest.approx([x[2] for x in b], rel=1e-5)


def test_cli_errors_name_the_setting(setup, tmp_path):
    root, paths = setup
    base = [sys.executable, "-m", "babyllama", "multitask", "--base", str(root / "base"),
            f"train.run_dir={tmp_path / 'x'}", "train.device=cpu", f"tasks.paths=squad={paths['squad']}"]
    for extra, message in ((["--tasks", "squad,glue"], "tasks.names: unknown task 'glue'; choose from squad"),
                           (["--tasks", "squad", "--weights", "sst=1"], "tasks.weights: give one weight"),
                           (["--tasks", "sst"], "tasks.paths: squad is not in tasks.names")):
        out = subprocess.run(base + extra, capture_output=True, text=True, cwd=REPO)
        assert out.returncode == 2 and message in out.stderr, out.stderr
