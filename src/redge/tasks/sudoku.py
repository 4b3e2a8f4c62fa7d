"""Sudoku-Extreme: HRM's CSV layout to the official npy format, and a leak-free proxy from the tdoku lists.

Tokens (as HRM/TRM): PAD 0, blank 1, digit d -> d + 1 (2..10); vocab 11, seq_len 81; every label cell is
supervised (clues included). Train groups hold the original puzzle then ``num_aug`` transformed copies;
the test split is not augmented. All identifiers are 0 (``identifiers.json == ["<blank>"]``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redge.core.errors import RedgeInputError, check_range
from redge.core.progress import progress_bar
from redge.tasks.format import (
    PuzzleSplit,
    grid_metadata,
    save_identifiers,
    save_split,
    single_example_indices,
    write_json,
)
from redge.tasks.registry import Task
from redge.tasks.sources import raw_data, read_puzzle_csv
from redge.tasks.sudoku_symmetry import (
    apply_transforms,
    mix64,
    random_transforms,
    symmetry_keys,
)

VOCAB_SIZE = 11
SEQ_LEN = 81
BLANK_TOKENS = (1,)  # '.' in a Sudoku question: the cells the solver must fill
HARD_SOURCE = "puzzles5_forum_hardest_1905_11+"


def default_source() -> Path:
    """The solved tdoku lists in HRM's CSV layout (``redge data fetch sudoku-tdoku-benchmarks``)."""
    return raw_data("sudoku-tdoku-benchmarks") / "solved_rated.csv.gz"


@dataclass
class SudokuSet:
    """Puzzles as digit grids [N, 81] uint8 (0 = blank) with their solutions and CSV metadata."""

    questions: np.ndarray
    answers: np.ndarray
    sources: np.ndarray
    ratings: np.ndarray

    def subset(self, idx: np.ndarray) -> SudokuSet:
        """The puzzles at ``idx`` (an index array or boolean mask)."""
        return SudokuSet(self.questions[idx], self.answers[idx], self.sources[idx], self.ratings[idx])


def read_sudoku_csv(path: str | Path) -> SudokuSet:
    """Read an HRM-layout Sudoku CSV ('.' or '0' blank, 81 digits per answer), checking every cell."""
    raw = read_puzzle_csv(path)
    if raw.questions.shape[1] != SEQ_LEN:
        raise RedgeInputError(f"question length {raw.questions.shape[1]}, expected 81", path)
    q = np.where(raw.questions == ord("."), ord("0"), raw.questions).astype(np.int16) - ord("0")
    a = raw.answers.astype(np.int16) - ord("0")
    for name, arr, lo in (("question", q, 0), ("answer", a, 1)):
        bad = np.nonzero(((arr < lo) | (arr > 9)).any(1))[0]
        if bad.size:
            raise RedgeInputError(f"line {bad[0] + 2}: {name} has a character outside '{lo}'..'9'", path)
    return SudokuSet(q.astype(np.uint8), a.astype(np.uint8), np.asarray(raw.sources), raw.ratings)


