"""Load official TRM/HRM checkpoints and save/load redge's own format.

Accepted inputs of `load_checkpoint(path)`:

* **Official** `torch.save(model.state_dict())` files (`step_N`, no extension), keys with or without the
  `_orig_mod.` (torch.compile) and `model.inner.` (ACT wrapper + loss head) prefixes, EMA copy or not, also
  wrapped in a dict under `state_dict` / `model` / `ema`. Unpickling always uses `weights_only=True`, so a pickle
  that would run code is refused, not executed. The architecture comes from `all_config.yaml` beside the file when
  present, otherwise it is inferred from tensor shapes (what cannot be inferred, such as head count or cycle counts,
  takes the official default and is listed in `CheckpointInfo.assumptions`).
* **redge** checkpoints: a directory with `config.json` and one or more `model*.safetensors` shards (written with
  shards of at most `max_shard_bytes`), or a single `.safetensors` file carrying the config in its metadata.

Every mismatch is reported as `RedgeInputError` naming the file, the key, the shape found and the shape expected.
"""
from __future__ import annotations

import json
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from redge.core.atomic import atomic_path, atomic_write
from redge.core.errors import RedgeInputError
from redge.core.jsonio import read_json
from redge.models.carry import RecursiveReasoner
from redge.models.config import ConfigError, ModelConfig
from redge.models.layers import swiglu_intermediate
from redge.tasks.registry import default_cycles

FORMAT_NAME = "redge-checkpoint"
FORMAT_VERSION = 1
_PREFIXES = ("_orig_mod.", "module.", "model.inner.", "inner.")
_IGNORED_KEYS = re.compile(r"(^|\.)(rotary_emb\.(cos|sin)_cached|local_weights|local_ids)$")


@dataclass
class CheckpointInfo:
    """Where a checkpoint came from and what had to be assumed to rebuild its architecture."""

    path: str
    source: str  # "official" or "redge"
    config_source: str  # "all_config.yaml", "config.json", "metadata" or "inferred from shapes"
    assumptions: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the official wrapper prefixes (`_orig_mod.`, `model.inner.`) from every key."""
    out = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in _PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix):], True
        out[key] = value
    return out


def _torch_load(path: Path) -> dict[str, torch.Tensor]:
    try:
        with warnings.catch_warnings():  # protocol warnings from the safe unpickler are noise to the user
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "unsupported global" in str(exc).lower():
            raise RedgeInputError("refused to unpickle: the file holds objects other than tensors "
                                  "(loaded with weights_only=True; nothing was executed)", path) from None
        raise RedgeInputError("not a readable checkpoint: corrupt, or not written by torch.save", path) from None
    except Exception as exc:  # noqa: BLE001 - any failure inside the unpickler means a corrupt file
        first = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else type(exc).__name__
        raise RedgeInputError(f"not a readable checkpoint, truncated or corrupt ({first})", path) from None
    if isinstance(obj, dict):
        for wrapper in ("ema", "state_dict", "model"):
            if isinstance(obj.get(wrapper), dict) and all(isinstance(v, torch.Tensor) for v in obj[wrapper].values()):
                obj = obj[wrapper]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise RedgeInputError("not a state dict: expected a mapping of parameter names to tensors", path)
    return dict(obj)


def _layer_indices(keys: list[str], level: str) -> int:
    idx = {int(m.group(1)) for k in keys if (m := re.match(rf"{level}\.layers\.(\d+)\.", k))}
    return max(idx) + 1 if idx else 0


def _infer_expansion(hidden: int, inter: int, path: Path) -> float:
    for e in (4.0, 2.0, 8.0, 3.0, 1.0, 6.0, 2.5):
        if swiglu_intermediate(hidden, e) == inter:
            return e
    e = round(inter * 3 / (2 * hidden), 4)
    if swiglu_intermediate(hidden, e) != inter:
        raise RedgeInputError(f"cannot infer the SwiGLU expansion: intermediate width {inter} for hidden {hidden}", path)
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


def _official_yaml_config(state: dict[str, torch.Tensor], yaml_path: Path) -> ModelConfig:
    try:
        doc = yaml.safe_load(yaml_path.read_text())
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
        raise RedgeInputError(f"unreadable YAML ({type(exc).__name__})", yaml_path) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("arch"), dict):
        raise RedgeInputError("no 'arch' section", yaml_path)
    inferred, _ = infer_config(state, yaml_path)
    dataset_fields = dict(vocab_size=inferred.vocab_size, seq_len=inferred.seq_len,
                          num_puzzle_identifiers=inferred.num_puzzle_identifiers)
    try:
        config = ModelConfig.from_official(doc["arch"], **dataset_fields)
        # infer_config assumed a 16-position TRM prefix; the YAML's puzzle_emb_len may differ.
        return _keep_shape_width(config, inferred.total_seq_len)
    except (ConfigError, TypeError) as exc:
        raise RedgeInputError(f"invalid arch config: {exc}", yaml_path) from None


def _keep_shape_width(config: ModelConfig, width: int | None) -> ModelConfig:
    """Re-derive seq_len so that seq_len + prefix equals the position count S fixed by the tensor shapes.

    Only learned position tables and mlp_t widths fix S; with RoPE (or none) seq_len is a dataset field and is kept.
    """
    if width is None or not (config.mlp_t or config.pos_encodings == "learned") or config.total_seq_len == width:
        return config
    if width - config.prefix_len < 1:
        raise ConfigError(f"puzzle prefix of {config.prefix_len} positions leaves no room in the {width} positions "
                          "fixed by the tensor shapes")
    return config.replace(seq_len=width - config.prefix_len)


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
            raise RedgeInputError(f"key {key!r}: shape found {list(state[key].shape)}, expected {list(ref.shape)}", path)
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise RedgeInputError(f"unexpected key {unexpected[0]!r} with shape {list(state[unexpected[0]].shape)}"
                              f"{f' (and {len(unexpected) - 1} more)' if len(unexpected) > 1 else ''}", path)
    return {k: v.to(expected[k].dtype) if v.is_floating_point() and k not in ("H_init", "L_init") else v
            for k, v in state.items()}


def _build(config: ModelConfig, state: dict[str, torch.Tensor], path: Path) -> RecursiveReasoner:
    from redge.models import build_model

    with torch.device("meta"):
        model = build_model(config)
    state = check_state_dict(model, state, path)
    model.load_state_dict(state, strict=True, assign=True)
    if hasattr(model, "rotary_emb"):  # non-persistent tables are not in the checkpoint: rebuild them on the CPU
        from redge.models.layers import RotaryEmbedding

        model.rotary_emb = RotaryEmbedding(config.hidden_size // config.num_heads, config.total_seq_len or 0,
                                           config.rope_theta)
    return model.eval()


def read_checkpoint(path: str | Path, **config_overrides: Any) -> tuple[ModelConfig, dict[str, torch.Tensor], CheckpointInfo]:
    """Read config and (prefix-free) state dict from any supported checkpoint without building the model.

    `config_overrides` are applied with `apply_overrides`."""
    path = Path(path)
    if not path.exists():
        raise RedgeInputError("no such file or directory", path)
    if path.is_dir() or path.suffix == ".safetensors":
        config, state, info = _read_redge(path)
    else:
        state = strip_prefixes(_torch_load(path))
        yaml_path = path.parent / "all_config.yaml"
        if yaml_path.exists():
            config, info = _official_yaml_config(state, yaml_path), CheckpointInfo(str(path), "official", "all_config.yaml")
        else:
            config, assumptions = infer_config(state, path)
            info = CheckpointInfo(str(path), "official", "inferred from shapes", assumptions)
    return apply_overrides(config, config_overrides, path), state, info


def _param_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the state dict that `config` describes (built on the meta device: no memory, no init)."""
    from redge.models import build_model

    with torch.device("meta"):
        return {key: tuple(value.shape) for key, value in build_model(config).state_dict().items()}


