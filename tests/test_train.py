"""The training loop end to end on a tiny model: learning, exact resume, interrupts, files of a run."""
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from babyllama.checkpoint.model_dir import load_model_dir as load_model
from babyllama.config import TrainConfig, load_config
from babyllama.data.loader import iter_eval_batches
from babyllama.data.prepare import load_manifest, prepare
from babyllama.model import Llama, LlamaConfig
from babyllama.sample import sample_ids
from babyllama.train import LanguageModeling, train
from babyllama.checkpoint.run_dir import latest_checkpoint, list_checkpoints
from babyllama.utils.io import BabyLlamaError

REPO = Path(__file__).resolve().parents[1]


def corpus(n_docs: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    names, things = ["Tom", "Lily", "Sam", "Mia", "Ben"], ["ball", "cat", "kite", "cake", "tree", "boat"]
    docs = []
    for _ in range(n_docs):
        a, b, t = rng.choice(names), rng.choice(names), rng.choice(things)
        docs.append(f"Once upon a time, {a} had a {t}. {a} liked the {t} very much. "
                    f"One day {b} came to play. {b} saw the {t} and smiled. They were happy.")
    return docs


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    src = root / "docs.txt"
    src.write_text("\n<|endoftext|>\n".join(corpus(300)))
    prepare([src], root / "prepared", vocab_size=300, progress=False, val_fraction=0.1)
    return root / "prepared"


def tiny_cfg(data_dir, run_dir, *extra: str) -> TrainConfig:
    return load_config(None, [f"data.data_dir={data_dir}", f"train.run_dir={run_dir}", "model.dim=32",
                              "model.n_layers=2", "model.n_heads=4", "model.n_kv_heads=2", "model.multiple_of=16",
                              "data.seq_len=32", "data.batch_size=4", "optim.max_steps=8", "optim.warmup_steps=2",
                              "optim.lr=3e-3", "train.log_every=1", "train.eval_every=4", "train.eval_batches=4",
                              "train.save_every=0", "train.num_samples=1", "train.sample_tokens=8",
                              "train.device=cpu", *extra])


def records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def train_losses(run_dir) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in records(run_dir) if "loss" in r}


