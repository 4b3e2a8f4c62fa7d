"""Maze-Hard: generated mazes satisfy every property; the checks catch broken ones; BFS is right."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from redge.cli import main
from redge.tasks import maze
from redge.tasks.format import validate_dataset


# sha256 of the questions then answers (character grids) of generate(6, default_rng(0), batch=2048): a seed's mazes
# must not change when the generator is optimised.
SEED0_DIGEST = "b38caee091de81331a227d30b8ba303917a996b35e1817b51571e6d752741056"


@pytest.fixture(scope="module")
def generated() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return maze.generate(6, np.random.default_rng(0), batch=2048, progress=False)


@pytest.fixture(scope="module")
def mazes(generated: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    q, a, lens = generated
    assert (lens > 110).all()
    return maze.to_tokens(q), maze.to_tokens(a)


def test_seed_gives_the_same_mazes(generated: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    q, a, lens = generated
    assert hashlib.sha256(q.tobytes() + a.tobytes()).hexdigest() == SEED0_DIGEST
    assert lens.tolist() == [112, 114, 111, 111, 111, 113]


def test_bit_rows_round_trip() -> None:
    cells = np.random.default_rng(1).random((5, 30, 30)) < 0.5
    rows = maze._to_rows(cells)
    assert rows.dtype == np.uint64 and int(rows[2, 7]) == sum(1 << j for j in range(30) if cells[2, 7, j])
    assert np.array_equal(maze._from_rows(rows, 30), cells.reshape(5, -1))
    one = maze._cell_rows(np.array([0, 31, 899]), 30)
    assert np.array_equal(maze._from_rows(one, 30).nonzero()[1], [0, 31, 899])


def test_generated_mazes_pass_all_checks(mazes: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = mazes
    assert all(not bad.any() for bad in maze.check_mazes(x, y).values())
    walls = (x == 1).mean(1)
    assert ((walls >= 0.3) & (walls <= 0.5)).all()


def test_checks_catch_broken_mazes(mazes: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = mazes[0].copy(), mazes[1].copy()
    path_cells = np.nonzero(y[0] == 5)[0]
    y[0, path_cells[len(path_cells) // 2]] = 2  # path broken
    x[1, np.nonzero(x[1] == 3)[0]] = 2  # start removed
    y[1] = np.where(y[1] == 3, 2, y[1])
    y[2, np.nonzero(y[2] == 2)[0][0]] = 5  # extra path cell: not a shortest path
    bad = maze.check_mazes(x, y)
    assert bad["not_shortest"][0] and bad["start_goal"][1] and bad["not_shortest"][2]
    assert not bad["not_shortest"][3:].any()
    assert maze.check_mazes(x[3:], y[3:], min_path=500)["too_short"].all()


def test_bfs_distances_on_a_small_grid() -> None:
    free = np.array([[1, 1, 1], [0, 0, 1], [1, 1, 1]], bool)[None]
    src = np.zeros_like(free)
    src[0, 0, 0] = True
    dist = maze.bfs(free, src)[0]
    assert dist.tolist() == [[0, 1, 2], [-1, -1, 3], [6, 5, 4]]


def test_cli_build_writes_csv_and_npy(tmp_path: Path) -> None:
    out = tmp_path / "m"
    assert main(["data", "build", "maze", "--out", str(out), "--train", "2", "--test", "2", "--json"]) == 0
    splits = validate_dataset(out)
    assert len(splits["train"].inputs) == 2 and len(splits["test"].inputs) == 2
    x, y = maze.read_maze_csv(out / "csv" / "train.csv")
    assert np.array_equal(maze.to_tokens(x), splits["train"].inputs)
    assert main(["data", "validate", str(out)]) == 0
