"""Bytes a variant needs: stored weights (with scales and zero points) and the recursive carry.

Weights: every module that knows its own storage (the quantization engine's modules expose `stored_bytes()`:
codes bit-packed, scales in their storage dtype, zero points, bias) is counted by it; every other parameter and
persistent buffer at its dtype's size. The puzzle-embedding table is reported apart (it can be streamed from
flash row by row, docs/ARCHITECTURE.md). Carry: z_H and z_L of one puzzle, S x D each, in the forward dtype.
"""
from __future__ import annotations

from torch import nn

from redge.models import RecursiveReasoner

PUZZLE_EMB_PREFIX = "puzzle_emb"


def weight_bytes(model: nn.Module) -> dict[str, int]:
    """`weights` (everything except the puzzle table, scales included) and `puzzle_emb` bytes as stored."""
    out = {"weights": 0, "puzzle_emb": 0}
    covered: set[str] = set()
    for name, module in model.named_modules():
        if any(name == c or name.startswith(c + ".") for c in covered):
            continue
        stored = getattr(module, "stored_bytes", None)
        if callable(stored):
            covered.add(name)
            out[_bucket(name)] += sum(stored().values())
    for name, tensor in (*model.named_parameters(), *_persistent_buffers(model)):
        owner = name.rsplit(".", 1)[0] if "." in name else ""
        if any(owner == c or owner.startswith(c + ".") for c in covered):
            continue
        out[_bucket(name)] += tensor.numel() * tensor.element_size()
    return out


def _bucket(name: str) -> str:
    return "puzzle_emb" if name == PUZZLE_EMB_PREFIX or name.startswith(PUZZLE_EMB_PREFIX + ".") else "weights"


def _persistent_buffers(model: nn.Module) -> list[tuple[str, object]]:
    out = []
    for mod_name, module in model.named_modules():
        for buf_name, buf in module.named_buffers(recurse=False):
            if buf is not None and buf_name not in module._non_persistent_buffers_set:
                out.append((f"{mod_name}.{buf_name}" if mod_name else buf_name, buf))
    return out


def carry_bytes(model: RecursiveReasoner, seq_len: int) -> int:
    """Bytes of one puzzle's carry: z_H and z_L, (seq_len + prefix) x hidden each, in the forward dtype."""
    cfg = model.config
    itemsize = 2 if cfg.forward_dtype == "bfloat16" else 4
    return 2 * (seq_len + cfg.prefix_len) * cfg.hidden_size * itemsize
