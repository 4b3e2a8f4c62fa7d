"""A dataset folder seen through the task registry: what it holds (`redge data info`) and whether it passes its
task's checks (`redge data validate`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from redge.tasks.format import validate_dataset
from redge.tasks.registry import task_of_dataset


def describe_dataset(data_dir: str | Path) -> dict[str, Any]:
    """Path, task name ("unknown" when no registered task has its vocab and seq_len), and the metadata and example
    count of every split of a (format-validated) dataset folder."""
    splits = validate_dataset(data_dir)
    task = task_of_dataset(next(iter(splits.values())).metadata)
    return {"path": str(data_dir), "task": task.name if task is not None else "unknown",
            **{name: {**s.metadata.__dict__, "examples": s.num_examples} for name, s in splits.items()}}


def check_dataset(data_dir: str | Path) -> dict[str, int]:
    """The format checks (an error on the first problem), then the task's own checks: {check: failures}, 0 = pass;
    empty for a dataset of no registered task."""
    splits = validate_dataset(data_dir)
    task = task_of_dataset(next(iter(splits.values())).metadata)
    return task.check(splits) if task is not None else {}
