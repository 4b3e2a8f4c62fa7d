"""Maze-Hard generation speed: mazes per second of `redge.tasks.maze.generate` for a few batch sizes.

    python benchmarks/maze_gen.py [--n 200] [--out runs/bench-maze_gen.json]

Prints a table and writes the same numbers as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from redge.tasks.maze import check_mazes, generate, to_tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--batches", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--out", type=Path, default=Path("runs/bench-maze_gen.json"))
    args = ap.parse_args()
    rows = []
    for batch in args.batches:
        t0 = time.perf_counter()
        q, a, lens = generate(args.n, np.random.default_rng(0), batch=batch, progress=False)
        dt = time.perf_counter() - t0
        ok = not any(bad.any() for bad in check_mazes(to_tokens(q), to_tokens(a)).values())
        walls = (q == ord("#")).mean(1)
        rows.append({"batch": batch, "mazes": args.n, "seconds": round(dt, 2), "mazes_per_s": round(args.n / dt, 1),
                     "mean_path": round(float(lens.mean()), 1), "wall_frac_p10_p90":
                     [round(float(x), 3) for x in np.percentile(walls, [10, 90])], "all_checks_pass": ok})
    print(f"{'batch':>6} {'mazes':>6} {'s':>7} {'mazes/s':>8} {'mean path':>9} {'walls p10-p90':>14} ok")
    for r in rows:
        print(f"{r['batch']:>6} {r['mazes']:>6} {r['seconds']:>7} {r['mazes_per_s']:>8} {r['mean_path']:>9} "
              f"{str(r['wall_frac_p10_p90']):>14} {r['all_checks_pass']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cpu_count": os.cpu_count(), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
