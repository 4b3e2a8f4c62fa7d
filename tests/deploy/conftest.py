"""Shared model configs for the deploy tests: official shapes for planning, a tiny one for exports."""
from __future__ import annotations

import pytest

from redge.models import ModelConfig

TRM_ATT_SUDOKU = ModelConfig(vocab_size=11, seq_len=81, L_cycles=6)
TRM_ATT_MAZE = ModelConfig(vocab_size=6, seq_len=900, L_cycles=4)
HRM_SUDOKU = ModelConfig(arch="hrm", vocab_size=11, seq_len=81, H_cycles=2, L_cycles=2, H_layers=4, L_layers=4,
                         no_ACT_continue=False)


@pytest.fixture
def tiny_config() -> ModelConfig:
    """A small TRM-Att with a 7-row puzzle table: exports in well under a second."""
    return ModelConfig(vocab_size=11, seq_len=16, num_puzzle_identifiers=7, hidden_size=64, num_heads=2,
                       H_cycles=2, L_cycles=2, puzzle_emb_ndim=64, puzzle_emb_len=2, halt_max_steps=2)