def test_learns_and_writes_the_run(data_dir, tmp_path):
    run = tmp_path / "run"
    cfg = tiny_cfg(data_dir, run, "optim.max_steps=40", "train.eval_every=20", "train.log_every=5")
    res = train(cfg, quiet=True)
    recs = records(run)
    vals = [r["val_loss"] for r in recs if "val_loss" in r]
    assert recs[0]["step"] == 0 and len(vals) == 3  # steps 0, 20, 40
    assert vals[-1] < vals[0] - 1.0, vals  # clearly learning (initial loss is about ln(300) = 5.7)
    assert abs(vals[0] - math.log(300)) < 0.5
    steps = [r["step"] for r in recs]
    assert steps == sorted(steps) and len(steps) == len(set(steps))
    logged = [r for r in recs if "loss" in r]
    assert [r["step"] for r in logged] == list(range(5, 41, 5))
    for r in logged:
        assert r["tokens_per_s"] > 0 and 0 < r["mfu"] < 1 and r["grad_norm"] > 0 and r["lr"] > 0
    assert res.step == 40 and res.tokens_seen == 40 * 4 * 32 and not res.interrupted
    # the model folder loads and reproduces the final validation loss, computed here independently
    model, tok = load_model(res.model_dir)
    assert tok is not None and tok.vocab_size == 300
    total, count = 0.0, 0
    with torch.no_grad():
        for x, y in iter_eval_batches(data_dir, "val", 4, 32, max_batches=4):
            logits = model(x).logits
            total += torch.nn.functional.cross_entropy(logits.reshape(-1, 300), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    assert res.val_loss == pytest.approx(total / count, rel=1e-5)
    val = load_manifest(data_dir)["splits"]["val"]
    assert res.val_bpb == pytest.approx(total / count / math.log(2) * val["tokens"] / val["bytes"], rel=1e-5)
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "final samples (step 40)" in (run / "samples.txt").read_text()
    assert load_config(run / "config.toml") == cfg
    assert latest_checkpoint(run).name == "step_000040"


def run_with_stop(cfg, stop_at: int, exc: type[BaseException] = KeyboardInterrupt):
    def cb(step, record):
        if step == stop_at:
            raise exc("stop")
    return train(cfg, quiet=True, callbacks=[cb])


def test_resume_is_bitwise_identical_with_dropout(data_dir, tmp_path):
    extra = ("model.dropout=0.2", "optim.max_steps=8")
    straight = train(tiny_cfg(data_dir, tmp_path / "a", *extra), quiet=True)
    first = run_with_stop(tiny_cfg(data_dir, tmp_path / "b", *extra), stop_at=4)
    assert first.interrupted and first.step == 4 and first.checkpoint.name == "step_000004"
    assert first.model_dir is None and not (tmp_path / "b" / "model").exists()
    resumed = train(tiny_cfg(data_dir, tmp_path / "b", *extra), resume=True, quiet=True)
    assert resumed.step == 8
    a, b = train_losses(tmp_path / "a"), train_losses(tmp_path / "b")
    assert list(a) == list(range(1, 9)) and a == b  # exact float equality, step by step
    wa = load_model(straight.model_dir, with_tokenizer=False)[0].state_dict()
    wb = load_model(resumed.model_dir, with_tokenizer=False)[0].state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # dropout really acts: without it the losses differ
    c = train(tiny_cfg(data_dir, tmp_path / "c", "optim.max_steps=8"), quiet=True)
    assert train_losses(tmp_path / "c") != a and c.step == 8


def test_crash_then_resume_truncates_metrics(data_dir, tmp_path):
    extra = ("train.save_every=3", "optim.max_steps=8")
    train(tiny_cfg(data_dir, tmp_path / "a", *extra), quiet=True)
    with pytest.raises(RuntimeError):
        run_with_stop(tiny_cfg(data_dir, tmp_path / "b", *extra), stop_at=5, exc=RuntimeError)
    assert max(train_losses(tmp_path / "b")) == 5 and latest_checkpoint(tmp_path / "b").name == "step_000003"
    train(tiny_cfg(data_dir, tmp_path / "b", *extra), resume=True, quiet=True)
    steps = [r["step"] for r in records(tmp_path / "b")]
    assert steps == sorted(steps) and len(steps) == len(set(steps))
    assert train_losses(tmp_path / "a") == train_losses(tmp_path / "b")


def test_keeps_last_k_checkpoints_and_state_is_weights_only(data_dir, tmp_path):
    run = tmp_path / "run"
    train(tiny_cfg(data_dir, run, "train.save_every=2", "train.keep_checkpoints=2"), quiet=True)
    assert [s for s, _ in list_checkpoints(run)] == [6, 8]
    assert (run / "checkpoints" / "latest").read_text().strip() == "step_000008"
    state = torch.load(run / "checkpoints" / "step_000008" / "state.pt", weights_only=True)
    assert state["step"] == 8 and len(state["ranks"]) == 1 and "exp_avg" in str(state["optimizer"]["state"][0].keys())
    # a checkpoint folder is a model folder too
    model, tok = load_model(run / "checkpoints" / "step_000006")
    assert tok is not None and isinstance(model, Llama)
    assert not list((run / "checkpoints").glob(".*"))  # no temporary leftovers


def test_refuses_to_mix_runs(data_dir, tmp_path):
    run = tmp_path / "run"
    train(tiny_cfg(data_dir, run, "optim.max_steps=2"), quiet=True)
    with pytest.raises(BabyLlamaError, match="holds this run already.*--resume"):
        train(tiny_cfg(data_dir, run, "optim.max_steps=2"), quiet=True)
    with pytest.raises(BabyLlamaError, match="holds a different run"):
        train(tiny_cfg(data_dir, run, "optim.max_steps=3"), quiet=True)
    # a start that fails (here: missing data) leaves the old run alone, even with overwrite
    with pytest.raises(BabyLlamaError, match="data folder not found"):
        train(tiny_cfg(tmp_path / "missing", run, "optim.max_steps=3"), quiet=True, overwrite=True)
    assert (run / "model" / "model.safetensors").is_file() and max(r["step"] for r in records(run)) == 2
    res = train(tiny_cfg(data_dir, run, "optim.max_steps=3"), quiet=True, overwrite=True)
    assert res.step == 3 and max(r["step"] for r in records(run)) == 3
    with pytest.raises(BabyLlamaError, match="no run to resume"):
        train(tiny_cfg(data_dir, tmp_path / "empty"), resume=True, quiet=True)


def test_init_from_continues_from_a_model_folder(data_dir, tmp_path):
    first = train(tiny_cfg(data_dir, tmp_path / "a", "optim.max_steps=6"), quiet=True)
    cont = tiny_cfg(data_dir, tmp_path / "b", "optim.max_steps=2", f"train.init_from={first.model_dir}",
                    "model.dim=64", "model.dropout=0.1")  # [model] is replaced by the folder's, except dropout
    res = train(cont, quiet=True)
    start = records(tmp_path / "b")[0]
    assert start["step"] == 0 and start["val_loss"] == pytest.approx(first.val_loss, rel=1e-6)
    model, _ = load_model(res.model_dir)
    assert model.config.dim == 32 and model.config.dropout == 0.1


def test_grad_accumulation_equals_bigger_batch(data_dir, tmp_path):
    # batch 4 x accum 2 reads the same 8 windows per step as batch 8 (consecutive loader positions)
    big = tiny_cfg(data_dir, tmp_path / "a", "data.batch_size=8", "optim.max_steps=4")
    acc = tiny_cfg(data_dir, tmp_path / "b", "data.batch_size=4", "train.grad_accum=2", "optim.max_steps=4")
    train(big, quiet=True)
    train(acc, quiet=True)
    a, b = train_losses(tmp_path / "a"), train_losses(tmp_path / "b")
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=2e-6)


