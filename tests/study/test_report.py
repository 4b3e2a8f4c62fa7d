"""Findings, statistics, bytes and the report files / CLI of the study layer."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from redge.cli import main
from redge.quant import quantize_
from redge.quant.load import load_checkpoint
from redge.study.findings import exact_churn, group_findings, side_by_side, variant_rows
from redge.study.memory import carry_bytes, weight_bytes
from redge.study.records import PuzzleOutcomes
from redge.study.stats import pairwise_agreement, spearman, spearman_bootstrap


def _row(variant, depth, exact, cell, fid, flops, group="TRM-MLP a", reference=False, wbytes=100):
    return {"group": group, "data_hash": "h", "key": f"{group}/{variant}", "variant": variant, "depth": depth,
            "reference": reference, "exact_acc": exact, "cell_acc": cell, "fidelity": fid,
            "flops_per_puzzle": flops * depth, "weight_bytes": wbytes}


def _rows(group="TRM-MLP a"):
    rows = []
    for d in (1, 2):
        rows.append(_row("fp32", d, [0.5, 0.8][d - 1], [0.8, 0.9][d - 1], 1.0, 10, group, True, 400))
        rows.append(_row("int8", d, [0.5, 0.795][d - 1], [0.8, 0.9][d - 1], [0.99, 0.98][d - 1], 10, group, False, 100))
        rows.append(_row("int4", d, [0.1, 0.0][d - 1], [0.7, 0.85][d - 1], [0.6, 0.3][d - 1], 10, group, False, 50))
        rows.append(_row("T1", d, [0.2, 0.79][d - 1], [0.7, 0.88][d - 1], [0.7, 0.9][d - 1], 3, group, False, 400))
    return rows


def test_headline_findings_are_computed() -> None:
    rows = _rows()
    variants = variant_rows(rows)
    f = group_findings(rows, variants, "TRM-MLP a", "h")
    best = f["cheapest_within_1pt"]
    assert (best["variant"], best["depth"]) == ("T1", 2)  # 6 FLOPs, 79% >= 80% - 1 point
    assert best["flops_ratio"] == pytest.approx(20 / 6)
    kept = {k["variant"]: k for k in f["kept"]}
    assert kept["int4"]["exact_kept"] == 0.0 and kept["int4"]["cell_kept"] == pytest.approx(0.85 / 0.9)
    assert f["fidelity_ranking"]["ranks_correctly"] is True
    assert f["fidelity_vs_exact"]["rho"] > 0.5
    low, high = f["fidelity_vs_exact"]["ci95"]
    assert low <= f["fidelity_vs_exact"]["rho"] <= high
    fp32 = next(v for v in variants if v["variant"] == "fp32")
    assert fp32["fidelity_min"] == 1.0 and fp32["exact_kept"] == 1.0


def test_churn_counts_puzzles_swapped_both_ways_behind_an_equal_exact_accuracy() -> None:
    def outcomes(solved_at_full_depth):
        full = np.array(solved_at_full_depth, dtype=np.float64)[:, None]
        return PuzzleOutcomes(np.hstack([np.zeros_like(full), full]), np.hstack([full, full]))

    ref = outcomes([1] * 30 + [0] * 70)
    same_accuracy = outcomes([0] * 10 + [1] * 20 + [1] * 10 + [0] * 60)  # 10 lost, 10 gained: 30% both
    churn = exact_churn(same_accuracy, ref)
    assert (churn["gained"], churn["lost"], churn["exact_diff_points"]) == (10, 10, 0.0)
    assert churn["ci95"][0] < 0 < churn["ci95"][1] and churn["puzzles"] == 100
    better = exact_churn(outcomes([1] * 60 + [0] * 40), ref)
    assert (better["gained"], better["lost"]) == (30, 0) and better["ci95"][0] > 0
    assert better["exact_diff_points"] == pytest.approx(30.0)
    with pytest.raises(ValueError, match="puzzle counts"):
        exact_churn(outcomes([1, 0]), ref)


def test_churn_counts_answers_found_and_then_left() -> None:
    """A puzzle solved at depth 2 of 3 and not at 3 was found and then left; one solved only at the last depth,
    never solved, or solved throughout was not."""
    exact = np.array([[0, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0], [1, 1, 1]], dtype=np.float64)
    drifting = PuzzleOutcomes(exact, exact)
    steady = PuzzleOutcomes(np.repeat(exact[:, -1:], 3, axis=1), np.repeat(exact[:, -1:], 3, axis=1))
    churn = exact_churn(drifting, steady)
    assert (churn["solved_then_lost"], churn["reference_solved_then_lost"]) == (2, 0)
    assert exact_churn(PuzzleOutcomes(exact[:, :1], exact[:, :1]), PuzzleOutcomes(exact[:, :1], exact[:, :1]))[
        "solved_then_lost"] == 0


def test_side_by_side_has_one_column_set_per_checkpoint() -> None:
    variants = variant_rows(_rows("TRM-MLP a") + _rows("TRM-Att b"))
    table = side_by_side(variants)
    assert [r["variant"] for r in table] == ["fp32", "int8", "int4", "T1"]
    assert table[2]["TRM-MLP a exact_acc"] == 0.0 and "TRM-Att b fidelity" in table[2]


def test_spearman_and_rank_agreement() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(math.sqrt(0.9))  # ties get their average rank
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    corr = spearman_bootstrap(list(range(20)), [x + (x % 3) for x in range(20)], resamples=200)
    assert corr.low <= corr.rho <= corr.high <= 1.0
    assert pairwise_agreement([0.9, 0.5, 0.1], [0.8, 0.8, 0.0]) == (2, 2)
    assert pairwise_agreement([0.1, 0.5], [0.8, 0.0]) == (0, 1)


def test_weight_bytes_follow_the_quantization_engine(tiny_ckpt) -> None:
    model = load_checkpoint(tiny_ckpt)
    fp32 = weight_bytes(model)
    params = sum(p.numel() for p in model.parameters())
    assert fp32["weights"] == 4 * (params + model.H_init.numel() + model.L_init.numel())
    assert fp32["puzzle_emb"] == 4 * model.puzzle_emb.weights.numel()
    quantize_(model, "int8")
    assert weight_bytes(model)["weights"] + weight_bytes(model)["puzzle_emb"] == (
        model.quant_report.total_bytes + 4 * (model.H_init.numel() + model.L_init.numel()))
    assert carry_bytes(model, 81) == 2 * 82 * 32 * 4


def test_sweep_cli_writes_report_and_json(tiny_ckpt, tiny_data, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    args = ["sweep", "-c", str(tiny_ckpt), "-d", str(tiny_data), "-r", "fp32", "-r", "int8", "--depths", "2",
            "--batch-size", "12", "--store", str(tmp_path / "s.sqlite"), "--out", str(out), "--json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["report"] == str(out / "report.md") and len(data["variants"]) == 2
    assert {p.name for p in (out / "plots").iterdir()} == {
        f"trm-mlp-{tiny_ckpt.name}-on-{tiny_data.name}-test-24-{n}.png"
        for n in ("accuracy_vs_depth", "fidelity_vs_depth", "fidelity_vs_exact", "pareto")}
    assert "Cheapest variant within 1 point" in (out / "report.md").read_text()
    churn = json.loads((out / "report.json").read_text())["findings"][0]["churn"]
    int8, fp32 = (next(v for v in data["variants"] if v["recipe"] == r) for r in ("int8", "fp32"))
    assert [c["variant"] for c in churn] == [int8["variant"]]  # every variant but the reference
    assert churn[0]["gained"] - churn[0]["lost"] == round(24 * (int8["exact_acc"] - fp32["exact_acc"]))
    assert 0 <= churn[0]["solved_then_lost"] <= 24 and "solved at an earlier depth" in (out / "report.md").read_text()
    assert (out / "per_depth.csv").read_text().count("\n") == 1 + 2 * 2

    assert main(["fidelity", "-c", str(tiny_ckpt), "-d", str(tiny_data), "-r", "int8", "--depths", "2",
                 "--batch-size", "12", "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "f"),
                 "--json"]) == 0
    fid = json.loads(capsys.readouterr().out)["variants"]
    swept = [r["fidelity"] for r in data["per_depth"] if r["recipe"] == "int8"]
    assert fid[0]["fidelity"] == swept and len(swept) == 2  # read back from the store, not recomputed

    assert main(["report", "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "r"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["variants"]) == 2


@pytest.mark.parametrize("extra, needle", [(["--cycles", "3x6"], "--cycles"), (["-r", "int3"], "int3"),
                                           (["--batch-size", "0"], "--batch-size")])
def test_bad_input_is_one_line_and_exit_2(tiny_ckpt, tiny_data, tmp_path, capsys, extra, needle) -> None:
    args = ["sweep", "-c", str(tiny_ckpt), "-d", str(tiny_data), "--store", str(tmp_path / "s.sqlite"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_missing_data_folder_is_exit_2(tiny_ckpt, tmp_path, capsys) -> None:
    assert main(["sweep", "-c", str(tiny_ckpt), "-d", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


def test_checkpoint_data_mismatch_is_exit_2(tmp_path, tiny_data, checkpoint_factory, capsys) -> None:
    ckpt = checkpoint_factory(tmp_path / "short", seq_len=16)
    assert main(["sweep", "-c", str(ckpt), "-d", str(tiny_data), "--store", str(tmp_path / "s.sqlite")]) == 2
    assert "seq_len 16" in capsys.readouterr().err


def test_runs_on_different_puzzle_sets_are_separate_groups(tiny_ckpt, tiny_data, tmp_path, capsys) -> None:
    """A store holding the same variant on 4 and on 6 puzzles reports two groups, each with its own plots."""
    store = str(tmp_path / "s.sqlite")
    for limit in ("4", "6"):
        assert main(["sweep", "-c", str(tiny_ckpt), "-d", str(tiny_data), "-r", "fp32", "--depths", "2", "--limit",
                     limit, "--batch-size", "2", "--store", store, "--out", str(tmp_path / limit), "--json"]) == 0
    capsys.readouterr()
    assert main(["report", "--store", store, "--out", str(tmp_path / "r"), "--json"]) == 0
    variants = json.loads(capsys.readouterr().out)["variants"]
    assert sorted(v["puzzles"] for v in variants) == [4, 6]
    assert len({v["group"] for v in variants}) == 2
    assert len(list((tmp_path / "r" / "plots").glob("*-accuracy_vs_depth.png"))) == 2


def test_sweep_out_under_a_file_fails_before_any_compute(tiny_ckpt, tiny_data, tmp_path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    store = tmp_path / "s.sqlite"
    assert main(["sweep", "-c", str(tiny_ckpt), "-d", str(tiny_data), "--store", str(store),
                 "--out", str(tmp_path / "file" / "out")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert not store.exists()  # nothing was computed or stored


def test_puzzle_identifiers_beyond_the_embedding_table_are_exit_2(tmp_path, tiny_data, checkpoint_factory,
                                                                  capsys) -> None:
    """An ARC-style model (one embedding row per puzzle) scored on another build of the data is refused."""
    import shutil

    ckpt = checkpoint_factory(tmp_path / "arcish", num_puzzle_identifiers=5)
    other = tmp_path / "other-build"
    shutil.copytree(tiny_data, other)
    meta_path = other / "test" / "dataset.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "num_puzzle_identifiers": 9}))
    assert main(["eval", str(ckpt), "-d", str(other), "--device", "cpu"]) == 2
    assert "puzzle-embedding table has 5 rows" in capsys.readouterr().err


def test_the_sweep_takes_a_pruning_method_like_a_recipe(tiny_ckpt, tiny_data, tmp_path, capsys) -> None:
    args = ["sweep", "-c", str(tiny_ckpt), "-d", str(tiny_data), "-r", "fp32", "-r", "prune-2:4", "-r", "prune-ch-25",
            "--depths", "2", "--limit", "4", "--batch-size", "4", "--store", str(tmp_path / "s.sqlite"),
            "--out", str(tmp_path / "o"), "--json"]
    assert main(args) == 0
    variants = {v["recipe"]: v for v in json.loads(capsys.readouterr().out)["variants"]}
    assert set(variants) == {"fp32", "prune-2:4", "prune-ch-25"}
    assert variants["fp32"]["fidelity"] == pytest.approx(1.0)
    assert variants["prune-2:4"]["fidelity"] < 1.0 and variants["prune-ch-25"]["fidelity"] < 1.0
