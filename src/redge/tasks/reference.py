"""The reference data sets that training and the model cards use: generated unique-solution Sudoku, the real hard
list split by symmetry class, Maze-Hard, and the small `sudoku-easy` set built on first use.

They are built from the task modules' builders; `redge train-data` and `redge train` call these functions.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from redge.core.atomic import atomic_dir, check_output_path
from redge.core.errors import RedgeInputError, check_range
from redge.tasks import sudoku
from redge.tasks.build import BUILD_MARKER, build_dataset
from redge.tasks.format import save_identifiers
from redge.tasks.generate import generate_sudoku

EASY_SUDOKU = "sudoku-easy"


def ensure_data(path: str | Path) -> None:
    """Build a missing dataset folder whose name is a known recipe (`sudoku-easy`: 5000 train / 500 test generated
    unique-solution puzzles with 50-60 givens, a few seconds); any other missing folder is an input error."""
    path = Path(path)
    if (path / "train" / "dataset.json").exists():
        return
    if path.name != EASY_SUDOKU:
        raise RedgeInputError("no dataset here (expected train/dataset.json); build it first", path)
    with atomic_dir(path, replaces="identifiers.json") as tmp:  # the folder appears whole or not at all
        for split, n, seed in (("test", 500, 1), ("train", 5000, 0)):
            puzzles, solutions = generate_sudoku(n, np.random.default_rng(seed), min_givens=50, max_givens=60)
            sudoku.write_split(tmp, split, puzzles, solutions, 1)
        save_identifiers(tmp, ["<blank>"])


def _generate_chunk(args: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
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
    out = check_output_path(out, directory=True)  # before any generation
    check_range("--generated-train", generated_train, 0)
    check_range("--maze-train", maze_train, 0)
    paths = {}
    gen = out / "sudoku-gen"
    for split, n, s in (("test", generated_test, seed + 1), ("train", generated_train, seed)):
        if n > 0 and not (gen / split / "dataset.json").exists():
            sudoku.write_split(gen, split, *generate_pool(n, s, workers), 1)
    save_identifiers(gen, ["<blank>"])
    paths["sudoku-gen"] = str(gen)
    hard = out / "sudoku-hard"
    if not (hard / "test" / "dataset.json").exists():
        with atomic_dir(hard, replaces=BUILD_MARKER) as tmp:
            sudoku.build_proxy(tmp, full=True, num_aug=0, test_size=hard_test, seed=seed, progress=False)
    paths["sudoku-hard"] = str(hard)
    if maze_train > 0:
        mz = out / "maze-hard"
        if not (mz / "test" / "dataset.json").exists():
            build_dataset("maze", mz, train_size=maze_train, test_size=1000, seed=seed, progress=False)
        paths["maze-hard"] = str(mz)
    return paths
