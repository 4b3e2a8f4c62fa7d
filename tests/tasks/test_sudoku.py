"""Sudoku: transform invertibility, invariant key, leak-free proxy build with valid labels."""
from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest

from redge.cli import main
from redge.tasks import sudoku
from redge.tasks.format import validate_dataset
from redge.tasks.sudoku_symmetry import (
    apply_transforms,
    invert_transforms,
    random_transforms,
    symmetry_keys,
)


@pytest.fixture(scope="module")
def small_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 real rows (both tdoku lists) plus 300 symmetric copies, as a gzip CSV."""
    from redge.tasks.sources import shared_data_dir

    src = shared_data_dir() / "sudoku-tdoku-benchmarks" / "solved_rated.csv.gz"
    if not src.is_file():
        pytest.skip("shared sudoku data missing")
    with gzip.open(src, "rt") as f:
        rows = list(csv.reader(f))
    body = rows[1:751] + rows[-750:]
    q = np.array([[0 if c == "." else int(c) for c in r[1]] for r in body[-300:]], np.uint8)
    a = np.array([[int(c) for c in r[2]] for r in body[-300:]], np.uint8)
    cells, digits = random_transforms(300, np.random.default_rng(1))
    tq, ta = apply_transforms(q, cells, digits), apply_transforms(a, cells, digits)
    copies = [[r[0], "".join("." if d == 0 else str(d) for d in x), "".join(map(str, y)), r[3]]
              for r, x, y in zip(body[-300:], tq, ta)]
    path = tmp_path_factory.mktemp("sudoku") / "small.csv.gz"
    with gzip.open(path, "wt", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([rows[0]] + body + copies)
    return path


def test_transforms_invert_to_identity() -> None:
    rng = np.random.default_rng(0)
    grids = rng.integers(0, 10, (200, 81)).astype(np.uint8)
    cells, digits = random_transforms(200, rng)
    moved = apply_transforms(grids, cells, digits)
    assert not np.array_equal(moved, grids)
    assert np.array_equal(apply_transforms(moved, *invert_transforms(cells, digits)), grids)


def test_transforms_keep_valid_solutions(fixtures: Path) -> None:
    s = sudoku.read_sudoku_csv(fixtures / "sudoku_csv" / "train.csv")
    cells, digits = random_transforms(len(s.answers), np.random.default_rng(3))
    q, a = apply_transforms(s.questions, cells, digits), apply_transforms(s.answers, cells, digits)
    assert not sudoku.invalid_solutions(q + 1, a + 1).any()


def test_key_is_invariant_and_separates() -> None:
    s = sudoku.read_sudoku_csv(Path(__file__).parent / "fixtures" / "sudoku_csv" / "train.csv")
    q = np.repeat(s.questions, 20, 0)
    cells, digits = random_transforms(len(q), np.random.default_rng(5))
    assert np.array_equal(symmetry_keys(q), symmetry_keys(apply_transforms(q, cells, digits)))
    keys = {bytes(k) for k in symmetry_keys(s.questions)}
    assert len(keys) == len(s.questions)


def test_invalid_solutions_detects_errors(fixtures: Path) -> None:
    s = sudoku.read_sudoku_csv(fixtures / "sudoku_csv" / "train.csv")
    x, y = s.questions + 1, s.answers.astype(np.uint8) + 1
    assert not sudoku.invalid_solutions(x, y).any()
    y2 = y.copy()
    y2[0, [0, 1]] = y2[0, [1, 0]]  # swap two cells: breaks columns
    x2 = x.copy()
    given = np.nonzero(x2[1] > 1)[0][0]
    x2[1, given] = 2 + (x2[1, given] - 1) % 9  # clue contradicting the answer
    bad = sudoku.invalid_solutions(x2, y2)
    assert bad[0] and bad[1] and not bad[2:].any()


def test_proxy_build_is_leak_free_valid_and_seeded(small_source: Path, tmp_path: Path) -> None:
    kw = dict(source=small_source, train_size=100, num_aug=3, test_fraction=0.3, progress=False)
    info = sudoku.build_proxy(tmp_path / "a", **kw)
    sudoku.build_proxy(tmp_path / "b", **kw)
    splits = validate_dataset(tmp_path / "a")
    train, test = splits["train"], splits["test"]
    assert info["train_puzzles"] == 400 and train.metadata.total_groups == 100 and len(test.inputs) > 0
    assert len(sudoku.leaked_test_puzzles(train, test, group_heads_only=False)) == 0
    for s in (train, test):
        assert not sudoku.invalid_solutions(s.inputs, s.labels).any()
    for f in ("train/all__inputs.npy", "test/all__labels.npy"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_cli_build_and_validate(small_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    assert main(["data", "build", "sudoku", "--source", str(small_source), "--out", str(out), "--train-size", "10",
                 "--num-aug", "2", "--all-sources", "--json"]) == 0
    assert main(["data", "validate", str(out), "--json"]) == 0


def test_bad_csv_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "train.csv"
    bad.write_text("source,question,answer,rating\nx,12,34,0\n")
    (tmp_path / "test.csv").write_text(bad.read_text())
    assert main(["data", "build", "sudoku", "--csv-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "train.csv" in capsys.readouterr().err
