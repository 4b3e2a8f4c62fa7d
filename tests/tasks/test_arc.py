"""ARC: augmentation invertibility, crop, identifiers, evaluator voting and pass@K."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from redge.cli import main
from redge.tasks import arc
from redge.tasks.arc_eval import ArcEvaluator, parse_identifier, to_task_frame
from redge.tasks.arc_grid import crop, encode_pair
from redge.tasks.augment import dihedral, inverse_dihedral
from redge.tasks.format import load_identifiers, load_split


@pytest.mark.parametrize("tid", range(8))
def test_dihedral_then_inverse_is_identity(tid: int) -> None:
    g = np.arange(12).reshape(3, 4)
    assert np.array_equal(inverse_dihedral(dihedral(g, tid), tid), g)


def test_variant_identifiers_invert_their_augmentation() -> None:
    rng = np.random.RandomState(0)
    g = rng.randint(0, 10, (5, 7)).astype(np.uint8)
    group = arc._augment("task", {"train": [(g, g)]}, 20, rng)
    assert len(group) == 21 and group[0][0] == "task"
    for name, variant in group:
        task, tid, perm = parse_identifier(name)
        assert task == "task" and np.array_equal(to_task_frame(variant["train"][0][0], tid, perm), g)
    hrm = parse_identifier("abc_t3_0123456789")
    assert hrm[0] == "abc" and hrm[1] == 3


def test_crop_edge_cases() -> None:
    g = np.zeros((3, 4), np.uint8) + 5
    for off in ((0, 0), (0, 0)):
        tokens, _ = encode_pair(g, g, off)
        assert np.array_equal(crop(tokens), g)
    full = np.full((30, 30), 3, np.uint8)
    assert crop(encode_pair(full, full, (0, 0))[0]).shape == (30, 30)
    assert crop(np.zeros(900, np.uint8)).shape == (0, 0)
    ragged = np.zeros((30, 30), np.uint8)
    ragged[0, :5], ragged[1, :3], ragged[2, :3] = 2, 2, 2  # area 5 vs 9: takes the 3x3
    assert crop(ragged).shape == (3, 3)


def _ground_truth(ev: ArcEvaluator, data: Path, wrong: dict[str, int] | None = None) -> None:
    test = load_split(data, "test")
    ids = np.repeat(test.puzzle_identifiers, np.diff(test.puzzle_indices))
    preds = np.array(test.labels)
    names = load_identifiers(data)
    for row, ident in enumerate(ids):
        task = parse_identifier(names[ident])[0]
        if wrong and task in wrong and wrong[task] == row:
            preds[row] = encode_pair(np.zeros((1, 1), np.uint8), np.full((2, 2), 7, np.uint8), (0, 0))[1]
    ev.update(test.inputs, ids, preds, np.zeros(len(ids)))


def test_ground_truth_scores_one_and_submission(fixtures: Path, tmp_path: Path) -> None:
    ev = ArcEvaluator(fixtures / "official_arc")
    _ground_truth(ev, fixtures / "official_arc")
    res = ev.result(ks=(1, 2), submission_path=tmp_path / "submission.json")
    assert res == {"ARC/pass@1": 1.0, "ARC/pass@2": 1.0}
    sub = json.loads((tmp_path / "submission.json").read_text())
    puzzles = json.loads((fixtures / "official_arc" / "test_puzzles.json").read_text())
    for name, task in puzzles.items():
        assert [s["attempt_1"] for s in sub[name]] == [p["output"] for p in task["test"]]


def test_one_wrong_grid_per_task_scores_expected_fraction(tmp_path: Path, fixtures: Path) -> None:
    """With a single variant per task (num_aug 0) a wrong prediction of one test input loses that input."""
    tasks = arc.load_kaggle(fixtures / "arc_input" / "arc-agi", ["training", "evaluation"])
    arc.build(tmp_path, tasks, "evaluation", num_aug=0, progress=False)
    test = load_split(tmp_path, "test")
    names = load_identifiers(tmp_path)
    first_row = {}
    for row, ident in enumerate(np.repeat(test.puzzle_identifiers, np.diff(test.puzzle_indices))):
        first_row.setdefault(parse_identifier(names[ident])[0], row)
    ev = ArcEvaluator(tmp_path)
    _ground_truth(ev, tmp_path, wrong=first_row)
    puzzles = json.loads((tmp_path / "test_puzzles.json").read_text())
    expected = np.mean([1 - 1 / len(t["test"]) for t in puzzles.values()])
    assert ev.result(ks=(2,))["ARC/pass@2"] == pytest.approx(expected)


def test_votes_rank_by_count_then_mean_q(fixtures: Path) -> None:
    ev = ArcEvaluator(fixtures / "official_arc")
    test = load_split(fixtures / "official_arc", "test")
    ids = np.repeat(test.puzzle_identifiers, np.diff(test.puzzle_indices))
    black = np.zeros((2, 2), np.uint8)  # the same grid in every variant frame (black is never permuted)
    wrong = np.array([encode_pair(black, black, (0, 0))[1]] * len(ids))
    ev.update(test.inputs, ids, wrong, np.full(len(ids), 5.0))  # wrong grid, confident
    ev.update(test.inputs, ids, test.labels, np.full(len(ids), -5.0))  # right grid, same count, low q
    assert ev.result(ks=(1, 2)) == {"ARC/pass@1": 0.0, "ARC/pass@2": 1.0}


def test_build_from_folders_and_cli_evaluate(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "arc"
    assert main(["data", "build", "arc", "--input", str(shared_data / "conceptarc" / "corpus"), "--subsets",
                 "Copy,Count", "--test-set", "Count", "--num-aug", "2", "--out", str(out), "--json"]) == 0
    names = load_identifiers(out)
    assert len(names) == 1 + 20 * 3 and names[0] == "<blank>"
    assert main(["data", "evaluate", str(out), "--ground-truth", "--json"]) == 0
