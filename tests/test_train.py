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
from babyllama.decode import generate
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
    got = [r.tokens for r in generate(model, None, [prompt, prompt], max_new_tokens=12)]
    seq = list(prompt)
    with torch.no_grad():
        for _ in range(12):
            seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))
    assert got == [seq[4:], seq[4:]]
    stop = seq[7]
    until = seq[4:][: seq[4:].index(stop)]
    assert [r.tokens for r in generate(model, None, [prompt], max_new_tokens=12, stop_token_ids=(stop,))] == [until]
    # sampling is reproducible with a seeded generator and stops at max_seq_len
    a = [r.tokens for r in generate(model, None, [prompt], max_new_tokens=100, temperature=0.8, top_k=5, seed=1)]
    b = [r.tokens for r in generate(model, None, [prompt], max_new_tokens=100, temperature=0.8, top_k=5, seed=1)]
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
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_a_checkpoint_and_resume_finishes(data_dir, tmp_path, signum, code):
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
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert f"{signal.Signals(signum).name}: stopping after this step and saving a checkpoint" in err
    ckpt = latest_checkpoint(run)
    state = torch.load(ckpt / "state.pt", weights_only=True)
    assert state["step"] == max(train_losses(run)) >= 3
    done = subprocess.run([sys.executable, "-m", "babyllama", "pretrain", "--quiet", "--resume", str(run),
                           f"optim.max_steps={state['step'] + 2}"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert max(train_losses(run)) == state["step"] + 2 and (run / "model" / "config.json").is_file()


# ---------------------------------------------------------------- the loop's plug-ins and reliability

def test_callbacks_see_every_hook_in_order(data_dir, tmp_path):
    from babyllama.train import Callback

    class Recorder(Callback):
        def __init__(self):
            self.calls = []

        def on_start(self, trainer):
            self.calls.append(("start", trainer.step))

        def on_eval(self, trainer, record):
            self.calls.append(("eval", record["step"]))

        def on_log(self, trainer, record):
            self.calls.append(("log", record["step"]))

        def on_step(self, trainer, record):
            self.calls.append(("step", record["step"]))

        def on_checkpoint(self, trainer):
            self.calls.append(("checkpoint", trainer.step))

        def on_end(self, trainer, outcome):
            self.calls.append(("end", outcome))

    rec = Recorder()
    run = tmp_path / "run"
    train(tiny_cfg(data_dir, run, "optim.max_steps=4", "train.eval_every=2", "train.log_every=2",
                   "train.save_every=3", "train.num_samples=0"), quiet=True, callbacks=[rec])
    assert rec.calls == [("start", 0), ("eval", 0), ("log", 0), ("step", 1),
                         ("eval", 2), ("log", 2), ("step", 2), ("step", 3), ("checkpoint", 3),
                         ("eval", 4), ("log", 4), ("step", 4), ("checkpoint", 4), ("end", "finished")]
    assert [r["step"] for r in records(run)] == [0, 2, 4]
    assert [s for s, _ in list_checkpoints(run)] == [3, 4]


def test_resuming_a_finished_run_adds_nothing(data_dir, tmp_path):
    run = tmp_path / "run"
    cfg = tiny_cfg(data_dir, run, "optim.max_steps=6", "train.eval_every=3")
    first = train(cfg, quiet=True)
    metrics, samples = (run / "metrics.jsonl").read_bytes(), (run / "samples.txt").read_bytes()
    assert [r["step"] for r in records(run) if "val_loss" in r] == [0, 3, 6]
    again = train(cfg, resume=True, quiet=True)
    assert again.step == 6 and not again.interrupted and again.val_loss == first.val_loss
    assert (run / "metrics.jsonl").read_bytes() == metrics  # no second final validation line
    assert (run / "samples.txt").read_bytes() == samples
    assert [s for s, _ in list_checkpoints(run)] == [6]
    # killed after the final checkpoint but before model/ was written: resuming writes model/ only
    import shutil

    shutil.rmtree(run / "model")
    third = train(cfg, resume=True, quiet=True)
    assert third.model_dir == run / "model" and (run / "model" / "model.safetensors").is_file()
    assert (run / "metrics.jsonl").read_bytes() == metrics


def _leave_temporaries_like_a_kill(target: Path) -> None:
    """Run utils.io's atomic_dir and atomic_path in a child process killed inside the write."""
    code = ("import os, sys\nfrom babyllama.utils.io import atomic_dir, atomic_path\n"
            "if sys.argv[2] == 'dir':\n"
            "    with atomic_dir(sys.argv[1]) as t:\n        (t / 'state.pt').write_bytes(b'x'); os._exit(9)\n"
            "with atomic_path(sys.argv[1]) as t:\n    t.write_bytes(b'x'); os._exit(9)\n")
    kind = "dir" if target.name.startswith("step_") else "file"
    assert subprocess.run([sys.executable, "-c", code, str(target), kind]).returncode == 9


def test_temporaries_of_killed_writes_are_removed_on_resume(data_dir, tmp_path):
    run = tmp_path / "run"
    cfg = tiny_cfg(data_dir, run, "optim.max_steps=6")
    run_with_stop(cfg, stop_at=3)
    _leave_temporaries_like_a_kill(run / "checkpoints" / "step_000004")
    _leave_temporaries_like_a_kill(run / "checkpoints" / "latest")
    _leave_temporaries_like_a_kill(run / "metrics.jsonl")
    leftovers = sorted(p.name for p in [*run.glob(".*"), *(run / "checkpoints").glob(".*")])
    assert len(leftovers) == 3 and all(n.endswith(".tmp") for n in leftovers), leftovers
    res = train(cfg, resume=True, quiet=True)
    assert res.step == 6
    assert not list(run.glob(".*")) and not list((run / "checkpoints").glob(".*"))


def test_a_folder_moved_aside_by_a_killed_replace_is_put_back(tmp_path):
    from babyllama.checkpoint.run_dir import remove_stale_temporaries

    (tmp_path / ".model.4242.old").mkdir()  # atomic_dir moved model/ aside, then died before the swap
    (tmp_path / ".model.4242.old" / "config.json").write_text("{}")
    (tmp_path / ".model.x1y2z3.tmp").mkdir()  # ... leaving its unfinished replacement too
    (tmp_path / ".loss.png.q9w8e7.tmp").write_bytes(b"")
    (tmp_path / ".hidden").write_text("not ours")
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == [".loss.png.q9w8e7.tmp", ".model.x1y2z3.tmp"]
    assert (tmp_path / "model" / "config.json").is_file() and (tmp_path / ".hidden").is_file()


@pytest.mark.parametrize("damaged", ["state.pt", "model.safetensors"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(data_dir, tmp_path, capsys, damaged):
    extra = ("train.save_every=2", "optim.max_steps=8")
    train(tiny_cfg(data_dir, tmp_path / "a", *extra), quiet=True)
    cfg = tiny_cfg(data_dir, tmp_path / "b", *extra)
    run_with_stop(cfg, stop_at=6)
    assert [s for s, _ in list_checkpoints(tmp_path / "b")] == [4, 6]
    bad = tmp_path / "b" / "checkpoints" / "step_000006" / damaged
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # truncated, as by a full disk
    capsys.readouterr()
    res = train(cfg, resume=True, quiet=True)
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "step_000006" in warnings[0] and damaged in warnings[0], warnings
    assert "falling back to step_000004" in warnings[0]
    assert res.step == 8 and train_losses(tmp_path / "a") == train_losses(tmp_path / "b")


def test_every_checkpoint_damaged_is_a_clear_error(data_dir, tmp_path):
    cfg = tiny_cfg(data_dir, tmp_path / "run", "optim.max_steps=4")
    run_with_stop(cfg, stop_at=2)
    (latest_checkpoint(tmp_path / "run") / "state.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(BabyLlamaError, match="every checkpoint is damaged"):
        train(cfg, resume=True, quiet=True)


def test_a_first_launch_killed_before_its_first_checkpoint(data_dir, tmp_path, capsys):
    from babyllama.cli import main
    from babyllama.train import Callback

    class Crash(Callback):
        def on_log(self, trainer, record):  # the step-0 validation: config.toml is written, no checkpoint yet
            raise RuntimeError("killed")

    run = tmp_path / "run"
    cfg = tiny_cfg(data_dir, run, "optim.max_steps=3")
    with pytest.raises(RuntimeError, match="killed"):
        train(cfg, quiet=True, callbacks=[Crash()])
    assert (run / "config.toml").is_file() and not list_checkpoints(run)
    with pytest.raises(BabyLlamaError, match=f"no checkpoint yet in {run}; start it again with the same command"):
        train(cfg, resume=True, quiet=True)
    capsys.readouterr()
    assert main(["pretrain", "--quiet", "--resume", str(run)]) == 2
    assert f"no checkpoint yet in {run}; start it again with the same command" in capsys.readouterr().err
    # an empty folder (killed even earlier) says the same; a folder that is no run does not
    (tmp_path / "empty").mkdir()
    with pytest.raises(BabyLlamaError, match="no checkpoint yet"):
        train(tiny_cfg(data_dir, tmp_path / "empty"), resume=True, quiet=True)
    (tmp_path / "other" / "notes").mkdir(parents=True)
    with pytest.raises(BabyLlamaError, match="no run to resume"):
        train(tiny_cfg(data_dir, tmp_path / "other"), resume=True, quiet=True)
    # a different config is still refused; the same command starts the run again, without --overwrite
    with pytest.raises(BabyLlamaError, match="holds a different run"):
        train(tiny_cfg(data_dir, run, "optim.max_steps=4"), quiet=True)
    res = train(cfg, quiet=True)
    assert res.step == 3 and [r["step"] for r in records(run)] == [0, 1, 2, 3]


def test_sigterm_stops_after_saving_and_names_the_signal(data_dir, tmp_path):
    run = tmp_path / "run"

    def terminate(step, record):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # handled by the loop: stop after this step

    before = signal.getsignal(signal.SIGTERM)
    res = train(tiny_cfg(data_dir, run, "optim.max_steps=8"), quiet=True, callbacks=[terminate])
    assert res.interrupted and res.stop_signal == signal.SIGTERM and res.step == 3
    assert res.checkpoint == latest_checkpoint(run) and res.checkpoint.name == "step_000003"
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is restored


def test_a_non_utf8_line_in_metrics_is_skipped_with_a_warning(data_dir, tmp_path, capsys):
    run = tmp_path / "run"
    cfg = tiny_cfg(data_dir, run, "optim.max_steps=6")
    run_with_stop(cfg, stop_at=4)
    lines = (run / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    assert json.loads(lines[1])["step"] == 1
    lines[1] = lines[1].replace(b'"lr"', b'"l\xff"')
    (run / "metrics.jsonl").write_bytes(b"".join(lines))
    capsys.readouterr()
    res = train(cfg, resume=True, quiet=True)
    err = capsys.readouterr().err
    assert res.step == 6
    assert f"warning: {run / 'metrics.jsonl'}:2: not valid UTF-8; line skipped" in err
    (run / "metrics.jsonl").read_bytes().decode("utf-8")  # the rewritten file is clean
    assert [r["step"] for r in records(run)] == [0, 2, 3, 4, 5, 6]