def test_custom_objective_and_data_plug_in(data_dir, tmp_path):
    class MaskedLM(LanguageModeling):
        """Loss on the second half of each sequence only; reports the masked fraction."""

        def loss(self, model, batch):
            x, y = batch
            y = y.clone()
            y[:, : y.shape[1] // 2] = -100
            loss, _ = super().loss(model, (x, y))
            return loss, {"masked": 0.5}

    class Fixed:
        def __init__(self):
            self.i = 0

        def next_batch(self):
            g = torch.Generator().manual_seed(self.i)
            self.i += 1
            x = torch.randint(0, 300, (4, 33), generator=g)
            return x[:, :-1], x[:, 1:]

        def state_dict(self):
            return {"i": self.i}

        def load_state_dict(self, s):
            self.i = s["i"]

    run = tmp_path / "run"
    res = train(tiny_cfg(data_dir, run, "optim.max_steps=3"), objective=MaskedLM(), train_data=Fixed(), quiet=True)
    recs = records(run)
    assert [r["masked"] for r in recs if "loss" in r] == [0.5, 0.5, 0.5]
    assert res.val_loss is None  # no evaluation data given for a custom objective


def test_sample_with_cache_equals_full_recompute():
    torch.manual_seed(0)
    model = Llama(LlamaConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=40, max_seq_len=24,
                              multiple_of=8)).eval()
    prompt = [1, 5, 7, 9]
    got = sample_ids(model, prompt, 12, temperature=0.0, num_samples=2)
    seq = list(prompt)
    with torch.no_grad():
        for _ in range(12):
            seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))
    assert got == [seq[4:], seq[4:]]
    stop = seq[7]
    until = seq[4:][: seq[4:].index(stop)]
    assert sample_ids(model, prompt, 12, temperature=0.0, stop_ids=(stop,)) == [until]
    # sampling is reproducible with a seeded generator and stops at max_seq_len
    a = sample_ids(model, prompt, 100, top_k=5, generator=torch.Generator().manual_seed(1))
    b = sample_ids(model, prompt, 100, top_k=5, generator=torch.Generator().manual_seed(1))
    assert a == b and len(a[0]) == 24 - 4


def test_sample_cli_on_run_dir(data_dir, tmp_path, capsys):
    from babyllama.cli import main

    run = tmp_path / "run"
    train(tiny_cfg(data_dir, run, "optim.max_steps=2"), quiet=True)
    assert main(["sample", str(run), "--prompt", "Once upon", "--max-new-tokens", "5", "--seed", "3",
                 "--num-samples", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("Once upon") == 2 and "--- sample 2" in out
    assert main(["sample", str(tmp_path / "nothing")]) == 2


@pytest.mark.slow
def test_sigint_saves_a_checkpoint_and_resume_finishes(data_dir, tmp_path):
    run = tmp_path / "run"
    args = [f"data.data_dir={data_dir}", f"train.run_dir={run}", "model.dim=32", "model.n_layers=2",
            "model.n_heads=4", "data.seq_len=32", "data.batch_size=4", "optim.max_steps=100000",
            "optim.warmup_steps=2", "train.log_every=1", "train.eval_every=0", "train.num_samples=0",
            "train.device=cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "babyllama", "pretrain", "--quiet", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 40
        while time.time() < deadline:
            if (run / "metrics.jsonl").is_file() and len((run / "metrics.jsonl").read_text().splitlines()) >= 3:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    ckpt = latest_checkpoint(run)
    state = torch.load(ckpt / "state.pt", weights_only=True)
    assert state["step"] == max(train_losses(run)) >= 3
    done = subprocess.run([sys.executable, "-m", "babyllama", "pretrain", "--quiet", "--resume", str(run),
                           f"optim.max_steps={state['step'] + 2}"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert max(train_losses(run)) == state["step"] + 2 and (run / "model" / "config.json").is_file()
