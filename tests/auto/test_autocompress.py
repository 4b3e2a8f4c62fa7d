"""`redge autocompress` on the shipped tiny TRM-MLP and the easy Sudoku sample (CPU, a few puzzles, depth 2)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from redge.auto import space
from redge.auto.search import AutoSpec, run_search
from redge.cli import main
from redge.compress import load_method
from redge.deploy.blob import read_blob
from redge.deploy.plan import plan_config
from redge.deploy.targets import load_target
from redge.models.checkpoints import save_checkpoint
from redge.quant import QuantRecipe, load_checkpoint, quantize_
from redge.quant.apply import plan as resolve_recipe
from redge.quant.spec import PRESETS

ROOT = Path(__file__).resolve().parents[2]
CKPT = ROOT / "checkpoints" / "tiny-trm-mlp-sudoku"
DATA = ROOT / "data" / "samples" / "sudoku-easy"
QUICK = ["--limit", "12", "--sensitivity-puzzles", "6", "--depths", "2", "--methods", "minmax", "--group-sizes", "",
         "--max-candidates", "3", "--batch-size", "12"]
USER_TARGET = """name: user-board
description: a user's board (test)
core: cortex-m55
clock_mhz: 400
regions:
  - {{name: sram, kind: sram, size: {sram}}}
  - {{name: flash, kind: flash, size: 16MiB}}
place: {{image: [flash], code: [flash], embeddings: [flash], weights: [sram], arena: [sram], state: [sram]}}
runtime: {{kernels: helium}}
cycle_model:
  cpi: [1.0, 2.0]
  weight_stream_mb_s: 400
  instructions_per_mac: {{i8: 0.3, i4: 0.4, i8-group: 1.2, i4-group: 1.4, f32: 1.0}}
