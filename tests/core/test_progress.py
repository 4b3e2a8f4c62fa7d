"""The one progress helper: nested stages on a terminal share one live display; a pipe gets one line per stage at its
end and, while a long stage runs, a line with its rate every `REPORT_EVERY_S` seconds."""
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


def test_a_pipe_hears_from_a_long_stage_while_it_runs(monkeypatch, capsys) -> None:
    monkeypatch.setattr(progress, "_on_terminal", lambda: False)
    now = [0.0]
    monkeypatch.setattr(progress, "_clock", lambda: now[0])
    with progress.progress_bar("arc eval", 10) as stage:
        for now[0] in (30.0, 70.0, 100.0):  # under a minute since the start: no line; 70 s: a line (2 of 10 done,
            stage(1)                        # 35 s each, 8 left); 100 s: 30 s since that line, none
        now[0] = 150.0
    err = capsys.readouterr().err.splitlines()
    assert err == ["redge: arc eval: 2/10 in 70.0 s, ~280 s left", "redge: arc eval: 3/10 in 150.0 s"]
