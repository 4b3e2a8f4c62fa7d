"""torchrun with 2 CPU processes (gloo) gives the loss curve of 1 process on the same global batch."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _train(tmp: Path, micro_data: str, nproc: int) -> list[float]:
    out = tmp / f"run{nproc}"
    sets = ["model.hidden_size=16", "model.puzzle_emb_ndim=16", "model.H_cycles=1", "model.L_cycles=1",
            "model.expansion=1", "model.halt_exploration_prob=0.0", f"data=[{micro_data}]", "eval_data={}",
            "global_batch_size=8", "max_steps=12", "max_minutes=null", "log_every=2", "lr_warmup_steps=2",
            "lr=0.003"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "redge.cli", "train", "--config", "tiny", "--device", "cpu", "--no-eval", "--json", "--out", str(out)]
    for s in sets:
        cmd += ["--set", s]
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"torchrun exited {done.returncode}:\n{done.stderr[-3000:]}"
    rows = [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]
    return [r["lm_loss"] for r in rows if "lm_loss" in r]


@pytest.mark.slow
def test_two_processes_match_one(tmp_path, micro_data):
    one, two = _train(tmp_path, micro_data, 1), _train(tmp_path, micro_data, 2)
    assert len(one) == len(two) == 6
    assert one == pytest.approx(two, rel=2e-3)
