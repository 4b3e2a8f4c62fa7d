"""FLOPs per ACT step: counted with `FlopCounterMode` and checked against the closed-form formula.

FLOP = 2 x MAC, matmuls only (norms, SiLU, RoPE and residual adds are < 1% and not counted, as in the reference
spec). The counter runs the FP32 model on the `meta` device, so even the 916-token models cost nothing to count.
Two traps of torch 2.13 are handled here: CPU attention dispatches to
`aten._scaled_dot_product_flash_attention_for_cpu`, which has no FLOP formula (counted 0 without our mapping),
and `display=True` would import `tabulate`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop

from redge.models import ModelConfig, RecursiveReasoner, build_model
from redge.models.layers import swiglu_intermediate

_CPU_SDPA = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu


def _cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:  # noqa: ANN001
    return sdpa_flop(query_shape, key_shape, value_shape)


@dataclass(frozen=True)
class FlopCount:
    """FLOPs of one ACT step and of a whole puzzle at `depth` steps, counted and by formula."""

    per_step: int
    per_step_formula: int
    depth: int

    @property
    def per_puzzle(self) -> int:
        return self.per_step * self.depth

    @property
    def relative_gap(self) -> float:
        """|counted - formula| / formula."""
        return abs(self.per_step - self.per_step_formula) / self.per_step_formula


def formula_flops_per_step(config: ModelConfig, seq_len: int, H_cycles: int | None = None,
                           L_cycles: int | None = None) -> int:
    """Closed-form FLOPs of one ACT step (trm_hrm_spec.md §3), including the lm_head over all S positions."""
    T = config.H_cycles if H_cycles is None else H_cycles
    n = config.L_cycles if L_cycles is None else L_cycles
    S, D, V = seq_len + config.prefix_len, config.hidden_size, config.vocab_size
    inter = swiglu_intermediate(D, config.expansion)
    channel = 6 * S * D * inter
    if config.mlp_t:
        block = 6 * D * S * swiglu_intermediate(S, config.expansion) + channel
    else:
        block = 8 * S * D * D + 4 * S * S * D + channel
    head = 2 * S * D * V + 4 * D  # lm_head on every position, q_head on one
    if config.arch == "trm":
        return T * (n + 1) * config.L_layers * block + head
    calls_L, calls_H = T * n, T
    return (calls_L * config.L_layers + calls_H * config.H_layers) * block + head


def count_flops_per_step(model: RecursiveReasoner, seq_len: int, H_cycles: int | None = None,
                         L_cycles: int | None = None) -> int:
    """Count one ACT step's FLOPs with FlopCounterMode on a meta-device copy of the model's architecture."""
    config = model.config.replace(forward_dtype="float32", seq_len=model.config.seq_len or seq_len)
    with torch.device("meta"):
        meta = build_model(config).eval()
        batch = {"inputs": torch.zeros(1, seq_len, dtype=torch.int32),
                 "puzzle_identifiers": torch.zeros(1, dtype=torch.int32)}
        counter = FlopCounterMode(display=False, custom_mapping={_CPU_SDPA: _cpu_sdpa_flop})
        with torch.no_grad(), counter:
            meta.step(meta.init_carry(batch), batch, H_cycles, L_cycles)
    return int(counter.get_total_flops())


def flop_count(model: RecursiveReasoner, seq_len: int | None = None, depth: int | None = None,
               H_cycles: int | None = None, L_cycles: int | None = None) -> FlopCount:
    """Counted and closed-form FLOPs per ACT step for `model` at `seq_len` (default: the config's)."""
    seq_len = model.config.seq_len if seq_len is None else seq_len
    if seq_len is None:
        raise ValueError("seq_len is unknown for this checkpoint: pass it explicitly")
    return FlopCount(
        per_step=count_flops_per_step(model, seq_len, H_cycles, L_cycles),
        per_step_formula=formula_flops_per_step(model.config, seq_len, H_cycles, L_cycles),
        depth=model.config.halt_max_steps if depth is None else depth,
    )
