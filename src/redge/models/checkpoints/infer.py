"""The architecture of a checkpoint from its tensor shapes alone (official files without `all_config.yaml`).

What shapes cannot tell (head count, cycle counts, RoPE vs no positions) takes the official default and is listed
as an assumption, so `redge info` can show the user what was guessed.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from redge.core.errors import RedgeInputError
from redge.models.config import ConfigError, ModelConfig
from redge.models.layers import swiglu_intermediate
from redge.tasks.registry import default_cycles


def _layer_indices(keys: list[str], level: str) -> int:
    idx = {int(m.group(1)) for k in keys if (m := re.match(rf"{level}\.layers\.(\d+)\.", k))}
    return max(idx) + 1 if idx else 0


def _infer_expansion(hidden: int, inter: int, path: Path) -> float:
    for e in (4.0, 2.0, 8.0, 3.0, 1.0, 6.0, 2.5):
        if swiglu_intermediate(hidden, e) == inter:
            return e
    e = round(inter * 3 / (2 * hidden), 4)
    if swiglu_intermediate(hidden, e) != inter:
        raise RedgeInputError(f"cannot infer the SwiGLU expansion: intermediate width {inter} for hidden {hidden}",
                              path)
    return e


def infer_config(state: dict[str, torch.Tensor], path: Path) -> tuple[ModelConfig, list[str]]:
    """Rebuild a ModelConfig from prefix-free tensor shapes; returns it and the list of assumptions made."""
    def shape(key: str) -> tuple[int, ...]:
        if key not in state:
            raise RedgeInputError(f"missing key {key!r}: cannot infer the architecture", path)
        return tuple(state[key].shape)

    keys = list(state)
    assumptions: list[str] = []
    vocab, hidden = shape("embed_tokens.embedding_weight")
    arch = "hrm" if any(k.startswith("H_level.") for k in keys) else "trm"
    L_layers, H_layers = _layer_indices(keys, "L_level"), _layer_indices(keys, "H_level")
    mlp_t = any(".mlp_t." in k for k in keys)
    inter = shape("L_level.layers.0.mlp.down_proj.weight")[1]
    expansion = _infer_expansion(hidden, inter, path)
    if "puzzle_emb.weights" in state:
        n_ids, ndim = shape("puzzle_emb.weights")
    else:
        n_ids, ndim = 1, 0
    prefix = 0 if ndim == 0 else (16 if arch == "trm" else -(ndim // -hidden))
    if arch == "trm" and ndim:
        assumptions.append("puzzle_emb_len = 16 (official TRM config)")
    seq_len: int | None = None
    if "embed_pos.embedding_weight" in state:
        pos = "learned"
        seq_len = shape("embed_pos.embedding_weight")[0] - prefix
    elif mlp_t:
        pos = "none"
        seq_len = shape("L_level.layers.0.mlp_t.gate_up_proj.weight")[1] - prefix
    else:
        pos = "rope"
        assumptions.append("pos_encodings = rope (no learned position table; rope and none have the same keys)")
    num_heads = max(1, hidden // 64)
    if not mlp_t:
        assumptions.append(f"num_heads = {num_heads} (head_dim 64, official; not visible in shapes)")
    cycles, source = default_cycles(arch, vocab, seq_len)
    assumptions.append(f"H_cycles = {cycles[0]}, L_cycles = {cycles[1]} ({source}; not visible in shapes)")
    config = ModelConfig(
        arch=arch, vocab_size=vocab, seq_len=seq_len, num_puzzle_identifiers=n_ids, hidden_size=hidden,
        num_heads=num_heads, expansion=expansion, H_cycles=cycles[0], L_cycles=cycles[1], H_layers=H_layers,
        L_layers=L_layers, pos_encodings=pos, mlp_t=mlp_t, puzzle_emb_ndim=ndim, puzzle_emb_len=16,
        no_ACT_continue=arch == "trm",
    )
    return config, assumptions


def keep_shape_width(config: ModelConfig, width: int | None) -> ModelConfig:
    """Re-derive seq_len so that seq_len + prefix equals the position count S fixed by the tensor shapes.

    Only learned position tables and mlp_t widths fix S; with RoPE (or none) seq_len is a dataset field and is kept.
    """
    if width is None or not (config.mlp_t or config.pos_encodings == "learned") or config.total_seq_len == width:
        return config
    if width - config.prefix_len < 1:
        raise ConfigError(f"puzzle prefix of {config.prefix_len} positions leaves no room in the {width} positions "
                          "fixed by the tensor shapes")
    return config.replace(seq_len=width - config.prefix_len)
