"""Grid symmetries shared by the builders: the 8 dihedral transforms and colour permutations.

Dihedral ids follow the official ``dataset/common.py``: 0 identity, 1-3 ``rot90^k``, 4 ``fliplr``, 5 ``flipud``,
6 transpose, 7 anti-transpose; ``DIHEDRAL_INVERSE[t]`` undoes ``t``.
"""
from __future__ import annotations

import numpy as np

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
