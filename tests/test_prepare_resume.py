"""prepare in real subprocesses: killed with SIGKILL and resumed gives the same shards; peak memory does not
grow with the input (an input many times the stated bound)."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from babyllama.data.prepare import MEMORY_BATCHES, WORK_DIR, load_manifest
from babyllama.tokenizers import train_tokenizer

WORDS = ("once upon a time there was a little girl named Lily she liked to play in the park with her big red ball "
         "one day the sun was hot and the dog ran far away").split()


def write_corpus(path: Path, mb: float, seed: int = 0) -> Path:
    """One story per line, `mb` MB of them."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        n = 0
        while n < mb * 1e6:
            line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 200))) + ".\n"
            f.write(line)
            n += len(line)
    return path


@pytest.fixture(scope="module")
def tok_path(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tok")
    texts = [line for line in write_corpus(folder / "t.txt", 0.2).read_text().splitlines()]
    train_tokenizer(texts, 400, folder / "t.model", num_threads=1)
    return folder / "t.model"


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "babyllama", "prepare", *args]


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix == ".bin"}


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_same_shards(tmp_path, tok_path):
    src = write_corpus(tmp_path / "in.txt", 3.0, seed=1)
    common = ["--source", str(src), "--tokenizer", str(tok_path), "--shard-tokens", "40000", "--batch-kb", "64",
              "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cli(*common, "--out", str(tmp_path / "ref"), "--workers", "1"), check=True, env=env)
    out = tmp_path / "out"
    proc = subprocess.Popen(cli(*common, "--out", str(out), "--workers", "2"), env=env, start_new_session=True)
    work = out / WORK_DIR
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and len(list(work.glob("train_*.bin"))) < 3:
        time.sleep(0.05)
    assert proc.poll() is None, "prepare finished before it could be killed; make the input bigger"
    os.killpg(proc.pid, signal.SIGKILL)  # the pool's workers too
    proc.wait()
    state = json.loads((work / "state.json").read_text())
    assert state["position"]["index"] > 0 and not (out / "manifest.json").exists()
    done = subprocess.run(cli(*common, "--out", str(out), "--workers", "2"), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert shard_bytes(out) == shard_bytes(tmp_path / "ref")
    assert load_manifest(out)["splits"] == load_manifest(tmp_path / "ref")["splits"]
    assert not work.exists()


CHILD = textwrap.dedent("""
    import json, resource, sys
    from babyllama.data.prepare import prepare

    def hwm():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

    if __name__ == "__main__":
        src, out, tok, batch = sys.argv[1:5]
        prepare([src], out, tok, num_workers=2, batch_bytes=int(batch), shard_tokens=100_000, progress=False)
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # the pool's workers
        print(json.dumps({"main": hwm(), "workers": children}))
""")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak RSS from /proc")
def test_peak_memory_does_not_grow_with_the_input(tmp_path, tok_path):
    batch = 32 * 1024
    bound = MEMORY_BATCHES * batch  # the stated bound above a run on a tiny input: 2 MiB here
    small = write_corpus(tmp_path / "small.txt", 0.3, seed=2)
    big = write_corpus(tmp_path / "big.txt", 10 * bound / 1e6, seed=3)  # ten times the bound
    (tmp_path / "child.py").write_text(CHILD)
    peaks = {}
    for name, src in (("small", small), ("big", big)):
        res = subprocess.run([sys.executable, str(tmp_path / "child.py"), str(src), str(tmp_path / name),
                              str(tok_path), str(batch)], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert res.returncode == 0, res.stderr
        peaks[name] = json.loads(res.stdout.strip().splitlines()[-1])
    assert load_manifest(tmp_path / "big")["splits"]["train"]["bytes"] > 9 * bound
    for proc in ("main", "workers"):
        grew = peaks["big"][proc] - peaks["small"][proc]
        assert grew <= bound, f"{proc}: peak RSS grew by {grew / 2**20:.1f} MiB (bound {bound / 2**20:.1f} MiB)"
