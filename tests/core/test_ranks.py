"""`redge.core.ranks` outside torchrun: one process, rank 0, no group to join or leave (the 2-process case is
tests/train/test_ddp.py)."""
import torch
import torch.distributed as dist

from redge.core.ranks import join, joined, leave


def test_single_process_place_and_safe_leave(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    place = join("cpu")
    assert (place.rank, place.world, place.device, place.main) == (0, 1, torch.device("cpu"), True)
    leave()
    leave()  # twice is fine
    with joined("cpu") as inner:
        assert inner == place
    assert not dist.is_initialized()
