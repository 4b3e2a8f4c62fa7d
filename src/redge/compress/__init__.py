"""Compression methods as plug-ins (in the spirit of torchao): a method is a plain config dataclass, and
`compress_(model, config)` picks the handler registered for the config's type.

Quantization recipes (`redge.quant.QuantRecipe`) and pruning (`PruneConfig`) are handled here alike, so the sweep takes
any method as a variant. A new method is one module: a config dataclass with `name`, `description`, `to_dict()`,
`needs_calibration` and `changes_model`, plus a handler registered with `register_handler`.
"""
from redge.compress.api import (
    CompressionConfig,
    compress_,
    load_method,
    method_names,
    register_handler,
)
from redge.compress.linear_attn import LinearAttentionConfig
from redge.compress.prune import PruneConfig

__all__ = ["CompressionConfig", "LinearAttentionConfig", "PruneConfig", "compress_", "load_method", "method_names", "register_handler"]
