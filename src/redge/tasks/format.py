"""The official puzzle-dataset folder (HRM/TRM builders): read, write and validate it.

Layout of a dataset folder ``DIR``::

    DIR/identifiers.json                       list: identifier id -> puzzle name ("<blank>" at 0)
    DIR/test_puzzles.json                      ARC only: the original test tasks, for the evaluator
    DIR/{train,test}/dataset.json              metadata (field order as TRM's pydantic model)
    DIR/{train,test}/all__inputs.npy           uint8 [N_examples, seq_len]
    DIR/{train,test}/all__labels.npy           uint8 [N_examples, seq_len]
    DIR/{train,test}/all__puzzle_identifiers.npy   int32 [N_puzzles]
    DIR/{train,test}/all__puzzle_indices.npy       int32 [N_puzzles + 1]  example offsets per puzzle
    DIR/{train,test}/all__group_indices.npy        int32 [N_groups + 1]   puzzle offsets per group

Files are written with ``json.dump`` / ``np.save`` exactly as the official builders do, so the bytes match.
HRM-built folders lack ``total_puzzles``; they load here (the count is taken from the arrays).
Every inconsistency found on read raises a one-line
:class:`~redge.core.errors.RedgeInputError` naming the file and the field.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from redge.core.atomic import atomic_path, atomic_write
from redge.core.errors import RedgeInputError
from redge.core.jsonio import read_json, write_json

FIELDS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")
SPLITS = ("train", "test")
BLANK_NAME = "<blank>"


@dataclass
class DatasetMetadata:
    """The ``dataset.json`` of one split; field order matches TRM's ``PuzzleDatasetMetadata`` dump."""

    pad_id: int
    ignore_label_id: int | None
    blank_identifier_id: int
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    total_groups: int
    mean_puzzle_examples: float
    total_puzzles: int
    sets: list[str] = field(default_factory=lambda: ["all"])

    def to_json(self) -> str:
        """Serialise as the official builders do (``json.dump`` of the pydantic dump: floats stay floats)."""
        d = asdict(self)
        d["mean_puzzle_examples"] = float(d["mean_puzzle_examples"])
        return json.dumps(d)


