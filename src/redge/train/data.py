"""Training data: an endless, seeded stream of augmented examples from official-format splits, and the builder of
the reference data sets (generated unique-solution Sudoku, the real hard list split by symmetry class, Maze-Hard).

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
from redge.tasks.augment import dihedral
from redge.tasks.format import PuzzleSplit, load_split
from redge.tasks.loader import IGNORE_LABEL_ID
from redge.tasks.sudoku_symmetry import apply_transforms, random_transforms

AUGMENTATIONS = ("none", "sudoku", "dihedral")


@dataclass
class _Source:
    split: PuzzleSplit
    example_puzzle: np.ndarray  # puzzle index of each example


class PuzzleStream:
    """Random examples from one or more splits (mixed by `weights`), augmented on the fly, in global batches."""

    def __init__(self, splits: list[PuzzleSplit], weights: list[float] | None, augment: str, seed: int,
                 global_batch: int, rank: int = 0, world_size: int = 1) -> None:
        if augment not in AUGMENTATIONS:
            raise RedgeInputError(f"augmentation must be one of {AUGMENTATIONS}, got {augment!r}")
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
        inputs, labels = _augment(self.augment, inputs, labels, rng)
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


def _augment(kind: str, inputs: np.ndarray, labels: np.ndarray,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Apply one random symmetry per row to inputs and labels alike (Sudoku tokens: digit d is token d + 1)."""
    if kind == "sudoku":
        cells, digits = random_transforms(inputs.shape[0], rng)
        move = lambda t: apply_transforms(t - 1, cells, digits).astype(np.int64) + 1  # noqa: E731
        return move(inputs), move(labels)
    if kind == "dihedral":
        n, seq = inputs.shape
        side = int(round(seq ** 0.5))
        if side * side != seq:
            raise RedgeInputError(f"dihedral augmentation needs square grids, seq_len is {seq}")
        tid = rng.integers(0, 8, size=n)
        out_i, out_l = inputs.copy(), labels.copy()
        for t in range(1, 8):
            rows = np.nonzero(tid == t)[0]
            out_i[rows] = dihedral(inputs[rows].reshape(-1, side, side), t).reshape(-1, seq)
            out_l[rows] = dihedral(labels[rows].reshape(-1, side, side), t).reshape(-1, seq)
        return out_i, out_l
    return inputs, labels


def open_stream(data_dirs: list[str | Path], weights: list[float] | None, augment: str, seed: int,
                global_batch: int, rank: int = 0, world_size: int = 1) -> PuzzleStream:
    """A `PuzzleStream` over the `train` splits of the given dataset folders."""
    splits = [load_split(d, "train", mmap=False) for d in data_dirs]
    return PuzzleStream(splits, weights, augment, seed, global_batch, rank, world_size)


EASY_SUDOKU = "sudoku-easy"


def ensure_data(path: str | Path) -> None:
    """Build a missing dataset folder whose name is a known recipe (`sudoku-easy`: 5000 train / 500 test generated
    unique-solution puzzles with 50-60 givens, a few seconds); any other missing folder is an input error."""
    path = Path(path)
    if (path / "train" / "dataset.json").exists():
        return
    if path.name != EASY_SUDOKU:
        raise RedgeInputError("no dataset here (expected train/dataset.json); build it first", path)
    from redge.tasks import sudoku
    from redge.tasks.format import save_identifiers
    from redge.tasks.generate import generate_sudoku

    for split, n, seed in (("test", 500, 1), ("train", 5000, 0)):
        puzzles, solutions = generate_sudoku(n, np.random.default_rng(seed), min_givens=50, max_givens=60)
        sudoku.write_split(path, split, puzzles, solutions, 1)
    save_identifiers(path, ["<blank>"])


def _generate_chunk(args: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    from redge.tasks.generate import generate_sudoku

    n, seed, index = args
    return generate_sudoku(n, np.random.default_rng([seed, index]))


def generate_pool(n: int, seed: int, workers: int = 1, chunk: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """`n` unique-solution puzzles (22-30 givens) and solutions, generated in seeded chunks (the result does not
    depend on `workers`)."""
    jobs = [(min(chunk, n - start), seed, i) for i, start in enumerate(range(0, n, chunk))]
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_generate_chunk, jobs)
    else:
        parts = [_generate_chunk(job) for job in jobs]
    return np.concatenate([p for p, _ in parts]), np.concatenate([s for _, s in parts])


def build_reference_data(out: str | Path, generated_train: int = 20000, generated_test: int = 1000,
                         hard_test: int = 1000, maze_train: int = 0, seed: int = 0, workers: int = 1
                         ) -> dict[str, str]:
    """Build the reference training/evaluation folders under `out` (splits already present are kept) and return
    their paths by name.

    * `sudoku-gen`: unique-solution puzzles with 22-30 givens (`redge.tasks.generate`), train and test from
      different seeds (a repeat of a test grid in train has probability ~0).
    * `sudoku-hard`: the forum-hardest list split by symmetry class (`redge.tasks.sudoku.build_proxy`), every train
      puzzle kept (augmented on the fly while training), `hard_test` held-out puzzles.
    * `maze-hard` (when `maze_train` > 0): generated 30x30 Maze-Hard, `maze_train` train and 1000 test mazes.
    """
    from redge.tasks import maze, sudoku
    from redge.tasks.format import save_identifiers

    out = Path(out)
    paths = {}
    gen = out / "sudoku-gen"
    for split, n, s in (("test", generated_test, seed + 1), ("train", generated_train, seed)):
        if n > 0 and not (gen / split / "dataset.json").exists():
            sudoku.write_split(gen, split, *generate_pool(n, s, workers), 1)
    save_identifiers(gen, ["<blank>"])
    paths["sudoku-gen"] = str(gen)
    hard = out / "sudoku-hard"
    if not (hard / "test" / "dataset.json").exists():
        sudoku.build_proxy(hard, full=True, num_aug=0, test_size=hard_test, seed=seed, progress=False)
    paths["sudoku-hard"] = str(hard)
    if maze_train > 0:
        mz = out / "maze-hard"
        if not (mz / "test" / "dataset.json").exists():
            maze.build(mz, train_size=maze_train, test_size=1000, seed=seed, progress=False)
        paths["maze-hard"] = str(mz)
    return paths
