"""Reading, validating and batching the official dataset folder; one-line errors naming file and field."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from redge.cli import main
from redge.core.errors import RedgeInputError
from redge.tasks.format import load_split, validate_dataset
from redge.tasks.loader import iter_eval_batches, iter_train_batches


@pytest.fixture
def arc_copy(fixtures: Path, tmp_path: Path) -> Path:
    d = tmp_path / "arc"
    shutil.copytree(fixtures / "official_arc", d)
    return d


def _edit_json(path: Path, **changes) -> None:
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def _corrupt(d: Path, case: str) -> tuple[str, str]:
    """Apply one corruption; return (file name, field) the error must name."""
    t = d / "train"
    if case == "offsets":
        idx = np.load(t / "all__puzzle_indices.npy")
        np.save(t / "all__puzzle_indices.npy", idx[:-1])
        return "all__puzzle_indices.npy", "puzzle_indices"
    if case == "dtype":
        np.save(t / "all__labels.npy", np.load(t / "all__labels.npy").astype(np.float32))
        return "all__labels.npy", "labels"
    if case == "token":
        x = np.load(t / "all__inputs.npy")
        x[3, 5] = 12
        np.save(t / "all__inputs.npy", x)
        return "all__inputs.npy", "inputs"
    if case == "rows":
        np.save(t / "all__labels.npy", np.load(t / "all__labels.npy")[:-1])
        return "all__labels.npy", "labels"
    if case == "groups":
        _edit_json(t / "dataset.json", total_groups=7)
        return "dataset.json", "total_groups"
    if case == "seq_len":
        _edit_json(t / "dataset.json", seq_len=81)
        return "all__inputs.npy", "inputs"
    if case == "identifier":
        ids = np.load(t / "all__puzzle_identifiers.npy")
        ids[0] = 999
        np.save(t / "all__puzzle_identifiers.npy", ids)
        return "all__puzzle_identifiers.npy", "puzzle_identifiers"
    if case == "group_offsets":
        g = np.load(t / "all__group_indices.npy")
        g[1] = g[2]
        np.save(t / "all__group_indices.npy", g)
        return "all__group_indices.npy", "group_indices"
    if case == "identifiers_json":
        (d / "identifiers.json").write_text(json.dumps(["<blank>"]))
        return "identifiers.json", "num_puzzle_identifiers"
    if case == "missing":
        (t / "all__group_indices.npy").unlink()
        return "all__group_indices.npy", "missing"
    if case == "bad_json":
        (t / "dataset.json").write_text("{")
        return "dataset.json", "JSON"
    if case == "field_type":
        _edit_json(t / "dataset.json", vocab_size="12")
        return "dataset.json", "vocab_size"
    raise AssertionError(case)


CASES = ["offsets", "dtype", "token", "rows", "groups", "seq_len", "identifier", "group_offsets",
         "identifiers_json", "missing", "bad_json", "field_type"]


@pytest.mark.parametrize("case", CASES)
def test_corruption_names_file_and_field(arc_copy: Path, case: str) -> None:
    fname, field = _corrupt(arc_copy, case)
    with pytest.raises(RedgeInputError) as err:
        validate_dataset(arc_copy)
    msg = str(err.value)
    assert "\n" not in msg and fname in msg and field in msg, msg


def test_cli_reports_one_line_and_exit_2(arc_copy: Path, capsys: pytest.CaptureFixture) -> None:
    _corrupt(arc_copy, "offsets")
    assert main(["data", "validate", str(arc_copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "all__puzzle_indices.npy" in err and "puzzle_indices" in err


def test_hrm_metadata_without_total_puzzles_loads(arc_copy: Path) -> None:
    meta = json.loads((arc_copy / "test" / "dataset.json").read_text())
    del meta["total_puzzles"]
    (arc_copy / "test" / "dataset.json").write_text(json.dumps(meta))
    split = load_split(arc_copy, "test")
    assert split.metadata.total_puzzles == len(split.puzzle_identifiers)


def test_eval_batches_are_sequential_and_padded(fixtures: Path) -> None:
    split = load_split(fixtures / "official_arc", "train")
    batches = list(iter_eval_batches(split, 16))
    assert sum(n for _, n in batches) == split.num_examples
    last, n = batches[-1]
    assert last["inputs"].shape == (16, 900) and last["inputs"].dtype.is_floating_point is False
    assert (last["labels"][n:] == -100).all() and (last["puzzle_identifiers"][n:] == 0).all()
    first, _ = batches[0]
    assert (first["labels"] != 0).all()  # ignore label 0 mapped to -100
    assert np.array_equal(first["inputs"].numpy(), np.asarray(split.inputs[:16], dtype=np.int32))
    expected_ids = np.repeat(split.puzzle_identifiers, np.diff(split.puzzle_indices))[:16]
    assert np.array_equal(first["puzzle_identifiers"].numpy(), expected_ids)


def test_train_sampler_one_puzzle_per_group_and_drop_last(fixtures: Path) -> None:
    split = load_split(fixtures / "official_arc", "train")
    batches = list(iter_train_batches(split, batch_size=8, seed=0))
    assert batches and all(b["inputs"].shape == (8, 900) for b in batches)
    again = list(iter_train_batches(split, batch_size=8, seed=0))
    assert all((a["inputs"] == b["inputs"]).all() for a, b in zip(batches, again))
    group_of = np.searchsorted(split.group_indices, np.arange(len(split.puzzle_identifiers)), side="right") - 1
    id_to_group = dict(zip(split.puzzle_identifiers.tolist(), group_of.tolist()))
    ids = np.concatenate([b["puzzle_identifiers"].numpy() for b in batches])
    assert len(ids) <= split.num_examples and len(set(id_to_group[i] for i in ids)) >= 2
    halves = [list(iter_train_batches(split, 8, 0, rank=r, world_size=2)) for r in (0, 1)]
    assert all((h0["inputs"] == b["inputs"][:4]).all() for h0, b in zip(halves[0], batches))
