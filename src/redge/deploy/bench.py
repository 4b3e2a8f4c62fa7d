"""`redge bench`: instruction counts on emulated Cortex-M cores and host latency of the C runtime.

MCU numbers come from QEMU 7.2 + our TCG plugin (exact executed instructions per function, bytes loaded from the
weight region) on the machine the target's YAML names (`qemu:`). QEMU does not model cycles, so latency is an
ESTIMATE from the target's stated cycle model (`cycle_model:` and `clock_mhz`; shared/reference/edge_targets.md §7):
time = instructions x cycles-per-instruction (a range) / clock + weight bytes / weight-stream bandwidth. One ACT
step = T x (n + 1) forwards + the Q head; emulating it whole at full size takes minutes, so by default two short runs
(1 and 2 latent updates) give the exact per-forward cost and the step is assembled from it (`exact=True` emulates the
whole step).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from redge.core.errors import check_range
from redge.deploy.blob import read_blob
from redge.deploy.capabilities import LIMITS
from redge.deploy.runtime import qemu
from redge.deploy.targets import Target, load_target

# Functions whose instructions count as matrix kernels: the weight mat-vecs and attention's two float products
# (scores Q.K^T in rk_dot_f32, context P.V in rk_axpy_f32). The rest is overhead: norms, RoPE, softmax's exp,
# SiLU, activation quantization, control.
MATRIX_FUNCS = ("rk_dot_rows_fast", "rk_dot_rows_c", "rk_dot_rows", "rk_linear_q", "rk_linear_f", "rk_scale",
                "rk_dot_f32", "rk_axpy_f32")
# CMSIS-NN instructions per MAC by core (shared/reference/edge_targets.md §0.1), the kernels' reference anchors
CMSIS_NN = {"int8": {"cortex-m4": 1.97, "cortex-m7": 1.97, "cortex-m55": 0.49},
            "int4": {"cortex-m4": 4.97, "cortex-m7": 4.97, "cortex-m55": 0.41}}


def linear_macs(cfg: dict[str, Any]) -> int:
    """Integer mat-vec MACs of one forward (one reasoning-module call) from the blob config."""
    S = cfg["seq_len"] + cfg["prefix_len"]
    D, F, Ft = cfg["hidden_size"], cfg["intermediate"], cfg["token_inter"]
    channel = S * (2 * F * D + F * D)
    mixer = D * (2 * Ft * S + Ft * S) if cfg["mlp_t"] else S * 4 * D * D
    layers = cfg["L_layers"]
    return layers * (channel + mixer)


def latency(target: Target, instructions: float, weight_bytes: float) -> dict[str, Any] | None:
    """Latency estimate (seconds, low-high) from the target's cycle model and clock; None without a cycle model."""
    m = target.cycle_model
    if m is None:
        return None
    clock_hz = target.clock_mhz * 1e6
    stall = weight_bytes / m.weight_stream_bytes_per_s
    lo, hi = (instructions * c / clock_hz for c in m.cpi)
    return {"estimate": True, "part": target.name, "clock_mhz": target.clock_mhz, "model": m.note,
            "compute_s": [lo, hi], "with_flash_stream_s": [lo + stall, hi + stall]}


def bench_mcu(blob: Path, target: str | Path | Target, act: str = "auto", exact: bool = False,
              seed: int = 0) -> dict[str, Any]:
    """Instructions, instructions/MAC, weight bytes and a latency estimate for one ACT step on the target's emulated
    core (its YAML's `qemu:` machine, built with its `runtime:` kernels and flags)."""
    target = load_target(target)
    cfg = read_blob(blob).config
    tokens = np.random.default_rng(seed).integers(1, cfg["vocab_size"], size=(1, cfg["seq_len"]))
    T, n = cfg["H_cycles"], cfg["L_cycles"]
    macs_fwd = linear_macs(cfg)
    if exact:
        _, a = qemu.run_model(target, blob, tokens, act=act, depth=1)
        step, fwd, forwards = a, None, T * (n + 1)
    else:
        _, a = qemu.run_model(target, blob, tokens, act=act, depth=1, H_cycles=1, L_cycles=1)
        _, b = qemu.run_model(target, blob, tokens, act=act, depth=1, H_cycles=1, L_cycles=2)
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
        "target": target.name, "core": target.core, "blob": str(blob), "act": act,
        "method": "exact step" if exact else "2 runs, per-forward diff",
        "forwards_per_step": forwards, "macs_per_forward": macs_fwd,
        "instructions_per_forward": int(fwd_insns), "instructions_per_step": int(instructions),
        "instr_per_mac_matrix": matrix_insns / macs_fwd, "instr_per_mac_step": instructions / (forwards * macs_fwd),
        "non_matrix_fraction": 1.0 - matrix, "weight_bytes_per_step": int(wbytes),
        "top_functions_per_forward": {k: v[0] for k, v in top},
        "latency_per_step": latency(target, instructions, wbytes),
    }


def bench_cpu(blob: Path, puzzles: int = 4, depth: int = 0, act: str = "auto", seed: int = 0) -> dict[str, Any]:
    """Host latency of the C runtime (portable C path) per ACT step and per puzzle (fixed depth).

    The blob is read by the Python reader first (a field outside the runtime's limits is named), then by the C loader;
    `puzzles` and `depth` are range-checked, so every loop here is bounded."""
    from redge.deploy.runtime.host import HostRuntime

    check_range("--puzzles", puzzles, 1)
    check_range("--depth", depth, 0, LIMITS["max_steps"], "the runtime's max_steps; 0: halt_max_steps")
    cfg = read_blob(blob).config  # a path that is no blob, or a field beyond the limits, is named here
    rt = HostRuntime(blob)
    depth = depth or cfg["halt_max_steps"]
    tokens = np.random.default_rng(seed).integers(1, cfg["vocab_size"], size=(puzzles, cfg["seq_len"]))
    rt.run(tokens[0], depth=1, act=act)   # warm-up
    t0 = time.perf_counter()
    for tok in tokens:
        rt.run(tok, depth=depth, act=act)
    per_puzzle = (time.perf_counter() - t0) / puzzles
    return {"blob": str(blob), "kernel_path": rt.kernel_path, "act": act, "depth": depth, "puzzles": puzzles,
            "arena_bytes": rt.arena_bytes, "seconds_per_puzzle": per_puzzle, "seconds_per_step": per_puzzle / depth}
