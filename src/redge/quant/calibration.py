"""The calibration set of calibrated and GPTQ recipes: the first batches of an official-format dataset split."""
from __future__ import annotations

import itertools
from pathlib import Path

import torch

from redge.tasks.format import load_split
from redge.tasks.loader import iter_eval_batches


def calibration_batches(data: Path, split: str = "train", batches: int = 4, batch_size: int = 16
                        ) -> list[dict[str, torch.Tensor]]:
    """The first `batches` batches of `batch_size` puzzles of `data/split` (inputs and puzzle identifiers: the labels
    are not loaded), in file order so the same data gives the same statistics."""
    loaded = load_split(data, split, labels=False)
    return [b for b, _ in itertools.islice(iter_eval_batches(loaded, batch_size, pad=False), batches)]
