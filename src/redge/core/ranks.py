"""This process's place in a torchrun job, for every layer: join the process group, pick the device, leave cleanly.

Under `torchrun` (WORLD_SIZE > 1) `join` initialises the default process group: NCCL when the device is a GPU, gloo on
the CPU. Without torchrun there is one process (rank 0 of world 1) and no group.

A process must `leave` before it exits. gloo's worker threads drop each finished collective (and the Python tensors it
holds) a moment after the caller has its result; a worker still alive when the interpreter finalises takes the GIL
there, which ends the thread inside a C++ destructor: "terminate called without an active exception", exit -6.
`leave` waits at a barrier (no rank tears down while another still needs it), then `destroy_process_group` frees
the backend, whose destructor joins those threads. That only works if nothing else holds the group:
`torch.distributed.nn.functional` binds `group.WORLD` as a default argument of ten functions when first imported, and
torch imports it lazily (the first optimizer imports torch._dynamo, which imports it). Imported after the group is up,
it pins the group for the life of the process, so it is imported here, before any group exists.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
import torch.distributed.nn.functional  # noqa: F401  (binds group.WORLD while it is None; see above)


@dataclass(frozen=True)
class Ranks:
    """This process's place in a torchrun job (rank 0 of world 1 without torchrun) and the device it computes on."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes files, evaluates and prints."""
        return self.rank == 0


def launched_world() -> int:
    """How many processes torchrun started for this job (WORLD_SIZE; 1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def join(device: str | None = None) -> Ranks:
    """Join the torchrun process group when WORLD_SIZE > 1 (nccl on CUDA, gloo on CPU) and pick the device.

    `device` None: `cuda:LOCAL_RANK` when CUDA is available, else the CPU; "cuda": `cuda:LOCAL_RANK`; anything else
    ("cpu", "cuda:N") as given. Joining again returns the same place without a second group.
    """
    world = launched_world()
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu") if device in (None, "cuda") else torch.device(device)
    if use_cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", device_id=dev if use_cuda else None)
    return Ranks(dist.get_rank() if world > 1 else 0, world, dev)


def leave() -> None:
    """Wait for every rank, then destroy the process group (which joins its threads) before the process exits.

    Every rank must call it. Does nothing without a group, so calling it twice or in world 1 is safe.
    """
    if not dist.is_initialized():
        return
    dist.barrier()
    dist.destroy_process_group()


@contextmanager
def joined(device: str | None = None) -> Iterator[Ranks]:
    """`join` for the duration of a block, then `leave` if the block created the group (not one that was up before).

    When the block raises, the group is left alone: the failed rank may be out of step with the others, so a barrier
    or a teardown could wait on a collective that never completes; torchrun stops the other ranks.
    """
    owner = launched_world() > 1 and not dist.is_initialized()
    ranks = join(device)
    yield ranks
    if owner:
        leave()
