"""Instructions per MAC of the redge C runtime's int8 / int4 mat-vec kernels on emulated Cortex-M4 / M7 / M55
(QEMU 7.2 + our TCG plugin; the built-in targets cortex-m4, stm32h743, stm32n6), against the CMSIS-NN anchors
(shared/reference/edge_targets.md §0.1). Whole-model instructions per ACT step: `benchmarks/mcu_model.py`.

    python benchmarks/mcu_kernels.py [--out benchmarks/results/mcu_kernels.json]

Kernel = one 512x512 mat-vec with int8 per-token activations (262,144 MACs); counted functions: the dot-product
kernel and the per-row scale epilogue (`rk_linear_q`); activation quantization (`rk_quant_row` + `rk_prep`, once
per input row, shared by every output row) is listed separately.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from redge.core.jsonio import write_json
from redge.deploy.bench import CMSIS_NN, MATRIX_FUNCS
from redge.deploy.runtime import build, qemu
from redge.deploy.targets import load_target

MACS = 512 * 512
CASES = (("int8", 8, 0), ("int4", 4, 0), ("int4-g32", 4, 32), ("int8-g32", 8, 32))
TARGETS = ("cortex-m4", "stm32h743", "stm32n6")  # M4, M7, M55


def kernel_table() -> list[dict]:
    rows = []
    for target in map(load_target, TARGETS):
        for name, bits, group in CASES:
            prof = qemu.run_kbench(target, bits, group)
            matrix = prof.insns(MATRIX_FUNCS)
            quant = prof.insns(("rk_quant_row", "rk_prep"))
            anchor = CMSIS_NN.get(name, {}).get(target.core)
            rows.append({"target": target.name, "core": target.core, "kernel": name, "instructions": matrix,
                         "instr_per_mac": matrix / MACS, "act_quant_instructions": quant,
                         "weight_bytes": prof.functions.get("rk_dot_rows_fast", [0, 0])[1],
                         "cmsis_nn_instr_per_mac": anchor})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/mcu_kernels.json"))
    args = ap.parse_args(argv)
    missing = build.arm_toolchain_missing()
    if missing:
        print(f"skipped: {missing}", file=sys.stderr)
        return 2
    rows = kernel_table()
    print(f"{'core':10} {'kernel':9} {'instructions':>12} {'instr/MAC':>9} {'CMSIS-NN':>8}  act-quant instr")
    for r in rows:
        anchor = f"{r['cmsis_nn_instr_per_mac']:.2f}" if r["cmsis_nn_instr_per_mac"] else "-"
        print(f"{r['core']:10} {r['kernel']:9} {r['instructions']:12,} {r['instr_per_mac']:9.3f} {anchor:>8}  "
              f"{r['act_quant_instructions']:,}")
    write_json(args.out, {"kernels": rows}, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
