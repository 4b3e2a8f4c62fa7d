"""A float state dict into a model: key and shape check against the architecture, then an in-place load."""
from __future__ import annotations

import re
from pathlib import Path

import torch

from redge.core.errors import RedgeInputError
from redge.models import RecursiveReasoner, build_model
from redge.models.config import ModelConfig
from redge.models.layers import RotaryEmbedding

_IGNORED_KEYS = re.compile(r"(^|\.)(rotary_emb\.(cos|sin)_cached|local_weights|local_ids)$")


def check_state_dict(model: RecursiveReasoner, state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Match `state` against the model's keys and shapes; return it cast to the model's tensor dtypes.

    Raises on the first missing key, unexpected key or shape mismatch, naming key, found and expected shapes.
    """
    expected = model.state_dict()
    state = {k: v for k, v in state.items() if not _IGNORED_KEYS.search(k)}
    for key, ref in expected.items():
        if key not in state:
            raise RedgeInputError(f"missing key {key!r} (expected shape {list(ref.shape)})", path)
        if tuple(state[key].shape) != tuple(ref.shape):
            raise RedgeInputError(f"key {key!r}: shape found {list(state[key].shape)}, expected {list(ref.shape)}",
                                  path)
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise RedgeInputError(f"unexpected key {unexpected[0]!r} with shape {list(state[unexpected[0]].shape)}"
                              f"{f' (and {len(unexpected) - 1} more)' if len(unexpected) > 1 else ''}", path)
    return {k: v.to(expected[k].dtype) if v.is_floating_point() and k not in ("H_init", "L_init") else v
            for k, v in state.items()}


def build_from_state(config: ModelConfig, state: dict[str, torch.Tensor], path: Path) -> RecursiveReasoner:
    """The eval-mode model of `config` holding `state` (checked by `check_state_dict`), built without a random init."""
    with torch.device("meta"):
        model = build_model(config)
    state = check_state_dict(model, state, path)
    model.load_state_dict(state, strict=True, assign=True)
    if hasattr(model, "rotary_emb"):  # non-persistent tables are not in the checkpoint: rebuild them on the CPU
        model.rotary_emb = RotaryEmbedding(config.hidden_size // config.num_heads, config.total_seq_len or 0,
                                           config.rope_theta)
    return model.eval()