"""


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict | None, str]:
    rc = main(["autocompress", *args, "--json"])
    captured = capsys.readouterr()
    return rc, json.loads(captured.out) if captured.out.strip() else None, captured.err


def user_target(tmp_path: Path, sram: int) -> Path:
    path = tmp_path / f"board-{sram}.yaml"
    path.write_text(USER_TARGET.format(sram=sram))
    return path


def test_fits_recipe_round_trips_and_blob_matches_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, obj, err = run_json([str(CKPT), "-t", "stm32n6", "-d", str(DATA), *QUICK, "--group-sizes", "32",
                             "--out", str(tmp_path / "o")], capsys)
    assert rc == 0, err
    for key in ("fits", "fidelity", "recipe", "flash_bytes", "ram_bytes", "latency_estimate"):
        assert key in obj
    assert obj["fits"] is True and 0.9 < obj["fidelity"] <= 1.0 + 1e-9
    assert obj["latency_estimate"]["per_puzzle_ms"][1] > 0
    out = tmp_path / "o"
    plan = json.loads((out / "plan.json").read_text())
    assert plan["fits"] and plan["flash"]["total"] == obj["flash_bytes"] and plan["ram"]["total"] == obj["ram_bytes"]
    blob = read_blob(out / "model.blob")
    assert (out / "model.blob").stat().st_size == plan["flash"]["blob"]["total"]
    assert blob.config["halt_max_steps"] == obj["depth"] == 2
    recipe = load_method(out / "recipe.yaml")  # the recipe file round-trips
    assert isinstance(recipe, QuantRecipe) and recipe.to_dict() == obj["recipe_rules"]
    model = quantize_(load_checkpoint(CKPT), recipe)
    assert model.quant_report.total_bytes > 0
    search = json.loads((out / "search.json").read_text())
    assert search["cost"]["variants_tried"] >= len(search["candidates"]) and search["sensitivity"]["order"]
    assert (search["puzzles"], search["sensitivity_puzzles"]) == (12, 6)  # fewer than one batch: cut to the row
    assert {c["label"] for c in search["top"]} <= {c["label"] for c in search["candidates"]}


def test_same_result_without_label_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    args = [str(CKPT), "-t", "stm32n6", *QUICK]
    rc, with_labels, err = run_json([*args, "-d", str(data), "--out", str(tmp_path / "a")], capsys)
    assert rc == 0, err
    for split in ("train", "test"):
        (data / split / "all__labels.npy").unlink()
    rc, without, err = run_json([*args, "-d", str(data), "--out", str(tmp_path / "b")], capsys)
    assert rc == 0, err
    assert without["recipe_rules"] == with_labels["recipe_rules"]
    assert without["fidelity"] == with_labels["fidelity"] and without["top"] == with_labels["top"]
    assert without["select"] == "checked"  # the default (auto) on Sudoku: the task's answer check needs no label


def test_user_target_binds_and_too_small_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load_checkpoint(CKPT).config
    roomy = user_target(tmp_path, 64 * 2**20)
    ram = {r: plan_config(config, r, roomy)["ram"]["total"] for r in ("int8", "int4-channel")}
    sram = (ram["int8"] + ram["int4-channel"]) // 2  # int8 does not fit, int4 does
    board = user_target(tmp_path, sram)
    rc, obj, err = run_json([str(CKPT), "-t", str(board), "-d", str(DATA), *QUICK, "--out", str(tmp_path / "o")],
                            capsys)
    assert rc == 0, err
    assert obj["fits"] and obj["target"] == "user-board" and obj["ram_bytes"] <= sram < ram["int8"]
    rc, obj, err = run_json([str(CKPT), "-t", str(user_target(tmp_path, 50_000)), "-d", str(DATA), *QUICK,
                             "--out", str(tmp_path / "small")], capsys)
    assert rc == 1 and obj["fits"] is False and obj["recipe"] is None
    assert "nothing fits target user-board" in err and "short by" in err
    assert not (tmp_path / "small").exists()


def test_sensitive_module_is_kept_at_higher_precision(tmp_path: Path) -> None:
    """One module with an outlier weight per row (int4 min-max then zeroes the rest of each row) is found the most
    sensitive; with bytes for about one int8 module, that module is the one the chosen recipe keeps at 8 bits, and
    its twin of the other layer stays at 4 bits."""
    model = load_checkpoint(CKPT)
    victim, twin = "L_level.layers.1.mlp.down_proj", "L_level.layers.0.mlp.down_proj"
    with torch.no_grad():
        w = dict(model.named_modules())[victim].weight
        w[:, 0] = 60 * w.abs().max()
    save_checkpoint(model, tmp_path / "ck")
    options = space.menu(load_target("stm32n6"), ("minmax",), ())
    units = space.search_units(model)
    nbytes = space.unit_bytes(model, units, options)
    cheapest = space.make_recipe("c", {u: min(options, key=lambda o: nbytes[o.label][u]).spec for u in units})
    floor = plan_config(model.config.replace(halt_max_steps=2), cheapest, "stm32n6")["flash"]["blob"]["total"]
    cap = floor + nbytes["int8-ch-f16"][victim] - min(nbytes[o.label][victim] for o in options) + 2048
    outcome = run_search(AutoSpec(tmp_path / "ck", "stm32n6", DATA, limit=12, depth=2, max_bytes=str(cap),
                                  methods=("minmax",), group_sizes=(), batch_size=12, sensitivity_puzzles=6,
                                  max_candidates=8), torch.device("cpu"))
    result = outcome.result
    assert result["sensitivity"]["order"][0] == victim
    chosen = {a.name: a.spec for a in resolve_recipe(model, result["chosen"].recipe)}
    assert chosen[victim].bits == 8 and chosen[twin].bits == 4
    assert result["chosen"].assess["blob_bytes"] <= cap


def test_latency_budget_shrinks_depth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(CKPT), "-t", "stm32n6", "-d", str(DATA), "--limit", "12", "--sensitivity-puzzles", "6", "--depths",
            "4", "--methods", "minmax", "--group-sizes", "", "--max-candidates", "0", "--batch-size", "12",
            "--cache", str(tmp_path / "cache.json")]
    rc, full, err = run_json([*args, "--out", str(tmp_path / "a")], capsys)
    assert rc == 0, err
    budget = full["latency_estimate"]["per_puzzle_ms"][1] / 2
    rc, half, err = run_json([*args, "--budget-ms", str(budget), "--out", str(tmp_path / "b")], capsys)
    assert rc == 0, err
    assert half["latency_estimate"]["per_puzzle_ms"][1] <= budget
    assert half["depth"] * half["H_cycles"] * (half["L_cycles"] + 1) < 4 * full["H_cycles"] * (full["L_cycles"] + 1)
    # the second search found the first one's scores in the cache, and its cost says so
    first, second = (json.loads((tmp_path / name / "search.json").read_text())["cost"] for name in ("a", "b"))
    assert first["variants_from_cache"] == 0 and first["variants_scored_here"] > 0
    assert second["variants_from_cache"] > 0
    assert second["variants_scored_here"] + second["variants_from_cache"] <= second["variants_tried"]


def test_a_budget_relative_to_a_preset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--budget-ms int8` is int8's latency estimate at full depth, `0.5*int8` half of it; anything else that is not
    a number is refused by name."""
    args = [str(CKPT), "-t", "esp32-s3", "-d", str(DATA), *QUICK, "--max-candidates", "0"]
    budgets = []
    for i, value in enumerate(("int8", "0.5*int8")):
        rc, _, err = run_json([*args, "--budget-ms", value, "--out", str(tmp_path / str(i))], capsys)
        assert rc == 0, err
        budgets.append(json.loads((tmp_path / str(i) / "search.json").read_text())["budget_ms"])
    assert budgets[0] > 0 and budgets[1] == pytest.approx(budgets[0] / 2)
    rc, _, err = run_json([*args, "--budget-ms", "half*int8", "--out", str(tmp_path / "x")], capsys)
    assert rc == 2 and "FRACTION*PRESET" in err and "'half*int8'" in err


