"""README numbers against the benchmarks' JSON: `benchmarks/readme_tables.py --check` on the real README, and the
check catching a changed number (in the README or in the JSON) on temporary copies."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import readme_render  # noqa: E402
import readme_tables  # noqa: E402

THROUGHPUT = "benchmarks/results/train_throughput_h200.json"


def test_every_readme_table_agrees_with_its_json(capsys):
    rc = readme_tables.main(["--check"])
    out = capsys.readouterr().out
    assert rc == 0, out
    # the stale numbers are rendered from JSON now, not written by hand
    text = (ROOT / "README.md").read_text()
    kinds = {m["kind"] for m in readme_tables.BLOCK_RE.finditer(text)}
    assert {"maze-rate", "host-step", "train-throughput", "checkpoint-accuracy"} <= kinds


def test_check_fails_on_a_changed_readme_number(tmp_path, capsys):
    text = (ROOT / "README.md").read_text()
    row = "| `trm-att-sudoku` | 10.10 |"
    assert row in text
    readme = tmp_path / "README.md"
    readme.write_text(text.replace(row, "| `trm-att-sudoku` | 10.20 |"))
    assert readme_tables.main(["--check", "--readme", str(readme), "--root", str(ROOT)]) == 1
    out = capsys.readouterr().out
    assert f"differs from its JSON: table train-throughput ({THROUGHPUT})" in out
    assert "-| `trm-att-sudoku` | 10.20 |" in out and "+| `trm-att-sudoku` | 10.10 |" in out
    # rendering puts the JSON's number back, after which the check passes
    assert readme_tables.main(["--readme", str(readme), "--root", str(ROOT)]) == 0
    assert readme.read_text() == text
    assert readme_tables.main(["--check", "--readme", str(readme), "--root", str(ROOT)]) == 0


def _mini_repo(tmp_path: Path) -> Path:
    """A README holding the throughput table and one value, with a copy of their JSON."""
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    shutil.copy(ROOT / THROUGHPUT, tmp_path / THROUGHPUT)
    data = json.loads((ROOT / THROUGHPUT).read_text())
    table = readme_render.train_throughput_table(data)
    (tmp_path / "README.md").write_text(
        f"# r\n\n<!-- table: train-throughput ({THROUGHPUT}) -->\n\n{table}\n\n<!-- /table -->\n\n"
        f"DDP ran <!-- value: ddp-steps ({THROUGHPUT}) -->6.93<!-- /value --> steps/s.\n"
        "<!-- unverified: a number nobody measured -->\n")
    return tmp_path


def test_check_fails_when_the_json_changes(tmp_path, capsys):
    repo = _mini_repo(tmp_path)
    readme = ["--readme", str(repo / "README.md")]
    assert readme_tables.main(["--check", *readme]) == 0
    assert "unverified (no JSON yet): a number nobody measured" in capsys.readouterr().out
    data = json.loads((repo / THROUGHPUT).read_text())
    data[readme_render.THROUGHPUT_SESSION]["runs"]["trm-mlp"]["steps_per_s"] = 9.5
    data[readme_render.DDP_SESSION]["ddp"]["steps_per_s"] = 7.0
    (repo / THROUGHPUT).write_text(json.dumps(data))
    assert readme_tables.main(["--check", *readme]) == 1
    out = capsys.readouterr().out
    assert "table train-throughput" in out and "value ddp-steps" in out and "0 of 2 marked blocks agree" in out
    assert readme_tables.main(readme) == 0
    text = (repo / "README.md").read_text()
    assert "| 9.50 | 7.53 | 9.0 (met) |" in text and "ran <!-- value: ddp-steps" in text
    assert "-->7.00<!-- /value --> steps/s." in text
    assert readme_tables.main(["--check", *readme]) == 0


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("train-throughput (", "no-such-table ("), "unknown renderer 'no-such-table'"),
    (lambda t: t.replace(THROUGHPUT + ") -->\n", "benchmarks/results/gone.json) -->\n"),
     "benchmarks/results/gone.json: missing JSON file"),
    (lambda t: t.replace("<!-- /table -->", ""), "1 marker(s) opened but not closed"),
])
def test_bad_markers_are_one_line_errors(tmp_path, capsys, edit, message):
    repo = _mini_repo(tmp_path)
    (repo / "README.md").write_text(edit((repo / "README.md").read_text()))
    assert readme_tables.main(["--check", "--readme", str(repo / "README.md")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_json_without_the_renderers_fields_names_the_file(tmp_path, capsys):
    repo = _mini_repo(tmp_path)
    (repo / THROUGHPUT).write_text("{}")
    assert readme_tables.main(["--check", "--readme", str(repo / "README.md")]) == 2
    err = capsys.readouterr().err
    assert THROUGHPUT in err and "lacks what the train-throughput renderer reads" in err


def _search(chosen_exact: float, chosen_bytes: int, base_exact: float, asked: str | None = "int8") -> dict:
    row = {"fits": True, "fidelity": 0.99, "depth": 16, "H_cycles": 3, "L_cycles": 6, "cell_accuracy": 0.9,
           "non_given_cell_accuracy": 0.8, "puzzles": 1000, "at_most_chosen_bytes": True}
    return {"checkpoint": "/tmp/ckpt/trm-mlp-sudoku", "target": "esp32-s3", "budget_ms": None,
            "asked": {"max_bytes": asked, "budget_ms": None}, "cost": {"variants_tried": 40, "minutes": 1.5},
            "verify": [{**row, "label": "greedy 3", "kind": "chosen", "blob_bytes": chosen_bytes,
                        "exact_accuracy": chosen_exact},
                       {**row, "label": "preset int8", "kind": "preset", "blob_bytes": 1000,
                        "exact_accuracy": base_exact}]}


def test_the_autocompress_comparison_says_no_when_the_chosen_loses_or_is_bigger():
    table = readme_render.autocompress_references_table({"a": _search(0.5, 900, 0.4), "b": _search(0.3, 900, 0.4),
                                                         "c": _search(0.5, 1100, 0.4)})
    verdicts = [line.split("|")[8].strip() for line in table.splitlines()[2:]]
    assert verdicts == ["yes", "**no**", "**no**"]
    assert table.splitlines()[2].split("|")[4].strip() == "per-module mix, 900 B, T3 n6 d16"
    preset = _search(0.5, 900, 0.4)
    preset["verify"][0]["label"] = "preset w8a8 @ depth 8"
    assert "| `w8a8`, 900 B," in readme_render.autocompress_references_table({"a": preset})
    preset["select"] = "self-assessed"
    assert "| `w8a8` (by self-assessed), 900 B," in readme_render.autocompress_references_table({"a": preset})
    with pytest.raises(readme_render.RedgeInputError, match="no verified preset"):
        readme_render.autocompress_references_table({"d": _search(0.5, 900, 0.4, asked=None)})
    assert table.splitlines()[2].split("|")[9].strip() == "-"  # no budget: no baseline cut to it
    budgeted = _search(0.5, 900, 0.4)
    budgeted["verify"].append({**budgeted["verify"][1], "label": "preset int8 @ depth 8", "kind": "baseline-budget",
                               "depth": 8, "exact_accuracy": 0.375})
    row = readme_render.autocompress_references_table({"e": budgeted}).splitlines()[2].split("|")
    assert row[9].strip() == "d8: 37.5%" and row[8].strip() == "yes"  # the verdict stays against full depth


def test_a_fine_tuned_search_names_its_checkpoint_schedule_and_fine_tune():
    tuned = _search(0.5, 900, 0.4)
    tuned["checkpoint"] = "/tmp/m/ac-x-finetune/train/ema"
    tuned["verify"][0]["label"] = "fine-tuned T2 n4: greedy 15: L_level.layers.1.mlp.gate_up_proj -> int8"
    tuned["finetune"] = {"checkpoint": "/tmp/ckpt/trm-att-sudoku", "minutes": 8.0, "pseudo_labels": {"kept": 2827}}
    row = readme_render.autocompress_references_table({"f": tuned}).splitlines()[2].split("|")
    assert row[1].strip() == "`trm-att-sudoku`"
    assert row[4].strip() == "per-module mix (fine-tuned T2 n4), 900 B, T3 n6 d16"
    assert row[11].strip() == "40 in 1.5 min, after fine-tuning 8 min on 2,827 pseudo-labelled puzzles"


def test_the_claims_table_keeps_one_row_per_claim_with_pipes_escaped():
    claims = [{"number": n, "claim": f"claim {n}", "verdict": "holds", "reason": "a | b"} for n in (1, 2)]
    table = readme_render.claims_table({"claims": claims})
    assert len(table.splitlines()) == 4 and "a \\| b" in table


def test_the_depth_table_reads_each_named_variant_by_depth():
    """`sweep-depths` rows follow the names given (recipe alone at the reference's cycles); an unknown name fails."""
    rows = [{"variant": "fp32 T1 n2", "depth": d, "exact_acc": d / 16} for d in range(1, 17)]
    rows += [{"variant": "int8 T1 n2", "depth": d, "exact_acc": 0.5} for d in (1, 16)]
    report = {"per_depth": rows, "variants": [
        {"variant": "fp32 T1 n2", "recipe": "fp32", "group": "g", "reference": True, "H_cycles": 1, "L_cycles": 2},
        {"variant": "int8 T1 n2", "recipe": "int8", "group": "g", "reference": False, "H_cycles": 1, "L_cycles": 2}]}
    lines = readme_render.sweep_depths_table(report, "int8", "fp32").splitlines()
    assert lines[0].split("|")[2:-1] == [" 1 ", " 2 ", " 4 ", " 6 ", " 8 ", " 12 ", " 16 "]
    assert lines[2] == "| int8 | 50.0 | - | - | - | - | - | 50.0 |"
    assert lines[3] == "| fp32 | 6.2 | 12.5 | 25.0 | 37.5 | 50.0 | 75.0 | 100.0 |"
    with pytest.raises(KeyError):
        readme_render.sweep_depths_table(report, "int4-naive")
    report["findings"] = [{"churn": [{"variant": "int8 T1 n2", "solved_then_lost": 7,
                                      "reference_solved_then_lost": 1}]}]
    assert readme_render.sweep_solved_then_lost(report, "int8") == (
        "7 puzzles it had solved at an earlier depth (FP32: 1)")


def test_a_fine_tune_is_found_by_its_run_folder_in_claim_2():
    """`claims-finetune-kept RUN` reads the run whose checkpoint is RUN/model (or RUN itself), whatever part of
    claim 2 holds it; an unknown run fails rather than printing another run's number."""
    runs = {"QAT": {"runs": [{"checkpoint": "/tmp/m/ft-qat/model", "exact_kept": {"value": 0.5}},
                             {"checkpoint": "/tmp/m/ft-traj/model", "exact_kept": {"value": 0.943}}]},
            "distillation": {"runs": [{"checkpoint": "/tmp/m/student", "exact_kept": {"value": 0.0}}]}}
    report = {"claims": [{"number": 1, "numbers": {}}, {"number": 2, "numbers": runs}]}
    assert readme_render.claims_finetune_kept(report, "ft-traj") == "94.3"
    assert readme_render.claims_finetune_kept(report, "student") == "0.0"
    with pytest.raises(StopIteration):
        readme_render.claims_finetune_kept(report, "ft-linattn")


def test_the_signals_table_names_what_each_signal_selects_with_its_exact_accuracy():
    variants = [{"label": "greedy 2: x -> int4", "exact_accuracy": 0.45}, {"label": "preset int4-naive",
                                                                          "exact_accuracy": 0.5}]
    data = {"rows": [{"job": "docs/study/autocompress/m-stm32n6", "puzzles": 48, "device": "cpu", "variants": variants,
                      "spearman": {"fidelity": -1.0, "agreement": 0.0, "self_assessed": 1.0},
                      "selects": {"fidelity": "greedy 2: x -> int4", "self_assessed": "preset int4-naive"},
                      "best_within_cap": "preset int4-naive"}]}
    row = readme_render.autocompress_signals_table(data).splitlines()[2]
    assert row == ("| `m-stm32n6` | 48 (cpu) | 2 | -1.00 | 0.00 | 1.00 | - | per-module mix (45.0%) "
                   "| `int4-naive` (50.0%) | - | `int4-naive` (50.0%) |")  # no answer check: "-"
    data["rows"][0]["spearman"]["checked"] = 0.5
    data["rows"][0]["selects"]["checked"] = "preset int4-naive"
    row = readme_render.autocompress_signals_table(data).splitlines()[2]
    assert row.split(" | ")[6] == "0.50" and row.split(" | ")[9] == "`int4-naive` (50.0%)"
