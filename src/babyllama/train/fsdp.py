"""Fully sharded data parallel training (FSDP2).

    torchrun --nproc-per-node 8 -m babyllama pretrain --config recipes/stories15m.toml train.parallel=fsdp

With train.parallel = "fsdp", each transformer block and then the whole model go through
torch.distributed.fsdp.fully_shard on a 1-D device mesh over all processes: parameters, gradients
and optimizer state are DTensors sharded on dim 0; a block's weights are all-gathered just before it
runs and its gradients reduce-scattered after its backward. On CUDA with bf16 the blocks compute in
bf16 (MixedPrecisionPolicy) and reduce gradients in fp32; the sharded fp32 weights are what the
optimizer steps. On one process nothing is sharded, but checkpoints are still written in the
sharded format, so a run can move between 1 and N processes in either direction. Our own AdamW
(train/optim.py) steps DTensors as it steps tensors: its element-wise updates run shard by shard.
See docs/distributed.md.

Checkpoints in the sharded format (torch.distributed.checkpoint, any number of processes) are
train/sharded_checkpoints.py's.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn

from babyllama.config import TrainConfig
from babyllama.model import Llama
from babyllama.train import distributed as D
from babyllama.utils.io import BabyLlamaError


def check(cfg: TrainConfig, info: D.DistInfo, precision: str) -> None:
    """Refuse the settings that do not work on a sharded model, naming them."""
    tc = cfg.train
    if precision == "fp16":
        raise BabyLlamaError("train.parallel = 'fsdp' does not support train.precision = 'fp16'; use bf16")
    if tc.new_rows_only_steps or cfg.optim.old_lr_scale != 1.0:
        raise BabyLlamaError("train.new_rows_only_steps and optim.old_lr_scale work on whole embedding rows and "
                             "need train.parallel = 'ddp'")
    if info.enabled and tc.sample_every:
        raise BabyLlamaError("train.sample_every needs the whole model on one process; with train.parallel = "
                             "'fsdp' on several processes samples are written at the end only (set "
                             "train.sample_every = 0)")


def shard(model: nn.Module, info: D.DistInfo, device: torch.device, precision: str) -> nn.Module:
    """fully_shard each transformer block, then the root (the model is changed in place and
    returned). A no-op on one process. Build the optimizer afterwards: sharding replaces the
    parameters by DTensors."""
    if not info.enabled:
        return model
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(device.type, (info.world_size,))
    policy = MixedPrecisionPolicy()
    if device.type == "cuda" and precision == "bf16":
        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    blocks = getattr(model, "layers", None)
    if blocks is None:
        raise BabyLlamaError(f"train.parallel = 'fsdp' shards a model's transformer blocks (model.layers); "
                             f"{type(model).__name__} has none")
    for block in blocks:
        fully_shard(block, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    return model


def is_sharded(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


Batches = Callable[[int, int], Iterable[Any]]  # Trainer's eval_data: (rank, world_size) -> batches


def lockstep(eval_data: Batches | None, info: D.DistInfo, device: torch.device) -> Batches | None:
    """Validation batches that every rank takes in step: a sharded forward is a collective, so all
    ranks stop as soon as one runs out (at most world_size - 1 trailing batches are left out)."""
    if eval_data is None or not info.enabled:
        return eval_data

    def batches(rank: int, world: int) -> Iterator[Any]:
        it = iter(eval_data(rank, world))
        while True:
            batch = next(it, None)
            if D.any_rank(batch is None, info, device):
                return
            yield batch

    return batches


def gather_model(model: nn.Module, info: D.DistInfo, device: torch.device) -> Llama | None:
    """The whole model as a plain Llama on rank 0 (None elsewhere); a collective."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if not info.is_main:
        return None
    plain = Llama(model.config)
    plain.load_state_dict(full)
    return plain.to(device).train(model.training)


