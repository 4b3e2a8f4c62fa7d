"""A toy task, written as a new task's author would: one module defining `TASK`, registered by naming the module
in `redge.tasks.registry.TASK_MODULES` (the tests do that with monkeypatch).

Rows of 8 cells alternating tokens 2 and 3; the inputs hide about half of the cells behind the blank token 1.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from redge.tasks.format import (
    PuzzleSplit,
    grid_metadata,
    save_identifiers,
    save_split,
    single_example_indices,
)
from redge.tasks.registry import Task

VOCAB_SIZE, SEQ_LEN, BLANK = 4, 8, 1


def build(out: str | Path, n: int = 32, seed: int = 0, progress: bool = True) -> dict:
    """Write `n` train and `n` test rows into `out` in the official format."""
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        first = rng.integers(0, 2, size=(n, 1))
        labels = ((first + np.arange(SEQ_LEN)) % 2 + 2).astype(np.uint8)
        inputs = np.where(rng.random((n, SEQ_LEN)) < 0.5, BLANK, labels).astype(np.uint8)
        arrays = {"inputs": inputs, "labels": labels, **single_example_indices(n)}
        save_split(out, split, arrays, grid_metadata(arrays, VOCAB_SIZE))
    save_identifiers(out, ["<blank>"])
    return {"rows": n}


def check(splits: Mapping[str, PuzzleSplit]) -> dict[str, int]:
    """Rows whose label does not alternate, per split."""
    return {f"{name}/not_alternating": int((np.diff(np.asarray(s.labels).astype(int), axis=1) == 0).any(1).sum())
            for name, s in splits.items()}


TASK = Task(name="toy", description="alternate 2 and 3", vocab_size=VOCAB_SIZE, seq_len=SEQ_LEN, pad_token=0,
            blank_tokens=(BLANK,), cycles={"trm": (1, 2)}, act_depth=2, augment="none", build=build, check=check)
