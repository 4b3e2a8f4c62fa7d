"""`redge claims` end to end on tiny inputs: files, a verdict and a rule per claim, per-puzzle records in the store."""
from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import pytest

from redge.cli import main
from redge.models.checkpoints import load_float_checkpoint, save_checkpoint
from redge.study.claims import VERDICTS
from redge.study.records import aggregate, puzzle_outcomes
from redge.study.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "checkpoints" / "tiny-trm-mlp-sudoku"
SAMPLE = ROOT / "data" / "samples" / "sudoku-easy"


def test_claims_on_the_shipped_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, store = tmp_path / "claims", tmp_path / "s.sqlite"
    args = ["claims", "-c", str(SHIPPED), "-d", str(SAMPLE), "--limit", "8", "--depths", "1-2", "--store", str(store),
            "--out", str(out), "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert {p.name for p in out.iterdir()} == {"claims.md", "claims.json", "sweep"}
    assert (out / "sweep" / "report.md").is_file()
    assert [c["number"] for c in report["claims"]] == list(range(1, 8))
    for c in report["claims"]:
        assert c["verdict"] in VERDICTS and c["rule"] and c["reason"]
    md = (out / "claims.md").read_text()
    assert all(f"| {n} |" in md for n in range(1, 8)) and "COLLAPSE_EXACT_KEPT = 0.1" in md
    # 8 puzzles cannot decide the accuracy claims; the small model has no embedding bottleneck
    assert report["claims"][0]["verdict"] == "not testable here"
    assert "no bottleneck" in report["claims"][6]["reason"]
    assert json.loads((out / "claims.json").read_text())["claims"][0]["rule"] == report["claims"][0]["rule"]
    # where the numbers were measured, from the store (a report rendered again elsewhere keeps saying it)
    (device, runs), = report["protocol"]["measured_on"].items()
    assert device.startswith(f"{platform.machine()} CPU") and f"Runs measured on: {device} ({runs} runs)." in md
    with RunStore(store) as db:
        assert runs == len(db.runs())  # the per-puzzle outcomes agree with the aggregates the sweep reports
        for run in db.runs():
            records = db.records(run["key"])
            outcomes, metrics = puzzle_outcomes(records), aggregate(records)
            assert outcomes.exact.shape == (8, 2)
            np.testing.assert_allclose(outcomes.exact.mean(0), metrics.by_depth["exact_acc"])
            np.testing.assert_allclose(outcomes.cell.mean(0), metrics.by_depth["cell_acc"])


def test_claims_with_two_architectures_and_a_variant(tiny_ckpt: Path, tiny_data: Path, checkpoint_factory,
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    att = checkpoint_factory(tmp_path / "att", mlp_t=False, pos_encodings="rope")
    args = ["claims", "-c", str(tiny_ckpt), "-c", str(att), "-d", str(tiny_data), "--limit", "6", "--depths", "2",
            "--variant-checkpoint", f"distill={tiny_ckpt}", "--embedding-checkpoint", str(att),
            "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "o"), "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    claims = {c["number"]: c for c in report["claims"]}
    assert claims[3]["subject"] == f"{tiny_ckpt} vs {att}"  # the pair was found; random weights solve nothing
    assert claims[3]["verdict"] == "not testable here" and "solves 0 of 6" in claims[3]["reason"]
    assert [r["variant"] for r in claims[2]["numbers"]["distillation"]["runs"]] == [f"{tiny_ckpt.name}: fp32 T2 n2"]
    assert [r["architecture"] for r in report["per_checkpoint"]] == ["TRM-MLP", "TRM-Att"]


def test_a_fine_tune_joins_the_checkpoint_its_training_started_from(tiny_ckpt: Path, tiny_data: Path,
                                                                     checkpoint_factory, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A `redge train` run folder whose config says init_from=ATT is a variant of ATT (judged against ATT's FP32),
    though ATT is the second -c."""
    att = checkpoint_factory(tmp_path / "att", mlp_t=False, pos_encodings="rope")
    run = tmp_path / "ft"
    save_checkpoint(load_float_checkpoint(att), run / "model", metadata={"step": 41, "train_minutes": 0.5})
    (run / "config.json").write_text(json.dumps({"train": {"init_from": str(att), "qat": None}}))
    args = ["claims", "-c", str(tiny_ckpt), "-c", str(att), "-d", str(tiny_data), "--limit", "4", "--depths", "1",
            "--variant-checkpoint", f"linear-attn={run / 'model'}", "--store", str(tmp_path / "s.sqlite"),
            "--out", str(tmp_path / "o"), "--json"]
    assert main(args) == 0
    rows = {c["number"]: c for c in json.loads(capsys.readouterr().out)["claims"]}[2]["numbers"]
    assert [r["against"] for r in rows["linear attention"]["runs"]] == [str(att)]
    # named by its run folder and budget: a verdict on a 41-step fine-tune must say it was one
    assert [r["variant"] for r in rows["linear attention"]["runs"]] == ["ft/model, 41 steps, 0.5 min: fp32 T2 n2"]


@pytest.mark.parametrize("extra,needle", [(["--variant-checkpoint", "nope=x"], "KIND=PATH"),
                                          (["--variant-checkpoint", "qat=/no/such"], "/no/such")])
def test_bad_variant_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
                                            needle: str) -> None:
    assert main(["claims", "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err
    assert not (tmp_path / "o").exists()


def test_a_qat_run_folder_names_its_recipe(tmp_path: Path) -> None:
    """`redge train` writes its config (with `qat`) beside `model/` and `ema/`; a packed checkpoint keeps it in
    train_config.json; a checkpoint with neither must be given the recipe."""
    from redge.cli.claims import parse_variant
    from redge.core.errors import RedgeInputError

    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text(json.dumps({"model": {}, "metadata": {}}))
    (run / "config.json").write_text(json.dumps({"train": {"qat": "int4-channel"}, "model": {}}))
    assert parse_variant(f"qat={run / 'model'}")[1] == "int4-channel"
    packed = tmp_path / "packed"
    packed.mkdir()
    (packed / "train_config.json").write_text(json.dumps({"train": {"qat": "int4-g32"}}))
    assert parse_variant(f"qat={packed}")[1] == "int4-g32"
    assert parse_variant(f"qat:int8={packed}")[1] == "int8"
    (run / "config.json").write_text(json.dumps({"train": {"qat": None}}))
    with pytest.raises(RedgeInputError, match="no qat recipe"):
        parse_variant(f"qat={run / 'model'}")
