"""Checkpoints in torch.distributed.checkpoint's (DCP) sharded format, used with train.parallel = "fsdp".

    checkpoints/step_N/dcp/        DCP files: one per rank that wrote it, plus .metadata; the model's and
                                   the optimizer's state keyed by parameter name, whatever the sharding
    checkpoints/step_N/state.pt    step, counters, every rank's data cursor and RNG states (what
                                   Trainer.state_dict holds, less the optimizer)

Any number of processes reads what any number wrote: DCP reshards on load. Every rank writes its
shard into .step_N.dcp.tmp/; once all are done, rank 0 adds state.pt and renames the folder into
place, then points checkpoints/latest at it, so a killed save leaves only a temporary that resume
never picks (and RunFolder's remove_stale_temporaries clears). On several nodes run_dir must be on
storage that every node sees.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

from babyllama.checkpoint.run_dir import (DCP_DIR, checkpoint_dir, checkpoints_newest_first, load_checkpoint_state,
                                          mark_latest, write_state)
from babyllama.config import config_hash
from babyllama.train import distributed as D
from babyllama.train.fsdp import gather_model, is_sharded
from babyllama.train.rng import rng_state
from babyllama.train.run_files import Checkpoints
from babyllama.train.trainer import Trainer
from babyllama.utils.device import seed_everything
from babyllama.utils.io import BabyLlamaError


def _temporary(final: Path) -> Path:
    # named like babyllama.utils.io's temporaries, so remove_stale_temporaries clears a killed save's
    return final.with_name(f".{final.name}.dcp.tmp")


@contextlib.contextmanager
def _one_process_quietly() -> Iterator[None]:
    """DCP warns each time it runs without a process group; one process is a case we mean."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def save_sharded(trainer: Trainer, run_dir: Path, keep: int) -> Path:
    """Write checkpoints/step_N (see the module docstring) from every rank; a collective."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    final = checkpoint_dir(run_dir, trainer.step)
    tmp = _temporary(final)
    if trainer.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    D.barrier(trainer.dist)
    model_state, optim_state = get_state_dict(trainer.model, trainer.optimizer)
    with _one_process_quietly():
        dcp.save({"model": model_state, "optim": optim_state}, checkpoint_id=tmp / DCP_DIR)
    state = trainer.state_dict()  # a collective: it gathers every rank's data cursor and RNG states
    state.pop("optimizer")  # it is in dcp/, keyed by parameter name
    if trainer.is_main:
        state.update(config_hash=config_hash(trainer.cfg), config=trainer.cfg.to_dict(), sharded=True)
        write_state(tmp / "state.pt", state)
        if final.exists():  # a step saved again (a resumed run redoing it)
            shutil.rmtree(final)
        os.replace(tmp, final)
        mark_latest(run_dir, final, keep)
    D.barrier(trainer.dist)
    return final


def load_newest_sharded(trainer: Trainer, run_dir: Path, warn: Callable[[str], None]) -> tuple[Path, dict] | None:
    """Load the newest sharded checkpoint's model and optimizer state into the trainer's (sharded or
    not) model and optimizer, whatever the number of processes that wrote it, and return (its
    folder, its state for Trainer.load_state_dict, with this world's ranks). None without one."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    found = checkpoints_newest_first(run_dir)
    for i, ckpt in enumerate(found):
        if not (ckpt / DCP_DIR / ".metadata").is_file():
            raise BabyLlamaError(f"{ckpt}: written with train.parallel = 'ddp'; resume it with "
                                 f"train.parallel=ddp on the same number of processes")
        try:
            state = load_checkpoint_state(ckpt)
            model_state, optim_state = get_state_dict(trainer.model, trainer.optimizer)
            with _one_process_quietly():
                dcp.load({"model": model_state, "optim": optim_state}, checkpoint_id=ckpt / DCP_DIR)
        except (BabyLlamaError, dcp.CheckpointException) as e:
            then = f"falling back to {found[i + 1].name}" if i + 1 < len(found) else "no older checkpoint left"
            warn(f"warning: damaged checkpoint {ckpt}: {' '.join(str(e).splitlines())[:300]}; {then}")
            continue
        set_state_dict(trainer.model, trainer.optimizer, model_state_dict=model_state, optim_state_dict=optim_state)
        state["optimizer"] = None
        state["ranks"] = _ranks_for(state["ranks"], int(state["step"]), trainer, warn, ckpt)
        return ckpt, state
    if found:
        raise BabyLlamaError(f"{run_dir}: every checkpoint is damaged; start the run again with --overwrite")
    return None


def _ranks_for(saved: list[dict[str, Any]], step: int, trainer: Trainer, warn: Callable[[str], None],
               ckpt: Path) -> list[dict[str, Any]]:
    """The per-rank states for this world. The data cursor is the same on every rank (it counts
    global batches), so the data continues exactly; random streams (dropout) continue exactly only
    on the same number of processes and are reseeded from (seed, rank, step) otherwise."""
    world = trainer.dist.world_size
    if len(saved) == world:
        return saved
    if trainer.is_main:
        warn(f"note: {ckpt.name} was written by {len(saved)} process(es), resuming on {world}: the data order "
             f"continues exactly; random streams (dropout) are reseeded")
    seed_everything(trainer.cfg.train.seed + 1000 * trainer.dist.rank + step)
    mine = {"data": saved[0]["data"], "rng": rng_state()}
    return [mine] * world


class ShardedCheckpoints(Checkpoints):
    """Checkpoints (the run-folder callback) in the sharded format. When the run finishes, rank 0's
    trainer.model becomes a plain, whole copy of the sharded model, so the callbacks after this one
    (the final model folder, the samples) work on it unchanged."""

    def on_checkpoint(self, trainer: Trainer) -> None:
        if trainer.step == self.saved_step:
            return
        self.last = save_sharded(trainer, self.run_dir, trainer.cfg.train.keep_checkpoints)
        self.saved_step = trainer.step

    def on_end(self, trainer: Trainer, outcome: str) -> None:
        if outcome == "finished" and is_sharded(trainer.model):
            whole = gather_model(trainer.model, trainer.dist, trainer.device)
            if whole is not None:
                trainer.model = whole
