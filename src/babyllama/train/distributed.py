"""Data-parallel training across processes started by torchrun (RANK, WORLD_SIZE, LOCAL_RANK).

    torchrun --nproc_per_node 2 -m babyllama pretrain --config recipes/quickstart.toml

gloo on CPU, nccl on CUDA. Each rank reads its own slice of the global batch; DistributedDataParallel
averages gradients (train.parallel = "ddp"; "fsdp" shards the model instead: train/fsdp.py); only
rank 0 writes files and logs.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import nn

from babyllama.utils.io import BabyLlamaError


@dataclass
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    owns_group: bool = False  # True when setup() created the process group (cleanup destroys it)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise BabyLlamaError(f"environment variable {name}={value!r} must be an integer") from None


def setup(device_type: str) -> DistInfo:
    """Join the process group described by torchrun's environment (a no-op for one process)."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistInfo()
    rank, local = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if device_type == "cuda":
        torch.cuda.set_device(local)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
        owns = True
    return DistInfo(rank=rank, local_rank=local, world_size=world, owns_group=owns)


def cleanup(info: DistInfo) -> None:
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """DistributedDataParallel around the model when running on several processes."""
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index if device.index is not None else info.local_rank] if device.type == "cuda" else None
    return DDP(model, device_ids=ids)


def no_sync(model: nn.Module) -> contextlib.AbstractContextManager:
    """Backward inside this context accumulates gradients without syncing them across processes:
    DDP's no_sync(), or FSDP2's set_requires_gradient_sync(False) (a sharded model)."""
    if hasattr(model, "set_requires_gradient_sync"):
        return _fsdp_no_sync(model)
    return model.no_sync()


@contextlib.contextmanager
def _fsdp_no_sync(model: Any) -> Iterator[None]:
    model.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        model.set_requires_gradient_sync(True)


def all_reduce_mean(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= info.world_size
    return t


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank if flag is True on any rank."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def gather(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's obj, in rank order (on every rank)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
