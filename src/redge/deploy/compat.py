"""What the C runtime would reject, found before `plan` answers or `export` writes a blob.

The checks mirror `rt_load` (runtime/src/rt_model.c): the header's model config against the runtime's limits
(compiled per target from its YAML's `runtime:` section), and every table entry's encoding against what the target's
runtime supports (float weights as f32 only, symmetric i8/i4 codes, f32/f16/bf16 scales, act_bits 0 or 8, or
the target's narrower lists). Without a target the check is against everything the C runtime implements.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from redge.core.errors import RedgeInputError
from redge.deploy import capabilities
from redge.deploy.blob import TensorMeta, header_fields
from redge.deploy.targets import RuntimeSupport, Target
from redge.models.config import ModelConfig

_ANY = RuntimeSupport(kernels="c")  # the C runtime's own ceiling (deploy/capabilities.py)


def _config_rejections(config: ModelConfig, rt: RuntimeSupport) -> list[str]:
    """rt_load's RT_ERR_CONFIG checks on the header fields the blob would carry."""
    h = header_fields(config, "")
    positions = h["seq_len"] + h["prefix_len"]
    out = []
    if h["arch"] == "hrm" and h["mlp_t"]:
        out.append("HRM with mlp_t is not implemented by the C runtime")
    if config.attention != "softmax":  # the blob has no field for it: the runtime would compute softmax attention
        out.append(f"{config.attention} attention is not implemented by the C runtime")
    for key, fields in capabilities.LIMIT_FIELDS.items():
        for field in fields:
            if h[field] > getattr(rt, key):
                out.append(f"{field} {h[field]} exceeds runtime.{key} {getattr(rt, key)}")
    if positions > rt.max_seq:
        out.append(f"{positions} positions (seq_len + prefix) exceed runtime.max_seq {rt.max_seq}")
    if h["hidden_size"] % h["num_heads"] or (h["hidden_size"] // h["num_heads"]) % 2:
        out.append(f"hidden_size {h['hidden_size']} / num_heads {h['num_heads']} must be an even head size (RoPE)")
    if h["puzzle_emb_ndim"] > h["prefix_len"] * h["hidden_size"]:
        out.append(f"puzzle_emb_ndim {h['puzzle_emb_ndim']} exceeds prefix_len x hidden_size")
    return out


def _entry_problem(e: TensorMeta, rt: RuntimeSupport) -> str | None:
    """Why the runtime would refuse this table entry, as a reason shared by every entry with the same problem."""
    if e.role == "scale":
        return None if e.dtype in rt.scale_dtypes else f"{e.dtype} scales (supported: {', '.join(rt.scale_dtypes)})"
    if e.role == "zero":
        return None  # reported with its codes entry
    if e.dtype in ("u8", "u4") or e.zero_index != -1:
        return "asymmetric codes with zero points (the C runtime reads symmetric codes only)"
    if e.granularity == "none":
        return None if e.dtype in rt.float_weights else \
            f"{e.dtype} float weights (supported: {', '.join(rt.float_weights)}; integer codes otherwise)"
    if e.dtype not in rt.weight_codes:
        return f"{e.dtype} codes (supported: {', '.join(rt.weight_codes)})"
    if e.act_bits not in rt.act_bits:
        return f"act_bits {e.act_bits} (supported: {', '.join(map(str, rt.act_bits))})"
    return None


def runtime_rejections(config: ModelConfig, entries: Sequence[TensorMeta], target: Target | None = None) -> list[str]:
    """Every reason the target's C runtime (or, without a target, any build of it) would reject this blob."""
    rt = target.runtime if target is not None else _ANY
    reasons = _config_rejections(config, rt)
    problems: dict[str, list[str]] = {}
    for e in entries:
        problem = _entry_problem(e, rt)
        if problem is not None:
            problems.setdefault(problem, []).append(e.name)
    for problem, names in problems.items():
        more = f" and {len(names) - 1} more" if len(names) > 1 else ""
        reasons.append(f"{problem}: {names[0]!r}{more}")
    return reasons


def check_runtime(config: ModelConfig, entries: Sequence[TensorMeta], target: Target | None, recipe: str,
                  path: str | Path | None = None) -> None:
    """Raise one RedgeInputError (naming `path`, the checkpoint) with every reason the C runtime would reject this
    model + recipe; return quietly when it would run."""
    reasons = runtime_rejections(config, entries, target)
    if reasons:
        where = f"on target {target.name!r}" if target is not None else "(any target)"
        raise RedgeInputError(f"recipe {recipe!r}: the C runtime {where} would reject this blob: " + "; ".join(reasons),
                              path)
