"""Shared fixtures of the training tests: a micro Sudoku dataset and a micro training config."""
from __future__ import annotations

import numpy as np
import pytest

from redge.tasks import sudoku
from redge.tasks.format import save_identifiers
from redge.tasks.generate import generate_sudoku
from redge.train.configs import get_config


@pytest.fixture(scope="session")
def micro_data(tmp_path_factory) -> str:
    """60 train / 16 test unique-solution puzzles with 60-70 givens, in the official format."""
    out = tmp_path_factory.mktemp("sudoku-micro")
    for split, n, seed in (("train", 60, 0), ("test", 16, 1)):
        p, s = generate_sudoku(n, np.random.default_rng(seed), min_givens=60, max_givens=70)
        sudoku.write_split(out, split, p, s, 1)
    save_identifiers(out, ["<blank>"])
    return str(out)


@pytest.fixture()
def micro_config(micro_data):
    """The tiny config shrunk to hidden 16 and batch 8 on the micro data (a step takes milliseconds)."""
    return get_config("tiny").replace(
        model={**get_config("tiny").model, "hidden_size": 16, "puzzle_emb_ndim": 16, "H_cycles": 1, "L_cycles": 1,
               "expansion": 1},
        data=[micro_data], eval_data={"micro": micro_data}, global_batch_size=8, max_steps=12, max_minutes=None,
        log_every=4, eval_limit=8, lr_warmup_steps=2)
