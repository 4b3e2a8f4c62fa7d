"""Maze-Hard generation speed: mazes per second of `redge.tasks.maze.generate` for a few batch sizes.

    python benchmarks/maze_gen.py [--n 200] [--build-train 50] [--out benchmarks/results/maze_gen.json]

Prints a table and writes the same numbers as JSON. Rates are given per wall second and per CPU second of this
process: on a shared machine the wall rate falls with the other load, the CPU rate does not. `--build-train N`
adds a row for `maze.build(train_size=N, test_size=1000)`, the call `redge.tasks.reference.build_reference_data` makes
(it always builds 1000 test mazes, so its time barely depends on N).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from redge.core.jsonio import write_json
from redge.tasks import maze


def _timed(fn, *args, **kwargs) -> tuple[object, float, float]:
    """``(fn(*args, **kwargs), wall seconds, CPU seconds of this process)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _rates(what: str, mazes: int, wall: float, cpu: float) -> dict:
    """One result row: counts, seconds and mazes per wall / CPU second."""
    return {"what": what, "mazes": mazes, "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
            "mazes_per_s": round(mazes / wall, 1), "mazes_per_cpu_s": round(mazes / cpu, 1)}


def bench_generate(n: int, batch: int) -> dict:
    """Time `generate(n, seed 0, batch)` and check every Maze-Hard property of the result."""
    (q, a, lens), wall, cpu = _timed(maze.generate, n, np.random.default_rng(0), batch=batch, progress=False)
    ok = not any(bad.any() for bad in maze.check_mazes(maze.to_tokens(q), maze.to_tokens(a)).values())
    walls = (q == ord("#")).mean(1)
    return {**_rates(f"generate batch={batch}", n, wall, cpu), "mean_path": round(float(lens.mean()), 1),
            "wall_frac_p10_p90": [round(float(x), 3) for x in np.percentile(walls, [10, 90])], "all_checks_pass": ok}


def bench_build(train: int) -> dict:
    """Time `maze.build(train_size=train, test_size=1000, seed=0)` into a temporary folder (CSV and npy included)."""
    with tempfile.TemporaryDirectory() as tmp:
        summary, wall, cpu = _timed(maze.build, Path(tmp) / "maze", train_size=train, test_size=1000, seed=0,
                                    progress=False)
    n = summary["train_mazes"] + summary["test_mazes"]
    return {**_rates(f"build train={train} test=1000", n, wall, cpu), "mean_path": round(summary["mean_path"], 1)}


def _print_row(r: dict) -> None:
    """One table line, printed as soon as its measurement ends."""
    print(f"{r['what']:<28} {r['mazes']:>6} {r['seconds']:>7} {r['cpu_seconds']:>7} {r['mazes_per_s']:>8} "
          f"{r['mazes_per_cpu_s']:>7} {r['mean_path']:>9} {r.get('all_checks_pass', '-')}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--batches", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--build-train", type=int, default=0, help="also time maze.build with this train size")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/maze_gen.json"))
    args = ap.parse_args()
    print(f"{'what':<28} {'mazes':>6} {'s':>7} {'cpu s':>7} {'mazes/s':>8} {'/cpu-s':>7} {'mean path':>9} ok")
    rows = []
    for batch in args.batches:
        rows.append(bench_generate(args.n, batch))
        _print_row(rows[-1])
    if args.build_train:
        rows.append(bench_build(args.build_train))
        _print_row(rows[-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, {"command": " ".join(["python", *sys.argv]), "date": time.strftime("%Y-%m-%d"),
                          "cpu_count": os.cpu_count(), "load_avg_1m": os.getloadavg()[0], "results": rows}, indent=2)


if __name__ == "__main__":
    main()
