"""Long commands show progress: a live bar on a terminal, one summary line per stage on a pipe, nothing with --json."""
from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVAL = ["eval", str(ROOT / "checkpoints" / "tiny-trm-mlp-sudoku"), "-d", str(ROOT / "data" / "samples" / "sudoku-easy"),
        "--limit", "8", "--batch-size", "4", "--depths", "1,2", "--device", "cpu"]


def run_on_terminal(args: list[str]) -> str:
    """Run `redge ARGS` with stdout and stderr on a pseudo-terminal; return everything it drew."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    env.pop("CI", None)
    proc = subprocess.Popen([sys.executable, "-m", "redge.cli", *args], stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=300) == 0
    return b"".join(chunks).decode(errors="replace")


def test_eval_draws_a_bar_on_a_terminal() -> None:
    out = run_on_terminal(EVAL)
    loading = out.find("eval: loading tiny-trm-mlp-sudoku")
    assert loading >= 0, out
    assert out.find("eval tiny-trm-mlp-sudoku on sudoku-easy/test") > loading  # the stage then counts puzzles
    assert "depth" in out[loading:]  # the result table comes after the bar


def test_eval_writes_one_summary_line_on_a_pipe_and_none_with_json() -> None:
    piped = subprocess.run([sys.executable, "-m", "redge.cli", *EVAL], capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0
    lines = [line for line in piped.stderr.splitlines() if line.startswith("redge: eval")]
    assert len(lines) == 1 and "8/8 in" in lines[0], piped.stderr
    quiet = subprocess.run([sys.executable, "-m", "redge.cli", *EVAL, "--json"], capture_output=True, text=True,
                           timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == ""
