"""Batches from a loaded split, as the official ``PuzzleDataset`` produces them.

A batch is a dict of int32 tensors with the official keys ``inputs`` [B, seq_len], ``labels`` [B, seq_len] (the
ignore label mapped to -100) and ``puzzle_identifiers`` [B]; this is what the models' ``step`` consumes.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from redge.tasks.format import PuzzleSplit

IGNORE_LABEL_ID = -100


def collate(split: PuzzleSplit, example_idx: np.ndarray, puzzle_idx: np.ndarray, batch_size: int
            ) -> dict[str, torch.Tensor]:
    """Gather examples into an int32 batch, map ignored labels to -100 and pad to ``batch_size`` rows.

    Padding rows get ``pad_id`` inputs, -100 labels and the blank identifier, as the official loader does. A split
    loaded without labels gives batches without a ``labels`` key.
    """
    meta = split.metadata
    batch = {
        "inputs": np.asarray(split.inputs[example_idx]).astype(np.int32),
        "puzzle_identifiers": np.asarray(split.puzzle_identifiers[puzzle_idx]).astype(np.int32),
    }
    if split.labels is not None:
        batch["labels"] = np.asarray(split.labels[example_idx]).astype(np.int32)
    if meta.ignore_label_id is not None and "labels" in batch:
        batch["labels"][batch["labels"] == meta.ignore_label_id] = IGNORE_LABEL_ID
    pad = batch_size - len(example_idx)
    if pad > 0:
        fill = {"inputs": meta.pad_id, "labels": IGNORE_LABEL_ID, "puzzle_identifiers": meta.blank_identifier_id}
        batch = {k: np.pad(v, ((0, pad),) + ((0, 0),) * (v.ndim - 1), constant_values=fill[k])
                 for k, v in batch.items()}
    return {k: torch.from_numpy(v) for k, v in batch.items()}


def iter_eval_batches(split: PuzzleSplit, batch_size: int, pad: bool = True
                      ) -> Iterator[tuple[dict[str, torch.Tensor], int]]:
    """Sequential pass over every example (the official test loader); yields ``(batch, n_real_rows)``.

    The last batch is padded to ``batch_size`` unless ``pad`` is False; padded rows carry no valid labels.
    """
    example_puzzle = np.repeat(np.arange(len(split.puzzle_identifiers)), np.diff(split.puzzle_indices))
    for start in range(0, split.num_examples, batch_size):
        idx = np.arange(start, min(start + batch_size, split.num_examples))
        yield collate(split, idx, example_puzzle[idx], batch_size if pad else len(idx)), len(idx)


def iter_train_batches(split: PuzzleSplit, batch_size: int, seed: int, epoch: int = 0, epochs_per_iter: int = 1,
                       rank: int = 0, world_size: int = 1) -> Iterator[dict[str, torch.Tensor]]:
    """One pass of the official training sampler; yields this rank's slice of each global batch.

    Groups are shuffled (``epochs_per_iter`` permutations concatenated); for each group one random puzzle is
    picked and its examples are packed in random order until ``batch_size`` (global) rows are filled; the last
    incomplete batch is dropped. Seeded by ``seed + epoch + 1`` (Philox), so passes are reproducible.
    """
    if batch_size % world_size:
        raise ValueError(f"batch size {batch_size} is not a multiple of world size {world_size}")
    local = batch_size // world_size
    rng = np.random.Generator(np.random.Philox(seed=seed + epoch + 1))
    n_groups = len(split.group_indices) - 1
    order = np.concatenate([rng.permutation(n_groups) for _ in range(epochs_per_iter)])
    pos = 0
    while pos < order.size:
        examples, puzzles, filled = [], [], 0
        while pos < order.size and filled < batch_size:
            g = order[pos]
            pos += 1
            puzzle = rng.integers(split.group_indices[g], split.group_indices[g + 1])
            first, size = split.puzzle_indices[puzzle], int(split.puzzle_indices[puzzle + 1] - split.puzzle_indices[puzzle])
            take = min(size, batch_size - filled)
            examples.append(first + rng.choice(size, take, replace=False))
            puzzles.append(np.full(take, puzzle))
            filled += take
        if filled < batch_size:
            return
        ex, pz = np.concatenate(examples), np.concatenate(puzzles)
        sl = slice(rank * local, (rank + 1) * local)
        yield collate(split, ex[sl], pz[sl], local)
