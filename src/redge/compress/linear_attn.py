"""Linear attention as a compression method: softmax attention replaced by kernelised linear attention
(phi = elu + 1, `redge.models.layers.linear_attention`) in every attention module of a TRM-Att or HRM.

The weights are kept, so `compress_(model, LinearAttentionConfig(...))` gives the converted model without
fine-tuning (what the sweep measures as `linear-attn`); the fine-tuned variant is a training run of the converted
architecture from the softmax weights: `redge train --set init_from=CKPT --set model.attention=linear`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from redge.compress.api import DataFreeMethod, register_handler
from redge.core.errors import RedgeInputError
from redge.models.layers import Attention


@dataclass(frozen=True)
class LinearAttentionConfig(DataFreeMethod):
    """Replace every softmax attention by linear attention (no parameters: the kernel is fixed)."""

    method: ClassVar[str] = "linear_attention"
    name: str = "linear-attn"
    description: str = "softmax attention -> linear attention (elu+1 features), same weights, no fine-tune"


def linearize_attention_(model: nn.Module, config: LinearAttentionConfig,
                         calib: Iterable[dict] | None = None) -> nn.Module:
    """Switch every attention module of `model` to linear attention, in place; the model's config says so too (a
    saved checkpoint then rebuilds the linear architecture)."""
    layers = [m for m in model.modules() if isinstance(m, Attention)]
    if not layers:
        raise RedgeInputError(f"{config.name}: the model has no attention (an mlp_t model mixes tokens with an MLP)")
    for layer in layers:
        layer.kernel = "linear"
    model.config = model.config.replace(attention="linear")
    return model


register_handler(LinearAttentionConfig, linearize_attention_, {"linear-attn": LinearAttentionConfig})
