"""Scale-out for the sweep: under `torchrun`, each rank takes every world-th batch and rank 0 gathers the records.

Backend: NCCL when CUDA is available, gloo otherwise. Outside torchrun (no WORLD_SIZE > 1) everything degrades to
one process with no communication. Only rank 0 touches the runs store and writes reports.
"""
from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


class Ranks:
    """This process's place among the sweep's processes, and the two collectives the sweep needs."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self._owns_group = False
        if self.world > 1 and not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group(backend)
            self._owns_group = True

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that reads and writes the store)."""
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        """The device this rank computes on: its own GPU under NCCL, else the CPU."""
        if self.world > 1 and torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's `obj`, in rank order (on all ranks; one process: `[obj]`)."""
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj` on every rank."""
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        """Tear down the process group if this object created it."""
        if self._owns_group:
            dist.destroy_process_group()
            self._owns_group = False
