"""The GPU session's study on the CPU: `scripts/methods_session.sh` on the shipped tiny checkpoint (every stage, a
few puzzles), then `scripts/methods_commit.py` folding its folder into a repository tree whose JSON the README's
renderers read. What the device runs is exercised here first, so that a device session does not find its bugs."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import readme_render  # noqa: E402

CKPT = ROOT / "checkpoints" / "tiny-trm-mlp-sudoku"
DATA = ROOT / "data" / "samples" / "sudoku-easy"
SECOND_DATA = ROOT / "data" / "samples" / "sudoku"


@pytest.mark.slow
def test_a_methods_session_runs_on_the_cpu_and_folds_into_the_readme_sources(tmp_path: Path) -> None:
    out = tmp_path / "m"
    env = {**os.environ, "DEVICE": "cpu", "LIMIT": "6", "CPU_PUZZLES": "2", "AC_PUZZLES": "6",
           "METHODS": "fp32 int4-naive", "AUTOCOMPRESS": "stm32n6=int4-channel-cal", "PYTHON": sys.executable,
           "CHECKPOINTS": str(CKPT), "DATA": str(DATA), "CLAIMS_DATA": str(SECOND_DATA), "EMBEDDING": "none"}
    subprocess.run(["bash", str(ROOT / "scripts" / "methods_session.sh"), str(out)], cwd=ROOT, env=env, check=True,
                   timeout=900, capture_output=True)
    stages = [line.split(" ", 1)[1] for line in (out / "status").read_text().splitlines()]
    exits = [s for s in stages if " exit " in s]
    assert len(exits) == 6 and all(s.endswith("exit 0") for s in exits), stages  # tests, 2 claims, sweep, rate, auto
    assert (out / "DONE").is_file()

    repo = tmp_path / "repo"
    (repo / "benchmarks" / "results").mkdir(parents=True)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "methods_commit.py"), str(out), "--root", str(repo)],
                   cwd=ROOT, check=True, timeout=300, capture_output=True)
    for name in ("claims", f"claims-{SECOND_DATA.name}"):  # DATA, then the CLAIMS_DATA set
        claims = json.loads((repo / "docs/study" / name / "claims.json").read_text())
        assert len(readme_render.claims_table(claims).splitlines()) == 2 + 7
    assert claims["protocol"]["data"] == [str(SECOND_DATA)]
    assert (repo / "docs/study/methods" / CKPT.name / "report.md").is_file()
    rate = json.loads((repo / "benchmarks/results/sweep_rate_gpu.json").read_text())
    assert [r["puzzles"] for r in rate["rows"]] == [6, 2]
    assert len(readme_render.sweep_rate_table(rate).splitlines()) == 2 + 2
    searches = {str(p): json.loads(p.read_text()) for p in (repo / "docs/study/autocompress").glob("*/search.json")}
    assert list(searches) and searches[next(iter(searches))]["asked"]["max_bytes"] == "int4-channel-cal"
    table = readme_render.autocompress_references_table(searches)
    assert "int4-channel-cal" in table and table.count("\n") == 2


@pytest.mark.slow
def test_stages_run_in_the_order_named_and_an_unknown_one_is_reported(tmp_path: Path) -> None:
    out = tmp_path / "m"
    env = {**os.environ, "DEVICE": "cpu", "LIMIT": "4", "CPU_PUZZLES": "2", "PYTHON": sys.executable,
           "CHECKPOINTS": str(CKPT), "DATA": str(DATA), "EMBEDDING": "none", "STAGES": "sweep-rate bogus"}
    subprocess.run(["bash", str(ROOT / "scripts" / "methods_session.sh"), str(out)], cwd=ROOT, env=env, check=True,
                   timeout=600, capture_output=True)
    stages = [line.split(" ", 1)[1] for line in (out / "status").read_text().splitlines()]
    assert stages[:2] == ["sweep rate", "sweep rate exit 0"] and stages[2].startswith("unknown stage bogus"), stages
    assert (out / "DONE").is_file() and not (out / "claims.json").exists() and not (out / "cuda_tests.txt").exists()


@pytest.mark.slow
def test_the_claims_run_on_the_sets_in_the_order_named(tmp_path: Path) -> None:
    """CLAIMS_SETS puts a second data set's claims before DATA's (a session that may be cut off runs first what it
    lacks); each report keeps its name (claims on DATA, claims-NAME on another set)."""
    out = tmp_path / "m"
    env = {**os.environ, "DEVICE": "cpu", "LIMIT": "4", "PYTHON": sys.executable, "CHECKPOINTS": str(CKPT),
           "DATA": str(DATA), "EMBEDDING": "none", "STAGES": "claims", "CLAIMS_SETS": f"{SECOND_DATA} {DATA}"}
    subprocess.run(["bash", str(ROOT / "scripts" / "methods_session.sh"), str(out)], cwd=ROOT, env=env, check=True,
                   timeout=600, capture_output=True)
    stages = [line.split(" ", 1)[1] for line in (out / "status").read_text().splitlines()]
    assert stages == [f"claims-{SECOND_DATA.name}", f"claims-{SECOND_DATA.name} exit 0", "claims", "claims exit 0"]
    assert json.loads((out / "claims" / "claims.json").read_text())["protocol"]["data"] == [str(DATA)]


def test_an_autocompress_search_resumes_from_the_cache_an_earlier_session_committed(tmp_path: Path) -> None:
    """The search's scored variants outlive the session (methods_commit.py commits them, the next session's
    methods_session.sh starts from them), and the second search says how many scores it found there."""
    env = {**os.environ, "DEVICE": "cpu", "LIMIT": "6", "AC_PUZZLES": "6", "PYTHON": sys.executable,
           "AUTOCOMPRESS": "stm32n6=int4-channel-cal", "CHECKPOINTS": str(CKPT), "DATA": str(DATA),
           "EMBEDDING": "none", "STAGES": "autocompress", "AC_CACHE_SEED": str(tmp_path / "repo-a/none")}
    repos = []
    for name in ("a", "b"):
        out, repo = tmp_path / f"m-{name}", tmp_path / f"repo-{name}"
        subprocess.run(["bash", str(ROOT / "scripts" / "methods_session.sh"), str(out)], cwd=ROOT, env=env,
                       check=True, timeout=600, capture_output=True)
        subprocess.run([sys.executable, str(ROOT / "scripts" / "methods_commit.py"), str(out), "--root", str(repo)],
                       cwd=ROOT, check=True, timeout=300, capture_output=True)
        repos.append(repo)
        env["AC_CACHE_SEED"] = str(repo / "docs/study/autocompress/cache")  # what session b starts from
    cache = f"ac-cache-{CKPT.name}.json"
    costs = [json.loads(next((repo / "docs/study/autocompress").glob("*/search.json")).read_text())["cost"]
             for repo in repos]
    assert costs[0]["variants_from_cache"] == 0 and costs[0]["variants_scored_here"] > 0
    assert costs[1]["variants_scored_here"] == 0 and costs[1]["variants_from_cache"] == costs[0]["variants_scored_here"]
    first, second = (json.loads((repo / "docs/study/autocompress/cache" / cache).read_text()) for repo in repos)
    assert first and second == first  # nothing new was scored, nothing lost


def test_each_autocompress_job_runs_under_each_selection_rule_named(tmp_path: Path) -> None:
    """AC_SELECT runs every job under each rule: the fidelity job keeps its name, the other is named by its rule and
    ranks by it; the second finds every score in the cache the first filled (one search, two rankings)."""
    out = tmp_path / "m"
    env = {**os.environ, "DEVICE": "cpu", "LIMIT": "6", "AC_PUZZLES": "6", "PYTHON": sys.executable,
           "AUTOCOMPRESS": "stm32n6=int4-channel-cal", "AC_SELECT": "fidelity self-assessed", "CHECKPOINTS": str(CKPT),
           "DATA": str(DATA), "EMBEDDING": "none", "STAGES": "autocompress", "AC_CACHE_SEED": str(tmp_path / "none")}
    subprocess.run(["bash", str(ROOT / "scripts" / "methods_session.sh"), str(out)], cwd=ROOT, env=env, check=True,
                   timeout=600, capture_output=True)
    jobs = {rule: json.loads((out / f"ac-{CKPT.name}-stm32n6{suffix}" / "search.json").read_text())
            for rule, suffix in (("fidelity", ""), ("self-assessed", "-self-assessed"))}
    assert {rule: s["select"] for rule, s in jobs.items()} == {"fidelity": "fidelity", "self-assessed": "self-assessed"}
    assert jobs["self-assessed"]["cost"]["variants_scored_here"] == 0
    top = jobs["self-assessed"]["top"]
    assert [-c["self_assessed"] for c in top] == sorted(-c["self_assessed"] for c in top)


def test_a_session_without_its_method_sweeps_leaves_the_committed_methods_report(tmp_path: Path) -> None:
    """Only a finished method sweep replaces docs/study/methods/NAME: a session that ran the claims alone (its store
    holds a few variants) or lost a sweep midway must not overwrite the committed report of every method."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import methods_commit

    out, root = tmp_path / "m", tmp_path / "repo"
    committed = root / "docs/study/methods/trm-mlp-sudoku"
    committed.mkdir(parents=True)
    (committed / "report.md").write_text("every method")
    for name in ("trm-mlp-sudoku", "trm-att-sudoku"):
        (out / f"sweep-{name}").mkdir(parents=True)
        (out / f"sweep-{name}" / "report.md").write_text(f"new {name}")
    (out / "status").write_text("10:00:00 method sweeps\n10:05:00 method sweep trm-mlp-sudoku exit 1\n"
                                "10:09:00 method sweep trm-att-sudoku exit 0\n")
    methods_commit.fold_sweeps(out, root)
    assert (committed / "report.md").read_text() == "every method"
    assert (root / "docs/study/methods/trm-att-sudoku/report.md").read_text() == "new trm-att-sudoku"


