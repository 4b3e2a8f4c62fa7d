"""The one checkpoint entry point: `load_checkpoint(path)` and `read_config(path)` for every format redge reads.

Formats, each owned by the layer that defines it:

* official TRM/HRM `torch.save` state dicts and redge's float safetensors format: `redge.models.checkpoints`;
* quantized checkpoints written by `redge quantize` (`save_quantized`): `redge.quant.io`.

It lives here, on the quant floor, because this is the lowest layer that knows all three formats: `models` sits
below `quant` and must not import it, so `models.checkpoints` reads the float formats only and this module adds the
quantized one on top. Every caller that loads a checkpoint by path (study, deploy, train, the CLI, benchmarks,
tests) uses this module, also re-exported as `redge.quant.load_checkpoint`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from redge.models import ModelConfig, RecursiveReasoner
from redge.models.checkpoints import load_float_checkpoint, read_float_config
from redge.quant.io import (
    is_quantized_checkpoint,
    load_quantized,
    read_quantized_config,
)


def load_checkpoint(path: str | Path, forward_dtype: str = "float32", **config_overrides: Any) -> RecursiveReasoner:
    """Load any supported checkpoint (official, redge, quantized) into an eval-mode TRM/HRM on the CPU.

    `forward_dtype` picks the activation dtype ("float32" default, "bfloat16" on request); other keyword arguments
    override config fields (e.g. `num_heads`, `H_cycles`) that the file cannot tell, for float and quantized
    checkpoints alike (`apply_overrides`: one that would change a tensor shape is refused). The returned model
    carries a `checkpoint_info` attribute (`CheckpointInfo`). Bad input raises `RedgeInputError` naming the file.
    """
    if is_quantized_checkpoint(path):
        return load_quantized(path, forward_dtype, **config_overrides)
    return load_float_checkpoint(path, forward_dtype, **config_overrides)


def read_config(path: str | Path) -> ModelConfig:
    """The model config of any supported checkpoint, without building the model (what `redge plan` needs).

    Redge and quantized checkpoints are read from their JSON config only; an official file is unpickled, since
    its config may have to be inferred from the tensor shapes.
    """
    if is_quantized_checkpoint(path):
        return read_quantized_config(path)
    return read_float_config(path)
