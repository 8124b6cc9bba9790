"""FSDP2 on CPU (gloo, torchrun): two sharded processes train like one process, and the sharded
(torch.distributed.checkpoint) checkpoints resume on another number of processes."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from babyllama.checkpoint.run_dir import list_checkpoints
from babyllama.config import load_config
from babyllama.train import train
from babyllama.train.loop import resume_config
from babyllama.utils.io import BabyLlamaError
from test_distributed import data_dir, free_port, metrics, settings  # noqa: F401 (data_dir is a fixture)

# our AdamW, so the test also shows it steps DTensor parameters; grad_accum=2 exercises the
# sharded model's gradient-sync switch
FSDP = ["train.parallel=fsdp", "optim.name=babyllama_adamw"]


def torchrun(nproc: int, args: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--nnodes", "1",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", "babyllama", "pretrain",
           "--quiet", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    ranks = [line for line in done.stderr.splitlines() if line.startswith("[rank")]  # the ranks' tracebacks
    assert done.returncode == 0, "\n".join(ranks[-40:]) or done.stderr[-3000:]


def assert_same_losses(a: list[dict], b: list[dict], steps: list[int]) -> None:
    a = {r["step"]: r for r in a if r["step"] in steps}
    b = {r["step"]: r for r in b if r["step"] in steps}
    assert sorted(a) == sorted(b) == steps
    for step in steps:
        for key in ("loss", "val_loss", "tokens"):
            assert (key in a[step]) == (key in b[step]), (step, key)
            if key in a[step]:
                assert a[step][key] == pytest.approx(b[step][key], abs=1e-5, rel=0), (step, key)


def back_to_step_2(src: Path, dst: Path) -> Path:
    """A copy of a finished run as it was after its step-2 checkpoint (ours: steps 2 and 4 are kept)."""
    shutil.copytree(src, dst)
    shutil.rmtree(dst / "checkpoints" / "step_000004")
    shutil.rmtree(dst / "model")
    (dst / "checkpoints" / "latest").write_text("step_000002\n")
    assert [s for s, _ in list_checkpoints(dst)] == [2]
    return dst


@pytest.fixture(scope="module")
def runs(data_dir, tmp_path_factory):  # noqa: F811 (the imported fixture)
    """One process, uninterrupted; two sharded processes, uninterrupted (with final samples)."""
    root = tmp_path_factory.mktemp("fsdp")
    train(load_config(None, [*settings(data_dir, root / "one"), *FSDP]), quiet=True)
    torchrun(2, [*settings(data_dir, root / "two"), *FSDP, "train.num_samples=1", "train.sample_tokens=8"])
    return root


@pytest.mark.slow
def test_two_sharded_processes_match_one(runs):
    one, two = runs / "one", runs / "two"
    assert [r["step"] for r in metrics(two)] == [0, 1, 2, 3, 4]
    assert_same_losses(metrics(one), metrics(two), [0, 1, 2, 3, 4])
    # each rank wrote its own shard of the checkpoint; state.pt holds both ranks' cursors and RNG states
    dcp_files = sorted(p.name for p in (two / "checkpoints" / "step_000004" / "dcp").iterdir())
    assert dcp_files == [".metadata", "__0_0.distcp", "__1_0.distcp"]
    assert len(torch.load(two / "checkpoints" / "step_000004" / "state.pt", weights_only=True)["ranks"]) == 2
    # the final model gathered from the shards equals the one-process model
    a, b = load_file(one / "model" / "model.safetensors"), load_file(two / "model" / "model.safetensors")
    assert sorted(a) == sorted(b)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=0)
    assert "=== final samples (step 4) ===" in (two / "samples.txt").read_text()


@pytest.mark.slow
def test_saved_by_two_resumes_on_one(runs, tmp_path):
    run = back_to_step_2(runs / "two", tmp_path / "two_then_one")
    result = train(resume_config(run), resume=True, quiet=True)
    assert result.step == 4 and result.checkpoint == run / "checkpoints" / "step_000004"
    assert_same_losses(metrics(runs / "one"), metrics(run), [0, 1, 2, 3, 4])


@pytest.mark.slow
def test_saved_by_one_resumes_on_two(runs, tmp_path):
    run = back_to_step_2(runs / "one", tmp_path / "one_then_two")
    torchrun(2, ["--resume", str(run)])
    assert_same_losses(metrics(runs / "one"), metrics(run), [0, 1, 2, 3, 4])


@pytest.mark.slow
def test_killed_save_is_never_resumed(runs, tmp_path, monkeypatch):
    run = back_to_step_2(runs / "one", tmp_path / "killed")
    from babyllama.train import sharded_checkpoints

    def killed(*_a, **_k):  # the process dies after every shard and .metadata are written, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(sharded_checkpoints, "write_state", killed)
    with pytest.raises(KeyboardInterrupt):
        train(resume_config(run), resume=True, quiet=True)
    monkeypatch.undo()
    left = run / "checkpoints" / ".step_000004.dcp.tmp"
    assert (left / "dcp" / ".metadata").is_file()  # a complete-looking DCP folder under the temporary name
    assert [s for s, _ in list_checkpoints(run)] == [2]
    assert (run / "checkpoints" / "latest").read_text().strip() == "step_000002"
    result = train(resume_config(run), resume=True, quiet=True)
    assert result.step == 4 and not left.exists()
    assert_same_losses(metrics(runs / "one"), metrics(run), [0, 1, 2, 3, 4])


@pytest.mark.slow
def test_sharded_and_plain_checkpoints_are_not_mixed(runs, tmp_path):
    run = back_to_step_2(runs / "one", tmp_path / "as_ddp")
    with pytest.raises(BabyLlamaError, match=r"step_000002: a sharded checkpoint \(train.parallel = 'fsdp'\); "
                                             r"resume it with train.parallel=fsdp"):
        train(resume_config(run, ["train.parallel=ddp"]), resume=True, quiet=True)


def _lockstep_rank(rank: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    from babyllama.train import distributed as D
    from babyllama.train.fsdp import lockstep

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    info = D.DistInfo(rank=rank, world_size=2)
    batches = lockstep(lambda r, w: iter(range(5 if r == 0 else 3)), info, torch.device("cpu"))
    Path(out_dir, f"rank{rank}").write_text(" ".join(str(b) for b in batches(rank, 2)))
    dist.destroy_process_group()


def test_validation_ranks_stop_together(tmp_path):
    """A sharded forward is a collective: rank 0 (5 batches) stops with rank 1 (3 batches) instead of
    waiting forever in its 4th forward."""
    import torch.multiprocessing as mp

    mp.spawn(_lockstep_rank, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    assert (tmp_path / "rank0").read_text() == "0 1 2" and (tmp_path / "rank1").read_text() == "0 1 2"
