"""Building a task's dataset folder as one unit: the builder writes into a temporary folder beside the target, which
becomes the target only when the whole build succeeded, so a failed or killed build never leaves a split without
its `identifiers.json` (or any other half of a dataset) behind."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from redge.core.atomic import atomic_dir
from redge.tasks.registry import get_task

BUILD_MARKER = "redge_build.json"  # every builder writes it last; a folder holding it is an earlier build


def build_dataset(task: str, out: str | Path, **options: Any) -> dict[str, Any]:
    """Build `task`'s dataset (`Task.build(out, **options)`) into `out` all at once; an existing `out` is replaced
    only when it is empty or an earlier build. Returns the builder's summary."""
    with atomic_dir(out, replaces=BUILD_MARKER) as tmp:  # checks `out` first (check_output_path)
        summary = get_task(task).build(tmp, **options)
    return summary
