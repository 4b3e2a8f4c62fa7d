"""Whole-model instructions per ACT step of the redge C runtime on emulated Cortex-M cores (QEMU 7.2 + our TCG
plugin), for the README's whole-model table: the reference TRM-MLP on the M55, M7 and M4 targets and the TRM-Att on
the M55, both exported with the `w8a8` preset (int8 weights and per-token int8 activations).

    python benchmarks/mcu_model.py [--out benchmarks/results/mcu_model.json]

Each row is `redge bench mcu BLOB --target T --json` (`deploy.bench.bench_mcu`): instructions counted exactly, per
forward and per step, the share outside the matrix kernels, and the target's latency ESTIMATE. About a minute per
row on a 2-core machine.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from redge.core.jsonio import write_json
from redge.deploy.bench import bench_mcu
from redge.deploy.export import export_checkpoint
from redge.deploy.runtime import build

ROOT = Path(__file__).resolve().parent.parent
RECIPE = "w8a8"
ROWS = (("trm-mlp-sudoku", "stm32n6"), ("trm-mlp-sudoku", "stm32h743"), ("trm-mlp-sudoku", "cortex-m4"),
        ("trm-att-sudoku", "stm32n6"))


def main() -> int:
    """Export each checkpoint once, bench every row, print one line each, write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/mcu_model.json")
    args = ap.parse_args()
    missing = build.arm_toolchain_missing()
    if missing:
        print(f"skipped: {missing}", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        blobs = {}
        for name in dict.fromkeys(name for name, _ in ROWS):
            blobs[name] = Path(tmp) / f"{name}-{RECIPE}.blob"
            export_checkpoint(ROOT / "checkpoints" / name, blobs[name], RECIPE)
        for name, target in ROWS:
            r = {"checkpoint": f"checkpoints/{name}", "recipe": RECIPE, **bench_mcu(blobs[name], target)}
            r["blob"] = blobs[name].name
            rows.append(r)
            print(f"{name} on {r['target']} ({r['core']}): {r['instructions_per_step']:,} instr/ACT step, matrix "
                  f"{r['instr_per_mac_matrix']:.3f} instr/MAC, step {r['instr_per_mac_step']:.3f}, outside matrix "
                  f"{r['non_matrix_fraction']:.1%}", flush=True)
    write_json(args.out, {"rows": rows, "command": "python3 benchmarks/mcu_model.py"}, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
