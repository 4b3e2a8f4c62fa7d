"""`redge autocompress --finetune-minutes`: pseudo-labels, the schedule a budget allows, and the fine-tuned search
(the shipped tiny TRM-MLP on the easy Sudoku sample, CPU, seconds of training)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from redge.auto.finetune import schedule_for_budget
from redge.auto.pseudo_labels import model_answers, pseudo_label
from redge.core.errors import RedgeInputError
from redge.quant import load_checkpoint
from redge.tasks.format import load_split
from redge.tasks.sudoku import valid_answers
from tests.auto.test_autocompress import CKPT, DATA, QUICK, ROOT, run_json

NO_BUDGET = ["-t", "esp32-s3", "--max-bytes", "int8", "--split", "train", "--finetune-minutes", "0.05",
             "--finetune-puzzles", "48", "--finetune-batch", "16"]
FINETUNE = [*NO_BUDGET, "--budget-ms", "0.7*int8"]


def labels_removed(tmp_path: Path) -> Path:
    """A copy of the sample without its label files."""
    data = tmp_path / "unlabelled"
    shutil.copytree(DATA, data)
    for split in ("train", "test"):
        (data / split / "all__labels.npy").unlink()
    return data


def test_pseudo_labels_are_the_checked_answers_of_inputs_after_the_search_ones(tmp_path: Path) -> None:
    model = load_checkpoint(CKPT).eval()
    stats = pseudo_label(model, labels_removed(tmp_path), "train", tmp_path / "p", 2, torch.device("cpu"),
                         puzzles=40, skip=12, batch_size=16)
    source = load_split(DATA, "train")
    inputs = torch.as_tensor(source.inputs[12:52].astype(np.int64))
    batch = {"inputs": inputs, "puzzle_identifiers": torch.zeros(40, dtype=torch.int32)}
    answers = model_answers(model, batch, 2).numpy()
    ok = valid_answers(inputs.numpy(), answers)
    written = load_split(tmp_path / "p", "train")
    assert stats["puzzles"] == 40 and stats["kept"] == int(ok.sum()) > 0
    assert np.array_equal(written.inputs, inputs.numpy()[ok]) and np.array_equal(written.labels, answers[ok])
    assert valid_answers(written.inputs, written.labels).all()


def test_pseudo_labels_need_a_task_with_an_answer_check(tmp_path: Path) -> None:
    with pytest.raises(RedgeInputError, match="answer check"):
        pseudo_label(load_checkpoint(CKPT).eval(), ROOT / "data" / "samples" / "arc", "test", tmp_path / "p", 2,
                     torch.device("cpu"))


def test_the_budget_schedule_is_the_richest_that_runs_the_full_depth_within_it() -> None:
    def assess(recipe, T: int, n: int, depth: int) -> dict:
        return {"fits": True, "latency_ms": T * (n + 1) * depth * (2 if recipe.name.startswith("int4") else 1)}

    full = 3 * 7 * 16
    assert schedule_for_budget(assess, lambda a: True, 3, 6, 16, full) == (3, 6)
    assert schedule_for_budget(assess, lambda a: True, 3, 6, 16, 0.5 * full) == (2, 4)  # 10 of 21 applications
    assert schedule_for_budget(assess, lambda a: True, 3, 6, 16, 0.3 * full) == (3, 1)  # 6 as (2, 2): more T
    assert schedule_for_budget(assess, lambda a: True, 3, 6, 16, 31) is None  # (1, 1) needs 32
    assert schedule_for_budget(assess, lambda a: a["latency_ms"] > 1e9, 3, 6, 16, full) is None  # nothing fits


def test_a_fine_tuned_schedule_is_searched_without_labels_and_reused(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(CKPT), "-d", str(labels_removed(tmp_path)), *FINETUNE, *QUICK, "--verify", str(DATA),
            "--out", str(tmp_path / "o")]
    rc, obj, err = run_json(args, capsys)
    assert rc == 0, err
    ft = obj["finetune"]
    assert (ft["H_cycles"], ft["L_cycles"]) == (1, 1) and not ft["reused"] and ft["steps"] > 0
    shares = ft["checked_by_weights"]
    assert set(shares) == {"EMA", "raw"} and shares[ft["weights_kind"]] == max(shares.values())
    assert ft["pseudo_labels"]["skipped"] == 12 and 0 < ft["pseudo_labels"]["kept"] <= 48
    assert (tmp_path / "o-finetune" / "finetune.json").is_file()
    from_ft = ft["chosen_from"] == "fine-tuned weights"
    assert from_ft == ((obj["H_cycles"], obj["L_cycles"]) == (1, 1))
    assert from_ft == obj["verify"][0]["label"].startswith("fine-tuned T1 n1: ")
    presets = [row for row in obj["verify"] if row["kind"] == "preset"]
    assert presets and all((row["H_cycles"], row["L_cycles"], row["depth"]) == (1, 2, 2) for row in presets)
    rc, again, err = run_json(args, capsys)
    assert rc == 0, err
    assert again["finetune"]["reused"] and again["verify"][0]["label"] == obj["verify"][0]["label"]


@pytest.mark.parametrize("args, message", [(NO_BUDGET, "--budget-ms"),
                                           ([*FINETUNE, "--select", "fidelity"], "fidelity cannot")])
def test_a_fine_tune_needs_a_budget_and_a_rule_that_compares_two_models(
        args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_json([str(CKPT), "-d", str(DATA), *args, *QUICK, "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and message in err