def _overridden(config: ModelConfig, overrides: dict[str, Any]) -> ModelConfig:
    """`config` with `overrides` applied; seq_len is re-derived (unless overridden) so the stored width S stays."""
    width = None if "seq_len" in overrides else config.total_seq_len
    return _keep_shape_width(config.replace(**overrides), width)


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


def load_checkpoint(path: str | Path, forward_dtype: str = "float32", **config_overrides: Any) -> RecursiveReasoner:
    """Load any supported checkpoint into an eval-mode TRM/HRM on the CPU (see the module docstring).

    `forward_dtype` picks the activation dtype ("float32" default, "bfloat16" on request); other keyword arguments
    override config fields (e.g. `num_heads`, `H_cycles`) that the file cannot tell, for float and quantized
    checkpoints alike (`apply_overrides`: one that would change a tensor shape is refused). The returned model
    carries a `checkpoint_info` attribute (`CheckpointInfo`).
    """
    if Path(path).is_dir():  # a directory may be a quantized checkpoint written by `redge quantize`
        from redge.quant.io import (  # lazy: the only models -> quant link
            is_quantized_checkpoint,
            load_quantized,
        )

        if is_quantized_checkpoint(path):
            model = load_quantized(path, forward_dtype, **config_overrides)
            model.checkpoint_info = CheckpointInfo(str(path), "redge-quant", "config.json")
            return model
    config, state, info = read_checkpoint(path, forward_dtype=forward_dtype, **config_overrides)
    model = _build(config, state, Path(path))
    model.checkpoint_info = info
    return model


# ---------------------------------------------------------------------------------------------------------------
# redge's own format

