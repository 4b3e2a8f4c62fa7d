"""Training data: an endless, seeded stream of augmented examples from official-format splits (the data sets
themselves are built by the tasks layer, `redge.tasks.reference`).

`PuzzleStream.batch(step)` returns this rank's slice of the global batch of `step`. The global batch depends only on
(seed, step), never on the world size, so 1 process and N processes see the same rows: the training loop swaps them
in for halted rows, as the official ACT wrapper does with each new batch.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from redge.core.errors import RedgeInputError
from redge.tasks.augment import AUGMENTATIONS, augment_batch
from redge.tasks.format import PuzzleSplit, load_split
from redge.tasks.loader import IGNORE_LABEL_ID
from redge.tasks.registry import task_of_dataset


@dataclass
class _Source:
    split: PuzzleSplit
    example_puzzle: np.ndarray  # puzzle index of each example


class PuzzleStream:
    """Random examples from one or more splits (mixed by `weights`), augmented on the fly, in global batches.

    `augment` names a key of `redge.tasks.augment.AUGMENTATIONS`; None takes the data's task's (task registry)."""

    def __init__(self, splits: list[PuzzleSplit], weights: list[float] | None, augment: str | None, seed: int,
                 global_batch: int, rank: int = 0, world_size: int = 1) -> None:
        augment = augment if augment is not None else _task_augmentation(splits[0])
        if augment not in AUGMENTATIONS:
            raise RedgeInputError(f"augmentation must be one of {', '.join(AUGMENTATIONS)}, got {augment!r}")
        if global_batch % world_size:
            raise RedgeInputError(f"global batch {global_batch} is not a multiple of world size {world_size}")
        seq = {s.metadata.seq_len for s in splits}
        if len(seq) != 1:
            raise RedgeInputError(f"training splits disagree on seq_len: {sorted(seq)}")
        self.sources = [_Source(s, np.repeat(np.arange(len(s.puzzle_identifiers)), np.diff(s.puzzle_indices)))
                        for s in splits]
        w = np.asarray(weights if weights is not None else [1.0] * len(splits), dtype=np.float64)
        self.weights = w / w.sum()
        self.augment = augment
        self.seed = seed
        self.global_batch = global_batch
        self.local = global_batch // world_size
        self.rank = rank
        self.metadata = splits[0].metadata

    def global_arrays(self, step: int) -> dict[str, np.ndarray]:
        """The whole global batch of `step` as numpy arrays (inputs, labels with -100, puzzle_identifiers)."""
        rng = np.random.default_rng([self.seed, step])
        which = rng.choice(len(self.sources), size=self.global_batch, p=self.weights)
        inputs = np.empty((self.global_batch, self.metadata.seq_len), dtype=np.int64)
        labels = np.empty_like(inputs)
        ids = np.empty(self.global_batch, dtype=np.int64)
        for k, src in enumerate(self.sources):
            rows = np.nonzero(which == k)[0]
            ex = rng.integers(0, src.split.num_examples, size=rows.size)
            inputs[rows] = np.asarray(src.split.inputs[ex])
            labels[rows] = np.asarray(src.split.labels[ex])
            ids[rows] = np.asarray(src.split.puzzle_identifiers)[src.example_puzzle[ex]]
        inputs, labels = augment_batch(self.augment, inputs, labels, rng)
        ignore = self.metadata.ignore_label_id
        if ignore is not None:
            labels = np.where(labels == ignore, IGNORE_LABEL_ID, labels)
        return {"inputs": inputs, "labels": labels, "puzzle_identifiers": ids}

    def host_batch(self, step: int, pin: bool = False) -> dict[str, torch.Tensor]:
        """This rank's rows of the global batch of `step`, as int32 CPU tensors (page-locked with `pin`, so the
        copy to a GPU is asynchronous)."""
        sl = slice(self.rank * self.local, (self.rank + 1) * self.local)
        out = {k: torch.from_numpy(v[sl].astype(np.int32)) for k, v in self.global_arrays(step).items()}
        return {k: v.pin_memory() for k, v in out.items()} if pin else out

    def batch(self, step: int, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """This rank's rows of the global batch of `step`, as int32 tensors on `device`."""
        return {k: v.to(device) for k, v in self.host_batch(step).items()}


class BatchPrefetcher:
    """Builds the next step's batch in a background thread while the device works on this one; same rows as
    `PuzzleStream.batch`. `close()` ends the thread."""

    def __init__(self, stream: PuzzleStream, device: torch.device) -> None:
        self.stream = stream
        self.device = device
        self.pin = device.type == "cuda"
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redge-batches")
        self.pending: dict[int, Future] = {}

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        """The batch of `step` on the device; starts building the batch of `step + 1`."""
        ready = self.pending.pop(step, None) or self.pool.submit(self.stream.host_batch, step, self.pin)
        self.pending = {step + 1: self.pool.submit(self.stream.host_batch, step + 1, self.pin)}
        return {k: v.to(self.device, non_blocking=True) for k, v in ready.result().items()}

    def close(self) -> None:
        """Stop the background thread (a batch being built is finished, queued ones are dropped)."""
        self.pool.shutdown(wait=True, cancel_futures=True)


def _task_augmentation(split: PuzzleSplit) -> str:
    """The augmentation of the split's task; an input error when the data is of no registered task."""
    task = task_of_dataset(split.metadata)
    if task is None:
        raise RedgeInputError("the training data is of no registered task (vocab_size "
                              f"{split.metadata.vocab_size}, seq_len {split.metadata.seq_len}): set augment to one of "
                              f"{', '.join(AUGMENTATIONS)}", split.path)
    return task.augment


def open_stream(data_dirs: list[str | Path], weights: list[float] | None, augment: str | None, seed: int,
                global_batch: int, rank: int = 0, world_size: int = 1) -> PuzzleStream:
    """A `PuzzleStream` over the `train` splits of the given dataset folders."""
    splits = [load_split(d, "train", mmap=False) for d in data_dirs]
    return PuzzleStream(splits, weights, augment, seed, global_batch, rank, world_size)
