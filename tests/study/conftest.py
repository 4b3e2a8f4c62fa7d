"""Tiny fixtures for the study tests: a random TRM-MLP checkpoint and a Sudoku-shaped dataset folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from redge.models import ModelConfig, build_model
from redge.models.checkpoints import save_checkpoint
from redge.tasks.format import (
    grid_metadata,
    save_identifiers,
    save_split,
    single_example_indices,
)

torch.set_num_threads(1)  # tiny tensors: threads only add contention on a shared 2-core machine

SEQ_LEN = 81  # Sudoku-shaped, so the task helpers recognise the non-given cells
VOCAB = 11  # Sudoku vocabulary: 0 pad, 1 blank, 2..10 digits


def tiny_config(**overrides: object) -> ModelConfig:
    """A toy TRM-MLP: one layer, hidden 32, 81 tokens + 1 prefix, T=2 n=2, 4 ACT steps."""
    base = dict(vocab_size=VOCAB, seq_len=SEQ_LEN, hidden_size=32, num_heads=2, expansion=2.0, mlp_t=True,
                pos_encodings="none", puzzle_emb_ndim=32, puzzle_emb_len=1, num_puzzle_identifiers=2,
                H_cycles=2, L_cycles=2, L_layers=1, halt_max_steps=4)
    base.update(overrides)
    return ModelConfig(**base)


def make_dataset(root: Path, n: int = 24, seed: int = 0) -> Path:
    """A test split of `n` random puzzles: labels are digits, about half the inputs are blanks (token 1)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(2, VOCAB, size=(n, SEQ_LEN)).astype(np.uint8)
    inputs = np.where(rng.random((n, SEQ_LEN)) < 0.5, 1, labels).astype(np.uint8)
    arrays = {"inputs": inputs, "labels": labels, **single_example_indices(n)}
    save_split(root, "test", arrays, grid_metadata(arrays, VOCAB))
    save_identifiers(root, ["<blank>"])
    return root


def make_checkpoint(path: Path, seed: int = 0, **overrides: object) -> Path:
    """Save a randomly initialised tiny model (q_head randomised so halting varies between puzzles)."""
    torch.manual_seed(seed)
    model = build_model(tiny_config(**overrides))
    with torch.no_grad():
        model.q_head.weight.normal_(0, 0.5)
        model.q_head.bias.zero_()
    return save_checkpoint(model, path)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="session")
def checkpoint_factory():
    """`make_checkpoint` for tests that need a checkpoint of another shape."""
    return make_checkpoint
