"""Exponential moving average of the trainable parameters (official `models/ema.py`, mu = 0.999).

Buffers (the puzzle-embedding table, H_init/L_init) are not averaged, as upstream.
"""
from __future__ import annotations

import torch
from torch import nn

from redge.compress.qat import float_name, float_state_dict
from redge.models import RecursiveReasoner, build_model


class EMA:
    """Shadow copies `shadow = mu * shadow + (1 - mu) * param` of every parameter that requires grad."""

    def __init__(self, model: nn.Module, mu: float = 0.999) -> None:
        self.mu = mu
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        self.shadow = [p.detach().clone() for n, p in model.named_parameters() if p.requires_grad]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the shadow towards the model's current parameters."""
        params = [p.detach() for _, p in model.named_parameters() if p.requires_grad]
        torch._foreach_lerp_(self.shadow, params, 1 - self.mu)

    def copy_of(self, model: RecursiveReasoner) -> RecursiveReasoner:
        """A fresh (uncompiled) copy of `model`, in eval mode, carrying the averaged parameters."""
        out = build_model(model.config).to(model.H_init.device).eval()
        out.load_state_dict(float_state_dict(model))  # float weights also under QAT's fake-quant parametrizations
        params = dict(out.named_parameters())
        with torch.no_grad():
            for name, value in zip(self.names, self.shadow):
                params[float_name(name)].copy_(value)
        return out

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The shadow tensors by parameter name."""
        return dict(zip(self.names, self.shadow))

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the shadow saved by `state_dict`."""
        with torch.no_grad():
            for name, value in zip(self.names, self.shadow):
                value.copy_(state[name])
