"""Training on several processes: DistributedDataParallel over gloo (CPU) or NCCL (CUDA), started by torchrun.

    torchrun --nproc_per_node=4 -m sentiment_core train --preset quick --output runs/q.safetensors

torchrun starts the command once per process with ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT`` set; ``from_env`` reads them and joins the process group.
Every process loads the same corpus (local rank 0 of each machine first, so only it tokenizes
and fills the token cache), builds the same vocabulary and model (same seed), trains on its
share of every batch (``DistributedBucketSampler``) and validates on its share of the
validation split; losses, token counts, the stop flag and the validation sums are added up
over the processes, so every process takes the same decisions (best epoch, early stop, stop).
Only rank 0 writes checkpoints, the card and progress.

``--batch-size`` is per process: N processes with batch B train like one process with N * B.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as torch_dist

log = logging.getLogger(__name__)

T = TypeVar("T")
TIMEOUT = dt.timedelta(minutes=30)  # a process that waits longer on the others gives up (one has died)
JOIN_TIMEOUT = dt.timedelta(seconds=60)  # every process must have started by then (a launch that is wrong)
ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE")


class DistributedError(RuntimeError):
    """Another process of the run failed, or the processes could not be joined."""


@dataclass(frozen=True)
class Distributed:
    """This process's place in a multi-process run, and the collectives the trainer needs."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over the processes (in place; NCCL needs it on the GPU, gloo on either)."""
        torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.SUM)
        return tensor

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is set on any process: every process gets the same answer."""
        return bool(self.sum(torch.tensor([float(flag)], device=self.device)).item() > 0)

    def barrier(self) -> None:
        """Wait until every process gets here: leaving the process group while another process
        still talks to it aborts that process (gloo's threads are torn down under it)."""
        torch_dist.barrier()

    def first(self, fn: Callable[[], T]) -> T:
        """``fn()`` on local rank 0 of each machine, then on the other processes (which then find
        the caches it filled); an error on one process is raised on every process."""
        result, error = None, None
        if self.local_rank == 0:
            try:
                result = fn()
            except Exception as exc:  # re-raised below, after telling the others
                error = exc
        if self.any(error is not None):
            raise error or DistributedError("another process of the run failed; its output says why")
        if self.local_rank != 0:
            result = fn()
        return result


def launched() -> bool:
    """Whether this process was started by torchrun (or a launcher like it) for a multi-process run."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def from_env(device: str = "auto") -> Distributed:
    """Join the process group torchrun's environment describes: NCCL on CUDA, gloo on the CPU.

    ``device`` is ``TrainConfig.device``: "auto" uses the GPU of this process's local rank when
    there is one, else the CPU.
    """
    try:
        rank, local_rank, world_size = (int(os.environ[key]) for key in ENV)
    except (KeyError, ValueError):
        raise DistributedError(f"a multi-process run needs {', '.join(ENV)} in the environment: "
                               "start it with torchrun") from None
    if world_size < 1 or not 0 <= rank < world_size or not 0 <= local_rank < world_size:
        raise DistributedError(f"RANK={rank}, LOCAL_RANK={local_rank}, WORLD_SIZE={world_size}: each rank must be "
                               "from 0 to WORLD_SIZE - 1; start the run with torchrun, which sets them")
    if device == "mps":
        raise DistributedError("device 'mps' cannot train on several processes; use cpu or cuda")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise DistributedError("device 'cuda' was asked for, but torch sees no CUDA GPU here")
        if local_rank >= torch.cuda.device_count():
            raise DistributedError(f"local rank {local_rank} has no GPU of its own ({torch.cuda.device_count()} "
                                   "here): start at most one process per GPU")
        where = torch.device("cuda", local_rank)
        torch.cuda.set_device(where)
        store = _joined_store(rank, world_size)
        torch_dist.init_process_group("nccl", store=store, rank=rank, world_size=world_size, timeout=TIMEOUT,
                                      device_id=where)
    else:
        where = torch.device("cpu")
        store = _joined_store(rank, world_size)
        torch_dist.init_process_group("gloo", store=store, rank=rank, world_size=world_size, timeout=TIMEOUT)
    log.info("process %d of %d (local rank %d) on %s", rank, world_size, local_rank, where)
    return Distributed(rank, local_rank, world_size, where)


def _joined_store(rank: int, world_size: int) -> torch_dist.Store:
    """The rendezvous store at MASTER_ADDR:MASTER_PORT, once all ``world_size`` processes have reached
    it; a ``DistributedError`` saying how many did after ``JOIN_TIMEOUT`` (a process was never started,
    or WORLD_SIZE is wrong), rather than the half hour the collectives may later wait."""
    try:
        host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    except (KeyError, ValueError):
        raise DistributedError("a multi-process run needs MASTER_ADDR and MASTER_PORT in the environment: "
                               "start it with torchrun") from None
    # torchrun's agent serves the store itself; without it (a hand-made environment) rank 0 does.
    serve = rank == 0 and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True"
    try:
        store = torch_dist.TCPStore(host, port, world_size, is_master=serve, timeout=JOIN_TIMEOUT,
                                    wait_for_workers=False)
    except (RuntimeError, OSError) as exc:  # DistStoreError is a RuntimeError
        raise DistributedError(f"could not reach the run's store at {host}:{port} within "
                               f"{JOIN_TIMEOUT.total_seconds():.0f} s ({exc}); is rank 0 running?") from None
    key = f"sentiment_core/joined/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"
    joined = store.add(key, 1)
    deadline = time.monotonic() + JOIN_TIMEOUT.total_seconds()
    while joined < world_size:
        if time.monotonic() > deadline:
            raise DistributedError(f"only {joined} of WORLD_SIZE={world_size} processes started within "
                                   f"{JOIN_TIMEOUT.total_seconds():.0f} s; start all of them (torchrun "
                                   f"--nproc_per_node={world_size}) or fix WORLD_SIZE")
        time.sleep(0.1)
        joined = store.add(key, 0)
    return store


def shutdown() -> None:
    """Leave the process group, if this process joined one."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
