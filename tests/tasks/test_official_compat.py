"""Our builders reproduce the official TRM builders byte for byte on the committed tiny inputs."""
from __future__ import annotations

from pathlib import Path

import pytest

from redge.tasks import arc, maze, sudoku
from redge.tasks.format import validate_dataset


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _same_bytes(official: Path, ours: Path) -> None:
    for rel in _files(official):
        assert (official / rel).read_bytes() == (ours / rel).read_bytes(), rel


@pytest.mark.parametrize("name", ["arc", "sudoku", "maze"])
def test_official_folders_load_unchanged(fixtures: Path, name: str) -> None:
    splits = validate_dataset(fixtures / f"official_{name}")
    assert set(splits) == {"train", "test"}


def test_arc_build_matches_official(fixtures: Path, tmp_path: Path) -> None:
    tasks = arc.load_kaggle(fixtures / "arc_input" / "arc-agi", ["training", "evaluation"])
    arc.build(tmp_path, tasks, "evaluation", num_aug=3, seed=42, progress=False)
    _same_bytes(fixtures / "official_arc", tmp_path)


def test_sudoku_csv_build_matches_official(fixtures: Path, tmp_path: Path) -> None:
    sudoku.build_from_csv(fixtures / "sudoku_csv", tmp_path, num_aug=0, progress=False)
    _same_bytes(fixtures / "official_sudoku", tmp_path)


def test_maze_csv_build_matches_official(fixtures: Path, tmp_path: Path) -> None:
    maze.build(tmp_path, csv_dir=fixtures / "maze_csv", aug=True, progress=False)
    _same_bytes(fixtures / "official_maze", tmp_path)
