"""Host latency of the C runtime per ACT step: export each checkpoint to a blob, then time `redge bench cpu` on it.

    python benchmarks/host_runtime.py [--checkpoint checkpoints/trm-mlp-sudoku ...]
        [--recipe w8a8] [--puzzles 1] [--depth 1] [--out benchmarks/results/host_runtime.json]

Runs the two CLI commands a user would run (`redge export`, `redge bench cpu --json`) in subprocesses, prints one
line per checkpoint and writes their JSON, with the command, date and CPU count, to `--out` (the README's host
figure is rendered from it by `benchmarks/readme_tables.py`). The defaults keep the run short: one puzzle of one ACT
step after the runtime's own warm-up step.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from redge.core.jsonio import write_json

DEFAULT_CHECKPOINTS = [Path("checkpoints/trm-mlp-sudoku"), Path("checkpoints/trm-att-sudoku")]


def _redge(*args: str) -> str:
    """Run `python -m redge ARGS` with this interpreter; its stdout, or exit with its stderr on failure."""
    proc = subprocess.run([sys.executable, "-m", "redge", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"redge {' '.join(args)} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def bench_checkpoint(checkpoint: Path, recipe: str, puzzles: int, depth: int) -> dict:
    """Export `checkpoint` under `recipe` into a temporary folder and return `redge bench cpu --json` on the blob."""
    with tempfile.TemporaryDirectory() as tmp:
        blob = Path(tmp) / "model.blob"
        _redge("export", str(checkpoint), "--recipe", recipe, "--out", str(blob))
        result = json.loads(_redge("bench", "cpu", str(blob), "--puzzles", str(puzzles), "--depth", str(depth),
                                   "--json"))
    return {"checkpoint": str(checkpoint), "recipe": recipe, **{k: v for k, v in result.items() if k != "blob"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, action="append", help="checkpoint to export (repeatable)")
    ap.add_argument("--recipe", default="w8a8", help="quantization preset or recipe file")
    ap.add_argument("--puzzles", type=int, default=1, help="random puzzles timed per checkpoint")
    ap.add_argument("--depth", type=int, default=1, help="ACT steps per puzzle")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/host_runtime.json"), help="JSON to write")
    args = ap.parse_args()
    rows = []
    for checkpoint in args.checkpoint or DEFAULT_CHECKPOINTS:
        rows.append(bench_checkpoint(checkpoint, args.recipe, args.puzzles, args.depth))
        r = rows[-1]
        print(f"{r['checkpoint']} ({r['recipe']}, {r['kernel_path']} kernels): {r['seconds_per_step']:.2f} s per ACT "
              f"step", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {"command": " ".join(["python", *sys.argv]), "date": time.strftime("%Y-%m-%d"),
                          "cpu_count": os.cpu_count(), "load_avg_1m": os.getloadavg()[0], "results": rows}, indent=2)


if __name__ == "__main__":
    main()
