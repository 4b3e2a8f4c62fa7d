"""The one progress helper of every long command (eval, quantize, sweep, fidelity, bench, data build, train).

On a terminal a rich bar on stderr appears as soon as the stage starts; elsewhere (a pipe, a log file, CI, a detached
job on a lent GPU) the stage writes a line on stderr every `REPORT_EVERY_S` seconds while it advances (so a log shows
the rate and the time left of an hour-long evaluation) and one summary line when it ends; with `enabled=False`
(`--json`, a non-zero rank) it is silent.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

REPORT_EVERY_S = 60.0  # off a terminal: seconds between two progress lines of a running stage
_clock = time.perf_counter  # the stages' clock (a test sets its own)


class Stage:
    """One stage of work: `stage(n)` advances by n items, `stage.update(...)` sets progress, total or description."""

    def __init__(self, description: str, total: int | None, bar: Any = None, report_every: float | None = None) -> None:
        self.description, self.total, self.done = description, total, 0
        self.started = self._reported = _clock()
        self._bar, self._report_every = bar, report_every
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
        elif self._report_every is not None and (now := _clock()) - self._reported >= self._report_every:
            self._reported = now
            sys.stderr.write(f"redge: {self._line(now)}{self._time_left(now)}\n")
            sys.stderr.flush()

    def summary(self) -> str:
        """`description: done/total in S s` (the line written when no bar is shown)."""
        return self._line(_clock())

    def _line(self, now: float) -> str:
        count = f"{self.done:,}" + (f"/{self.total:,}" if self.total else "")
        return f"{self.description}: {count} in {now - self.started:.1f} s"

    def _time_left(self, now: float) -> str:
        """`, ~S s left` at the rate so far, when the total is known and some items are done."""
        if not self.total or not self.done or now <= self.started:
            return ""
        return f", ~{(self.total - self.done) * (now - self.started) / self.done:.0f} s left"


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
        stage = Stage(description, total, report_every=REPORT_EVERY_S)
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
