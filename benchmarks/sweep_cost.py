"""What does recording every depth cost? Sweep (depths 1..D from one pass, with fidelity) vs one D-step evaluation.

For each recipe, times (a) one plain D-step evaluation (`model.predict` + the task metrics on the final
predictions) and (b) sweeping depths 1..D of the same variant (`redge.study.sweep.record_batch`: metrics and carry
cosines after every step, one pass). Then the whole recipe set as `redge sweep` runs it (the FP32 reference once,
every variant beside it, fidelity against the reference) against the sum of the per-recipe evaluations.
Acceptance (issue 5): ratio <= 1.1. Prints a table and writes JSON (`--out`, default
benchmarks/results/sweep_cost.json).

    python benchmarks/sweep_cost.py [--checkpoint DIR --data DIR] [--limit 64] [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from redge.compress import load_method
from redge.core.jsonio import write_json
from redge.quant.load import load_checkpoint
from redge.study.sweep import (
    DEFAULT_RECIPES,
    SweepSpec,
    Variant,
    build_variant_model,
    load_data,
    record_batch,
)
from redge.tasks.metrics import cell_accuracy, exact_accuracy


def _best(fns: list, repeats: int) -> list[float]:
    """Fastest of `repeats` timings of each function, run interleaved so that machine load hits all alike."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, t in zip(fns, times):
            start = time.perf_counter()
            fn()
            t.append(time.perf_counter() - start)
    return [min(t) for t in times]


def main() -> None:
    """Time evaluations and sweeps per recipe; print the ratios and write them as JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=Path("checkpoints/tiny-trm-mlp-sudoku"))
    p.add_argument("--data", type=Path, default=Path("data/samples/sudoku"))
    p.add_argument("--recipe", action="append", default=None)
    p.add_argument("--limit", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (as `redge sweep --threads`)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/sweep_cost.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    spec = SweepSpec(args.checkpoint, args.data, batch_size=args.batch_size, limit=args.limit)
    model = load_checkpoint(args.checkpoint).eval()
    data = load_data(spec)
    batches = [(b, n) for _, b, n in data.batches()]
    depth = spec.depth
    T, n_cycles = model.config.H_cycles, model.config.L_cycles
    variants = [Variant(load_method(name), T, n_cycles) for name in args.recipe or DEFAULT_RECIPES]
    vmodels = [build_variant_model(model, v, data.calib) for v in variants]
    rows = []
    for variant, vmodel in zip(variants, vmodels):
        def evaluate(vmodel=vmodel) -> None:
            for batch, n in batches:
                preds = vmodel.predict(batch, depth=depth)["preds"][:n]
                cell_accuracy(preds, batch["labels"][:n]), exact_accuracy(preds, batch["labels"][:n])

        def sweep(vmodel=vmodel) -> None:  # depths 1..D, metrics + fidelity at every step, one pass
            for batch, n in batches:
                record_batch(vmodel, [None], batch, n, depth, data.blank_tokens)

        t_eval, t_sweep = _best([evaluate, sweep], args.repeats)
        rows.append({"recipe": variant.recipe.name, "eval_s": t_eval, "sweep_s": t_sweep, "ratio": t_sweep / t_eval})

    entries = [(m, T, n_cycles) if v.compresses else None for v, m in zip(variants, vmodels)]

    def whole_sweep() -> None:  # what `redge sweep` runs per batch: the FP32 reference once, every variant beside it
        for batch, n in batches:
            record_batch(model, entries, batch, n, depth, data.blank_tokens)

    total_eval = sum(r["eval_s"] for r in rows)
    (total_sweep,) = _best([whole_sweep], args.repeats)
    result = {"checkpoint": str(args.checkpoint), "data": str(args.data), "puzzles": data.examples,
              "depth": depth, "threads": torch.get_num_threads(), "repeats": args.repeats,
              "load_avg_1m": os.getloadavg()[0],
              "per_recipe": rows,
              "all_recipes": {"eval_s": total_eval, "sweep_s": total_sweep, "ratio": total_sweep / total_eval},
              "acceptance": "ratio <= 1.1",
              "passed": all(r["ratio"] <= 1.1 for r in rows) and total_sweep / total_eval <= 1.1}
    print(f"{'recipe':20} {'eval 16 steps (s)':>18} {'sweep 1..16 (s)':>16} {'ratio':>7}")
    for r in rows:
        print(f"{r['recipe']:20} {r['eval_s']:18.3f} {r['sweep_s']:16.3f} {r['ratio']:7.3f}")
    print(f"{'all (one sweep)':20} {total_eval:18.3f} {total_sweep:16.3f} {total_sweep / total_eval:7.3f}")
    write_json(args.out, result)
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
