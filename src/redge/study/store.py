"""The runs store: one SQLite file per project directory holding every sweep result, resumable batch by batch.

Schema (two tables):

* ``runs``: one row per (checkpoint, data, variant), keyed by ``key`` = hash of the three (see `run_key`);
  ``meta`` is JSON (recipe, cycles, depth, FLOPs, bytes, names); ``done`` is set once every batch is in.
* ``batches``: one row per (key, batch index) with the JSON `BatchRecord` of that batch; the primary key makes a
  duplicate impossible, and a sweep writes each round of batches (all its variants) in one transaction.

An interrupted sweep therefore leaves only whole batches behind; re-running it skips them and the final
aggregation, done in batch order, is the same as an uninterrupted run's.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from redge.core.errors import RedgeInputError
from redge.study.records import BatchRecord

DEFAULT_STORE = Path("runs") / "redge-runs.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    checkpoint_hash TEXT NOT NULL,
    data_hash TEXT NOT NULL,
    meta TEXT NOT NULL,
    n_batches INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    finished REAL
);
CREATE TABLE IF NOT EXISTS batches (
    key TEXT NOT NULL REFERENCES runs(key),
    batch INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (key, batch)
);
"""


_COLUMNS = {"runs": ("key", "checkpoint_hash", "data_hash", "meta", "n_batches", "done", "created", "finished"),
            "batches": ("key", "batch", "record")}


def digest(obj: Any) -> str:
    """Stable short hash of a JSON-serialisable object (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


# What defines a checkpoint folder's forward pass (redge and quantized formats): its config and weight shards. Its
# model card, evaluations and curve are records that a write-up edits.
MODEL_FILES = ("config.json", "*.safetensors")


def checkpoint_hash(path: str | Path) -> str:
    """Content hash of a checkpoint: a folder's `MODEL_FILES` (all its files when it has none of them), or the file
    itself. Editing a model card or adding an evaluation does not orphan the runs stored for its weights."""
    path = Path(path)
    if path.is_dir():
        model = [p for p in path.rglob("*") if p.is_file() and any(p.match(g) for g in MODEL_FILES)]
        if model:
            return hash_files(path, model)
    return hash_files(path)


def hash_files(path: str | Path, files: Iterable[Path] | None = None) -> str:
    """Content hash of a file, or of the files under a folder (relative names included): every file, or `files`."""
    path = Path(path)
    if files is None:
        files = path.rglob("*") if path.is_dir() else [path]
    files = sorted(p for p in files if p.is_file())
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:20]


def run_key(checkpoint_hash: str, data_hash: str, variant: dict[str, Any]) -> str:
    """The key of one result: a hash of the checkpoint, the data selection and the variant description."""
    return digest({"checkpoint": checkpoint_hash, "data": data_hash, "variant": variant})


class RunStore:
    """Transactional access to the runs store; use as a context manager or call `close`."""

    def __init__(self, path: str | Path = DEFAULT_STORE) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise RedgeInputError("is a directory, not a runs store file", self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RedgeInputError(f"cannot create its folder ({exc.strerror or type(exc).__name__})", self.path) \
                from None
        with self._named_errors():
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._check_tables()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    @contextmanager
    def _named_errors(self) -> Iterator[None]:
        """SQLite failures (a corrupt or foreign file, a locked or read-only one) as one-line errors naming the
        store."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise RedgeInputError(f"not a usable redge runs store ({exc})", self.path) from None

    def _check_tables(self) -> None:
        """Refuse an SQLite file that another program made (other tables, or ours with other columns)."""
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return
        if tables != set(_COLUMNS):
            raise RedgeInputError(f"an SQLite database with tables {sorted(tables)}, not a redge runs store "
                                  f"(tables {sorted(_COLUMNS)})", self.path)
        for table, columns in _COLUMNS.items():
            found = tuple(r[1] for r in self._db.execute(f"PRAGMA table_info({table})"))
            if found != columns:
                raise RedgeInputError(f"table {table} has columns {list(found)}, expected {list(columns)}", self.path)

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._named_errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def register(self, key: str, checkpoint_hash: str, data_hash: str, meta: dict[str, Any], n_batches: int) -> None:
        """Declare a run (no-op if it exists already)."""
        with self._transaction():
            self._db.execute("INSERT OR IGNORE INTO runs (key, checkpoint_hash, data_hash, meta, n_batches, created) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (key, checkpoint_hash, data_hash, json.dumps(meta, default=str), n_batches, time.time()))

    def done_batches(self, keys: Iterable[str]) -> dict[str, set[int]]:
        """Batch indices already stored, per key."""
        out: dict[str, set[int]] = {}
        with self._named_errors():
            for key in keys:
                rows = self._db.execute("SELECT batch FROM batches WHERE key = ?", (key,)).fetchall()
                out[key] = {r[0] for r in rows}
        return out

    def write_batches(self, rows: Iterable[tuple[str, int, BatchRecord]]) -> None:
        """Store (key, batch, record) rows in one transaction and mark runs whose batches are now complete."""
        rows = list(rows)
        with self._transaction():
            self._db.executemany("INSERT OR IGNORE INTO batches (key, batch, record) VALUES (?, ?, ?)",
                                 [(k, b, json.dumps(r.to_dict())) for k, b, r in rows])
            self._db.executemany(
                "UPDATE runs SET done = 1, finished = ? WHERE key = ? AND done = 0 AND n_batches = "
                "(SELECT COUNT(*) FROM batches WHERE batches.key = runs.key)",
                [(time.time(), k) for k in {k for k, _, _ in rows}])

    def records(self, key: str) -> list[BatchRecord]:
        """The batch records of a run, in batch order."""
        with self._named_errors():
            rows = self._db.execute("SELECT record FROM batches WHERE key = ? ORDER BY batch", (key,)).fetchall()
        try:
            return [BatchRecord.from_dict(json.loads(r[0])) for r in rows]
        except (ValueError, TypeError, KeyError) as exc:
            raise RedgeInputError(f"run {key}: a stored batch record is unreadable ({exc})", self.path) from None

    def runs(self, keys: Iterable[str] | None = None, done_only: bool = True) -> list[dict[str, Any]]:
        """Run rows (key, hashes, meta, n_batches, done), in creation order; all of them when `keys` is None."""
        with self._named_errors():
            rows = self._db.execute("SELECT key, checkpoint_hash, data_hash, meta, n_batches, done FROM runs "
                                    "ORDER BY created, key").fetchall()
        wanted = None if keys is None else set(keys)
        return [{"key": k, "checkpoint_hash": c, "data_hash": d, "meta": json.loads(m), "n_batches": n,
                 "done": bool(done)}
                for k, c, d, m, n, done in rows
                if (wanted is None or k in wanted) and (done or not done_only)]
