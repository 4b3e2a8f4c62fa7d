"""HRM: the Hierarchical Reasoning Model (Wang et al. 2025), one readable file, official module names.

Two networks: a fast low level `L_level` and a slow high level `H_level` (4 blocks each in the official config).
Per ACT step, H_cycles times: L_cycles updates z_L <- L(z_L, z_H + x), then z_H <- H(z_H, z_L). Only the very last
L update and H update carry gradient (HRM's "1-step gradient").

State-dict keys match the official `model.inner.*` keys with that prefix removed.
"""
from __future__ import annotations

import torch

from redge.models.config import ModelConfig
from redge.models.layers import Block, CosSin, ReasoningModule
from redge.models.reasoner import RecursiveReasoner


class HRM(RecursiveReasoner):
    """Hierarchical Reasoning Model with attention blocks (HRM has no token-mixing MLP variant)."""

    def __init__(self, config: ModelConfig) -> None:
        if config.arch != "hrm":
            raise ValueError(f"HRM needs arch='hrm', got {config.arch!r}")
        super().__init__(config)

        def level(n_layers: int) -> ReasoningModule:
            return ReasoningModule([
                Block(config.hidden_size, config.num_heads, config.expansion, config.rms_norm_eps,
                      attention=config.attention)
                for _ in range(n_layers)
            ])

        self.H_level = level(config.H_layers)
        self.L_level = level(config.L_layers)

    def recurse(self, z_H: torch.Tensor, z_L: torch.Tensor, x: torch.Tensor, cos_sin: CosSin | None,
                H_cycles: int, L_cycles: int) -> tuple[torch.Tensor, torch.Tensor]:
        """All updates but the last L and last H run without gradient; then the 1-step-gradient pair."""
        with torch.no_grad():
            for h in range(H_cycles):
                for l_step in range(L_cycles):
                    if not (h == H_cycles - 1 and l_step == L_cycles - 1):
                        z_L = self.L_level(z_L, z_H + x, cos_sin)
                if h != H_cycles - 1:
                    z_H = self.H_level(z_H, z_L, cos_sin)
        z_L = self.L_level(z_L, z_H + x, cos_sin)
        z_H = self.H_level(z_H, z_L, cos_sin)
        return z_H, z_L
