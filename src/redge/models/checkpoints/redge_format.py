"""redge's own float checkpoint format: safetensors + a JSON config (`format: redge-checkpoint`, version 1).

Either a directory with `config.json` and shards `model-0000i-of-0000n.safetensors`, or a single `.safetensors` file
that carries the same JSON document in its metadata under the key `redge`. The document is
`{"format", "version", "config": ModelConfig.to_dict(), "metadata": {...}}`. A tensor larger than a shard
(ARC's puzzle-embedding table) is stored as row blocks `<key>#part00000-of-0000n`, ... that the reader concatenates.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from redge.core.atomic import atomic_dir, atomic_path
from redge.core.errors import RedgeInputError
from redge.core.jsonio import read_json
from redge.models import RecursiveReasoner
from redge.models.checkpoints.info import CheckpointInfo
from redge.models.config import ConfigError, ModelConfig

FORMAT_NAME = "redge-checkpoint"
FORMAT_VERSION = 1
PART_MARK = "#part"


def _unreadable(exc: Exception, shard: Path) -> RedgeInputError:
    return RedgeInputError(f"not a readable safetensors file ({str(exc).splitlines()[0]})", shard)


def _metadata_doc(shard: Path) -> Any:
    """The JSON document a single-file checkpoint keeps in its safetensors metadata (None if it has none)."""
    with safe_open(shard, "pt") as fh:
        meta = fh.metadata() or {}
    return json.loads(meta.get("redge", "null"))


def _config_dir_doc(path: Path) -> dict[str, Any]:
    cfg_path = path / "config.json"
    if not cfg_path.exists():
        raise RedgeInputError("not a redge checkpoint directory: config.json is missing", path)
    return read_json(cfg_path, dict, "redge config")


def config_from_doc(doc: dict[str, Any], path: Path) -> ModelConfig:
    """The `config` field of a checkpoint's JSON document (redge or quantized format) as a ModelConfig.

    A missing or invalid config raises `RedgeInputError` naming the file (`path`/config.json for a directory) and
    the field."""
    where = path / "config.json" if path.is_dir() else path
    if "config" not in doc:
        raise RedgeInputError("missing field 'config'", where)
    try:
        return ModelConfig.from_dict(doc["config"])
    except (ConfigError, TypeError) as exc:
        raise RedgeInputError(f"invalid field 'config': {exc}", where) from None


def _parse_doc(doc: Any, path: Path) -> ModelConfig:
    """The config of a format document, after checking its format name and version."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise RedgeInputError(f"not a {FORMAT_NAME} (missing or wrong 'format' field)", path)
    if doc.get("version") != FORMAT_VERSION:
        raise RedgeInputError(f"unsupported {FORMAT_NAME} version {doc.get('version')!r}", path)
    return config_from_doc(doc, path)


def _read_doc(path: Path) -> Any:
    """The JSON document of a redge checkpoint (directory or single file), without reading its tensors."""
    if path.is_dir():
        return _config_dir_doc(path)
    try:
        return _metadata_doc(path)
    except (SafetensorError, OSError, json.JSONDecodeError) as exc:
        raise _unreadable(exc, path) from None


def read_redge_config(path: Path) -> ModelConfig:
    """The config of a redge checkpoint (directory or single file) without reading its tensors."""
    return _parse_doc(_read_doc(path), path)


def read_redge_metadata(path: Path) -> dict[str, Any]:
    """The `metadata` a redge checkpoint was saved with (training config name, step, minutes, weights), without
    reading its tensors: what a report needs to say how a fine-tuned variant was trained. {} when it has none."""
    doc = _read_doc(path)
    _parse_doc(doc, path)
    meta = doc.get("metadata")
    return meta if isinstance(meta, dict) else {}


def read_redge(path: Path) -> tuple[ModelConfig, dict[str, torch.Tensor], CheckpointInfo]:
    """Config, state dict (row blocks joined) and provenance of a redge checkpoint directory or file."""
    if path.is_dir():
        doc = _config_dir_doc(path)
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
                doc = _metadata_doc(shard)
        except (SafetensorError, OSError, json.JSONDecodeError) as exc:
            raise _unreadable(exc, shard) from None
        overlap = set(part) & set(state)
        if overlap:
            raise RedgeInputError(f"key {sorted(overlap)[0]!r} appears in more than one shard", shard)
        state.update(part)
    state = _join_parts(state, path)
    config = _parse_doc(doc, path)
    return config, state, CheckpointInfo(str(path), "redge", source, metadata=doc.get("metadata", {}))


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


def _keep_other_files(old: Path, new: Path) -> None:
    """Copy what an earlier checkpoint folder holds besides its weights and config (a model card, an eval) into the
    folder that replaces it, so that re-saving a checkpoint changes only the checkpoint."""
    if not old.is_dir():
        return
    for item in old.iterdir():
        if item.name == "config.json" or (item.name.startswith("model") and item.suffix == ".safetensors"):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, new / item.name)


def save_checkpoint(model: RecursiveReasoner, path: str | Path, metadata: dict[str, Any] | None = None,
                    max_shard_bytes: int | None = None) -> Path:
    """Save `model` in redge's format, atomically.

    A path ending in `.safetensors` (without `max_shard_bytes`) gives one self-describing file; any other path
    becomes a directory (written whole in a temporary folder, then renamed: an earlier checkpoint there is replaced
    as a unit, keeping its other files; a folder of other files without config.json is refused) with `config.json`
    and shards `model-0000i-of-0000n.safetensors` of at most `max_shard_bytes` each. A tensor larger than that (ARC's
    puzzle-embedding table) is stored in row blocks `<key>#part00000-of-0000n`, ... that the reader concatenates.
    `metadata` (JSON-able) is stored with the config.
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
    with atomic_dir(path, replaces="config.json") as tmp:  # shards and config appear together, or not at all
        _keep_other_files(path, tmp)
        for i, shard in enumerate(shards, start=1):  # the folder is private until renamed: plain writes suffice
            save_file(shard, tmp / f"model-{i:05d}-of-{len(shards):05d}.safetensors", metadata={"format": FORMAT_NAME})
        (tmp / "config.json").write_text(json.dumps(doc, indent=2) + "\n")
    return path
