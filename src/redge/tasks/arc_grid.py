"""ARC grids on the 30x30 token canvas, shared by the builder (`arc.py`) and the evaluator (`arc_eval.py`).

Tokens: 0 pad, 1 end-of-grid (the row and column closing a grid), 2..11 colours 0..9. Augmented puzzle identifiers
join the task name and the augmentation with `SEP`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from redge.core.errors import RedgeInputError

MAX_SIZE = 30
VOCAB_SIZE = 12
SEP = "|||"


def to_grid(grid: Any, where: str) -> np.ndarray:
    """A JSON grid (list of rows of 0..9, at most 30x30) as a uint8 array; ``where`` names it in errors."""
    try:
        arr = np.array(grid)
    except ValueError:
        arr = None
    if arr is None or arr.ndim != 2 or arr.dtype.kind not in "iu" or arr.size == 0:
        raise RedgeInputError(f"{where}: not a rectangular grid of integers")
    if arr.shape[0] > MAX_SIZE or arr.shape[1] > MAX_SIZE:
        raise RedgeInputError(f"{where}: grid {arr.shape} larger than 30x30")
    if arr.min() < 0 or arr.max() > 9:
        raise RedgeInputError(f"{where}: colour outside 0..9")
    return arr.astype(np.uint8)


def encode_pair(inp: np.ndarray, out: np.ndarray, offset: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Both grids as 900 tokens at the same top-left ``offset``, each closed by its EOS row and column."""
    r, c = offset
    rows = []
    for g in (inp, out):
        canvas = np.zeros((MAX_SIZE, MAX_SIZE), np.uint8)
        h, w = g.shape
        canvas[r:r + h, c:c + w] = g + 2
        if r + h < MAX_SIZE:
            canvas[r + h, c:c + w] = 1
        if c + w < MAX_SIZE:
            canvas[r:r + h, c + w] = 1
        rows.append(canvas.reshape(-1))
    return rows[0], rows[1]


def crop(tokens: np.ndarray) -> np.ndarray:
    """The largest top-left rectangle of colour tokens (2..11) of a 900-token canvas, as colours 0..9."""
    g = np.asarray(tokens).reshape(MAX_SIZE, MAX_SIZE)
    colour = (g >= 2) & (g <= 11)
    run = np.where(colour.all(1), MAX_SIZE, np.argmin(colour, axis=1))  # colour prefix length per row
    width = np.minimum.accumulate(run)
    area = width * np.arange(1, MAX_SIZE + 1)
    if area.max() == 0:
        return np.zeros((0, 0), np.uint8)
    rows = int(np.argmax(area)) + 1
    return (g[:rows, :width[rows - 1]] - 2).astype(np.uint8)
