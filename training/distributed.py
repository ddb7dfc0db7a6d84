"""Data-parallel training: process-group facts, the DDP wrapper and each rank's batch order.

``DistInfo.from_env`` reads torchrun's ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``; ``LossModule``
lets DistributedDataParallel wrap a model's ``training_loss``; ``epoch_batches`` /
``StepBatches`` give each rank its ``DistributedSampler`` share of an epoch, indexed by the global
step (a pure function of ``(seed, epoch)``, so a resumed run sees the same batches).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistInfo:
    """Process-group facts; ``world == 1`` means plain single-process training."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device) -> tuple["DistInfo", torch.device]:
        """Read torchrun's env vars; when ``WORLD_SIZE > 1`` init the process group
        (NCCL on CUDA, Gloo otherwise) and pin this rank's CUDA device."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls(), device
        rank = int(os.environ["RANK"])
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            torch.cuda.set_device(local)
            device = torch.device("cuda", local)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        return cls(rank, world, local), device

    def barrier(self) -> None:
        """Wait for every rank (no-op in single-process training)."""
        if self.world > 1:
            dist.barrier()


class LossModule(nn.Module):
    """Wrap ``model.<method>`` as ``forward`` so DistributedDataParallel hooks see it."""

    def __init__(self, model: nn.Module, method: str):
        super().__init__()
        self.model = model
        self.method = method

    def forward(self, *args, **kwargs):
        return getattr(self.model, self.method)(*args, **kwargs)


def wrap_ddp(module: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    if info.world <= 1:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    return DDP(module, device_ids=ids, find_unused_parameters=True)


def unwrap(module: nn.Module) -> nn.Module:
    while hasattr(module, "module"):
        module = module.module
    if isinstance(module, LossModule):
        module = module.model
    return module


def epoch_batches(n: int, batch: int, epoch: int, seed: int, info: DistInfo) -> list[list[int]]:
    """This rank's batches for ``epoch``: ``DistributedSampler`` shuffled order (seeded by
    ``seed`` and the epoch), cut into ``batch``-sized lists (last partial batch dropped; if the
    dataset is smaller than one batch, the permutation is tiled)."""
    from torch.utils.data import DistributedSampler

    class _Len:
        def __len__(self):
            return n

    sampler = DistributedSampler(_Len(), num_replicas=info.world, rank=info.rank, shuffle=True,
                                 seed=seed, drop_last=n >= info.world)
    sampler.set_epoch(epoch)
    idx = list(iter(sampler))
    if len(idx) < batch:  # tiny datasets: repeat the order
        idx = (idx * math.ceil(batch / max(1, len(idx))))[:batch]
    return [idx[i:i + batch] for i in range(0, len(idx) - batch + 1, batch)]


class StepBatches:
    """Map a global step to this rank's batch indices (pure function: resume-safe)."""

    def __init__(self, n: int, batch: int, seed: int, info: DistInfo):
        self.n, self.batch, self.seed, self.info = n, batch, seed, info
        self._cache: tuple[int, list[list[int]]] | None = None
        self.per_epoch = len(epoch_batches(n, batch, 0, seed, info))

    def __call__(self, step: int) -> tuple[int, list[int]]:
        epoch, b = divmod(step, self.per_epoch)
        if self._cache is None or self._cache[0] != epoch:
            self._cache = (epoch, epoch_batches(self.n, self.batch, epoch, self.seed, self.info))
        return epoch, self._cache[1][b]


__all__ = ["DistInfo", "LossModule", "wrap_ddp", "unwrap", "epoch_batches", "StepBatches"]
