"""What a checkpoint is, in numbers: architecture, parameter counts, bytes per precision and FLOPs (`redge info`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from redge.core.errors import RedgeInputError
from redge.core.jsonio import read_json
from redge.models import build_model
from redge.quant.io import is_quantized_checkpoint
from redge.quant.load import load_checkpoint
from redge.study.flops import flop_count
from redge.study.memory import weight_bytes
from redge.tasks.registry import task_of_checkpoint


def describe_checkpoint(path: Path, seq_len: int | None = None) -> dict[str, Any]:
    """Architecture, parameter counts, weight bytes per precision and FLOPs of a checkpoint, as one dict."""
    model = load_checkpoint(path)
    cfg = model.config
    notes = list(model.checkpoint_info.assumptions)
    if seq_len is None:
        seq_len = cfg.seq_len
    if seq_len is None:  # RoPE weights fix no sequence length: take the task's (task registry)
        task = task_of_checkpoint(cfg.vocab_size, None)
        if task is None:
            raise RedgeInputError(f"no registered task has vocab size {cfg.vocab_size}, so the sequence length is "
                                  "unknown: pass --seq-len", path)
        seq_len = task.seq_len
        notes.append(f"seq_len = {seq_len} of task {task.name} (vocab size {cfg.vocab_size}); pass --seq-len to change")
    # Counts of the float architecture (a quantized checkpoint keeps its weights as codes, not parameters).
    with torch.device("meta"):
        architecture = build_model(cfg)
    params = architecture.num_parameters()
    params_emb = architecture.num_parameters(include_puzzle_emb=True)
    stored = weight_bytes(model)
    flops = flop_count(model, seq_len)
    name = "HRM" if cfg.arch == "hrm" else ("TRM-MLP" if cfg.mlp_t else "TRM-Att")
    return {
        "checkpoint": str(path),
        "architecture": name,
        "config_source": model.checkpoint_info.config_source,
        "config": {k: v for k, v in cfg.to_dict().items() if k != "extra"},
        "seq_len": seq_len,
        "positions": seq_len + cfg.prefix_len,
        "params": params,
        "params_with_puzzle_emb": params_emb,
        "puzzle_emb_rows": cfg.num_puzzle_identifiers if cfg.puzzle_emb_ndim else 0,
        # Codes only per precision; `stored_weight_bytes` is what this checkpoint holds (scales and zero points in).
        "weight_bytes": {"fp32": params * 4, "bf16": params * 2, "int8": params, "int4": params // 2},
        "stored_weight_bytes": stored["weights"],
        "quantization": read_json(path / "config.json")["recipe"]["name"] if is_quantized_checkpoint(path) else None,
        "puzzle_emb_bytes_fp32": (params_emb - params) * 4,
        "flops_per_act_step": flops.per_step,
        "flops_per_act_step_formula": flops.per_step_formula,
        "depth": flops.depth,
        "flops_per_puzzle": flops.per_puzzle,
        "assumptions": notes,
    }
