"""Quantized checkpoints: a directory with `model.safetensors` and `config.json` (format `redge-quant-checkpoint`).

`model.safetensors` holds the quantized model's state dict, except that integer codes are stored bit-packed
(`qtensor.pack_codes`: dense LSB-first bitstream, two int4 codes per byte) under `<module>.codes`; scales (fp32),
zero points (uint8), biases and every float tensor keep their state-dict keys. `config.json` holds the model
config, the recipe, and per quantized module its class, bits, granularity, group size, scale dtype, act_bits and
shape, plus the quantization report. `redge.quant.load.load_checkpoint` dispatches here for such a directory.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from redge.core.atomic import atomic_dir
from redge.core.errors import RedgeInputError
from redge.core.jsonio import read_json
from redge.models import ModelConfig, RecursiveReasoner, build_model
from redge.models.checkpoints import CheckpointInfo, apply_overrides, config_from_doc
from redge.quant.modules import Bf16Embedding, Bf16Linear, QuantEmbedding, QuantLinear
from redge.quant.qtensor import QuantizedWeight, pack_codes, unpack_codes

FORMAT_NAME = "redge-quant-checkpoint"
FORMAT_VERSION = 1
_CLASSES = {c.__name__: c for c in (QuantLinear, QuantEmbedding, Bf16Linear, Bf16Embedding)}


def is_quantized_checkpoint(path: str | Path) -> bool:
    """True if `path` is a directory whose config.json declares the quantized format."""
    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        return False
    try:
        return json.loads(cfg.read_text()).get("format") == FORMAT_NAME
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False


def _module_meta(module: torch.nn.Module) -> dict[str, Any]:
    meta: dict[str, Any] = {"class": type(module).__name__}
    if isinstance(module, (QuantLinear, QuantEmbedding)):
        meta.update(bits=module.bits, granularity=module.granularity, group_size=module.group_size,
                    scale_dtype=module.scale_dtype, shape=list(module.codes.shape),
                    symmetric=module.zeros is None, act_bits=getattr(module, "act_bits", None))
    return meta


def save_quantized(model: torch.nn.Module, path: str | Path, recipe: dict[str, Any] | None = None) -> Path:
    """Write a quantized model (after `quantize_`) to directory `path`: weights and config.json appear together or not
    at all (an earlier quantized checkpoint there is replaced whole; a folder of other files is refused)."""
    path = Path(path)
    quantized = {n: m for n, m in model.named_modules() if type(m).__name__ in _CLASSES}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    for name, module in quantized.items():
        if isinstance(module, (QuantLinear, QuantEmbedding)):
            state[f"{name}.codes"] = pack_codes(module.codes, module.bits)
    report = getattr(model, "quant_report", None)
    doc = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "config": model.config.to_dict(),
           "recipe": recipe, "modules": {n: _module_meta(m) for n, m in quantized.items()},
           "report": None if report is None else report.to_dict()}
    with atomic_dir(path, replaces="config.json") as folder:
        save_file(state, str(folder / "model.safetensors"), metadata={"format": FORMAT_NAME})
        (folder / "config.json").write_text(json.dumps(doc, indent=2) + "\n")
    return path


def _rebuild(name: str, meta: dict[str, Any], state: dict[str, torch.Tensor], path: Path) -> torch.nn.Module:
    """An empty-shell quantized module of the right class/shape; the state dict fills its buffers."""
    cls = meta.get("class")
    if cls == "Bf16Linear":
        return Bf16Linear(state[f"{name}.weight"], state.get(f"{name}.bias"))
    if cls == "Bf16Embedding":
        return Bf16Embedding(state[f"{name}.table"])
    if cls not in ("QuantLinear", "QuantEmbedding"):
        raise RedgeInputError(f"module {name!r}: unknown quantized class {cls!r}", path)
    shape = tuple(meta["shape"])
    codes = unpack_codes(state[f"{name}.codes"], meta["bits"], shape, signed=meta["symmetric"])
    state[f"{name}.codes"] = codes
    qw = QuantizedWeight(codes, state[f"{name}.scales"], state.get(f"{name}.zeros"), meta["bits"],
                         meta["granularity"], meta["group_size"], meta["scale_dtype"])
    if cls == "QuantEmbedding":
        return QuantEmbedding(qw)
    return QuantLinear(qw, state.get(f"{name}.bias"), meta.get("act_bits"))


def _read_doc(path: Path) -> dict[str, Any]:
    """The checked `config.json` document of a quantized checkpoint directory."""
    if not is_quantized_checkpoint(path):
        raise RedgeInputError(f"not a {FORMAT_NAME} directory", path)
    doc = read_json(path / "config.json", dict)
    if doc.get("version") != FORMAT_VERSION:
        raise RedgeInputError(f"unsupported {FORMAT_NAME} version {doc.get('version')!r}", path)
    modules = doc.get("modules")
    if not isinstance(modules, dict) or not all(isinstance(m, dict) for m in modules.values()):
        raise RedgeInputError("field 'modules' must map module names to their quantization metadata, got "
                              f"{type(modules).__name__ if modules is not None else 'nothing'}", path / "config.json")
    return doc


def read_quantized_config(path: str | Path) -> ModelConfig:
    """The model config of a quantized checkpoint directory, without reading its tensors."""
    path = Path(path)
    return config_from_doc(_read_doc(path), path)


def load_quantized(path: str | Path, forward_dtype: str = "float32", **config_overrides: Any) -> RecursiveReasoner:
    """Load a directory written by `save_quantized` into an eval-mode quantized model (fake-quant mode).

    `forward_dtype` and `config_overrides` (e.g. `H_cycles`, `halt_max_steps`) change the stored config exactly as
    for float checkpoints (`apply_overrides`); one that would change a shape is refused. The model carries
    `checkpoint_info` (source "redge-quant") and `quant_recipe` (the stored recipe).
    """
    path = Path(path)
    doc = _read_doc(path)
    try:
        state = load_file(str(path / "model.safetensors"))
    except (SafetensorError, OSError) as exc:
        raise RedgeInputError(f"unreadable model.safetensors ({str(exc).splitlines()[0]})", path) from None
    config = apply_overrides(config_from_doc(doc, path), {"forward_dtype": forward_dtype, **config_overrides}, path)
    model = build_model(config)
    for name, meta in doc["modules"].items():
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, attr, _rebuild(name, meta, state, path))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("rotary_emb.")]
    if missing or unexpected:
        key = (missing or unexpected)[0]
        raise RedgeInputError(f"{'missing' if missing else 'unexpected'} key {key!r}", path)
    model.quant_recipe = doc.get("recipe")
    model.checkpoint_info = CheckpointInfo(str(path), "redge-quant", "config.json")
    return model.eval()
