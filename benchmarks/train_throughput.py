"""Training throughput (optimizer steps/s) of a named config, on one device or under torchrun (DDP).

    PYTHONPATH=src python3 benchmarks/train_throughput.py --config trm-mlp-sudoku --set compile=true
    PYTHONPATH=src torchrun --nproc_per_node 4 benchmarks/train_throughput.py --config trm-mlp-sudoku \
        --set compile=true --set global_batch_size=3072

Runs `2 * steps` real training steps (data, ACT, loss, optimizers, EMA); the first `steps` absorb compilation and
warm-up, the rate is measured over the last `steps` (the loop synchronises when it logs). Prints a table next to the
official figures of issue 8 and writes JSON with `--json`. `--profile N` then runs N more steps under the PyTorch
profiler and adds where their time went (the top operators by self time on the device, or on the CPU without a
GPU) to the table and the JSON: what to make faster first.
"""
from __future__ import annotations

import argparse
import json
import tempfile

OFFICIAL = {"trm-mlp-sudoku": {"official compiled": 7.53, "official eager": 2.9, "target (>= 1.2x)": 9.0},
            "trm-att-sudoku": {"official compiled": 10.09, "official eager": 3.6, "target (>= 1.09x)": 11.0}}


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
    ap.add_argument("--profile", type=int, default=0, help="profile this many more steps (0: no profile)")
    ap.add_argument("--top", type=int, default=25, help="operators listed by the profile")
    args = ap.parse_args()
    cfg = apply_overrides(get_config(args.config), parse_overrides(args.overrides))
    cfg = cfg.replace(max_steps=2 * args.steps, log_every=args.steps, max_minutes=None, eval_data={},
                      eval_every_minutes=None, checkpoint_every_minutes=None)
    with tempfile.TemporaryDirectory() as tmp, joined(args.device):
        trainer = Trainer(cfg, tmp, args.device, progress=False)
        summary = trainer.run()
        profile = profile_steps(trainer, args.profile, args.top) if args.profile else None
    if not trainer.d.main:
        return
    row = {"config": args.config, "world_size": trainer.d.world, "global_batch": cfg.global_batch_size,
           "compile": cfg.compile, "device": str(trainer.d.device), "steps_per_s": summary["steps_per_s"],
           "samples_per_s": round(summary["steps_per_s"] * cfg.global_batch_size, 1),
           "reference": OFFICIAL.get(args.config, {})}
    print(f"{row['config']}: {row['steps_per_s']:.2f} steps/s, {row['samples_per_s']} samples/s "
          f"(world {row['world_size']}, global batch {row['global_batch']}, compile {row['compile']}); "
          + ", ".join(f"{k} {v}" for k, v in row["reference"].items()))
    if profile:
        row["profile"] = profile
        print(f"where {profile['steps']} steps' {profile['device']} time went ({profile['total_ms_per_step']:.1f} ms "
              "per step, self time):")
        for op in profile["top"]:
            print(f"  {op['share']:6.1%} {op['ms_per_step']:8.2f} ms/step {op['calls_per_step']:7.1f} calls/step  "
                  f"{op['name']}")
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(row, f, indent=2)


def profile_steps(trainer, steps: int, top: int) -> dict:  # noqa: ANN001 - a redge.train.loop.Trainer
    """Run `steps` more training steps under the PyTorch profiler; the `top` operators by self time per step on the
    trainer's device (CUDA kernels' time on a GPU, CPU time otherwise), with their share of the total."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    cuda = trainer.d.device.type == "cuda"
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    trainer.config = trainer.config.replace(max_steps=trainer.step + steps)
    with profile(activities=activities) as prof:
        trainer.run()
        if cuda:
            torch.cuda.synchronize(trainer.d.device)
    attr = "self_device_time_total" if cuda else "self_cpu_time_total"
    ops = [(e.key, getattr(e, attr), e.count) for e in prof.key_averages()]
    total = sum(t for _, t, _ in ops) or 1.0
    ops.sort(key=lambda op: op[1], reverse=True)
    return {"steps": steps, "device": "GPU" if cuda else "CPU", "total_ms_per_step": total / 1e3 / steps,
            "top": [{"name": name, "ms_per_step": t / 1e3 / steps, "share": t / total, "calls_per_step": n / steps}
                    for name, t, n in ops[:top]]}


if __name__ == "__main__":
    main()
