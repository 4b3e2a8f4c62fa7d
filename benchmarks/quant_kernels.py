"""Benchmark: time of one ACT step on TRM-MLP and TRM-Att Sudoku shapes, FP32 vs BF16 vs our INT8/INT4 packed
kernels vs torchao's int8 dynamic quantization (the anchor, optional), at batch 1 and batch 64.

    python benchmarks/quant_kernels.py [--out benchmarks/results/quant_kernels.json] [--batches 1 64] [--threads 2]

Weights are random (speed does not depend on values). To fit in 5 minutes on 2 cores, each measurement times one
reasoning-module call (the unit an ACT step repeats: T = 3, n = 6 gives 21 calls; embedding and heads are < 1%),
after a one-row warm-up call, and reports 21x it. A variant whose projected time exceeds `--budget-s` is not run
at that batch and is reported as skipped with the projection. Prints a table, writes JSON.
"""
from __future__ import annotations

import argparse
import copy
import platform
import time
from pathlib import Path

import torch

from redge.core.jsonio import write_json
from redge.models import ModelConfig, build_model
from redge.quant.apply import quantize_, set_mode

MODELS = {"TRM-MLP": ModelConfig(mlp_t=True, pos_encodings="none"), "TRM-Att": ModelConfig()}


def _variants(base: torch.nn.Module) -> dict[str, tuple[torch.nn.Module, int | None]]:
    """name -> (model, stored weight bytes or None)."""
    out: dict[str, tuple[torch.nn.Module, int | None]] = {"fp32": (base, None)}
    bf16 = copy.deepcopy(base)
    bf16.set_forward_dtype("bfloat16")
    out["bf16 (activations)"] = (bf16, None)
    for label, recipe in (("int8 packed (ours)", "int8"), ("int4-g32 packed (ours)", "int4-g32")):
        model = quantize_(copy.deepcopy(base), recipe)
        set_mode(model, "packed")
        out[label] = (model, model.quant_report.total_bytes)
    try:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig
        from torchao.quantization import quantize_ as ao_quantize
    except ImportError:
        return out
    ao = copy.deepcopy(base)
    ao_quantize(ao, Int8DynamicActivationInt8WeightConfig(), filter_fn=lambda m, name: name != "q_head"
                and isinstance(m, torch.nn.Linear))
    out["torchao int8 dyn"] = (ao, None)
    return out


CALLS_PER_STEP = 21  # official TRM Sudoku step: T(n + 1) = 3 x 7 reasoning-module calls; heads/embedding < 1%


@torch.no_grad()
def time_step(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> float:
    """Wall time (ms) of one full ACT step, estimated as 21 x one reasoning-module call (z <- f(z, y + x)).

    A warm-up call on one row first initialises the kernels, so batch 64 costs one timed call, not two.
    """
    carry = model.init_carry(batch)
    x = model.input_embeddings(batch)
    cos_sin = model.cos_sin(x.shape[1])
    injection = carry.z_H + x
    model.L_level(carry.z_L[:1], injection[:1], cos_sin)
    t0 = time.perf_counter()
    model.L_level(carry.z_L, injection, cos_sin)
    return (time.perf_counter() - t0) * 1e3 * CALLS_PER_STEP


def cpu_description() -> str:
    """The CPU in words, with the vector extension the integer kernels depend on (AVX-512 or AVX2 only)."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    name = next((line.split(":", 1)[1].strip() for line in flags.splitlines() if line.startswith("model name")),
                platform.processor() or platform.machine())
    return f"{name} ({isa})"


def main() -> None:
    """Run every model x batch x variant and print/write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/quant_kernels.json"))
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--budget-s", type=float, default=60.0, help="skip a measurement projected to take longer")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for model_name, config in MODELS.items():
        variants = _variants(build_model(config).eval())
        per_row_ms: dict[str, float] = {}
        for b in sorted(args.batches):
            batch = {"inputs": torch.randint(1, 11, (b, 81)), "puzzle_identifiers": torch.zeros(b, dtype=torch.long)}
            base_ms = None
            for name, (model, nbytes) in variants.items():
                projected_s = per_row_ms.get(name, 0.0) * b / CALLS_PER_STEP / 1e3
                if projected_s > args.budget_s:
                    rows.append({"model": model_name, "batch": b, "variant": name, "ms_per_step": None,
                                 "speedup_vs_fp32": None, "weight_bytes": nbytes,
                                 "skipped": f"projected {projected_s:.0f} s > budget"})
                    print(f"{model_name:8} b={b:<3} {name:24} skipped (projected {projected_s:.0f} s)", flush=True)
                    continue
                ms = time_step(model, batch)
                per_row_ms[name] = ms / b
                base_ms = base_ms or ms
                rows.append({"model": model_name, "batch": b, "variant": name, "ms_per_step": round(ms, 1),
                             "speedup_vs_fp32": round(base_ms / ms, 3), "weight_bytes": nbytes})
                print(f"{model_name:8} b={b:<3} {name:24} {ms:10.1f} ms  x{base_ms / ms:6.3f}"
                      f"  {'' if nbytes is None else nbytes}", flush=True)
    write_json(args.out, {"threads": args.threads, "torch": torch.__version__, "cpu": cpu_description(),
                          "rows": rows}, indent=2)
    print("| model | batch | variant | ms / ACT step (est.) | vs fp32 | weight bytes |\n|---|---|---|---|---|---|")
    for r in rows:
        ms = r.get("skipped") or r["ms_per_step"]
        speed = "" if r["speedup_vs_fp32"] is None else f"{r['speedup_vs_fp32']}x"
        print(f"| {r['model']} | {r['batch']} | {r['variant']} | {ms} | {speed} | {r['weight_bytes'] or ''} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
