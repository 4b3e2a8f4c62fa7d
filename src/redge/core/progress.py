"""The one progress helper of every long command (eval, quantize, sweep, fidelity, bench, data build, train).

On a terminal a rich bar on stderr appears as soon as the stage starts; elsewhere (a pipe, a log file, CI) the stage
is summarised in one line on stderr when it ends; with `enabled=False` (`--json`, a non-zero rank) it is silent.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Stage:
    """One stage of work: `stage(n)` advances by n items, `stage.update(...)` sets progress, total or description."""

    def __init__(self, description: str, total: int | None, bar: Any = None) -> None:
        self.description, self.total, self.done = description, total, 0
        self.started = time.perf_counter()
        self._bar = bar
        self._task = bar.add_task(description, total=total) if bar is not None else None

    def __call__(self, n: int = 1) -> None:
        self.update(completed=self.done + n)

    def update(self, completed: int | None = None, total: int | None = None, description: str | None = None) -> None:
        """Set the items done, the total (when it becomes known) or the description shown beside the bar."""
        self.done = self.done if completed is None else completed
        self.total = self.total if total is None else total
        self.description = self.description if description is None else description
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, total=self.total, description=self.description)

    def summary(self) -> str:
        """`description: done/total in S s` (the line written when no bar is shown)."""
        count = f"{self.done:,}" + (f"/{self.total:,}" if self.total else "")
        return f"{self.description}: {count} in {time.perf_counter() - self.started:.1f} s"


def _on_terminal() -> bool:
    return sys.stderr.isatty()


_live: list[Any] = []  # the rich Progress on screen, shared by nested stages (rich allows one live display)


@contextmanager
def progress_bar(description: str, total: int | None = None, enabled: bool = True) -> Iterator[Stage]:
    """Yield a Stage for a long loop: a live bar on a terminal, one summary line on stderr otherwise, nothing when
    not `enabled`. A stage opened inside another one adds its line to the same display."""
    if not enabled:
        yield Stage(description, total)
        return
    if not _on_terminal():
        stage = Stage(description, total)
        yield stage
        sys.stderr.write(f"redge: {stage.summary()}\n")
        return
    if _live:
        stage = Stage(description, total, _live[-1])
        try:
            yield stage
        finally:
            _live[-1].remove_task(stage._task)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        _live.append(bar)
        try:
            stage = Stage(description, total, bar)
            bar.refresh()
            yield stage
        finally:
            _live.pop()
    sys.stderr.write(f"redge: {stage.summary()}\n")
