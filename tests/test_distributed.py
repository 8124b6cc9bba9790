"""Two CPU processes (gloo, torchrun) train exactly like one process with the same global batch."""
import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from babyllama.config import load_config
from babyllama.data.prepare import prepare
from babyllama.train import train
from babyllama.utils.io import BabyLlamaError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = random.Random(0)
    words = "the cat dog sun ran sat big red little happy played jumped under over tree ball".split()
    docs = [" ".join(rng.choice(words) for _ in range(rng.randint(20, 60))) + "." for _ in range(300)]
    (root / "docs.txt").write_text("\n".join(docs))
    prepare([root / "docs.txt"], root / "prepared", vocab_size=290, progress=False, val_fraction=0.1)
    return root / "prepared"


def settings(data_dir, run_dir) -> list[str]:
    return [f"data.data_dir={data_dir}", f"train.run_dir={run_dir}", "model.dim=32", "model.n_layers=2",
            "model.n_heads=4", "model.n_kv_heads=2", "model.multiple_of=16", "data.seq_len=32",
            "data.batch_size=8", "train.grad_accum=2", "optim.max_steps=4", "optim.warmup_steps=1",
            "optim.lr=3e-3", "train.log_every=1", "train.eval_every=2", "train.eval_batches=3",
            "train.num_samples=0", "train.device=cpu", "train.save_every=2"]


@pytest.mark.slow
def test_two_processes_match_one(data_dir, tmp_path):
    one = tmp_path / "one"
    train(load_config(None, settings(data_dir, one)), quiet=True)
    two = tmp_path / "two"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--nnodes", "1",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           "-m", "babyllama", "pretrain", "--quiet", *settings(data_dir, two)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = metrics(one), metrics(two)
    assert [r["step"] for r in a] == [r["step"] for r in b] == [0, 1, 2, 3, 4]
    for ra, rb in zip(a, b):
        for key in ("loss", "val_loss", "val_bpb", "tokens"):
            assert (key in ra) == (key in rb)
            if key in ra:
                assert ra[key] == pytest.approx(rb[key], abs=1e-6, rel=0), (ra["step"], key)
    # only rank 0 wrote files; the checkpoint holds both ranks' data cursors and RNG states
    import torch

    state = torch.load(two / "checkpoints" / "step_000004" / "state.pt", weights_only=True)
    assert len(state["ranks"]) == 2
    assert (two / "model" / "model.safetensors").is_file() and (two / "loss.png").is_file()
    # resuming with a different number of processes is refused with a clear message
    cfg = load_config(two / "config.toml", ["optim.max_steps=5"])
    with pytest.raises(BabyLlamaError, match=r"step_000004: written by 2 process\(es\); resume with the same number "
                                             r"\(now 1\)"):
        train(cfg, resume=True, quiet=True)
