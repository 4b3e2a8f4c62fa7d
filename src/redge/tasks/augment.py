"""Grid symmetries shared by the builders (the 8 dihedral transforms and colour permutations), and the on-the-fly
training augmentations a task names (:data:`AUGMENTATIONS`).

Dihedral ids follow the official ``dataset/common.py``: 0 identity, 1-3 ``rot90^k``, 4 ``fliplr``, 5 ``flipud``,
6 transpose, 7 anti-transpose; ``DIHEDRAL_INVERSE[t]`` undoes ``t``.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from redge.core.errors import RedgeInputError
from redge.tasks.sudoku_symmetry import apply_transforms, random_transforms

DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)


def dihedral(grid: np.ndarray, tid: int) -> np.ndarray:
    """Apply dihedral transform ``tid`` (0..7) to the last two axes of ``grid``."""
    if not 0 <= tid < 8:
        raise ValueError(f"dihedral id {tid} not in 0..7")
    if tid in (1, 2, 3):
        return np.rot90(grid, k=tid, axes=(-2, -1))
    if tid == 4:
        return np.flip(grid, -1)
    if tid == 5:
        return np.flip(grid, -2)
    if tid == 6:
        return np.swapaxes(grid, -1, -2)
    if tid == 7:
        return np.flip(np.rot90(grid, k=1, axes=(-2, -1)), -1)
    return grid


def inverse_dihedral(grid: np.ndarray, tid: int) -> np.ndarray:
    """Undo :func:`dihedral` with the same ``tid``."""
    return dihedral(grid, DIHEDRAL_INVERSE[tid])


def inverse_permutation(perm: np.ndarray) -> np.ndarray:
    """The permutation ``inv`` with ``inv[perm] == arange`` (for value maps such as colour permutations)."""
    perm = np.asarray(perm)
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm), dtype=perm.dtype)
    return inv


Rows = tuple[np.ndarray, np.ndarray]


def _none(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> Rows:
    return inputs, labels


def _sudoku(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> Rows:
    """One random validity-preserving Sudoku symmetry per row (tokens: digit d is token d + 1, blank 1)."""
    cells, digits = random_transforms(inputs.shape[0], rng)
    move = lambda t: apply_transforms(t - 1, cells, digits).astype(np.int64) + 1  # noqa: E731
    return move(inputs), move(labels)


def _dihedral(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> Rows:
    """One random dihedral transform per row of square grids (Maze)."""
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


# name -> (inputs [N, seq_len], labels, rng) -> (inputs, labels): the same transform applied to both, per row.
AUGMENTATIONS: dict[str, Callable[[np.ndarray, np.ndarray, np.random.Generator], Rows]] = {
    "none": _none, "sudoku": _sudoku, "dihedral": _dihedral}


def augment_batch(kind: str, inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> Rows:
    """Apply augmentation `kind` (a key of :data:`AUGMENTATIONS`) to a batch of token rows."""
    if kind not in AUGMENTATIONS:
        raise RedgeInputError(f"augmentation must be one of {', '.join(AUGMENTATIONS)}, got {kind!r}")
    return AUGMENTATIONS[kind](inputs, labels, rng)
