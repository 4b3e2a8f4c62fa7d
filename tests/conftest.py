"""Fixtures shared across the test folders: a small random TRM and a Sudoku-shaped batch (as factories)."""
from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from redge.models import ModelConfig, RecursiveReasoner, build_model

SMALL = dict(hidden_size=64, num_heads=2, puzzle_emb_ndim=64, H_cycles=1, L_cycles=2)


@pytest.fixture
def small_trm() -> Callable[..., RecursiveReasoner]:
    """`small_trm(mlp_t=True)`: a seeded random TRM-MLP (or TRM-Att) of hidden size 64, T=1 n=2, in eval mode."""
    def make(mlp_t: bool = True) -> RecursiveReasoner:
        torch.manual_seed(0)
        config = ModelConfig(mlp_t=True, pos_encodings="none", **SMALL) if mlp_t else ModelConfig(**SMALL)
        return build_model(config).eval()
    return make


@pytest.fixture
def sudoku_batch() -> Callable[..., dict[str, torch.Tensor]]:
    """`sudoku_batch(n=2, device="cpu")`: a seeded batch of `n` random 81-token inputs (no labels)."""
    def make(n: int = 2, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(0)
        batch = {"inputs": torch.randint(1, 11, (n, 81), generator=g),
                 "puzzle_identifiers": torch.zeros(n, dtype=torch.long)}
        return {k: v.to(device) for k, v in batch.items()}
    return make
