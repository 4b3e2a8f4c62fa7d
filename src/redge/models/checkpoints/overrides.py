"""Config overrides at load time (`H_cycles=`, `forward_dtype=`, ...), checked against the stored tensor shapes.

Used by every checkpoint format (official, redge, quantized), so an override means the same thing for all of them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from redge.core.errors import RedgeInputError
from redge.models import build_model
from redge.models.checkpoints.infer import keep_shape_width
from redge.models.config import ConfigError, ModelConfig


def _param_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the state dict that `config` describes (built on the meta device: no memory, no init)."""
    with torch.device("meta"):
        return {key: tuple(value.shape) for key, value in build_model(config).state_dict().items()}


def _overridden(config: ModelConfig, overrides: dict[str, Any]) -> ModelConfig:
    """`config` with `overrides` applied; seq_len is re-derived (unless overridden) so the stored width S stays."""
    width = None if "seq_len" in overrides else config.total_seq_len
    return keep_shape_width(config.replace(**overrides), width)


def _shape_difference(before: dict[str, tuple[int, ...]], after: dict[str, tuple[int, ...]]) -> str | None:
    """How the state-dict shapes `after` first differ from `before` (the stored ones), or None if they agree."""
    for key in [*before, *(k for k in after if k not in before)]:
        if key not in after:
            return f"key {key!r} would be left unused"
        if key not in before:
            return f"key {key!r} with shape {list(after[key])} would be needed, the checkpoint has none"
        if before[key] != after[key]:
            return f"key {key!r} has shape {list(before[key])}, the override needs {list(after[key])}"
    return None


def _shape_fields(config: ModelConfig, overrides: dict[str, Any]) -> list[str]:
    """The overridden fields that, on their own, change the state-dict shapes (all changed ones if none does alone)."""
    shapes = _param_shapes(config)
    changed = [name for name, value in overrides.items() if getattr(config, name) != value]
    culprits = []
    for name in changed:
        try:
            alone = _param_shapes(_overridden(config, {name: overrides[name]}))
        except ConfigError:  # invalid without the other overrides: it takes part in the change
            alone = None
        if alone != shapes:
            culprits.append(name)
    return culprits or changed


def apply_overrides(config: ModelConfig, overrides: dict[str, Any], path: str | Path) -> ModelConfig:
    """`config` with the user's config `overrides` applied, the same way for every checkpoint format.

    The stored tensors fix every shape, so only fields that leave the state-dict shapes unchanged can be overridden
    (cycles, halting, forward dtype, head count, ...). An override that would change a shape (hidden_size,
    L_layers, vocab_size, ...) cannot be honoured: it raises `RedgeInputError` naming `path` and the field, rather
    than loading other weights than the ones asked for. Invalid values or unknown fields raise it too.
    """
    try:
        updated = _overridden(config, overrides)
    except (ConfigError, TypeError) as exc:
        raise RedgeInputError(f"invalid override: {exc}", path) from None
    if updated == config:
        return config
    difference = _shape_difference(_param_shapes(config), _param_shapes(updated))
    if difference is not None:
        fields = ", ".join(f"{name}={overrides[name]!r}" for name in _shape_fields(config, overrides))
        raise RedgeInputError(f"override {fields} cannot be applied: the stored weights fix the shapes ({difference}); "
                              "only fields that keep every shape (e.g. H_cycles, L_cycles, halt_max_steps, "
                              "forward_dtype) can be overridden", path)
    return updated