def _read_redge(path: Path) -> tuple[ModelConfig, dict[str, torch.Tensor], CheckpointInfo]:
    if path.is_dir():
        cfg_path = path / "config.json"
        if not cfg_path.exists():
            raise RedgeInputError("not a redge checkpoint directory: config.json is missing", path)
        doc = read_json(cfg_path, dict, "redge config")
        shards = sorted(path.glob("model*.safetensors"))
        if not shards:
            raise RedgeInputError("no model*.safetensors shard", path)
        source = "config.json"
    else:
        shards, doc, source = [path], None, "metadata"
    state: dict[str, torch.Tensor] = {}
    for shard in shards:
        try:
            part = load_file(shard)
            if doc is None:
                from safetensors import safe_open

                with safe_open(shard, "pt") as fh:
                    meta = fh.metadata() or {}
                doc = json.loads(meta.get("redge", "null"))
        except (SafetensorError, OSError, json.JSONDecodeError) as exc:
            raise RedgeInputError(f"not a readable safetensors file ({str(exc).splitlines()[0]})", shard) from None
        overlap = set(part) & set(state)
        if overlap:
            raise RedgeInputError(f"key {sorted(overlap)[0]!r} appears in more than one shard", shard)
        state.update(part)
    state = _join_parts(state, path)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise RedgeInputError(f"not a {FORMAT_NAME} (missing or wrong 'format' field)", path)
    if doc.get("version") != FORMAT_VERSION:
        raise RedgeInputError(f"unsupported {FORMAT_NAME} version {doc.get('version')!r}", path)
    try:
        config = ModelConfig.from_dict(doc["config"])
    except (ConfigError, TypeError, KeyError) as exc:
        raise RedgeInputError(f"invalid config: {exc}", path) from None
    return config, state, CheckpointInfo(str(path), "redge", source, metadata=doc.get("metadata", {}))


PART_MARK = "#part"


def _split_large(state: dict[str, torch.Tensor], max_bytes: int) -> dict[str, torch.Tensor]:
    """Tensors over `max_bytes` become row blocks `<key>#partIIIII-of-NNNNN` of at most `max_bytes` each."""
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        row_bytes = tensor[0].numel() * tensor.element_size() if tensor.ndim else 0
        if tensor.ndim == 0 or tensor.numel() * tensor.element_size() <= max_bytes or row_bytes > max_bytes:
            out[key] = tensor
            continue
        blocks = torch.split(tensor, max_bytes // row_bytes)
        for i, block in enumerate(blocks):
            out[f"{key}{PART_MARK}{i:05d}-of-{len(blocks):05d}"] = block.contiguous()
    return out


def _join_parts(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Concatenate the row blocks written by `_split_large` (all n of them must be present)."""
    parts: dict[str, dict[int, torch.Tensor]] = {}
    counts: dict[str, set[str]] = {}
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        base, mark, tail = key.rpartition(PART_MARK)
        index, _, count = tail.partition("-of-")
        if mark and index.isdigit() and count.isdigit():
            parts.setdefault(base, {})[int(index)] = tensor
            counts.setdefault(base, set()).add(count)
        else:
            out[key] = tensor
    for base, blocks in parts.items():
        total = {int(c) for c in counts[base]}
        if len(total) != 1 or sorted(blocks) != list(range(total.pop())) or base in out:
            raise RedgeInputError(f"row blocks of {base!r} are incomplete or clash with a whole tensor "
                                  f"(have parts {sorted(blocks)} of {sorted(counts[base])})", path)
        try:
            out[base] = torch.cat([blocks[i] for i in range(len(blocks))])
        except RuntimeError as exc:
            raise RedgeInputError(f"row blocks of {base!r} do not fit together ({exc})", path) from None
    return out


def _atomic_save_file(tensors: dict[str, torch.Tensor], dest: Path, metadata: dict[str, str]) -> None:
    with atomic_path(dest) as tmp:
        save_file(tensors, tmp, metadata=metadata)


def save_checkpoint(model: RecursiveReasoner, path: str | Path, metadata: dict[str, Any] | None = None,
                    max_shard_bytes: int | None = None) -> Path:
    """Save `model` in redge's format, atomically.

    A path ending in `.safetensors` (without `max_shard_bytes`) gives one self-describing file; any other path
    becomes a directory with `config.json` and shards `model-0000i-of-0000n.safetensors` of at most
    `max_shard_bytes` each. A tensor larger than that (ARC's puzzle-embedding table) is stored in row blocks
    `<key>#part00000-of-0000n`, ... that the reader concatenates. `metadata` (JSON-able) is stored with
    the config.
    """
    path = Path(path)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if max_shard_bytes:
        state = _split_large(state, max_shard_bytes)
    doc = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "config": model.config.to_dict(),
           "metadata": metadata or {}}
    if path.suffix == ".safetensors" and max_shard_bytes is None:
        _atomic_save_file(state, path, {"redge": json.dumps(doc)})
        return path
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if max_shard_bytes and shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = tensor
        size += nbytes
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("model*.safetensors"):
        old.unlink()
    for i, shard in enumerate(shards, start=1):
        _atomic_save_file(shard, path / f"model-{i:05d}-of-{len(shards):05d}.safetensors", {"format": FORMAT_NAME})
    atomic_write(path / "config.json", lambda fh: fh.write(json.dumps(doc, indent=2) + "\n"), mode="w")
    return path
