"""Scale-out for the sweep: under `torchrun`, each rank takes every world-th batch and rank 0 gathers the records.

Joining and leaving the job is `redge.core.ranks`; this module adds the sweep's device choice and its two collectives.
Outside torchrun everything degrades to one process with no communication. Only rank 0 touches the runs store.
"""
from __future__ import annotations

from typing import Any

import torch.distributed as dist

from redge.core.device import resolve_device
from redge.core.ranks import Ranks, launched_world


def sweep_device(requested: str = "auto") -> str | None:
    """The `device` argument of `redge.core.ranks.join` for a sweep. `auto`: under torchrun each rank its own GPU when
    there is one (else the CPU), a single process the first GPU when there is one (else the CPU); otherwise the
    device asked for (`cpu`, `cuda`, `cuda:N`), checked first."""
    if requested == "auto":
        return None if launched_world() > 1 else str(resolve_device("auto"))
    return str(resolve_device(requested)) if requested != "cuda" else "cuda"


def gather(ranks: Ranks, obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order (on all ranks; one process: `[obj]`)."""
    if ranks.world == 1:
        return [obj]
    out: list[Any] = [None] * ranks.world
    dist.all_gather_object(out, obj)
    return out


def broadcast(ranks: Ranks, obj: Any) -> Any:
    """Rank 0's `obj` on every rank."""
    if ranks.world == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
