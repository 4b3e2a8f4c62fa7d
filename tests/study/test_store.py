"""Runs store: transactional batch rows, resume after an interruption (exception or SIGKILL), no duplicates."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from redge.core.errors import RedgeInputError
from redge.study import sweep
from redge.study.records import BatchRecord
from redge.study.report import build_report
from redge.study.store import RunStore, checkpoint_hash
from redge.study.sweep import SweepSpec, run_sweep

CYCLES = ((None, None), (1, 1), (2, 1))


def _spec(ckpt: Path, data: Path, batch_size: int = 5) -> SweepSpec:
    return SweepSpec(ckpt, data, recipes=("fp32",), cycles=CYCLES, depth=3, batch_size=batch_size)


def _table(store_path: Path, keys: list[str]) -> list[dict]:
    with RunStore(store_path) as store:
        return build_report(store, keys)["per_depth"]


def _row_counts(store_path: Path) -> tuple[int, int, int]:
    with sqlite3.connect(store_path) as db:
        runs = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        rows = db.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
        distinct = db.execute("SELECT COUNT(*) FROM (SELECT DISTINCT key, batch FROM batches)").fetchone()[0]
    return runs, rows, distinct


def _rows_so_far(store_path: Path) -> int:
    try:
        return _row_counts(store_path)[1]
    except sqlite3.OperationalError:  # schema not created yet
        return 0


class Interrupt(Exception):
    pass


def test_interrupted_sweep_resumes_to_the_same_table(tiny_ckpt, tiny_data, tmp_path, monkeypatch) -> None:
    clean_keys = run_sweep(_spec(tiny_ckpt, tiny_data), tmp_path / "clean.sqlite")
    clean = _table(tmp_path / "clean.sqlite", clean_keys)

    stop_after = random.Random(5).randint(1, 4)  # of 5 batches

    def crash(done: int, total: int) -> None:
        if done == stop_after:
            raise Interrupt

    store = tmp_path / "resumed.sqlite"
    with pytest.raises(Interrupt):
        run_sweep(_spec(tiny_ckpt, tiny_data), store, progress=crash)
    with RunStore(store) as db:
        assert db.runs() == []  # nothing is finished yet
    computed = []
    real_record_batch = sweep.record_batch

    def counting(*args, **kwargs):
        computed.append(args[3])  # n_real of the batch
        return real_record_batch(*args, **kwargs)

    monkeypatch.setattr(sweep, "record_batch", counting)
    keys = run_sweep(_spec(tiny_ckpt, tiny_data), store)
    assert len(computed) == 5 - stop_after  # the finished batches were skipped
    assert keys == clean_keys
    assert _table(store, keys) == clean
    assert _row_counts(store) == (len(CYCLES), len(CYCLES) * 5, len(CYCLES) * 5)
    run_sweep(_spec(tiny_ckpt, tiny_data), store)  # a third run finds everything done
    assert _row_counts(store) == (len(CYCLES), len(CYCLES) * 5, len(CYCLES) * 5)


def test_killed_process_resumes_to_the_same_table(tiny_ckpt, tiny_data, tmp_path) -> None:
    clean_keys = run_sweep(_spec(tiny_ckpt, tiny_data, batch_size=2), tmp_path / "clean.sqlite")
    store = tmp_path / "killed.sqlite"
    cmd = [sys.executable, "-m", "redge", "sweep", "-c", str(tiny_ckpt), "-d", str(tiny_data), "-r", "fp32",
           "--cycles", "2,2", "--cycles", "1,1", "--cycles", "2,1", "--depths", "3", "--batch-size", "2",
           "--store", str(store), "--out", str(tmp_path / "out"), "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kill_at = random.Random(7).randint(1, 20)  # of 12 batches x 3 variants = 36 rows
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        if store.exists() and _rows_so_far(store) >= kill_at:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    keys = run_sweep(_spec(tiny_ckpt, tiny_data, batch_size=2), store)
    assert keys == clean_keys
    assert _table(store, keys) == _table(tmp_path / "clean.sqlite", clean_keys)
    assert _row_counts(store) == (3, 36, 36)


def test_duplicate_batch_writes_are_ignored(tmp_path) -> None:
    with RunStore(tmp_path / "s.sqlite") as store:
        store.register("k", "c", "d", {"label": "x"}, n_batches=2)
        store.register("k", "c", "d", {"label": "changed"}, n_batches=2)
        rec = BatchRecord(depth=2, rows=1)
        store.write_batches([("k", 0, rec)])
        store.write_batches([("k", 0, rec)])
        assert store.runs() == []
        store.write_batches([("k", 1, rec)])
        (run,) = store.runs()
        assert run["meta"] == {"label": "x"} and run["done"]
        assert store.done_batches(["k"]) == {"k": {0, 1}}
        assert [r.rows for r in store.records("k")] == [1, 1]


@pytest.mark.parametrize("make, needle", [
    (lambda p: p.write_bytes(b"not a database at all, just bytes" * 100), "not a usable redge runs store"),
    (lambda p: sqlite3.connect(p).executescript("CREATE TABLE people (name TEXT);").close(), "not a redge runs store"),
    (lambda p: sqlite3.connect(p).executescript("CREATE TABLE runs (key TEXT); CREATE TABLE batches (key TEXT);"
                                                ).close(), "table runs has columns"),
    (lambda p: p.mkdir(), "is a directory"),
])
def test_a_store_that_is_not_ours_is_named_in_one_line(tmp_path, make, needle) -> None:
    path = tmp_path / "store.sqlite"
    make(path)
    with pytest.raises(RedgeInputError, match=needle) as err:
        RunStore(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_store_under_a_regular_file_is_named(tmp_path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(RedgeInputError, match="cannot create its folder") as err:
        RunStore(tmp_path / "file" / "store.sqlite")
    assert "store.sqlite" in str(err.value)


def test_report_on_a_corrupt_store_exits_2_naming_it(tmp_path, capsys) -> None:
    from redge.cli import main

    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"\x00garbage" * 512)
    assert main(["report", "--store", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and err.count("\n") == 1


def test_a_checkpoint_hash_follows_its_weights_and_config_not_its_records(tiny_ckpt, tmp_path) -> None:
    """Editing a model card or adding an evaluation keeps a checkpoint's stored runs; new weights or a new config
    do not."""
    import shutil

    ckpt = shutil.copytree(tiny_ckpt, tmp_path / "ckpt")
    before = checkpoint_hash(ckpt)
    (ckpt / "MODEL_CARD.md").write_text("# a card\n")
    (ckpt / "eval.json").write_text("{}\n")
    assert checkpoint_hash(ckpt) == before
    config = ckpt / "config.json"
    config.write_text(config.read_text().replace('"H_cycles": 2', '"H_cycles": 3'))
    assert checkpoint_hash(ckpt) != before
    shutil.copy(tiny_ckpt / "config.json", config)
    shard = next(ckpt.glob("*.safetensors"))
    data = bytearray(shard.read_bytes())
    data[-1] ^= 1
    shard.write_bytes(bytes(data))
    assert checkpoint_hash(ckpt) != before
    assert checkpoint_hash(shard) != checkpoint_hash(tiny_ckpt / shard.name)  # a single file: its bytes
