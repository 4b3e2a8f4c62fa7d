"""The task registry: lookup by name, recognition of datasets and checkpoints, one-line errors, and adding a task
by registering one module (a toy task built, validated and scored through the registry alone)."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from redge.cli import main
from redge.core.errors import RedgeInputError
from redge.tasks import registry
from redge.tasks.format import load_split
from redge.tasks.registry import (
    Task,
    all_tasks,
    get_task,
    task_of_checkpoint,
    task_of_dataset,
)
from redge.tasks.validate import check_dataset, describe_dataset

# name -> (vocab_size, seq_len, TRM cycles, blank tokens, augmentation), from the official builders and configs
OFFICIAL = {"sudoku": (11, 81, (3, 6), (1,), "sudoku"), "maze": (6, 900, (3, 4), (2,), "dihedral"),
            "arc": (12, 900, (3, 4), (), "none")}


@pytest.mark.parametrize("name", OFFICIAL)
def test_lookup_by_name_gives_the_official_description(name: str) -> None:
    task = get_task(name)
    assert (task.vocab_size, task.seq_len, task.cycles["trm"], task.blank_tokens, task.augment) == OFFICIAL[name]
    assert task.cycles["hrm"] == (2, 2) and task.act_depth == 16 and task.pad_token == 0
    assert task.name == name and callable(task.build) and callable(task.check)


def test_unknown_task_is_one_line_error_listing_the_known_ones() -> None:
    with pytest.raises(RedgeInputError) as err:
        get_task("chess")
    msg = str(err.value)
    assert "\n" not in msg and "'chess'" in msg and all(name in msg for name in OFFICIAL)


@pytest.mark.parametrize("name", OFFICIAL)
def test_each_task_recognises_its_dataset(name: str, fixtures: Path) -> None:
    folder = fixtures / f"official_{name}"
    assert task_of_dataset(load_split(folder, "test").metadata).name == name
    assert describe_dataset(folder)["task"] == name


def test_dataset_of_no_task_is_unknown(fixtures: Path) -> None:
    sudoku = load_split(fixtures / "official_sudoku", "test").metadata
    assert task_of_dataset(dataclasses.replace(sudoku, pad_id=3)) is None
    meta = dataclasses.replace(sudoku, seq_len=80)
    assert task_of_dataset(meta) is None
    assert registry.blank_tokens(meta) == ()
    assert set(registry.score(meta, np.array([[2, 3]]), np.array([[2, 4]]), np.array([[1, 1]]))) == {
        "cell_accuracy", "exact_accuracy"}


def test_checkpoint_recognition_and_default_cycles() -> None:
    assert task_of_checkpoint(11, 81).name == "sudoku"
    assert task_of_checkpoint(6, None).name == "maze"  # RoPE weights fix no sequence length
    assert task_of_checkpoint(11, 97) is None and task_of_checkpoint(7, None) is None
    assert registry.default_cycles("trm", 12, None) == ((3, 4), "official arc default")
    assert registry.default_cycles("trm", 7, None) == ((3, 6), "official trm default, task not recognised")


def test_task_checks_find_broken_data(fixtures: Path, tmp_path: Path) -> None:
    sudoku = shutil.copytree(fixtures / "official_sudoku", tmp_path / "sudoku")
    labels = np.load(sudoku / "test" / "all__labels.npy")
    labels[0, :2] = labels[0, 1::-1] if labels[0, 0] != labels[0, 1] else labels[0, :2]  # swap two cells of a row
    np.save(sudoku / "test" / "all__labels.npy", labels)
    assert check_dataset(sudoku)["test/invalid_solutions"] == 1
    arc = shutil.copytree(fixtures / "official_arc", tmp_path / "arc")
    labels = np.load(arc / "test" / "all__labels.npy")
    labels[0] = np.roll(labels[0].reshape(30, 30), 1, axis=1).reshape(-1)  # test grid no longer at the top left
    np.save(arc / "test" / "all__labels.npy", labels)
    assert check_dataset(arc)["test/labels_not_top_left"] == 1
    assert check_dataset(fixtures / "official_maze") and not any(check_dataset(fixtures / "official_maze").values())


def test_task_definitions_are_checked() -> None:
    sudoku = get_task("sudoku")
    with pytest.raises(ValueError, match="blank_tokens"):
        dataclasses.replace(sudoku, blank_tokens=())
    with pytest.raises(ValueError, match="augmentation"):
        dataclasses.replace(sudoku, augment="rotate")
    with pytest.raises(ValueError, match="unknown metrics"):
        dataclasses.replace(sudoku, metrics=("bleu",))


def test_adding_a_task_is_registering_one_module(toy_task: Task, tmp_path: Path) -> None:
    assert list(all_tasks()) == [*OFFICIAL, "toy"] and toy_task.cycles["trm"] == (1, 2)
    out = tmp_path / "toy"
    assert toy_task.build(out, n=16, progress=False) == {"rows": 16}
    assert describe_dataset(out)["task"] == "toy"
    assert check_dataset(out) == {"train/not_alternating": 0, "test/not_alternating": 0}
    assert main(["data", "validate", str(out), "--json"]) == 0
    test = load_split(out, "test")
    labels, inputs = np.asarray(test.labels).astype(np.int64), np.asarray(test.inputs)
    wrong_blanks = np.where(inputs == 1, 5 - labels, labels)  # right on given cells, wrong on every blank
    scores = registry.score(test.metadata, wrong_blanks, labels, inputs)
    assert scores["non_given_cell_accuracy"] == 0.0 and scores["exact_accuracy"] == 0.0
    assert 0.3 < scores["cell_accuracy"] < 0.7
    assert registry.score(test.metadata, labels, labels, inputs) == {
        "cell_accuracy": 1.0, "non_given_cell_accuracy": 1.0, "exact_accuracy": 1.0}
    np.save(out / "test" / "all__labels.npy", np.full_like(np.load(out / "test" / "all__labels.npy"), 2))
    assert check_dataset(out)["test/not_alternating"] == 16


def test_validate_exits_1_when_a_check_fails(fixtures: Path, tmp_path: Path) -> None:
    sudoku = shutil.copytree(fixtures / "official_sudoku", tmp_path / "sudoku")
    np.save(sudoku / "test" / "all__labels.npy", np.full_like(np.load(sudoku / "test" / "all__labels.npy"), 2))
    assert main(["data", "validate", str(sudoku), "--json"]) == 1


def test_a_task_clashing_with_a_registered_one_is_refused(toy_task: Task, monkeypatch, tmp_path: Path) -> None:
    (tmp_path / "toy_clash.py").write_text("import dataclasses\nimport toy_task\n"
                                           "TASK = dataclasses.replace(toy_task.TASK, name='toy2')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "TASK_MODULES", [*registry.TASK_MODULES, "toy_clash"])
    with pytest.raises(ValueError, match="clashes with task toy"):
        all_tasks()
