"""Scale-out: a 2-process torchrun (gloo, CPU) sweep gives the same table as one process."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from redge.study.report import build_report, jsonable
from redge.study.store import RunStore
from redge.study.sweep import SweepSpec, run_sweep


def _rounded(rows: list[dict]) -> list[dict]:
    return [{k: round(v, 9) if isinstance(v, float) else v for k, v in row.items()} for row in rows]


@pytest.mark.slow
def test_two_ranks_give_the_same_table_as_one(tiny_ckpt, tiny_data, tmp_path) -> None:
    spec = SweepSpec(tiny_ckpt, tiny_data, recipes=("fp32",), cycles=((None, None), (1, 1)), depth=3, batch_size=5)
    keys = run_sweep(spec, tmp_path / "one.sqlite")
    with RunStore(tmp_path / "one.sqlite") as store:
        one = jsonable(build_report(store, keys))

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "redge", "sweep", "-c", str(tiny_ckpt), "-d", str(tiny_data), "-r", "fp32", "--cycles", "2,2",
           "--cycles", "1,1", "--depths", "3", "--batch-size", "5", "--store", str(tmp_path / "two.sqlite"),
           "--out", str(tmp_path / "out"), "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads(proc.stdout)  # only rank 0 prints
    assert _rounded(two["per_depth"]) == _rounded(one["per_depth"])
    assert two["findings"] == one["findings"]
    with RunStore(tmp_path / "two.sqlite") as store:
        assert [len(store.records(k)) for k in keys] == [5, 5]  # both ranks' batches, once each
