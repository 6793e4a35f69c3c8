"""Data-parallel training with ``torch.distributed``: one process per device, started by ``torchrun``.

    torchrun --standalone --nproc_per_node=2 -m lmrl_course.scripts.train_shakespeare --device cpu

``torchrun`` starts N copies of the script and gives each one, in its environment, its ``RANK``
(0 .. N-1 over all machines), its ``LOCAL_RANK`` (0 .. on this machine), the ``WORLD_SIZE`` N and
where to meet (``MASTER_ADDR``, ``MASTER_PORT``). :func:`init_distributed` reads them, picks the
process's device (``cuda:LOCAL_RANK``, or the shared CPU) and joins the process group (backend
``nccl`` on CUDA, ``gloo`` on the CPU). :func:`lmrl_course.lm_trainer.train_lm` then sees the group
and trains data-parallel: every process holds the whole model, computes the gradient on its own
batches, and ``DistributedDataParallel`` averages the gradients over the processes before each
optimiser step, so all copies stay equal.

Without torchrun's variables nothing is started and the context says rank 0 of 1.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .device import DeviceLike, device_for_rank, distributed_backend, get_device

TORCHRUN_ENV_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` on its machine, ``device``."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one process that prints, writes logs and saves checkpoints."""
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when torchrun's ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` are in the environment."""
    return all(k in os.environ for k in TORCHRUN_ENV_VARS)


def _env_int(name: str) -> int:
    value = os.environ[name]
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"${name}={value!r} is not an integer (it is set by torchrun)") from None


def init_distributed(device: DeviceLike = None) -> DistContext:
    """Join the process group that torchrun set up, or describe a single process if there is none.

    ``device`` as for :func:`lmrl_course.device.get_device`; under torchrun ``cuda`` becomes
    ``cuda:LOCAL_RANK``. Backend: ``nccl`` on CUDA, ``gloo`` on the CPU. Calling it again in a
    process that already joined returns the same context.
    """
    if not launched_by_torchrun():
        return DistContext(rank=0, world_size=1, local_rank=0, device=get_device(device))
    rank, local_rank, world_size = (_env_int(k) for k in TORCHRUN_ENV_VARS)
    if not (0 <= rank < world_size and 0 <= local_rank <= rank):
        raise ValueError(f"inconsistent torchrun variables: RANK={rank}, LOCAL_RANK={local_rank}, "
                         f"WORLD_SIZE={world_size}")
    dev = device_for_rank(device, local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=distributed_backend(dev), rank=rank, world_size=world_size)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def rank_and_world_size() -> tuple[int, int]:
    """``(rank, world_size)`` of the current process group, ``(0, 1)`` when there is none."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over all processes, in place (every process gets the sum); unchanged without a group."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def cleanup_distributed() -> None:
    """Leave the process group (at the end of a torchrun script); nothing to do without one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


__all__ = ["DistContext", "TORCHRUN_ENV_VARS", "launched_by_torchrun", "init_distributed", "rank_and_world_size",
           "all_reduce_sum", "cleanup_distributed"]