@pytest.mark.slow
def test_the_fine_tune_stage_trains_each_kind_and_hands_it_to_the_claims(tmp_path: Path) -> None:
    """FINETUNES on the CPU as the device runs it: each kind trains from the checkpoint (QAT with the trajectory loss,
    a half-depth distilled student here) and its model joins the claims as a fine-tuned variant; a kind it cannot make
    is reported, not fatal."""
    out = tmp_path / "m"
    env = {**os.environ, "DEVICE": "cpu", "LIMIT": "6", "PYTHON": sys.executable, "CHECKPOINTS": str(CKPT),
           "DATA": str(DATA), "EMBEDDING": "none", "STAGES": "finetunes claims",
           "FINETUNES": "traj distill linattn bogus",
           "FINETUNE_MINUTES": "0.05", "FT_CONFIG": "tiny"}
    subprocess.run(["bash", str(ROOT / "scripts" / "methods_session.sh"), str(out)], cwd=ROOT, env=env, check=True,
                   timeout=600, capture_output=True)
    stages = [line.split(" ", 1)[1] for line in (out / "status").read_text().splitlines()]
    assert stages[:6] == ["fine-tune traj", "fine-tune traj exit 0", "fine-tune distill", "fine-tune distill exit 0",
                          "fine-tune linattn: no attention checkpoint", "unknown fine-tune bogus"], stages
    teacher = json.loads((CKPT / "config.json").read_text())["config"]
    trained = json.loads((out / "ft-traj" / "model" / "config.json").read_text())
    assert trained["config"]["hidden_size"] == teacher["hidden_size"]
    student = json.loads((out / "ft-distill" / "model" / "config.json").read_text())["config"]
    assert teacher["L_layers"] == 2 and student["L_layers"] == 1  # half the layers, from the teacher's last
    assert json.loads((out / "ft-distill" / "config.json").read_text())["train"]["init_layers"] == [1]
    claims = json.loads((out / "claims.json").read_text())
    assert claims["protocol"]["variants"] == [["qat", str(out / "ft-traj" / "model")],
                                              ["distill", str(out / "ft-distill" / "model")]]


