"""The tasks' label-free answer checks (`Task.answer_check`): the shipped samples' labels pass, their inputs and
damaged answers fail, and a task whose answers cannot be checked (ARC) has none."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from redge.tasks.format import load_split
from redge.tasks.registry import answer_check

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def test_a_sudoku_answer_passes_only_when_complete_valid_and_keeping_its_clues() -> None:
    split = load_split(SAMPLES / "sudoku", "test")
    check = answer_check(split.metadata)
    x, y = split.inputs, split.labels
    assert check(x, y).all() and not check(x, x).any()  # the solutions pass; the unfilled grids do not
    swapped = y.copy()  # two cells of one row swapped: rows still hold 1..9, columns no longer do
    swapped[:, [0, 1]] = swapped[:, [1, 0]]
    assert not check(x, swapped).any()
    other = np.roll(y, 1, axis=0)  # another puzzle's valid solution breaks this puzzle's clues
    assert not check(x, other)[(x != np.roll(x, 1, axis=0)).any(1)].any()
    padded = y.copy()
    padded[:, 40] = 0
    assert not check(x, padded).any()


def test_a_maze_answer_passes_only_as_a_shortest_path_on_open_cells() -> None:
    split = load_split(SAMPLES / "maze", "test")
    check = answer_check(split.metadata)
    x, y = split.inputs, split.labels
    path, open_ = 5, 2
    assert check(x, y).all() and not check(x, x).any()
    cut = y.copy()  # one path cell missing: S and G no longer joined
    first = (cut == path).argmax(1)
    cut[np.arange(len(cut)), first] = open_
    assert not check(x, cut).any()
    detour = y.copy()  # one more marked open cell: the marked cells are longer than the shortest path
    spare = ((x == open_) & (y == open_)).argmax(1)
    detour[np.arange(len(detour)), spare] = path
    assert not check(x, detour).any()
    wall = y.copy()  # a wall drawn over: the answer changed the maze
    wall[np.arange(len(wall)), (x == 1).argmax(1)] = open_
    assert not check(x, wall).any()


def test_arc_answers_cannot_be_checked_without_labels() -> None:
    assert answer_check(load_split(SAMPLES / "arc", "test").metadata) is None
