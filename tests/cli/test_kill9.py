"""kill -9 at random points of `quantize`, `export`, `data build` and `train --resume` (beside the sweep one in
tests/study/test_store.py): what is on disk afterwards is the previous complete output (or the new complete one,
when the kill came after the final rename), never a mix or a half; and a rerun succeeds.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from redge.core.errors import RedgeInputError
from redge.deploy.embeddings import check_embedding_pair
from redge.quant.load import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
CKPT = ROOT / "checkpoints" / "tiny-trm-mlp-sudoku"
EASY = ROOT / "data" / "samples" / "sudoku-easy"
ARC_INPUT = Path(os.environ.get("REDGE_SHARED_DATA", ROOT.parent / "shared" / "data")) / "arc-agi-1"
KILLS = 3


def _cli(argv: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-m", "redge.cli", *argv], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def run_ok(argv: list[str], cwd: Path) -> float:
    """Run to completion (must succeed); returns the wall time."""
    start = time.perf_counter()
    proc = _cli(argv, cwd)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    return time.perf_counter() - start


def kill_after(argv: list[str], cwd: Path, delay: float) -> None:
    """Start the command and SIGKILL it after `delay` seconds (if it is still running)."""
    proc = _cli(argv, cwd)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def kill_once_writing(argv: list[str], cwd: Path, out: Path, delay: float) -> None:
    """Start the command, wait until its output (or a temporary sibling of it) appears, then SIGKILL it `delay`
    seconds later: lands the kill inside the writing phase, which a kill timed from the start mostly misses."""
    before = set(out.parent.iterdir())
    proc = _cli(argv, cwd)
    while proc.poll() is None and not any(out.name in p.name for p in set(out.parent.iterdir()) - before):
        time.sleep(0.002)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def delays(full: float, seed: int) -> list[float]:
    """KILLS random points over a full run's duration (startup included: some kills land before any write)."""
    rng = random.Random(seed)
    return [rng.uniform(0.2, 1.0) * full for _ in range(KILLS)]


