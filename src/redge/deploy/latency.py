"""Latency ESTIMATE of one puzzle on a target without emulating it: the runtime's instruction model for the core.

Instructions per ACT step = sum over the blob's linear weights of (MACs per step x the target's matrix-kernel
instructions per MAC for that weight's encoding: `cycle_model.instructions_per_mac`, i8 / i4 / i8-group / i4-group /
f32) x (1 + `cycle_model.non_matrix`, the instructions outside the matrix kernels). Time then follows
`bench.latency`: instructions x cycles per instruction / clock, plus the weight bytes read per step (the plan's
schedule) over the weight-stream bandwidth when the weights are read from outside on-chip SRAM (PSRAM, or in place
from flash). A puzzle = depth ACT steps. Where an encoding has no measured value the largest listed value is used
and the estimate names it under `assumed_encodings`.

MACs per step of a weight [out, in]: out x in x rows x calls, with rows = positions S for channel linears, the hidden
width D for TRM's token-mixing MLP (`mlp_t`, applied across positions), S for the LM head and 1 for the Q head;
calls = module calls per ACT step of its level (`plan.block_calls`: T(n+1) for TRM's L_level), 1 for the heads.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redge.deploy.bench import latency
from redge.deploy.blob import TensorMeta
from redge.deploy.plan import block_calls
from redge.deploy.targets import IN_PLACE, Target
from redge.models.config import ModelConfig


def encoding(e: TensorMeta) -> str:
    """The matrix-kernel encoding of a weight entry: i8, i4, i8-group, i4-group or f32."""
    if e.granularity == "none":
        return "f32"
    base = "i4" if e.dtype in ("i4", "u4") else "i8"
    return f"{base}-group" if e.granularity == "group" and e.group_size < e.shape[-1] else base


def step_macs(config: ModelConfig, entries: Sequence[TensorMeta]) -> dict[str, int]:
    """Weight name -> MACs per ACT step, for every linear weight of the blob (embedding tables do no MACs)."""
    calls = block_calls(config)
    positions, hidden = config.total_seq_len, config.hidden_size
    out = {}
    for e in entries:
        if e.role != "tensor" or len(e.shape) != 2 or not e.name.endswith(".weight"):
            continue
        level = e.name.split(".", 1)[0]
        if level in calls:
            rows = hidden if ".mlp_t." in e.name else positions
            out[e.name] = e.shape[0] * e.shape[1] * rows * calls[level]
        else:
            out[e.name] = e.shape[0] * e.shape[1] * (1 if e.name.startswith("q_head") else positions)
    return out


def estimate(config: ModelConfig, entries: Sequence[TensorMeta], target: Target, plan: dict[str, Any],
             depth: int) -> dict[str, Any] | None:
    """The latency estimate of `depth` ACT steps on `target` (see the module docstring); None when the target has no
    instruction model (`cycle_model.instructions_per_mac`)."""
    model = target.cycle_model
    if model is None or not model.instructions_per_mac:
        return None
    ipm = model.instructions_per_mac
    macs = step_macs(config, entries)
    by_name = {e.name: e for e in entries}
    assumed = sorted({encoding(by_name[n]) for n in macs} - set(ipm))
    fallback = max(ipm.values())
    matrix = sum(m * ipm.get(encoding(by_name[n]), fallback) for n, m in macs.items())
    instructions = matrix * (1.0 + model.non_matrix)
    schedule = plan["schedules"]["tiled" if "tiled" in plan["schedules"] and plan["schedule"] != "untiled"
                                 else "untiled"]
    weight_bytes = schedule["weight_bytes_per_act_step"]
    where = plan["placement"]["weights"]
    region = where.split(":", 1)[1] if where.startswith(IN_PLACE) else where
    streamed = where.startswith(IN_PLACE) or target.region(region).kind != "sram"
    lat = latency(target, instructions, weight_bytes)
    step_s = lat["with_flash_stream_s"] if streamed else lat["compute_s"]
    return {"estimate": True, "target": target.name, "depth": depth, "H_cycles": config.H_cycles,
            "L_cycles": config.L_cycles, "macs_per_step": sum(macs.values()),
            "instructions_per_step": int(instructions),
            "weight_bytes_per_step": weight_bytes, "weights_streamed": streamed,
            "per_step_ms": [1e3 * s for s in step_s], "per_puzzle_ms": [1e3 * depth * s for s in step_s],
            "assumed_encodings": assumed, "model": model.note}
