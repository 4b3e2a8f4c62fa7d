"""ARC: build the official dataset from ARC-AGI JSON folders or Kaggle combined files, as TRM's builder does.

With the same inputs and seed the output matches TRM's ``build_arc_dataset.py`` byte for byte: the same calls
on a legacy ``RandomState(seed)`` in the same order (task shuffle per subset, augmentation plans, one
untranslated example per puzzle, translations in train only).

Tokens: PAD 0, EOS 1, colour c -> c + 2; each grid sits at a top-left offset in a 30x30 canvas, with EOS on
the row below and the column right of it; vocab 12, seq_len 900. Identifiers: one per task variant,
``"{task}|||t{dihedral}|||{colour perm}"`` (the unaugmented task is just ``task``), 0 = ``<blank>``.
Split: tasks of the test subset send their demonstration pairs to train and their test pairs to test
(every variant, same identifiers); all other subsets go wholly to train. ``test_puzzles.json`` keeps the
original test tasks (with outputs) for the evaluator.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from redge.core.errors import RedgeInputError
from redge.core.jsonio import read_json, write_json
from redge.core.progress import progress_bar
from redge.tasks.arc_grid import MAX_SIZE, SEP, VOCAB_SIZE, crop, encode_pair, to_grid
from redge.tasks.augment import dihedral
from redge.tasks.format import (
    DatasetMetadata,
    PuzzleSplit,
    npy_writer,
    save_identifiers,
    save_split,
)
from redge.tasks.registry import Task, VotingEvaluator
from redge.tasks.sources import raw_data

RETRIES_FACTOR = 5
Example = tuple[np.ndarray, np.ndarray]
Puzzle = dict[str, list[Example]]  # split -> examples of one task variant


def default_kaggle_prefix() -> Path:
    """``arc-agi`` prefix of TRM's kaggle/combined files (``redge data fetch trm-kaggle-combined``)."""
    return raw_data("trm-kaggle-combined") / "arc-agi"


def check_task(name: str, task: Any, path: Path) -> None:
    """An ARC task as read from `path`: a mapping of `train`/`test` (and optionally `name`) to lists of pairs, each
    pair a mapping with a grid `input` (and a grid `output`, required in train pairs). A task of another shape is an
    input error naming the file and the task, raised before anything is built."""
    if not isinstance(task, dict):
        raise RedgeInputError(f"task {name}: expected an object with 'train' and 'test', got {type(task).__name__}",
                              path)
    for kind, pairs in task.items():
        if kind == "name":
            continue
        if kind not in ("train", "test"):
            raise RedgeInputError(f"task {name}: unknown key {kind!r} (expected 'train' and 'test')", path)
        if not isinstance(pairs, list):
            raise RedgeInputError(f"task {name}: {kind} must be a list of pairs, got {type(pairs).__name__}", path)
        for i, pair in enumerate(pairs):
            if not isinstance(pair, dict) or "input" not in pair or (kind == "train" and "output" not in pair):
                raise RedgeInputError(f"task {name}: {kind}[{i}] must be an object with 'input' and 'output'", path)
            try:
                for key in ("input", "output"):
                    if key in pair:
                        to_grid(pair[key], f"task {name} {kind}[{i}] {key}")
            except RedgeInputError as exc:
                raise RedgeInputError(str(exc), path) from None


def load_kaggle(prefix: str | Path, subsets: list[str]) -> list[tuple[str, dict]]:
    """Tasks of ``{prefix}_{subset}_challenges.json`` with test outputs from ``..._solutions.json``.

    Without a solutions file the test outputs are filled with ``[[0]]``, as TRM does.
    """
    out = []
    for subset in subsets:
        path = Path(f"{prefix}_{subset}_challenges.json")
        tasks = read_json(path)
        sols_path = Path(f"{prefix}_{subset}_solutions.json")
        sols = read_json(sols_path, dict) if sols_path.is_file() else {}
        if not isinstance(tasks, dict):
            raise RedgeInputError(f"expected an object of tasks by name, got {type(tasks).__name__}", path)
        for name, task in tasks.items():
            check_task(name, task, path)
            tests = task.get("test", [])
            if sols_path.is_file() and len(sols.get(name, [])) != len(tests):
                raise RedgeInputError(f"task {name}: {len(sols.get(name, []))} solutions for {len(tests)} test inputs",
                                      sols_path)
            for i, pair in enumerate(tests):
                pair["output"] = sols[name][i] if sols_path.is_file() else pair.get("output", [[0]])
        out.append((subset, tasks))
    return out


