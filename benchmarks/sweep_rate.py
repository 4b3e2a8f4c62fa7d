"""How fast does a sweep run on each device? One `redge sweep` (10 variants, depths 1..16, fidelity) per device.

Issue 14's target: the reference TRM-MLP, 1,000 puzzles, 10 variants, depths 1..16 with fidelity, in <= 5 minutes
on one H200, with the CPU rate beside it. Each device runs the same sweep (a fresh runs store, so nothing is
skipped) on its own number of puzzles (`--limit DEVICE=N`: a CPU cannot do 1,000 in a session); the rate is
puzzle-variants per second over the whole command (loading, calibration, variant building included), and the
table projects it to the target's 1,000 puzzles x 10 variants. Writes JSON (`--out`).

    PYTHONPATH=src python3 benchmarks/sweep_rate.py --checkpoint checkpoints/trm-mlp-sudoku \
        --data runs/refdata/sudoku-hard --device cuda=1000 --device cpu=16 --batch-size 500
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from redge.core.device import describe_device
from redge.core.jsonio import write_json
from redge.core.ranks import joined
from redge.study.parallel import sweep_device
from redge.study.sweep import SweepSpec, run_sweep

VARIANTS = ("fp32", "bf16", "int8", "int4-naive", "int4-channel", "int4-channel-cal", "int4-g32", "w8a8",
            "prune-50", "prune-2:4")
TARGET = {"puzzles": 1000, "variants": 10, "seconds": 300.0}


def time_sweep(spec: SweepSpec, device: str) -> float:
    """Seconds for one sweep of `spec` on `device`, in a fresh runs store (synchronised at the end)."""
    with tempfile.TemporaryDirectory() as tmp, joined(sweep_device(device)) as ranks:
        start = time.perf_counter()
        run_sweep(spec, Path(tmp) / "runs.sqlite", ranks)
        if ranks.device.type == "cuda":
            torch.cuda.synchronize(ranks.device)
        return time.perf_counter() - start


def main() -> None:
    """Run the sweep on each device, print the table, write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=Path("checkpoints/tiny-trm-mlp-sudoku"))
    p.add_argument("--data", type=Path, default=Path("data/samples/sudoku-easy"))
    p.add_argument("--device", action="append", default=None, help="DEVICE=PUZZLES, repeatable (default cpu=16)")
    p.add_argument("--recipe", action="append", default=None, help=f"default: the 10 of {', '.join(VARIANTS)}")
    p.add_argument("--depth", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2, help="CPU intra-op threads")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/sweep_rate.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    recipes = tuple(args.recipe or VARIANTS)
    rows = []
    for item in args.device or ["cpu=16"]:
        device, _, limit = item.partition("=")
        spec = SweepSpec(args.checkpoint, args.data, recipes=recipes, depth=args.depth,
                         batch_size=args.batch_size, limit=int(limit or 16))
        seconds = time_sweep(spec, device)
        rate = spec.limit * len(recipes) / seconds
        projected = TARGET["puzzles"] * TARGET["variants"] / rate
        rows.append({"device": device, "device_name": describe_device(device), "puzzles": spec.limit,
                     "variants": len(recipes), "depth": args.depth, "batch_size": args.batch_size,
                     "seconds": round(seconds, 2), "puzzle_variants_per_s": round(rate, 3),
                     "projected_target_s": round(projected, 1)})
        print(f"{device:8s} {rows[-1]['device_name']}: {spec.limit} puzzles x {len(recipes)} variants x depth "
              f"{args.depth} in {seconds:.1f} s = {rate:.2f} puzzle-variants/s; 1,000 x 10 would take "
              f"{projected:.0f} s (target <= {TARGET['seconds']:.0f} s on one H200)", flush=True)
    write_json(args.out, {"checkpoint": str(args.checkpoint), "data": str(args.data), "recipes": list(recipes),
                          "target": TARGET, "rows": rows,
                          "command": "python3 benchmarks/sweep_rate.py " + " ".join(sys.argv[1:])}, indent=2)


if __name__ == "__main__":
    main()
