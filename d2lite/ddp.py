"""Several processes: torchrun and DistributedDataParallel (chapter 6).

    world, device = d2lite.init_distributed()  # under torchrun: join the job; alone: no-op
    loss_sum, n = d2lite.all_reduce_sums([loss_sum, n])  # summed over every process

Everything here is a no-op in a single process, so the same code runs alone, in a notebook and
under ``torchrun --nproc_per_node=N``. Who a process is comes from torchrun's environment
(device.py); the data shards itself by :func:`distributed` (fashion_mnist.py), and evaluation
sums its counts with :func:`all_reduce_sums` (engine.py).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from d2lite.device import _env_int, _local_device, launched_by_torchrun, resolve_device

_CONTROL_GROUP: Any = None  # a gloo group for small CPU-side agreements (stop? save?)


@dataclass(frozen=True)
class Distributed:
    """Who this process is in a torchrun job (``world_size`` 1: a single process)."""

    rank: int = 0  # 0 .. world_size-1 over all machines; rank 0 prints and saves
    local_rank: int = 0  # 0 .. processes-per-machine - 1: the GPU this process uses
    world_size: int = 1
    backend: str | None = None  # "nccl" (CUDA) or "gloo" (CPU); None: not distributed

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def distributed() -> Distributed:
    """The current process's place in a torchrun job; ``Distributed()`` (rank 0 of 1) when
    the process group is not initialised (see :func:`init_distributed`)."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return Distributed()
    return Distributed(
        dist.get_rank(), _env_int("LOCAL_RANK", 0), dist.get_world_size(), dist.get_backend()
    )


def init_distributed(
    device: str | torch.device | None = None, timeout_s: float = 600
) -> tuple[Distributed, torch.device]:
    """Join the torchrun job this process belongs to; return ``(Distributed, device)``.

    Under torchrun (WORLD_SIZE > 1) it initialises the process group once: NCCL when the
    device is a CUDA GPU (each process pinned to ``cuda:LOCAL_RANK``), gloo on the CPU. A peer
    that does not answer a collective within ``timeout_s`` seconds makes it raise instead of
    waiting forever. Without torchrun it changes nothing and returns rank 0 of 1 and the
    device (:func:`try_gpu` for None). Calling it again returns the same answer.
    """
    if not launched_by_torchrun():
        return distributed(), resolve_device(device)
    dev = resolve_device(_local_device(device))
    dist = torch.distributed
    if not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        backend = "nccl" if dev.type == "cuda" else "gloo"
        kwargs = {"device_id": dev} if dev.type == "cuda" else {}
        timeout = datetime.timedelta(seconds=timeout_s)
        dist.init_process_group(backend, timeout=timeout, **kwargs)
    global _CONTROL_GROUP
    if _CONTROL_GROUP is None:  # CPU tensors: agreeing on a flag never waits for the GPU
        _CONTROL_GROUP = (
            dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD
        )
    return distributed(), dev


def all_reduce_sums(values: Sequence[float | torch.Tensor]) -> list[float]:
    """Each value summed over all processes of the job, as floats (the values themselves in a
    single process). Every process must call it at the same point with as many values."""
    if distributed().world_size == 1:
        return [float(v) for v in values]
    on = torch.device("cpu")  # NCCL sums on the GPU, gloo on the CPU
    if torch.distributed.get_backend() == "nccl":
        on = torch.device("cuda", torch.cuda.current_device())
    t = torch.stack([torch.as_tensor(v, dtype=torch.float64).to(on) for v in values])
    torch.distributed.all_reduce(t)  # sum
    return t.tolist()


def _agree(*flags: bool) -> list[bool]:
    """Each flag OR-ed over all processes (one small all-reduce on the CPU): whether any
    process wants to stop, or failed to save, so that all of them act together."""
    if distributed().world_size == 1:
        return list(flags)
    t = torch.tensor([float(f) for f in flags])
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX, group=_CONTROL_GROUP)
    return [bool(v) for v in t.tolist()]


def _gather(obj: Any) -> list:
    """``obj`` of every process, in rank order (``[obj]`` in a single process)."""
    world = distributed().world_size
    if world == 1:
        return [obj]
    out: list = [None] * world
    torch.distributed.all_gather_object(out, obj, group=_CONTROL_GROUP)
    return out
