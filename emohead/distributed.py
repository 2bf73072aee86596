"""Several processes, one job: PyTorch's own distributed engine (``torch.distributed``) under ``torchrun``.

``torchrun --nproc_per_node N -m emohead extract ...`` and ``... -m emohead train-a2e ...`` start N copies
of the command; each reads its place from the variables torchrun sets (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and :func:`init_from_env` joins them into one process
group: NCCL when the work runs on CUDA (one GPU per process, ``cuda:LOCAL_RANK``), gloo on CPU.
Without those variables (a plain ``emohead ...``) everything here is a no-op and the code runs as one
process, so the library never needs two code paths for "distributed or not":

- :func:`rank`, :func:`world_size`, :func:`is_main`: where this process stands (0, 1, True alone);
- :func:`shard`: this process's disjoint, deterministic share of a list (every ``world``-th item);
- :func:`rows`: this process's rows of a global batch of B rows (contiguous, sizes differ by at most 1);
- :func:`barrier`, :func:`all_gather_object`, :func:`all_reduce_sum`: collectives that return at once
  for one process;
- :func:`local_device`: ``"cuda"`` -> ``"cuda:LOCAL_RANK"``.

Writes of shared artifacts (index files, checkpoints, models, histories) are done by rank 0 alone;
the other ranks wait at a :func:`barrier`.
"""
from __future__ import annotations

import atexit
import datetime
import logging
import os
from typing import Any, Sequence, TypeVar

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)

T = TypeVar("T")

TIMEOUT_MINUTES = 60
"""Collective timeout: ranks may wait this long for rank 0 (validation, the face analyser's training)."""


def launched() -> bool:
    """True when this process was started by torchrun (or another launcher) with WORLD_SIZE > 1."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank in the group (0 without one)."""
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    """Number of processes in the group (1 without one)."""
    return dist.get_world_size() if is_initialized() else 1


def local_rank() -> int:
    """This process's index on its machine (torchrun's LOCAL_RANK; 0 without one)."""
    return int(os.environ.get("LOCAL_RANK", "0")) if is_initialized() else 0


def is_main() -> bool:
    """True on rank 0, the only rank that writes shared files and shows progress bars."""
    return rank() == 0


def local_device(device: str | torch.device) -> torch.device:
    """The device of this process: a bare ``cuda`` becomes ``cuda:LOCAL_RANK`` in a process group."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and is_initialized():
        return torch.device("cuda", local_rank())
    return device


def init_from_env(device: str | torch.device = "cpu", backend: str | None = None) -> bool:
    """Join the process group described by torchrun's environment variables; False (no-op) without them.

    ``backend`` defaults to NCCL for a CUDA ``device`` and gloo otherwise. Idempotent; the group is
    destroyed when the process exits.
    """
    if is_initialized():
        return True
    if not launched():
        return False
    device = torch.device(device)
    if backend is None:
        backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=TIMEOUT_MINUTES))
    atexit.register(shutdown)
    log.info("process group: rank %d of %d (%s)", rank(), world_size(), backend)
    return True


def shutdown() -> None:
    """Leave the process group (registered at exit by :func:`init_from_env`)."""
    if is_initialized():
        dist.destroy_process_group()


def _uses_cuda() -> bool:
    return is_initialized() and dist.get_backend() == "nccl"


def barrier() -> None:
    """Wait until every rank gets here (no-op for one process)."""
    if world_size() > 1:
        if _uses_cuda():
            dist.barrier(device_ids=[local_rank()])
        else:
            dist.barrier()


def all_gather_object(obj: T) -> list[T]:
    """[obj of rank 0, obj of rank 1, ...] on every rank (picklable objects; [obj] for one process)."""
    if world_size() == 1:
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """The sum of ``x`` over ranks (a new tensor on ``x``'s device; ``x`` itself for one process)."""
    if world_size() == 1:
        return x
    y = x.detach().clone()
    if _uses_cuda() and y.device.type != "cuda":
        y = y.to(local_device("cuda"))
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y.to(x.device)


def shard(items: Sequence[T], rank_: int | None = None, world: int | None = None) -> list[T]:
    """This rank's share of ``items``: every ``world``-th item from index ``rank`` (disjoint, covering)."""
    r = rank() if rank_ is None else rank_
    w = world_size() if world is None else world
    return list(items[r::w])


def rows(batch_size: int, rank_: int | None = None, world: int | None = None) -> slice:
    """This rank's rows of a global batch: contiguous, the first ``batch_size % world`` ranks get one more.

    Every rank's slice may be empty only when batch_size < world.
    """
    r = rank() if rank_ is None else rank_
    w = world_size() if world is None else world
    base, extra = divmod(batch_size, w)
    start = r * base + min(r, extra)
    return slice(start, start + base + (1 if r < extra else 0))


__all__ = ["launched", "is_initialized", "rank", "world_size", "local_rank", "is_main", "local_device",
           "init_from_env", "shutdown", "barrier", "all_gather_object", "all_reduce_sum", "shard", "rows",
           "TIMEOUT_MINUTES"]
