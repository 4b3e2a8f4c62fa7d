"""Float checkpoints by path: a directory or `.safetensors` file is redge's format, any other file an official one."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from redge.core.errors import RedgeInputError
from redge.models import RecursiveReasoner
from redge.models.checkpoints.info import CheckpointInfo
from redge.models.checkpoints.official import read_official
from redge.models.checkpoints.overrides import apply_overrides
from redge.models.checkpoints.redge_format import read_redge, read_redge_config
from redge.models.checkpoints.state import build_from_state
from redge.models.config import ModelConfig


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise RedgeInputError("no such file or directory", path)
    return path


def _is_redge(path: Path) -> bool:
    return path.is_dir() or path.suffix == ".safetensors"


def read_checkpoint(path: str | Path, **config_overrides: Any) -> tuple[ModelConfig, dict[str, torch.Tensor],
                                                                        CheckpointInfo]:
    """Read config and (prefix-free) state dict of an official or redge checkpoint without building the model.

    `config_overrides` are applied with `apply_overrides`."""
    path = _existing(path)
    config, state, info = read_redge(path) if _is_redge(path) else read_official(path)
    return apply_overrides(config, config_overrides, path), state, info


def read_float_config(path: str | Path) -> ModelConfig:
    """The config of an official or redge checkpoint; a redge checkpoint's tensors are not read."""
    path = _existing(path)
    return read_redge_config(path) if _is_redge(path) else read_official(path)[0]


def load_float_checkpoint(path: str | Path, forward_dtype: str = "float32",
                          **config_overrides: Any) -> RecursiveReasoner:
    """An official or redge checkpoint as an eval-mode TRM/HRM on the CPU, with a `checkpoint_info` attribute.

    `forward_dtype` and `config_overrides` change the stored config (`apply_overrides`). Callers outside the
    checkpoint code use `redge.quant.load.load_checkpoint`, which also takes quantized checkpoints.
    """
    config, state, info = read_checkpoint(path, forward_dtype=forward_dtype, **config_overrides)
    model = build_from_state(config, state, Path(path))
    model.checkpoint_info = info
    return model
