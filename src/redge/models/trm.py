"""TRM: the Tiny Recursive Model (Jolicoeur-Martineau 2025), one readable file, official module names.

One shared 2-layer network `L_level` updates both states. Per ACT step, T = H_cycles times: n = L_cycles latent
updates z <- f(z, y + x), then one answer update y <- f(y, z). Only the last of the T cycles carries gradient
(the official "deep recursion" with T-1 cycles under no_grad). Token mixing is attention (TRM-Att) or `mlp_t`, a
SwiGLU across positions (TRM-MLP, the Sudoku headline model).

State-dict keys match the official `model.inner.*` keys with that prefix removed.
"""
from __future__ import annotations

import torch

from redge.models.config import ModelConfig
from redge.models.layers import Block, CosSin, ReasoningModule
from redge.models.reasoner import RecursiveReasoner


class TRM(RecursiveReasoner):
    """Tiny Recursive Model; `config.mlp_t` selects token-mixing MLP instead of attention."""

    def __init__(self, config: ModelConfig) -> None:
        if config.arch != "trm":
            raise ValueError(f"TRM needs arch='trm', got {config.arch!r}")
        super().__init__(config)
        token_width = config.total_seq_len if config.mlp_t else None
        self.L_level = ReasoningModule([
            Block(config.hidden_size, config.num_heads, config.expansion, config.rms_norm_eps, token_width,
                  config.attention)
            for _ in range(config.L_layers)
        ])

    def recurse(self, z_H: torch.Tensor, z_L: torch.Tensor, x: torch.Tensor, cos_sin: CosSin | None,
                H_cycles: int, L_cycles: int) -> tuple[torch.Tensor, torch.Tensor]:
        """T-1 gradient-free cycles, then one cycle with gradient: z <- f(z, y + x) n times, y <- f(y, z)."""
        with torch.no_grad():
            for _ in range(H_cycles - 1):
                for _ in range(L_cycles):
                    z_L = self.L_level(z_L, z_H + x, cos_sin)
                z_H = self.L_level(z_H, z_L, cos_sin)
        for _ in range(L_cycles):
            z_L = self.L_level(z_L, z_H + x, cos_sin)
        z_H = self.L_level(z_H, z_L, cos_sin)
        return z_H, z_L
