"""The training stream takes its augmentation from the data's task (task registry) unless the config names one."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from redge.core.errors import RedgeInputError
from redge.tasks.format import load_split
from redge.tasks.sudoku import invalid_solutions
from redge.train.data import PuzzleStream, open_stream

FIXTURES = Path(__file__).resolve().parents[1] / "tasks" / "fixtures"


@pytest.mark.parametrize("folder, expected", [("official_sudoku", "sudoku"), ("official_maze", "dihedral"),
                                              ("official_arc", "none")])
def test_augmentation_defaults_to_the_tasks(folder: str, expected: str) -> None:
    assert open_stream([FIXTURES / folder], None, None, 0, 4).augment == expected


def test_explicit_augmentation_wins_and_is_applied(micro_data: str) -> None:
    plain, moved = (open_stream([micro_data], None, kind, 0, 8) for kind in ("none", "sudoku"))
    a, b = plain.global_arrays(3), moved.global_arrays(3)
    assert moved.augment == "sudoku" and not np.array_equal(a["inputs"], b["inputs"])
    assert not invalid_solutions(b["inputs"], b["labels"]).any()  # moved by a Sudoku symmetry: still solutions


def test_data_of_no_task_needs_an_explicit_augmentation() -> None:
    split = load_split(FIXTURES / "official_sudoku", "train", mmap=False)
    other = dataclasses.replace(split, metadata=dataclasses.replace(split.metadata, vocab_size=13))
    with pytest.raises(RedgeInputError, match="no registered task"):
        PuzzleStream([other], None, None, 0, 4)
    assert PuzzleStream([other], None, "none", 0, 4).augment == "none"