@dataclass
class PuzzleSplit:
    """One loaded split: metadata and the five arrays of its (single) ``all`` set (``labels`` None when the split was
    loaded without them: label-free work such as `redge autocompress`)."""

    metadata: DatasetMetadata
    inputs: np.ndarray
    labels: np.ndarray | None
    puzzle_identifiers: np.ndarray
    puzzle_indices: np.ndarray
    group_indices: np.ndarray
    path: Path

    @property
    def num_examples(self) -> int:
        """Number of examples (rows of ``inputs``)."""
        return int(self.inputs.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        """The five arrays keyed by their official field names."""
        return {k: getattr(self, k) for k in FIELDS}


# ----------------------------------------------------------------------------------------------- writing


def save_split(out_dir: str | Path, split: str, arrays: dict[str, np.ndarray], metadata: DatasetMetadata) -> None:
    """Write ``out_dir/split/{dataset.json, all__*.npy}`` atomically; arrays keep the dtypes given.

    Fields missing from ``arrays`` are left alone (written before with :func:`npy_writer`).
    """
    split_dir = Path(out_dir) / split
    atomic_write(split_dir / "dataset.json", lambda f: f.write(metadata.to_json()), mode="w")
    for name in (f for f in FIELDS if f in arrays):
        arr = np.ascontiguousarray(arrays[name])
        atomic_write(split_dir / f"all__{name}.npy", lambda f, a=arr: np.save(f, a))


@contextmanager
def npy_writer(path: str | Path, shape: tuple[int, ...], dtype: Any) -> Iterator[np.ndarray]:
    """Yield a writable memmap of a new ``.npy`` file (same bytes as ``np.save``), renamed into place on success.

    For arrays too large to build in memory (ARC with 1000 augmentations is several GB).
    """
    with atomic_path(path) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        yield arr
        arr.flush()
        del arr


def save_identifiers(out_dir: str | Path, names: list[str]) -> None:
    """Write ``identifiers.json`` (id -> name; index 0 must be ``<blank>``)."""
    write_json(Path(out_dir) / "identifiers.json", names)


def single_example_indices(num_puzzles: int, group_size: int = 1) -> dict[str, np.ndarray]:
    """Offsets for datasets with one example per puzzle and ``group_size`` puzzles per group (Sudoku, Maze)."""
    return {
        "puzzle_identifiers": np.zeros(num_puzzles, dtype=np.int32),
        "puzzle_indices": np.arange(num_puzzles + 1, dtype=np.int32),
        "group_indices": np.arange(0, num_puzzles + 1, group_size, dtype=np.int32),
    }


def grid_metadata(arrays: dict[str, np.ndarray], vocab_size: int) -> DatasetMetadata:
    """Metadata of a Sudoku/Maze split (one example per puzzle, one identifier) as their official builders write it.

    Those builders set ``total_puzzles`` to the number of *groups* (equal to the puzzle count only without
    augmentation); we keep that for byte compatibility, and the reader accepts either count.
    """
    n_groups = int(arrays["group_indices"].shape[0] - 1)
    return DatasetMetadata(
        pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=vocab_size,
        seq_len=int(arrays["inputs"].shape[1]), num_puzzle_identifiers=1, total_groups=n_groups,
        mean_puzzle_examples=1, total_puzzles=n_groups)


# ----------------------------------------------------------------------------------------------- reading

_INT_FIELDS = ("pad_id", "blank_identifier_id", "vocab_size", "seq_len", "num_puzzle_identifiers", "total_groups")


def _load_metadata(path: Path) -> dict[str, Any]:
    """Parse ``dataset.json`` and type-check its fields (``total_puzzles`` may be absent: HRM)."""
    if not path.is_file():
        raise RedgeInputError("missing dataset.json (not an official dataset split folder)", path)
    raw = read_json(path, dict)
    for name in _INT_FIELDS:
        v = raw.get(name)
        if isinstance(v, bool) or not isinstance(v, int):
            raise RedgeInputError(f"field '{name}': expected an integer, got {v!r}", path)
    ign = raw.get("ignore_label_id", None)
    if ign is not None and (isinstance(ign, bool) or not isinstance(ign, int)):
        raise RedgeInputError(f"field 'ignore_label_id': expected an integer or null, got {ign!r}", path)
    mpe = raw.get("mean_puzzle_examples")
    if isinstance(mpe, bool) or not isinstance(mpe, (int, float)):
        raise RedgeInputError(f"field 'mean_puzzle_examples': expected a number, got {mpe!r}", path)
    tp = raw.get("total_puzzles")
    if tp is not None and (isinstance(tp, bool) or not isinstance(tp, int)):
        raise RedgeInputError(f"field 'total_puzzles': expected an integer, got {tp!r}", path)
    sets = raw.get("sets")
    if not (isinstance(sets, list) and sets and all(isinstance(s, str) for s in sets)):
        raise RedgeInputError(f"field 'sets': expected a non-empty list of names, got {sets!r}", path)
    if sets != ["all"]:
        raise RedgeInputError(f"field 'sets': only ['all'] is supported, got {sets!r}", path)
    if raw["vocab_size"] < 1 or raw["seq_len"] < 1:
        raise RedgeInputError("fields 'vocab_size' and 'seq_len' must be positive", path)
    return raw


def _load_array(path: Path, mmap: bool) -> np.ndarray:
    if not path.is_file():
        raise RedgeInputError("missing file", path)
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise RedgeInputError(f"not a readable .npy array ({str(exc).splitlines()[0]})", path) from None


def _check_offsets(arr: np.ndarray, path: Path, field_name: str, total: int, what: str) -> None:
    """Offsets must start at 0, increase strictly and end at ``total``."""
    if arr.ndim != 1 or arr.shape[0] < 1:
        raise RedgeInputError(f"field '{field_name}': expected a 1-D array of offsets, got shape {arr.shape}", path)
    if arr[0] != 0:
        raise RedgeInputError(f"field '{field_name}': first offset is {arr[0]}, expected 0", path)
    if arr.shape[0] > 1 and np.any(np.diff(arr.astype(np.int64)) <= 0):
        i = int(np.argmax(np.diff(arr.astype(np.int64)) <= 0))
        raise RedgeInputError(f"field '{field_name}': offsets not strictly increasing at index {i + 1}", path)
    if arr[-1] != total:
        raise RedgeInputError(f"field '{field_name}': last offset is {arr[-1]}, expected {total} ({what})", path)


def _check_token_range(arr: np.ndarray, path: Path, field_name: str, vocab_size: int, chunk: int = 1 << 16) -> None:
    for start in range(0, arr.shape[0], chunk):
        block = np.asarray(arr[start:start + chunk])
        if block.size and (block.min() < 0 or block.max() >= vocab_size):
            bad = int(block.max()) if block.max() >= vocab_size else int(block.min())
            raise RedgeInputError(f"field '{field_name}': token {bad} outside vocab [0, {vocab_size})", path)


def load_split(data_dir: str | Path, split: str, mmap: bool = True, check_tokens: bool = True,
               labels: bool = True) -> PuzzleSplit:
    """Load and validate ``data_dir/split`` (inputs/labels memory-mapped by default, as the official loader).

    With ``labels=False`` the labels file is never opened (it may be absent) and ``labels`` is None: code that must
    not see the answers (label-free search, calibration) gets that guarantee from the loader itself.

    Checks: dataset.json fields and types, file presence, array rank, dtypes (integers), shapes against
    ``seq_len``, token range against ``vocab_size`` (``check_tokens``), offsets, counts against the metadata and
    identifiers against ``num_puzzle_identifiers``. Raises :class:`RedgeInputError` on the first problem.
    """
    split_dir = Path(data_dir) / split
    if not split_dir.is_dir():
        raise RedgeInputError(f"no '{split}' split folder", split_dir)
    meta_path = split_dir / "dataset.json"
    raw = _load_metadata(meta_path)
    fields = FIELDS if labels else tuple(k for k in FIELDS if k != "labels")
    arrays = {k: _load_array(split_dir / f"all__{k}.npy", mmap and k in ("inputs", "labels")) for k in fields}
    for k, arr in arrays.items():
        if not np.issubdtype(arr.dtype, np.integer):
            raise RedgeInputError(f"field '{k}': dtype {arr.dtype} is not an integer type", split_dir / f"all__{k}.npy")

    p = {k: split_dir / f"all__{k}.npy" for k in FIELDS}
    inputs = arrays["inputs"]
    for k in ("inputs", "labels")[:2 if labels else 1]:
        if arrays[k].ndim != 2 or arrays[k].shape[1] != raw["seq_len"]:
            raise RedgeInputError(f"field '{k}': shape {arrays[k].shape} is not [N, seq_len={raw['seq_len']}]", p[k])
    if labels and arrays["labels"].shape[0] != inputs.shape[0]:
        raise RedgeInputError(f"field 'labels': {arrays['labels'].shape[0]} rows but all__inputs.npy has "
                              f"{inputs.shape[0]}", p["labels"])
    if check_tokens:
        _check_token_range(inputs, p["inputs"], "inputs", raw["vocab_size"])
        if labels:
            _check_token_range(arrays["labels"], p["labels"], "labels", raw["vocab_size"])

    n_examples = int(inputs.shape[0])
    _check_offsets(arrays["puzzle_indices"], p["puzzle_indices"], "puzzle_indices", n_examples, "examples")
    n_puzzles = int(arrays["puzzle_indices"].shape[0] - 1)
    ids = arrays["puzzle_identifiers"]
    if ids.ndim != 1 or ids.shape[0] != n_puzzles:
        raise RedgeInputError(f"field 'puzzle_identifiers': shape {ids.shape}, expected [{n_puzzles}] "
                              "(one per puzzle in all__puzzle_indices.npy)", p["puzzle_identifiers"])
    if n_puzzles and (ids.min() < 0 or ids.max() >= raw["num_puzzle_identifiers"]):
        raise RedgeInputError(f"field 'puzzle_identifiers': values outside [0, num_puzzle_identifiers="
                              f"{raw['num_puzzle_identifiers']})", p["puzzle_identifiers"])
    _check_offsets(arrays["group_indices"], p["group_indices"], "group_indices", n_puzzles, "puzzles")

    n_groups = int(arrays["group_indices"].shape[0] - 1)
    if raw["total_groups"] != n_groups:
        raise RedgeInputError(f"field 'total_groups': {raw['total_groups']} but all__group_indices.npy holds "
                              f"{n_groups} groups", meta_path)
    if raw.get("total_puzzles") not in (None, n_puzzles, n_groups):  # official Sudoku/Maze builders: groups
        raise RedgeInputError(f"field 'total_puzzles': {raw['total_puzzles']} but all__puzzle_indices.npy holds "
                              f"{n_puzzles} puzzles in {n_groups} groups", meta_path)
    mean = n_examples / max(n_puzzles, 1)
    if not math.isclose(raw["mean_puzzle_examples"], mean, rel_tol=1e-6):
        raise RedgeInputError(f"field 'mean_puzzle_examples': {raw['mean_puzzle_examples']} but the arrays give "
                              f"{mean:.6g}", meta_path)

    meta = DatasetMetadata(**{**{k: raw.get(k) for k in DatasetMetadata.__dataclass_fields__},
                              "total_puzzles": raw.get("total_puzzles", n_puzzles)})
    return PuzzleSplit(metadata=meta, path=split_dir, **{"labels": None, **arrays})


def load_identifiers(data_dir: str | Path, expected: int | None = None) -> list[str]:
    """Read ``identifiers.json``; check it is a list of names of length ``expected`` (when given)."""
    path = Path(data_dir) / "identifiers.json"
    if not path.is_file():
        raise RedgeInputError("missing identifiers.json", path)
    names = read_json(path)
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise RedgeInputError("expected a JSON list of identifier names", path)
    if expected is not None and len(names) != expected:
        raise RedgeInputError(f"{len(names)} names but dataset.json field 'num_puzzle_identifiers' is {expected}", path)
    return names


def validate_dataset(data_dir: str | Path) -> dict[str, PuzzleSplit]:
    """Load and fully validate every split present in ``data_dir`` plus ``identifiers.json``; return the splits."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise RedgeInputError("no such dataset folder", data_dir)
    splits = {s: load_split(data_dir, s) for s in SPLITS if (data_dir / s).is_dir()}
    if not splits:
        raise RedgeInputError("no 'train' or 'test' split folder", data_dir)
    counts = {s.metadata.num_puzzle_identifiers for s in splits.values()}
    if len(counts) > 1:
        raise RedgeInputError(f"field 'num_puzzle_identifiers' differs between splits: {sorted(counts)}", data_dir)
    load_identifiers(data_dir, counts.pop())
    return splits
