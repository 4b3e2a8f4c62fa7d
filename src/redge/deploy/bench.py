"""`redge bench`: instruction counts on emulated Cortex-M cores and host latency of the C runtime.

MCU numbers come from QEMU 7.2 + our TCG plugin (exact executed instructions per function, bytes loaded from the
weight region). QEMU does not model cycles, so latency is an ESTIMATE from a stated per-core cycle model
(shared/reference/edge_targets.md §7): cycles = instructions x cycles-per-instruction (a range) + weight bytes x
core clock / flash bandwidth. One ACT step = T x (n + 1) forwards + the Q head; emulating it whole at full size
takes minutes, so by default two short runs (1 and 2 latent updates) give the exact per-forward cost and the step
is assembled from it (`exact=True` emulates the whole step).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from redge.deploy.blob import read_blob
from redge.deploy.runtime import qemu

# Functions whose instructions count as matrix kernels: the weight mat-vecs and attention's two float products
# (scores Q.K^T in rk_dot_f32, context P.V in rk_axpy_f32). The rest is overhead: norms, RoPE, softmax's exp,
# SiLU, activation quantization, control.
MATRIX_FUNCS = ("dot_rows_fast", "dot_rows_c", "rk_dot_rows", "rk_linear_q", "rk_linear_f", "rk_scale",
                "rk_dot_f32", "rk_axpy_f32")
CMSIS_NN = {"int8": {"m4": 1.97, "m7": 1.97, "m55": 0.49}, "int4": {"m4": 4.97, "m7": 4.97, "m55": 0.41}}


@dataclass(frozen=True)
class CoreModel:
    """Per-core cycle model (an estimate): clock, cycles per instruction range, flash bandwidth for weights."""

    part: str
    clock_hz: float
    cpi: tuple[float, float]
    flash_bytes_per_s: float
    note: str


CORES: dict[str, CoreModel] = {
    "m4": CoreModel("STM32F4-class Cortex-M4", 168e6, (1.1, 1.3), 100e6,
                    "single-issue: ~1.1-1.3 cycles/instruction; weights from QSPI flash ~100 MB/s"),
    "m7": CoreModel("STM32H7 Cortex-M7", 480e6, (0.6, 1.0), 200e6,
                    "dual-issue with caches: ~0.6-1.0 cycles/instruction; weights from octal flash ~200 MB/s"),
    "m55": CoreModel("STM32N6 Cortex-M55 (Helium)", 800e6, (1.0, 2.0), 400e6,
                     "MVE beats: 1-2 cycles per (vector) instruction; weights from xSPI flash ~400 MB/s"),
}


def linear_macs(cfg: dict[str, Any]) -> int:
    """Integer mat-vec MACs of one forward (one reasoning-module call) from the blob config."""
    S = cfg["seq_len"] + cfg["prefix_len"]
    D, F, Ft = cfg["hidden_size"], cfg["intermediate"], cfg["token_inter"]
    channel = S * (2 * F * D + F * D)
    mixer = D * (2 * Ft * S + Ft * S) if cfg["mlp_t"] else S * 4 * D * D
    layers = cfg["L_layers"]
    return layers * (channel + mixer)


def latency(core: str, instructions: float, weight_bytes: float) -> dict[str, Any]:
    """Latency estimate (seconds, low-high) from the core's cycle model; labelled as an estimate."""
    m = CORES[core]
    stall = weight_bytes / m.flash_bytes_per_s
    lo, hi = (instructions * c / m.clock_hz for c in m.cpi)
    return {"estimate": True, "part": m.part, "clock_mhz": m.clock_hz / 1e6, "model": m.note,
            "compute_s": [lo, hi], "with_flash_stream_s": [lo + stall, hi + stall]}


def bench_mcu(blob: Path, core: str, act: str = "auto", exact: bool = False, seed: int = 0) -> dict[str, Any]:
    """Instructions, instructions/MAC, weight bytes and a latency estimate for one ACT step on an emulated core."""
    cfg = read_blob(blob).config
    tokens = np.random.default_rng(seed).integers(1, cfg["vocab_size"], size=(1, cfg["seq_len"]))
    T, n = cfg["H_cycles"], cfg["L_cycles"]
    macs_fwd = linear_macs(cfg)
    if exact:
        _, a = qemu.run_model(core, blob, tokens, act=act, depth=1)
        step, fwd, forwards = a, None, T * (n + 1)
    else:
        _, a = qemu.run_model(core, blob, tokens, act=act, depth=1, H_cycles=1, L_cycles=1)
        _, b = qemu.run_model(core, blob, tokens, act=act, depth=1, H_cycles=1, L_cycles=2)
        fwd = b - a
        forwards = T * (n + 1)
        step = None
    if fwd is not None:
        fixed = a.instructions - 2 * fwd.instructions
        instructions = fixed + forwards * fwd.instructions
        wbytes = a.weight_bytes - 2 * fwd.weight_bytes + forwards * fwd.weight_bytes
        matrix = fwd.insns(MATRIX_FUNCS) / max(fwd.instructions, 1)
        fwd_insns = fwd.instructions
        top = sorted(fwd.functions.items(), key=lambda kv: -kv[1][0])[:8]
        matrix_insns = fwd.insns(MATRIX_FUNCS)
    else:
        instructions, wbytes = step.instructions, step.weight_bytes
        matrix = step.insns(MATRIX_FUNCS) / max(step.instructions, 1)
        fwd_insns = instructions / forwards
        top = sorted(step.functions.items(), key=lambda kv: -kv[1][0])[:8]
        matrix_insns = step.insns(MATRIX_FUNCS) / forwards
    return {
        "core": core, "blob": str(blob), "act": act, "method": "exact step" if exact else "2 runs, per-forward diff",
        "forwards_per_step": forwards, "macs_per_forward": macs_fwd,
        "instructions_per_forward": int(fwd_insns), "instructions_per_step": int(instructions),
        "instr_per_mac_matrix": matrix_insns / macs_fwd, "instr_per_mac_step": instructions / (forwards * macs_fwd),
        "non_matrix_fraction": 1.0 - matrix, "weight_bytes_per_step": int(wbytes),
        "top_functions_per_forward": {k: v[0] for k, v in top},
        "latency_per_step": latency(core, instructions, wbytes),
    }


def bench_cpu(blob: Path, puzzles: int = 4, depth: int = 0, act: str = "auto", seed: int = 0) -> dict[str, Any]:
    """Host latency of the C runtime (portable C path) per ACT step and per puzzle (fixed depth)."""
    from redge.deploy.runtime.host import HostRuntime

    rt = HostRuntime(blob)
    cfg = read_blob(blob).config
    depth = depth or cfg["halt_max_steps"]
    tokens = np.random.default_rng(seed).integers(1, cfg["vocab_size"], size=(puzzles, cfg["seq_len"]))
    rt.run(tokens[0], depth=1, act=act)   # warm-up
    t0 = time.perf_counter()
    for tok in tokens:
        rt.run(tok, depth=depth, act=act)
    per_puzzle = (time.perf_counter() - t0) / puzzles
    return {"blob": str(blob), "kernel_path": rt.kernel_path, "act": act, "depth": depth, "puzzles": puzzles,
            "arena_bytes": rt.arena_bytes, "seconds_per_puzzle": per_puzzle, "seconds_per_step": per_puzzle / depth}
