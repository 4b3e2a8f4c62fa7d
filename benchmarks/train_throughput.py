"""Training throughput (optimizer steps/s) of a named config, on one device or under torchrun (DDP).

    PYTHONPATH=src python3 benchmarks/train_throughput.py --config trm-mlp-sudoku --set compile=true
    PYTHONPATH=src torchrun --nproc_per_node 4 benchmarks/train_throughput.py --config trm-mlp-sudoku \
        --set compile=true --set global_batch_size=3072

Runs `2 * steps` real training steps (data, ACT, loss, optimizers, EMA); the first `steps` absorb compilation and
warm-up, the rate is measured over the last `steps` (the loop synchronises when it logs). Prints a table next to the
official figures of issue 8 and writes JSON with `--json`.
"""
from __future__ import annotations

import argparse
import json
import tempfile

OFFICIAL = {"trm-mlp-sudoku": {"official compiled": 7.53, "official eager": 2.9, "target (>= 1.2x)": 9.0},
            "trm-att-sudoku": {"official compiled": 10.09, "official eager": 3.6, "target (>= 1x)": 10.1}}


def main() -> None:
    """Parse arguments, run the measurement, print the table (rank 0)."""
    from redge.core.ranks import joined
    from redge.train.configs import apply_overrides, get_config, parse_overrides
    from redge.train.loop import Trainer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="trm-mlp-sudoku")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--device", default=None)
    ap.add_argument("--json", dest="json_path", default=None)
    args = ap.parse_args()
    cfg = apply_overrides(get_config(args.config), parse_overrides(args.overrides))
    cfg = cfg.replace(max_steps=2 * args.steps, log_every=args.steps, max_minutes=None, eval_data={},
                      eval_every_minutes=None, checkpoint_every_minutes=None)
    with tempfile.TemporaryDirectory() as tmp, joined(args.device):
        trainer = Trainer(cfg, tmp, args.device, progress=False)
        summary = trainer.run()
    if not trainer.d.main:
        return
    row = {"config": args.config, "world_size": trainer.d.world, "global_batch": cfg.global_batch_size,
           "compile": cfg.compile, "device": str(trainer.d.device), "steps_per_s": summary["steps_per_s"],
           "samples_per_s": round(summary["steps_per_s"] * cfg.global_batch_size, 1),
           "reference": OFFICIAL.get(args.config, {})}
    print(f"{row['config']}: {row['steps_per_s']:.2f} steps/s, {row['samples_per_s']} samples/s "
          f"(world {row['world_size']}, global batch {row['global_batch']}, compile {row['compile']}); "
          + ", ".join(f"{k} {v}" for k, v in row["reference"].items()))
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(row, f, indent=2)


if __name__ == "__main__":
    main()
