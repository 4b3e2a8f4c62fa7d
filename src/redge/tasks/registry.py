"""The task registry: every task (Sudoku, Maze, ARC, ...) described once, and the lookups that every other layer
uses instead of guessing a task from vocabulary size or sequence length.

A task is one module that defines ``TASK = Task(...)`` (name, vocabulary, sequence length, pad and blank tokens,
official inner cycles and ACT depth, training augmentation, builder, checks, metrics). It is registered by naming
the module in :data:`TASK_MODULES`, the one place; the modules are imported on the first lookup, so nothing
registers itself as a side effect of an import elsewhere.

Recognition: a dataset split is a task's when its ``dataset.json`` has the task's ``vocab_size``, ``seq_len`` and
``pad_id``; a checkpoint is when its vocabulary matches and its sequence length (when the weights fix one) does
too. No two registered tasks may share (vocab_size, seq_len), so a dataset names at most one task.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from redge.core.errors import RedgeInputError
from redge.tasks import metrics as _metrics
from redge.tasks.augment import AUGMENTATIONS
from redge.tasks.format import DatasetMetadata, PuzzleSplit

# The registered tasks: one module each, holding `TASK`. Adding a task = writing its module + one line here.
TASK_MODULES: list[str] = ["redge.tasks.sudoku", "redge.tasks.maze", "redge.tasks.arc"]

# Per-cell scores a task may list in `Task.metrics`: (preds, labels, inputs, task) -> float.
SCORES: dict[str, Callable[[Any, Any, Any, Task], float]] = {
    "cell_accuracy": lambda p, y, x, t: _metrics.cell_accuracy(p, y),
    "non_given_cell_accuracy": lambda p, y, x, t: _metrics.non_given_cell_accuracy(p, y, x, t.blank_tokens),
    "exact_accuracy": lambda p, y, x, t: _metrics.exact_accuracy(p, y),
}
GENERIC_METRICS = ("cell_accuracy", "exact_accuracy")  # what a dataset of no registered task is scored on
# (H_cycles, L_cycles) of the official arch configs (TRM trm.yaml, HRM hrm_v1.yaml), for a model of no known task.
OFFICIAL_ARCH_CYCLES: dict[str, tuple[int, int]] = {"trm": (3, 6), "hrm": (2, 2)}


class VotingEvaluator(Protocol):
    """Scores predictions per original task after voting over augmented variants (ARC pass@K)."""

    def update(self, inputs: Any, puzzle_identifiers: Any, preds: Any, q_halt_logits: Any) -> None:
        """Add one batch of predictions."""

    def result(self) -> dict[str, float]:
        """Scores over everything added, e.g. ``{"ARC/pass@2": 0.4}``."""


@dataclass(frozen=True)
class Task:
    """One task, described once; every layer reads these fields instead of hard-coding them."""

    name: str
    description: str
    vocab_size: int
    seq_len: int
    pad_token: int
    blank_tokens: tuple[int, ...]  # input tokens of the cells the solver must fill; () when there are none (ARC)
    cycles: Mapping[str, tuple[int, int]]  # arch ("trm", "hrm") -> official (H_cycles, L_cycles) for this task
    act_depth: int  # official halt_max_steps (ACT steps at evaluation)
    augment: str  # on-the-fly training augmentation, a key of `redge.tasks.augment.AUGMENTATIONS`
    build: Callable[..., dict[str, Any]]  # build(out, ..., progress=True) -> summary; writes the dataset folder
    check: Callable[[Mapping[str, PuzzleSplit]], dict[str, int]]  # {check: failures} over loaded splits
    metrics: tuple[str, ...] = ("cell_accuracy", "non_given_cell_accuracy", "exact_accuracy")  # keys of SCORES
    evaluator: Callable[[Path], VotingEvaluator] | None = None  # from the dataset folder; None: no voting
    # (inputs [N, seq_len], answers [N, seq_len]) -> bool [N]: answers that satisfy the task's rules given the
    # inputs alone (no labels); None when an answer cannot be checked without its label (ARC)
    answer_check: Callable[[Any, Any], Any] | None = None

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics if m not in SCORES]
        if unknown:
            raise ValueError(f"task {self.name}: unknown metrics {unknown}; known: {', '.join(SCORES)}")
        if ("non_given_cell_accuracy" in self.metrics) != bool(self.blank_tokens):
            raise ValueError(f"task {self.name}: non_given_cell_accuracy needs blank_tokens and vice versa")
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"task {self.name}: augmentation {self.augment!r} not in {', '.join(AUGMENTATIONS)}")

    def matches_dataset(self, metadata: DatasetMetadata) -> bool:
        """Whether a split with this ``dataset.json`` holds this task (vocabulary, sequence length and pad token)."""
        return (metadata.vocab_size, metadata.seq_len, metadata.pad_id) == (self.vocab_size, self.seq_len,
                                                                             self.pad_token)

    def matches_checkpoint(self, vocab_size: int, seq_len: int | None) -> bool:
        """Whether a model with this vocabulary (and sequence length, None when its weights do not fix one) fits."""
        return vocab_size == self.vocab_size and seq_len in (None, self.seq_len)

    def score(self, preds: Any, labels: Any, inputs: Any) -> dict[str, float]:
        """The task's per-cell metrics of predictions [N, seq_len] against labels (-100 = not a target)."""
        return {m: SCORES[m](preds, labels, inputs, self) for m in self.metrics}