def augment(puzzles: SudokuSet, num_aug: int, rng: np.random.Generator, progress: bool = True
            ) -> tuple[np.ndarray, np.ndarray]:
    """Group layout ``[orig_0, aug_0_1..aug_0_k, orig_1, ...]`` of questions and answers (digit grids).

    Each augmented copy applies one random HRM transform to question and answer alike.
    """
    n, group = len(puzzles.questions), 1 + num_aug
    inputs = np.empty((n * group, SEQ_LEN), dtype=np.uint8)
    labels = np.empty_like(inputs)
    chunk = max(1, 65536 // group)
    with progress_bar("sudoku augment", n, progress) as advance:
        for s in range(0, n, chunk):
            q, a = puzzles.questions[s:s + chunk], puzzles.answers[s:s + chunk]
            cells, digits = random_transforms(len(q) * num_aug, rng)
            rep_q, rep_a = np.repeat(q, num_aug, 0), np.repeat(a, num_aug, 0)
            out_q = np.concatenate([q[:, None], apply_transforms(rep_q, cells, digits).reshape(len(q), num_aug, SEQ_LEN)], 1)
            out_a = np.concatenate([a[:, None], apply_transforms(rep_a, cells, digits).reshape(len(q), num_aug, SEQ_LEN)], 1)
            inputs[s * group:(s + len(q)) * group] = out_q.reshape(-1, SEQ_LEN)
            labels[s * group:(s + len(q)) * group] = out_a.reshape(-1, SEQ_LEN)
            advance(len(q))
    return inputs, labels


def write_split(out: str | Path, split: str, inputs: np.ndarray, labels: np.ndarray, group_size: int) -> None:
    """Write digit grids as an official Sudoku split (tokens digit + 1, one example per puzzle)."""
    arrays = {"inputs": inputs + np.uint8(1), "labels": labels + np.uint8(1),
              **single_example_indices(len(inputs), group_size)}
    save_split(out, split, arrays, grid_metadata(arrays, VOCAB_SIZE))


def build_from_csv(csv_dir: str | Path, out: str | Path, subsample_size: int | None = None,
                   min_difficulty: int | None = None, num_aug: int = 0, seed: int = 0, progress: bool = True) -> dict:
    """Official ``build_sudoku_dataset.py`` from HRM's ``train.csv``/``test.csv`` in ``csv_dir`` (seeded here).

    ``min_difficulty`` filters on rating; ``subsample_size`` samples train puzzles without replacement.
    """
    rng = np.random.default_rng(seed)
    sets = {}
    for split in ("train", "test"):
        s = read_sudoku_csv(Path(csv_dir) / f"{split}.csv")
        if min_difficulty is not None:
            s = s.subset(s.ratings >= min_difficulty)
        if split == "train" and subsample_size is not None and subsample_size < len(s.questions):
            s = s.subset(rng.choice(len(s.questions), subsample_size, replace=False))
        sets[split] = s
    return _write(out, sets["train"], sets["test"], num_aug, rng, progress, {"csv_dir": str(csv_dir), "seed": seed})


def build(out: str | Path, csv_dir: str | Path | None = None, source: str | Path | None = None,
          train_size: int = 1000, num_aug: int | None = None, full: bool = False, test_fraction: float = 0.1,
          test_size: int | None = None, all_sources: bool = False, min_difficulty: int | None = None, seed: int = 0,
          progress: bool = True) -> dict:
    """Build a Sudoku dataset: the official build from HRM's CSVs in `csv_dir` (``num_aug`` default 1000,
    ``full`` keeps every train puzzle), else the symmetry-split proxy from the tdoku lists (:func:`build_proxy`;
    `all_sources` adds the easy 17-clue list). Sizes out of range are input errors, raised before any work."""
    check_range("--train-size", train_size, 1)
    check_range("--num-aug", num_aug, 0)
    check_range("--test-size", test_size, 1)
    if not 0 < test_fraction < 1:
        raise RedgeInputError(f"--test-fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    if csv_dir is not None:
        return build_from_csv(csv_dir, out, None if full else train_size, min_difficulty,
                              1000 if num_aug is None else num_aug, seed, progress)
    return build_proxy(out, source, train_size, num_aug, full, test_fraction, test_size, not all_sources, seed,
                       progress)


def split_by_symmetry(questions: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """Boolean [N] test mask: whole symmetry classes (same :func:`symmetry_keys`) go to one side, seeded."""
    keys = symmetry_keys(questions)
    with np.errstate(over="ignore"):
        h = mix64(keys[:, 0] ^ mix64(keys[:, 1] + np.uint64(seed)))
    return h < np.uint64(min(test_fraction, 1.0) * float(2**64 - 1))


def build_proxy(out: str | Path, source: str | Path | None = None, train_size: int = 1000, num_aug: int | None = None,
                full: bool = False, test_fraction: float = 0.1, test_size: int | None = None, hard_only: bool = True,
                seed: int = 0, progress: bool = True) -> dict:
    """Sudoku-Extreme proxy from the tdoku lists: split by symmetry class, then HRM's 1k subsample + augmentation.

    Puzzles are split train/test by :func:`split_by_symmetry` (no test puzzle equivalent to a train one), then
    filtered to the forum-hardest list (``hard_only``). Train: ``train_size`` puzzles sampled with ``seed`` and
    ``num_aug`` augmentations each (default 1000); ``full`` keeps every train puzzle (default no augmentation,
    like sudoku-extreme-full). Test: every held-out puzzle, or ``test_size`` sampled ones.
    """
    source = Path(source) if source is not None else default_source()
    data = read_sudoku_csv(source)
    is_test = split_by_symmetry(data.questions, test_fraction, seed)
    keep = (data.sources == HARD_SOURCE) if hard_only else np.ones(len(is_test), bool)
    train, test = data.subset(~is_test & keep), data.subset(is_test & keep)
    rng = np.random.default_rng(seed)
    if not full and train_size < len(train.questions):
        train = train.subset(np.sort(rng.choice(len(train.questions), train_size, replace=False)))
    if test_size is not None and test_size < len(test.questions):
        test = test.subset(np.sort(rng.choice(len(test.questions), test_size, replace=False)))
    if num_aug is None:
        num_aug = 0 if full else 1000
    info = {"source": str(source), "seed": seed, "test_fraction": test_fraction, "hard_only": hard_only,
            "full": full, "split": "symmetry_keys (sudoku_symmetry.py)"}
    return _write(out, train, test, num_aug, rng, progress, info)


def _write(out: str | Path, train: SudokuSet, test: SudokuSet, num_aug: int, rng: np.random.Generator,
           progress: bool, info: dict) -> dict:
    if not len(train.questions) or not len(test.questions):
        raise RedgeInputError(f"empty split (train {len(train.questions)}, test {len(test.questions)} puzzles)")
    inputs, labels = augment(train, num_aug, rng, progress)
    write_split(out, "train", inputs, labels, 1 + num_aug)
    write_split(out, "test", test.questions, test.answers, 1)
    save_identifiers(out, ["<blank>"])
    summary = {**info, "num_aug": num_aug, "train_groups": len(train.questions), "train_puzzles": len(inputs),
               "test_puzzles": len(test.questions)}
    write_json(Path(out) / "redge_build.json", summary)
    return summary


def invalid_solutions(inputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Boolean [N]: rows whose label (tokens) is not a valid sudoku solution or contradicts a clue of its input."""
    digits = np.asarray(labels).astype(np.int16).reshape(-1, 9, 9) - 1
    units = np.concatenate([digits, digits.transpose(0, 2, 1),
                            digits.reshape(-1, 3, 3, 3, 3).transpose(0, 1, 3, 2, 4).reshape(-1, 9, 9)], axis=1)
    bad_units = (np.sort(units, axis=2) != np.arange(1, 10)).any((1, 2))
    given = np.asarray(inputs).reshape(-1, 81) > 1
    bad_clues = (given & (np.asarray(inputs).reshape(-1, 81) != np.asarray(labels).reshape(-1, 81))).any(1)
    return bad_units | bad_clues


def valid_answers(inputs: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """Boolean [N]: answers (tokens) that are complete valid sudokus keeping every clue of their input. No label is
    read; for a puzzle with one solution (every Sudoku-Extreme puzzle) a valid answer is that solution."""
    return ~invalid_solutions(inputs, answers)


def leaked_test_puzzles(train: PuzzleSplit, test: PuzzleSplit, group_heads_only: bool = True) -> np.ndarray:
    """Indices of test puzzles with a symmetry key found among train puzzles (should be empty).

    With ``group_heads_only`` only the first puzzle of each train group is keyed (the others are symmetric
    images of it, which share its key by construction); pass False to key every train puzzle.
    """
    heads = train.group_indices[:-1] if group_heads_only else np.arange(train.num_examples)
    train_keys = symmetry_keys(np.asarray(train.inputs[heads]).astype(np.uint8) - 1)
    test_keys = symmetry_keys(np.asarray(test.inputs).astype(np.uint8) - 1)
    seen = {bytes(k) for k in train_keys}
    return np.array([i for i, k in enumerate(test_keys) if bytes(k) in seen], dtype=np.int64)


def check_splits(splits: Mapping[str, PuzzleSplit]) -> dict[str, int]:
    """Failure counts: labels that are not valid solutions of their puzzle (per split), and test puzzles equivalent
    under a Sudoku symmetry to a train puzzle (when both splits are given)."""
    out = {f"{name}/invalid_solutions": int(invalid_solutions(s.inputs, s.labels).sum()) for name, s in splits.items()}
    if {"train", "test"} <= splits.keys():
        out["test_equivalent_to_train"] = len(leaked_test_puzzles(splits["train"], splits["test"]))
    return out


TASK = Task(
    name="sudoku", description="Sudoku-Extreme: 9x9 grids, fill the blanks (HRM/TRM tokens)",
    vocab_size=VOCAB_SIZE, seq_len=SEQ_LEN, pad_token=0, blank_tokens=BLANK_TOKENS,
    cycles={"trm": (3, 6), "hrm": (2, 2)}, act_depth=16, augment="sudoku", build=build, check=check_splits,
    answer_check=valid_answers)