def load_folders(dirs: list[str | Path], subsets: list[str] | None = None) -> list[tuple[str, dict]]:
    """Tasks from ARC-AGI JSON folders: each sub-folder of a given folder is a subset (HRM's layout).

    A folder holding ``*.json`` task files directly is itself one subset. Sub-folders and files are read in
    sorted order, so the build is reproducible. ``subsets`` keeps only the named subsets.
    """
    out = []
    for d in map(Path, dirs):
        if not d.is_dir():
            raise RedgeInputError("no such folder", d)
        folders = [d] if any(d.glob("*.json")) else sorted(p for p in d.iterdir() if p.is_dir())
        for folder in folders:
            if subsets is None or folder.name in subsets:
                tasks = {f.stem: read_json(f) for f in sorted(folder.glob("*.json"))}
                for f in sorted(folder.glob("*.json")):
                    check_task(f.stem, tasks[f.stem], f)
                out.append((folder.name, tasks))
    if not out:
        raise RedgeInputError(f"no ARC task folders found in {', '.join(map(str, dirs))}")
    return out


def _variant_key(puzzle: Puzzle) -> tuple:
    """Order-free identity of a variant's grids (TRM's sha256 ``puzzle_hash`` makes the same decisions)."""
    return tuple(sorted((i.shape, i.tobytes(), o.shape, o.tobytes()) for ex in puzzle.values() for i, o in ex))


def _augment(name: str, base: Puzzle, num_aug: int, rs: np.random.RandomState) -> list[tuple[str, Puzzle]]:
    """The task then up to ``num_aug`` distinct variants (dihedral + colour permutation keeping black)."""
    group = [(name, base)]
    seen = {_variant_key(base)}
    for _ in range(RETRIES_FACTOR * num_aug if num_aug > 0 else 0):
        tid = rs.randint(0, 8)
        colours = np.concatenate([np.zeros(1, np.uint8), rs.permutation(np.arange(1, 10, dtype=np.uint8))])
        variant = {s: [(dihedral(colours[i], tid), dihedral(colours[o], tid)) for i, o in ex] for s, ex in base.items()}
        key = _variant_key(variant)
        if key not in seen:
            seen.add(key)
            group.append((f"{name}{SEP}t{tid}{SEP}{''.join(map(str, colours))}", variant))
        if len(group) >= num_aug + 1:
            break
    return group


def build(out: str | Path, tasks: list[tuple[str, dict]], test_set: str = "evaluation", num_aug: int = 1000,
          seed: int = 42, progress: bool = True) -> dict:
    """Build train/test splits, ``identifiers.json`` and ``test_puzzles.json`` from ``(subset, tasks)`` pairs."""
    rs = np.random.RandomState(seed)
    splits: dict[str, list[list[tuple[str, list[Example]]]]] = {"train": [], "test": []}
    test_puzzles: dict[str, Any] = {}
    with progress_bar("arc augment", sum(len(t) for _, t in tasks), progress) as advance:
        for subset, subset_tasks in tasks:
            items = list(subset_tasks.items())
            rs.shuffle(items)
            for name, task in items:
                dest = {"train": "train", "test": "test" if subset == test_set else "train"}
                base: Puzzle = {}
                name = task.get("name", name)  # HRM lets a task file name itself
                for kind, pairs in task.items():
                    if kind == "name":
                        continue
                    if kind not in dest:
                        raise RedgeInputError(f"task {name}: unknown key {kind!r} (expected 'train' and 'test')")
                    base.setdefault(dest[kind], []).extend(
                        (to_grid(p["input"], f"task {name} {kind}[{i}] input"),
                         to_grid(p.get("output"), f"task {name} {kind}[{i}] output")) for i, p in enumerate(pairs))
                if dest["test"] == "test":
                    test_puzzles[name] = task
                group = _augment(name, base, num_aug, rs)
                for split in base:
                    splits[split].append([(vid, variant[split]) for vid, variant in group])
                advance(1)

    names = ["<blank>"]
    ids: dict[str, int] = {}
    for split in ("train", "test"):
        for group in splits[split]:
            for vid, _ in group:
                if vid not in ids:
                    ids[vid] = len(names)
                    names.append(vid)
    summary = {"seed": seed, "num_aug": num_aug, "test_set": test_set, "subsets": [s for s, _ in tasks],
               "num_puzzle_identifiers": len(names)}
    for split in ("train", "test"):
        if splits[split]:
            summary[split] = _write_split(out, split, splits[split], ids, len(names), rs, progress)
    save_identifiers(out, names)
    write_json(Path(out) / "test_puzzles.json", test_puzzles)
    write_json(Path(out) / "redge_build.json", summary)
    return summary


