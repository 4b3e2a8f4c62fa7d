"""tdoku's Sudoku puzzle lists (one puzzle of 81 characters per line, ``#`` comments) solved into HRM's CSV layout.

The lists hold puzzles only; the builders read ``source,question,answer,rating`` rows. Every puzzle is solved by
redge's batched solver (:func:`redge.tasks.generate.solve_rated`), which also proves the solution unique; a puzzle
without exactly one solution is an error. ``rating`` is the number of branch points that search opened (not tdoku's
guess count, which ``../shared/data`` holds: a different solver gives different numbers; the proxy builder does
not use the rating). Row order: the lists in the order given, each in file order.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from redge.core.errors import RedgeInputError
from redge.core.progress import progress_bar
from redge.tasks.generate import solve_rated
from redge.tasks.sources import write_puzzle_csv

BATCH = 1024
_CELLS = frozenset(".0123456789")


def read_list(path: Path) -> list[str]:
    """The puzzles of one tdoku list ('.' for blanks): the first 81 characters of each line that is not a comment
    or empty. A line that is not a puzzle is a one-line error naming the file and line."""
    puzzles = []
    with open(path, encoding="ascii", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line or line.startswith("#"):
                continue
            puzzle = line[:81]
            if len(puzzle) != 81 or not set(puzzle) <= _CELLS:
                raise RedgeInputError(f"line {number}: not a puzzle of 81 cells ('.' or 0-9)", path)
            puzzles.append(puzzle.replace("0", "."))
    if not puzzles:
        raise RedgeInputError("no puzzles", path)
    return puzzles


def solve_lists(lists: dict[str, Path], out: Path, progress: bool = True) -> int:
    """Solve every puzzle of `lists` (source name -> list file) and write them to `out` (HRM CSV layout, gzip when
    it ends in ``.gz``); returns the number of rows."""
    sources, questions = [], []
    for name, path in lists.items():
        puzzles = read_list(path)
        sources += [name] * len(puzzles)
        questions += puzzles
    answers, ratings = [], []
    with progress_bar("solve tdoku lists", len(questions), progress) as advance:
        for start in range(0, len(questions), BATCH):
            chunk = questions[start:start + BATCH]
            grid = np.frombuffer("".join(chunk).replace(".", "0").encode("ascii"), np.uint8).reshape(-1, 81) - 48
            counts, solutions, branches = solve_rated(grid)
            bad = np.nonzero(counts != 1)[0]
            if bad.size:
                i = start + int(bad[0])
                raise RedgeInputError(f"puzzle {questions[i]} has {'no' if counts[bad[0]] == 0 else 'more than one'} "
                                      f"solution", lists[sources[i]])
            text = (solutions + 48).astype(np.uint8).tobytes().decode("ascii")
            answers += [text[i:i + 81] for i in range(0, len(text), 81)]
            ratings += branches.tolist()
            advance(len(chunk))
    write_puzzle_csv(out, sources, questions, answers, ratings)
    return len(questions)
