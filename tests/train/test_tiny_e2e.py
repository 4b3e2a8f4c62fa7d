"""End to end, as CI runs it: `redge train --config tiny` on the CPU for a fixed number of steps (the config stops after
2.5 minutes, which a loaded machine turns into fewer steps; the step budget keeps the test about the training, not the
machine) scores above 0 exact, and the committed tiny checkpoint solves easy puzzles."""
import json
from pathlib import Path

import numpy as np
import pytest

from redge.cli import main
from redge.quant.load import load_checkpoint
from redge.study.evaluate import evaluate_depths
from redge.tasks import sudoku
from redge.tasks.format import load_split
from redge.tasks.generate import generate_sudoku

TINY = Path(__file__).resolve().parents[2] / "checkpoints" / "tiny-trm-mlp-sudoku"


@pytest.mark.slow
def test_tiny_config_trains_on_cpu(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the tiny config builds runs/data/sudoku-easy relative to the working directory
    args = ["train", "--config", "tiny", "--device", "cpu", "--set", "max_minutes=null", "--set", "max_steps=450"]
    assert main([*args, "--json", "--out", "runs/tiny"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["eval"]["raw/easy"]["16"]["exact_accuracy"] > 0


def test_committed_tiny_checkpoint_solves_easy_puzzles(tmp_path):
    p, s = generate_sudoku(40, np.random.default_rng(7), min_givens=50, max_givens=60)
    sudoku.write_split(tmp_path, "test", p, s, 1)
    result = evaluate_depths(load_checkpoint(TINY), load_split(tmp_path, "test"), [1, 4])
    assert result["4"]["exact_accuracy"] > 0.2 and result["4"]["non_given_cell_accuracy"] > 0.8