def _write_split(out: str | Path, split: str, groups: list, ids: dict[str, int], num_ids: int,
                 rs: np.random.RandomState, progress: bool) -> dict:
    n_examples = sum(len(ex) for g in groups for _, ex in g)
    puzzle_ids, puzzle_idx, group_idx = [], [0], [0]
    d = Path(out) / split
    with npy_writer(d / "all__inputs.npy", (n_examples, MAX_SIZE * MAX_SIZE), np.uint8) as inputs, \
            npy_writer(d / "all__labels.npy", (n_examples, MAX_SIZE * MAX_SIZE), np.uint8) as labels, \
            progress_bar(f"arc write {split}", len(groups), progress) as advance:
        row = 0
        for group in groups:
            for vid, examples in group:
                keep = rs.randint(0, len(examples))
                for k, (i, o) in enumerate(examples):
                    offset = (0, 0)
                    if split == "train" and k != keep:
                        offset = (rs.randint(0, MAX_SIZE - max(i.shape[0], o.shape[0]) + 1),
                                  rs.randint(0, MAX_SIZE - max(i.shape[1], o.shape[1]) + 1))
                    inputs[row], labels[row] = encode_pair(i, o, offset)
                    row += 1
                puzzle_idx.append(row)
                puzzle_ids.append(ids[vid])
            group_idx.append(len(puzzle_ids))
            advance(1)
    n_puzzles = len(puzzle_ids)
    meta = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=VOCAB_SIZE,
                           seq_len=MAX_SIZE * MAX_SIZE, num_puzzle_identifiers=num_ids, total_groups=len(groups),
                           mean_puzzle_examples=n_examples / n_puzzles, total_puzzles=n_puzzles)
    save_split(out, split, {"puzzle_identifiers": np.array(puzzle_ids, np.int32),
                            "puzzle_indices": np.array(puzzle_idx, np.int32),
                            "group_indices": np.array(group_idx, np.int32)}, meta)
    return {"examples": n_examples, "puzzles": n_puzzles, "groups": len(groups)}


def build_from_sources(out: str | Path, inputs: Sequence[str | Path] | None = None,
                       subsets: Sequence[str] = ("training", "evaluation", "concept"), test_set: str = "evaluation",
                       num_aug: int = 1000, tasks_per_subset: int | None = None, seed: int = 42,
                       progress: bool = True) -> dict:
    """Read ARC tasks from JSON folders or one Kaggle file prefix (default: the shared TRM kaggle/combined files),
    keep the first `tasks_per_subset` of each subset when given, and :func:`build` the dataset into `out`."""
    paths = [Path(p) for p in inputs] if inputs else [default_kaggle_prefix()]
    if all(p.is_dir() for p in paths):
        tasks = load_folders(paths, list(subsets))
    elif len(paths) == 1:
        tasks = load_kaggle(paths[0], list(subsets))
    else:
        raise RedgeInputError("--input: give ARC JSON folders, or one Kaggle file prefix")
    if tasks_per_subset is not None:
        tasks = [(s, dict(list(t.items())[:tasks_per_subset])) for s, t in tasks]
    return build(out, tasks, test_set, num_aug, seed, progress)


def check_splits(splits: Mapping[str, PuzzleSplit]) -> dict[str, int]:
    """Failure counts: examples whose input or label holds no grid (no colour token), and test labels that are not
    one grid at the top-left corner (the evaluator crops test predictions there)."""
    out = {}
    for name, s in splits.items():
        for field in ("inputs", "labels"):
            colours = (np.asarray(getattr(s, field)) >= 2).sum(1)
            out[f"{name}/{field}_without_grid"] = int((colours == 0).sum())
        if name == "test":
            labels = np.asarray(s.labels)
            out["test/labels_not_top_left"] = int(sum(crop(row).size != (row >= 2).sum() for row in labels))
    return out


def _evaluator(data_dir: Path) -> VotingEvaluator:
    from redge.tasks.arc_eval import ArcEvaluator

    return ArcEvaluator(data_dir)


TASK = Task(
    name="arc", description="ARC-AGI: colour grids up to 30x30, produce the output grid (TRM augmentation, pass@K)",
    vocab_size=VOCAB_SIZE, seq_len=MAX_SIZE * MAX_SIZE, pad_token=0, blank_tokens=(),
    cycles={"trm": (3, 4), "hrm": (2, 2)}, act_depth=16, augment="none", build=build_from_sources,
    check=check_splits, metrics=("cell_accuracy", "exact_accuracy"), evaluator=_evaluator)