@cache
def _load(modules: tuple[str, ...]) -> dict[str, Task]:
    found: dict[str, Task] = {}
    for name in modules:
        task = getattr(importlib.import_module(name), "TASK", None)
        if not isinstance(task, Task):
            raise TypeError(f"task module {name} defines no TASK = Task(...)")
        for other in found.values():
            if task.name == other.name or (task.vocab_size, task.seq_len) == (other.vocab_size, other.seq_len):
                raise ValueError(f"task {task.name} ({name}) clashes with task {other.name}: names and "
                                 "(vocab_size, seq_len) must be unique")
        found[task.name] = task
    return found


def all_tasks() -> dict[str, Task]:
    """Every registered task by name, in the order of `TASK_MODULES`."""
    return _load(tuple(TASK_MODULES))


def get_task(name: str) -> Task:
    """The task called `name`; an unknown name is an input error listing the known ones."""
    tasks = all_tasks()
    if name not in tasks:
        raise RedgeInputError(f"unknown task {name!r}; known tasks: {', '.join(tasks)}")
    return tasks[name]


def task_of_dataset(metadata: DatasetMetadata) -> Task | None:
    """The task whose vocabulary and sequence length the split's metadata has; None when no task has them."""
    return next((t for t in all_tasks().values() if t.matches_dataset(metadata)), None)


def task_of_checkpoint(vocab_size: int, seq_len: int | None) -> Task | None:
    """The one task a model of this vocabulary (and sequence length, when known) is for; None when no task or
    several tasks fit (a RoPE model's weights fix no sequence length, so two tasks may share its vocabulary)."""
    fits = [t for t in all_tasks().values() if t.matches_checkpoint(vocab_size, seq_len)]
    return fits[0] if len(fits) == 1 else None


def default_cycles(arch: str, vocab_size: int, seq_len: int | None) -> tuple[tuple[int, int], str]:
    """(H_cycles, L_cycles) a model of `arch` with this vocabulary (and sequence length, when known) was most likely
    trained with, and where the numbers come from: its task's official default, else the arch's official config."""
    task = task_of_checkpoint(vocab_size, seq_len)
    cycles = task.cycles.get(arch) if task is not None else None
    if cycles is not None:
        return cycles, f"official {task.name} default"
    return OFFICIAL_ARCH_CYCLES[arch], f"official {arch} default, task not recognised"


def blank_tokens(metadata: DatasetMetadata) -> tuple[int, ...]:
    """Input tokens of the cells a solver must fill in this split (its task's); () for ARC or an unknown task."""
    task = task_of_dataset(metadata)
    return task.blank_tokens if task is not None else ()


def score(metadata: DatasetMetadata, preds: Any, labels: Any, inputs: Any) -> dict[str, float]:
    """Per-cell metrics of a split's predictions: its task's, or cell and exact accuracy for an unknown task."""
    task = task_of_dataset(metadata)
    if task is not None:
        return task.score(preds, labels, inputs)
    return {m: SCORES[m](preds, labels, inputs, None) for m in GENERIC_METRICS}  # type: ignore[arg-type]


def answer_check(metadata: DatasetMetadata) -> Callable[[Any, Any], Any] | None:
    """The split's task's label-free answer check (`Task.answer_check`); None when its task has none or is unknown."""
    task = task_of_dataset(metadata)
    return task.answer_check if task is not None else None


def voting_evaluator(metadata: DatasetMetadata, data_dir: str | Path) -> VotingEvaluator | None:
    """The split's task's voting evaluator over the dataset folder `data_dir` (ARC pass@K); None when the task
    does not vote or is unknown."""
    task = task_of_dataset(metadata)
    return task.evaluator(Path(data_dir)) if task is not None and task.evaluator is not None else None