def test_under_a_budget_the_baseline_is_verified_at_the_depth_the_budget_allows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With `--max-bytes int8 --budget-ms 0.5*int8`, --verify also measures int8 cut to the deepest depth whose
    estimate fits the budget (the naive answer to it); without a budget there is no such row."""
    from redge.auto.search import Assessor, depth_within

    args = [str(CKPT), "-t", "esp32-s3", "-d", str(DATA), *QUICK, "--depths", "4", "--max-bytes", "int8",
            "--max-candidates", "0", "--verify", str(DATA)]
    rc, obj, err = run_json([*args, "--budget-ms", "0.5*int8", "--out", str(tmp_path / "b")], capsys)
    assert rc == 0, err
    (cut,) = [r for r in obj["verify"] if r["kind"] == "baseline-budget"]
    model = load_checkpoint(CKPT)
    assess = Assessor(model, load_target("esp32-s3"), CKPT)
    T, n = model.config.H_cycles, model.config.L_cycles
    search = json.loads((tmp_path / "b" / "search.json").read_text())
    d = depth_within(assess, PRESETS["int8"], T, n, 4, search["budget_ms"])
    assert 1 <= cut["depth"] == d < 4 and cut["label"] == f"preset int8 @ depth {d}"
    latency = [assess(PRESETS["int8"], T, n, k)["latency_ms"] for k in (d, d + 1)]
    assert latency[0] <= search["budget_ms"] < latency[1]
    rc, obj, err = run_json([*args, "--out", str(tmp_path / "n")], capsys)
    assert rc == 0, err
    assert not [r for r in obj["verify"] if r["kind"] == "baseline-budget"]


def test_an_attention_trm_is_searched_too(small_trm, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """TRM-Att (RoPE attention, the issue's second reference) goes through the same search: its attention
    projections are menu entries, the recipe fits and the blob is written."""
    ckpt = tmp_path / "att"
    save_checkpoint(small_trm(mlp_t=False), ckpt, {"weights": "random (test)"})
    rc, obj, err = run_json([str(ckpt), "-t", "stm32n6", "-d", str(DATA), *QUICK, "--out", str(tmp_path / "o")],
                            capsys)
    assert rc == 0, err
    assert obj["fits"] and (tmp_path / "o" / "model.blob").is_file()
    search = json.loads((tmp_path / "o" / "search.json").read_text())
    assert any("qkv_proj" in name for name in json.dumps(search["sensitivity"]).split('"'))


def test_verification_scores_its_own_number_of_puzzles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The search reads --limit puzzles, the verification with labels --verify-limit (more, for tighter numbers)."""
    rc, obj, err = run_json([str(CKPT), "-t", "stm32n6", "-d", str(DATA), *QUICK, "--verify", str(DATA),
                             "--verify-limit", "20", "--out", str(tmp_path / "o")], capsys)
    assert rc == 0, err
    assert obj["verify"] and {row["puzzles"] for row in obj["verify"]} == {20}


def test_verified_scores_are_measured_once_per_checkpoint(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Two jobs on one checkpoint with one --cache (another target, as the study's three jobs run): the second takes
    the presets' verified scores from the cache, says so per row, and they equal the first job's; a cache of other
    labels (another --verify-limit) is not reused."""
    cache = tmp_path / "cache.json"
    common = ["-d", str(DATA), *QUICK, "--max-candidates", "0", "--verify", str(DATA), "--cache", str(cache)]
    rows, top = [], []
    for i, (target, limit) in enumerate((("stm32n6", "14"), ("esp32-s3", "14"), ("esp32-s3", "15"))):
        rc, obj, err = run_json([str(CKPT), "-t", target, *common, "--verify-limit", limit,
                                 "--out", str(tmp_path / str(i))], capsys)
        assert rc == 0, err
        rows.append({r["label"]: r for r in obj["verify"] if r["kind"] == "preset"})
        top.append({r["label"] for r in obj["verify"] if r["kind"] != "preset"})
    first, second, other = rows
    # within one job only a preset that is also a top candidate (measured just before) comes from the cache
    assert first and {k for k, r in first.items() if r["from_cache"]} <= top[0]
    shared = first.keys() & second.keys()
    assert shared and all(second[k]["from_cache"] for k in shared)
    assert all(second[k]["exact_accuracy"] == first[k]["exact_accuracy"] for k in shared)
    assert {k for k, r in other.items() if r["from_cache"]} <= top[2]


def test_self_assessment_is_the_fraction_the_halting_rule_judges_done() -> None:
    """trajectory.score's self-assessment at each depth equals the share of rows whose own halting rule fires at
    that step, counted independently here from `model.iterate` and `model.halts`."""
    from redge.auto import trajectory

    model = load_checkpoint(CKPT).eval()
    _, batches = trajectory.load_inputs(DATA, "test", limit=10, batch_size=5)
    ref = trajectory.reference(model, batches, 3, torch.device("cpu"))
    score = trajectory.score(model, ref, model.config.H_cycles, model.config.L_cycles, 3)
    halted = torch.zeros(3)
    for batch in ref.batches:
        for d, (_, out) in enumerate(model.iterate(batch, 3)):
            halted[d] += model.halts(out).sum()
    assert score["self_assessed_by_depth"] == pytest.approx((halted / 10).tolist())
    assert all(0.0 <= s <= 1.0 for s in score["self_assessed_by_depth"])
    assert set(score) == trajectory.SCORE_KEYS  # what the search's cache checks a stored score against


def test_select_self_assessed_ranks_by_the_halting_judgement(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`--select self-assessed` orders the top by the share judged done, then fidelity; an unknown rule is one
    line naming the choices (exit 2)."""
    rc, obj, err = run_json([str(CKPT), "-t", "stm32n6", "-d", str(DATA), *QUICK, "--select", "self-assessed",
                             "--out", str(tmp_path / "o")], capsys)
    assert rc == 0, err
    keys = [(-c["self_assessed"], -c["fidelity"], c["blob_bytes"]) for c in obj["top"]]
    assert keys == sorted(keys) and obj["select"] == "self-assessed"
    assert obj["self_assessed"] == obj["top"][0]["self_assessed"]
    rc, obj, err = run_json([str(CKPT), "-t", "stm32n6", "-d", str(DATA), *QUICK, "--select", "labels",
                             "--out", str(tmp_path / "bad")], capsys)
    assert rc == 2 and err.count("\n") == 1 and "self-assessed" in err


def test_a_cached_score_without_the_self_assessment_is_scored_again(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A cache written before the self-assessment existed is not trusted for it: the candidates are scored again
    (and the cost says so) instead of failing or reporting a missing number; the sensitivity pass, which reads
    fidelity only, keeps its cached scores."""
    cache = tmp_path / "cache.json"
    args = [str(CKPT), "-t", "stm32n6", "-d", str(DATA), *QUICK, "--max-candidates", "1", "--cache", str(cache)]
    rc, first, err = run_json([*args, "--out", str(tmp_path / "a")], capsys)
    assert rc == 0, err
    old = {k: {f: v for f, v in s.items() if f != "self_assessed_by_depth"}
           for k, s in json.loads(cache.read_text()).items()}
    cache.write_text(json.dumps(old))
    rc, again, err = run_json([*args, "--out", str(tmp_path / "b")], capsys)
    assert rc == 0, err
    cost, now = again["cost"], json.loads(cache.read_text())
    rescored = {k for k, v in now.items() if "self_assessed_by_depth" in v}
    assert rescored and len(rescored) == cost["variants_scored_here"] and set(now) == set(old)
    assert cost["variants_from_cache"] == len(old) - len(rescored) > 0
    assert again["self_assessed"] == first["self_assessed"] and again["recipe_rules"] == first["recipe_rules"]


def test_the_signals_benchmark_reproduces_the_search_scores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/autocompress_signals.py rebuilds the chosen recipe and the presets of a verified job and scores
    them on the search's own inputs: its numbers for the chosen variant equal the search's, each signal gets a
    Spearman with the verified exact accuracy, and a job without --verify is one line and exit 2."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("autocompress_signals", ROOT / "benchmarks/autocompress_signals.py")
    signals = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(signals)
    job = tmp_path / "job"
    rc, obj, err = run_json([str(CKPT), "-t", "stm32n6", "-d", str(DATA), *QUICK, "--verify", str(DATA),
                             "--out", str(job)], capsys)
    assert rc == 0, err
    out = tmp_path / "signals.json"
    assert signals.main([str(job), "--checkpoint", str(CKPT), "--data", str(DATA), "--split", "test", "--limit", "12",
                         "--device", "cpu", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    variants = {v["label"]: v for v in row["variants"]}
    chosen = next(r for r in obj["verify"] if r["kind"] == "chosen")
    assert variants[chosen["label"]]["fidelity"] == pytest.approx(obj["fidelity"], abs=1e-9)
    assert variants[chosen["label"]]["self_assessed"] == pytest.approx(obj["self_assessed"])
    assert set(row["spearman"]) == set(signals.SIGNALS) and row["puzzles"] == 12
    capsys.readouterr()
    bare = tmp_path / "bare"
    assert run_json([str(CKPT), "-t", "stm32n6", "-d", str(DATA), *QUICK, "--out", str(bare)], capsys)[0] == 0
    assert signals.main([str(bare), "--checkpoint", str(CKPT), "--data", str(DATA), "--limit", "4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "search.json" in err


def test_the_checked_share_is_the_exact_accuracy_measured_without_labels() -> None:
    """On Sudoku (one solution per puzzle) the share of answers passing the task's check at each depth equals the
    exact accuracy the labels give, though `trajectory` never opened a label file."""
    from redge.auto import trajectory
    from redge.tasks.format import load_split
    from redge.tasks.registry import answer_check

    model = load_checkpoint(CKPT).eval()
    split, batches = trajectory.load_inputs(DATA, "test", limit=12, batch_size=6)
    ref = trajectory.reference(model, batches, 3, torch.device("cpu"), answer_check(split.metadata))
    score = trajectory.score(model, ref, model.config.H_cycles, model.config.L_cycles, 3)
    labels = torch.from_numpy(load_split(DATA, "test").labels[:12].astype("int64"))
    exact, row = torch.zeros(3), 0
    for batch in ref.batches:
        n = len(batch["inputs"])
        for d, (_, out) in enumerate(model.iterate(batch, 3)):
            exact[d] += (out["logits"].argmax(-1) == labels[row:row + n]).all(-1).sum()
        row += n
    assert score["checked_by_depth"] == pytest.approx((exact / 12).tolist())
    assert 0 < score["checked_by_depth"][-1] < 1  # the sample is neither all solved nor none: the test can fail


def test_select_checked_ranks_by_checked_answers_and_needs_a_task_with_a_check(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--select checked` orders the top by the share of answers passing the task's check, then fidelity; on ARC
    (no answer check) it is one line naming the data (exit 2), and the default (auto) falls back to fidelity there
    while on Maze it ranks by the check."""
    from redge.models import ModelConfig, build_model
    from redge.tasks.format import load_split

    rc, obj, err = run_json([str(CKPT), "-t", "stm32n6", "-d", str(DATA), *QUICK, "--select", "checked",
                             "--out", str(tmp_path / "o")], capsys)
    assert rc == 0, err
    keys = [(-c["checked"], -c["fidelity"], c["blob_bytes"]) for c in obj["top"]]
    assert keys == sorted(keys) and obj["select"] == "checked" and obj["checked"] == obj["top"][0]["checked"]

    def small_search(task: str) -> tuple[Path, list[str]]:
        """A random small TRM for the sample of `task` and the arguments of a tiny search on it."""
        data = ROOT / "data" / "samples" / task
        meta = load_split(data, "test", labels=False).metadata
        torch.manual_seed(0)
        model = build_model(ModelConfig(hidden_size=64, num_heads=2, puzzle_emb_ndim=64, H_cycles=1, L_cycles=1,
                                        vocab_size=meta.vocab_size, seq_len=meta.seq_len,
                                        num_puzzle_identifiers=meta.num_puzzle_identifiers))
        save_checkpoint(model, tmp_path / f"{task}-ck", {"weights": "random (test)"})
        return data, [str(tmp_path / f"{task}-ck"), "-t", "stm32n6", "-d", str(data), "--limit", "2", "--depths",
                      "1", "--methods", "minmax", "--group-sizes", "", "--max-candidates", "1", "--batch-size", "2",
                      "--sensitivity-puzzles", "2"]

    arc, arc_args = small_search("arc")
    rc, obj, err = run_json([*arc_args, "--select", "checked", "--out", str(tmp_path / "arc-checked")], capsys)
    assert rc == 2 and err.count("\n") == 1 and "answer check" in err and str(arc) in err
    rc, obj, err = run_json([*arc_args, "--out", str(tmp_path / "arc-auto")], capsys)
    assert rc == 0, err
    assert obj["select"] == "fidelity" and obj["checked"] is None
    _, maze_args = small_search("maze")  # Maze has a check (a shortest path): the default ranks by it
    rc, obj, err = run_json([*maze_args, "--out", str(tmp_path / "maze-auto")], capsys)
    assert rc == 0, err
    assert obj["select"] == "checked" and all(0.0 <= c["checked"] <= 1.0 for c in obj["top"])
