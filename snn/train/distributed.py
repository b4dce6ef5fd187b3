"""Data-parallel training with PyTorch DDP under ``torchrun`` (gloo on CPU, nccl on CUDA).

``torchrun --nproc_per_node=N -m snn train ...`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; :func:`setup`
joins the process group. Every rank walks the same seeded permutation of the data in global batches of
``batch_size`` and takes its contiguous share of each (:class:`ShardedBatchSampler`), so the ranks together see
exactly the global batches of a single-process run; each rank's loss is scaled to ``sum / global batch`` so that
DDP's gradient averaging yields the single-process gradient. Only rank 0 writes files and prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """``rank`` of this process among ``world_size``; ``device`` it trains on."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:<local_rank>`` when CUDA is available, else CPU; otherwise ``torch.device(name)``."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"train.device: expected 'auto', 'cpu' or 'cuda[:i]', got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device: {name!r} requested but CUDA is not available here")
    return device


def setup(device_name: str = "auto") -> Context:
    """Joins the torchrun process group when ``WORLD_SIZE`` > 1; returns this process's :class:`Context`."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context(0, 1, pick_device(device_name))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local_rank)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend)
    return Context(dist.get_rank(), dist.get_world_size(), device)


def teardown(ctx: Context) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(ctx: Context, values: torch.Tensor) -> torch.Tensor:
    """Sum of ``values`` over ranks (the tensor itself when not distributed)."""
    if ctx.distributed:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


class ShardedBatchSampler(Sampler[list[int]]):
    """Batches of indices: a permutation seeded by ``(seed, epoch)`` (or ``range(n)`` without shuffling) cut into
    global batches of ``batch_size``; this rank gets its contiguous share of each (``numpy.array_split``).

    A global batch smaller than ``world_size`` (only ever the last) is dropped so that every rank steps together.
    """

    def __init__(self, n: int, batch_size: int, *, shuffle: bool, seed: int = 0, rank: int = 0,
                 world_size: int = 1) -> None:
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.rank, self.world_size, self.epoch = rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def global_batches(self) -> list[np.ndarray]:
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(self.n) if self.shuffle
                 else np.arange(self.n))
        batches = [order[i:i + self.batch_size] for i in range(0, self.n, self.batch_size)]
        return [b for b in batches if len(b) >= self.world_size]

    def __iter__(self):
        for batch in self.global_batches():
            yield np.array_split(batch, self.world_size)[self.rank].tolist()

    def __len__(self) -> int:
        return len(self.global_batches())


def on_main(ctx: Context, fn: Callable[[], T]) -> T:
    """Runs ``fn`` on rank 0 only and returns its result on every rank (a picklable value).

    An exception on rank 0 is raised there and, as a ValueError with the same message, on every other rank, so no
    rank waits forever for a rank that failed (e.g. on a locked run folder).
    """
    if not ctx.distributed:
        return fn()
    box: list = [None]
    error = None
    if ctx.is_main:
        try:
            box = [("ok", fn())]
        except Exception as e:  # re-raised below, after the other ranks have heard of it
            error, box = e, [("error", f"rank 0: {e}")]
    dist.broadcast_object_list(box, src=0)
    if error is not None:
        raise error
    status, value = box[0]
    if status == "error":
        raise ValueError(value)
    return value
