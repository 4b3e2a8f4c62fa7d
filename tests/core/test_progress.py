"""The one progress helper: nested stages on a terminal share one live display; a pipe gets one line per stage."""
from __future__ import annotations

from redge.core import progress


def test_nested_stages_share_the_live_display(monkeypatch, capsys) -> None:
    monkeypatch.setattr(progress, "_on_terminal", lambda: True)
    with progress.progress_bar("outer", None) as outer:
        with progress.progress_bar("inner", 3) as inner:  # rich allows one live display: this must not open another
            inner(3)
        outer.update(description="outer done")
    assert progress._live == []
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("redge:")]
    assert lines == [lines[0]] and lines[0].startswith("redge: outer done: 0 in")


def test_a_pipe_gets_one_summary_line_per_stage(monkeypatch, capsys) -> None:
    monkeypatch.setattr(progress, "_on_terminal", lambda: False)
    with progress.progress_bar("build", 5) as stage:
        stage(2)
        stage(3)
    with progress.progress_bar("quiet", 1, enabled=False) as stage:
        stage(1)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("redge: build: 5/5 in")
