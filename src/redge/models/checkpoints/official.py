"""Import official TRM/HRM checkpoints: `torch.save(model.state_dict())` files (`step_N`, no extension).

Keys may carry the `_orig_mod.` (torch.compile) and `model.inner.` (ACT wrapper + loss head) prefixes, the file may
hold the EMA copy or not, and the state dict may be wrapped in a dict under `ema` / `state_dict` / `model`.
Unpickling always uses `weights_only=True`, so a pickle that would run code is refused, not executed. The
architecture comes from `all_config.yaml` beside the file when present, otherwise from the tensor shapes (`infer`).
"""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import torch
import yaml

from redge.core.errors import RedgeInputError
from redge.models.checkpoints.infer import infer_config, keep_shape_width
from redge.models.checkpoints.info import CheckpointInfo
from redge.models.config import ConfigError, ModelConfig

_PREFIXES = ("_orig_mod.", "module.", "model.inner.", "inner.")


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


def _yaml_config(state: dict[str, torch.Tensor], yaml_path: Path) -> ModelConfig:
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
        return keep_shape_width(config, inferred.total_seq_len)
    except (ConfigError, TypeError) as exc:
        raise RedgeInputError(f"invalid arch config: {exc}", yaml_path) from None


def read_official(path: Path) -> tuple[ModelConfig, dict[str, torch.Tensor], CheckpointInfo]:
    """Config, prefix-free state dict and provenance of an official `torch.save` checkpoint file."""
    state = strip_prefixes(_torch_load(path))
    yaml_path = path.parent / "all_config.yaml"
    if yaml_path.exists():
        return _yaml_config(state, yaml_path), state, CheckpointInfo(str(path), "official", "all_config.yaml")
    config, assumptions = infer_config(state, path)
    return config, state, CheckpointInfo(str(path), "official", "inferred from shapes", assumptions)