def _tiny_arc_files(prefix: Path) -> None:
    """Kaggle-style ARC files (`PREFIX_SUBSET_challenges.json` / `_solutions.json`): two 2x2 tasks per subset."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    for subset in ("training", "evaluation", "concept"):
        challenges, solutions = {}, {}
        for index in range(2):
            name, a, b = f"{subset}{index}", index + 1, index + 3
            challenges[name] = {"train": [{"input": [[a, b], [b, a]], "output": [[b, a], [a, b]]}],
                                "test": [{"input": [[a, a], [b, b]]}]}
            solutions[name] = [[[b, b], [a, a]]]
        Path(f"{prefix}_{subset}_challenges.json").write_text(json.dumps(challenges))
        Path(f"{prefix}_{subset}_solutions.json").write_text(json.dumps(solutions))


@pytest.mark.slow
def test_the_arc_stage_rebuilds_the_training_data_and_its_pass_at_k_lands_in_the_checkpoint(tmp_path: Path) -> None:
    """STAGES=arc-eval as the device runs it on ferried files: the dataset rebuilt from the raw files (the same
    identifiers the checkpoint was trained on), pass@K at every depth, folded into checkpoints/trm-att-arc/eval.json;
    without the ferried checkpoint the stage says what is missing."""
    raw, data, run = tmp_path / "ferry" / "arc-raw", tmp_path / "arc-data", tmp_path / "run"
    _tiny_arc_files(raw / "arc-agi")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cli = [sys.executable, "-m", "redge.cli"]
    subprocess.run([*cli, "data", "build", "arc", "--input", str(raw / "arc-agi"), "--num-aug", "50", "--out",
                    str(tmp_path / "train-data"), "--json"], cwd=ROOT, env=env, check=True, capture_output=True,
                   timeout=300)
    subprocess.run([*cli, "train", "--config", "trm-att-arc", "--set", f"data=[{tmp_path / 'train-data'}]",
                    "--set", "eval_data={}", "--set", "model.hidden_size=16", "--set", "model.num_heads=2",
                    "--set", "model.puzzle_emb_ndim=16", "--set", "model.halt_max_steps=2", "--set", "model.H_cycles=1",
                    "--set", "model.L_cycles=1", "--set", "global_batch_size=8", "--set", "micro_batch_size=null",
                    "--set", "max_steps=1", "--set", "eval_every_minutes=null", "--device", "cpu", "--no-eval",
                    "--out", str(run)], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)

    out = tmp_path / "m"
    stage_env = {**env, "DEVICE": "cpu", "PYTHON": sys.executable, "STAGES": "arc-eval", "ARC_BATCH": "64",
                 "FERRY_ROOT": str(tmp_path / "ferry"), "ARC_CHECKPOINT": str(run / "model"), "ARC_DATA": str(data)}
    subprocess.run(["bash", str(ROOT / "scripts" / "methods_session.sh"), str(out)], cwd=ROOT, env=stage_env,
                   check=True, timeout=600, capture_output=True)
    stages = [line.split(" ", 1)[1] for line in (out / "status").read_text().splitlines()]
    assert stages == ["arc data", "arc eval", "arc eval exit 0"], stages
    assert (data / "identifiers.json").read_text() == (tmp_path / "train-data" / "identifiers.json").read_text()

    repo = tmp_path / "repo"
    (repo / "checkpoints" / "trm-att-arc").mkdir(parents=True)
    (repo / "checkpoints" / "trm-att-arc" / "config.json").write_text((run / "model" / "config.json").read_text())
    subprocess.run([sys.executable, str(ROOT / "scripts" / "methods_commit.py"), str(out), "--root", str(repo)],
                   cwd=ROOT, check=True, timeout=300, capture_output=True)
    record = json.loads((repo / "checkpoints" / "trm-att-arc" / "eval.json").read_text())
    by_depth = record[f"{record['committed_weights']}/arc1-eval"]
    assert sorted(by_depth, key=int) == [str(d) for d in range(1, 17)] and 0 <= by_depth["16"]["ARC/pass@2"] <= 1

    missing = tmp_path / "m-missing"
    subprocess.run(["bash", str(ROOT / "scripts" / "methods_session.sh"), str(missing)], cwd=ROOT,
                   env={**stage_env, "ARC_CHECKPOINT": str(tmp_path / "nowhere")}, check=True, timeout=60,
                   capture_output=True)
    assert "arc eval: no" in (missing / "status").read_text() and not (missing / "arc-eval.json").exists()


@pytest.mark.slow
def test_fine_tunes_of_every_checkpoint_are_named_by_their_origin(tmp_path: Path) -> None:
    """FT_CHECKPOINTS=all fine-tunes each checkpoint of CHECKPOINTS (the first into OUT/ft-KIND, the others into
    OUT/ft-KIND-NAME, each from its own weights); linear attention is tried once, not per checkpoint."""
    second = shutil.copytree(CKPT, tmp_path / "second")
    out = tmp_path / "m"
    env = {**os.environ, "DEVICE": "cpu", "PYTHON": sys.executable, "CHECKPOINTS": f"{CKPT} {second}",
           "DATA": str(DATA), "EMBEDDING": "none", "STAGES": "finetunes", "FINETUNES": "qat linattn",
           "FT_CHECKPOINTS": "all", "FINETUNE_MINUTES": "0.02", "FT_CONFIG": "tiny"}
    subprocess.run(["bash", str(ROOT / "scripts" / "methods_session.sh"), str(out)], cwd=ROOT, env=env, check=True,
                   timeout=600, capture_output=True)
    stages = [line.split(" ", 1)[1] for line in (out / "status").read_text().splitlines()]
    assert stages == ["fine-tune qat", "fine-tune qat exit 0", "fine-tune linattn: no attention checkpoint",
                      "fine-tune qat-second", "fine-tune qat-second exit 0"], stages
    origins = [json.loads((out / name / "config.json").read_text())["train"]["init_from"]
               for name in ("ft-qat", "ft-qat-second")]
    assert origins == [str(CKPT), str(second)]