def tree(folder: Path) -> dict[str, bytes] | None:
    """Every visible file under `folder` by relative path (None: no folder at all; a folder holding only hidden
    temporary files is `{}`, a partial output)."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def test_killed_quantize_leaves_the_previous_checkpoint_or_the_new_one(tmp_path: Path) -> None:
    old, new, out = tmp_path / "old", tmp_path / "new", tmp_path / "out"
    run_ok(["quantize", str(CKPT), "-r", "int8", "-o", str(old), "--json"], tmp_path)
    full = run_ok(["quantize", str(CKPT), "-r", "int4-naive", "-o", str(new), "--json"], tmp_path)
    states = [None, tree(old), tree(new)]
    for i, delay in enumerate(delays(full, 1)):
        kill_after(["quantize", str(CKPT), "-r", "int4-naive", "-o", str(out), "--json"], tmp_path, delay)
        assert tree(out) in states, f"kill {i} after {delay:.2f} s left a partial checkpoint"
        if out.exists():
            load_checkpoint(out)
        fresh = tmp_path / f"fresh{i}"
        kill_once_writing(["quantize", str(CKPT), "-r", "int4-naive", "-o", str(fresh), "--json"], tmp_path, fresh,
                          (0.0, 0.005, 0.02)[i])
        assert tree(fresh) in (None, tree(new)), f"kill {i} in the write left a partial checkpoint"
    run_ok(["quantize", str(CKPT), "-r", "int4-naive", "-o", str(out), "--json"], tmp_path)
    assert tree(out) == tree(new)


def with_other_puzzle_rows(checkpoint: Path, out: Path) -> Path:
    """A copy of `checkpoint` whose puzzle-embedding table differs (its exports' embedding files differ too)."""
    shutil.copytree(checkpoint, out)
    for shard in out.glob("*.safetensors"):
        with safe_open(shard, "pt") as fh:
            tensors, metadata = {k: fh.get_tensor(k) for k in fh.keys()}, fh.metadata()
        if "puzzle_emb.weights" in tensors:
            tensors["puzzle_emb.weights"] = tensors["puzzle_emb.weights"] + 1.0
        save_file(tensors, shard, metadata)
    return out


def test_killed_export_leaves_the_previous_pair_or_the_new_one_or_a_refused_one(tmp_path: Path) -> None:
    """A blob and its embedding file are two renames, and a kill can land between them (CI saw it): what is left
    is then the new embedding file beside the old blob (or alone, for a fresh output). The blob names its own
    embedding file, so that pair is refused by name; it never runs one export's weights with another's rows."""
    old, new, out = tmp_path / "old.blob", tmp_path / "new.blob", tmp_path / "out.blob"
    other = with_other_puzzle_rows(CKPT, tmp_path / "other")  # so that the old and new embedding files differ
    run_ok(["export", str(other), "-o", str(old), "--json"], tmp_path)
    full = run_ok(["export", str(CKPT), "-r", "int8", "-o", str(new), "--json"], tmp_path)
    run_ok(["export", str(other), "-o", str(out), "--json"], tmp_path)  # the previous output: as old

    def pair(blob: Path) -> tuple[bytes | None, bytes | None]:
        return tuple(p.read_bytes() if p.exists() else None for p in (blob, blob.with_suffix(".emb")))

    def refused(blob: Path) -> bool:
        try:
            check_embedding_pair(blob, blob.with_suffix(".emb"))
        except RedgeInputError as exc:
            return "not the embedding file exported with" in str(exc)
        return False

    emb_old, emb_new = pair(old)[1], pair(new)[1]
    assert pair(out) == pair(old) and emb_old != emb_new  # else a mixed pair could not be told apart
    for i, delay in enumerate(delays(full, 2)):
        kill_after(["export", str(CKPT), "-r", "int8", "-o", str(out), "--json"], tmp_path, delay)
        left = pair(out)
        assert left in (pair(old), pair(new)) or (left == (pair(old)[0], emb_new) and refused(out)), \
            f"kill {i} after {delay:.2f} s left an unrefused mixed pair"
        fresh = tmp_path / f"fresh{i}.blob"
        kill_once_writing(["export", str(CKPT), "-r", "int8", "-o", str(fresh), "--json"], tmp_path, fresh,
                          (0.0, 0.002, 0.01)[i])
        assert pair(fresh) in ((None, None), (None, emb_new), pair(new)), f"kill {i} in the write left a partial pair"
    run_ok(["export", str(CKPT), "-r", "int8", "-o", str(out), "--json"], tmp_path)
    assert pair(out) == pair(new)
    check_embedding_pair(out, out.with_suffix(".emb"))


@pytest.mark.skipif(not ARC_INPUT.is_dir(), reason="needs the shared ARC-AGI-1 folders (REDGE_SHARED_DATA)")
def test_killed_data_build_leaves_the_previous_dataset_or_nothing(tmp_path: Path) -> None:
    def build(out: Path, seed: int) -> list[str]:
        return ["data", "build", "arc", "--input", str(ARC_INPUT), "--subsets", "training,evaluation",
                "--tasks-per-subset", "60", "--num-aug", "20", "--seed", str(seed), "-o", str(out), "--json"]

    old, new, out, fresh = tmp_path / "old", tmp_path / "new", tmp_path / "out", tmp_path / "fresh"
    run_ok(build(old, 1), tmp_path)
    full = run_ok(build(new, 2), tmp_path)
    run_ok(build(out, 1), tmp_path)
    assert tree(out) == tree(old) and (out / "identifiers.json").is_file()
    for i, delay in enumerate(delays(full, 3)):
        kill_after(build(out, 2), tmp_path, delay)
        assert tree(out) in (tree(old), tree(new)), f"kill {i} after {delay:.2f} s left a partial dataset"
        rng = random.Random(i)
        in_write = (0.0, rng.uniform(0.0, 0.05), rng.uniform(0.0, 0.5))[i]  # the writes take ~0.1 s
        kill_once_writing(build(fresh, 2), tmp_path, fresh, in_write)
        assert tree(fresh) in (None, tree(new)), f"kill {i} {in_write:.2f} s into the write left a partial dataset"
    run_ok(build(out, 2), tmp_path)
    run_ok(build(fresh, 2), tmp_path)
    assert tree(out) == tree(new) == tree(fresh)


def test_killed_train_resume_keeps_a_resumable_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    common = ["train", "--set", f"data=[{EASY}]", "--set", f"eval_data={{easy: {EASY}}}", "--set",
              "checkpoint_every_minutes=0.001", "--set", "log_every=1", "--no-eval", "-o", str(run), "--json"]
    run_ok([*common, "--set", "max_steps=4"], tmp_path)
    full = run_ok([*common, "--resume", "--set", "max_steps=8"], tmp_path)  # resumed at step 4, to 8
    run_ok([*common, "--resume", "--set", "max_steps=12"], tmp_path)
    for i, delay in enumerate(delays(full, 4)[:2]):
        kill_after([*common, "--resume", "--set", f"max_steps={16 + 4 * i}"], tmp_path, delay)
        state = torch.load(run / "state.pt", weights_only=True)
        assert int(state["step"]) >= 12, f"kill {i}: state.pt went back to step {state['step']}"
        load_checkpoint(run / "model")
        for line in (run / "curve.jsonl").read_text().splitlines():
            json.loads(line)
    run_ok([*common, "--resume", "--set", "max_steps=24"], tmp_path)
    assert int(torch.load(run / "state.pt", weights_only=True)["step"]) == 24
