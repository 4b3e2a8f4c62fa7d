"""The search space of `redge autocompress`: which modules are searched, which specs each may take, as recipes.

Units: every module the uniform presets quantize (the linears except the halting head, and the token table); the Q
head stays fp32 as in every preset (2 outputs, decides halting), the puzzle-embedding table is its own file.

The menu is restricted to what the target's C runtime accepts (`deploy/compat.py`, the target's `runtime:`):
symmetric codes only (no zero points), i8 and i4 containers (2-3 bit codes are stored in i4 and 5-7 bit codes in i8,
so they save no bytes over 4 and 8 bits and are left out), float weights as f32 only (the issue's "16 bits" becomes
fp32: the runtime rejects bf16 weights), group sizes that are multiples of 32 (the runtime's fast kernels), the
target's scale dtypes (f32, f16), weight-only activations when the runtime takes float inputs (else int8).
Per-tensor scales are left out: per-channel costs a few bytes more and dominates them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from redge.core.errors import RedgeInputError
from redge.deploy.targets import Target
from redge.quant.apply import plan as resolve_recipe
from redge.quant.spec import METHODS, PRESETS, QuantRecipe, QuantSpec, Rule

GROUP_SIZES = (32, 64, 128)
KEEP_FP32 = Rule("q_head", None, "halting head (2 outputs): decides ACT halting, negligible bytes")
_SCALES = {"f32": "float32", "f16": "float16"}


@dataclass(frozen=True)
class Option:
    """One entry of the menu: a label (`int4-ch-mse-f16`, `fp32`, ...) and its spec (None: fp32)."""

    label: str
    spec: QuantSpec | None


def search_units(model: nn.Module) -> list[str]:
    """Module names the search assigns a spec to (those the uniform presets quantize), in module order."""
    return [a.name for a in resolve_recipe(model, PRESETS["int8"]) if a.spec is not None]


def menu(target: Target, methods: Sequence[str] = ("minmax", "mse"), group_sizes: Sequence[int] = GROUP_SIZES
         ) -> list[Option]:
    """Every spec a unit may take on `target` (see the module docstring), fp32 last."""
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise RedgeInputError(f"--methods must be a comma-separated subset of {', '.join(METHODS)}, got {bad or '[]'}")
    if any(g < 32 or g % 32 for g in group_sizes):
        raise RedgeInputError(f"--group-sizes must be multiples of 32 (the runtime's fast kernels), got "
                              f"{list(group_sizes)}")
    rt = target.runtime
    act = None if 0 in rt.act_bits else 8
    scales = [(k, v) for k, v in _SCALES.items() if k in rt.scale_dtypes]
    out = []
    if "i4" in rt.weight_codes:
        for method in methods:
            for sk, sv in scales:
                out.append(Option(f"int4-ch-{method}-{sk}", QuantSpec(4, "channel", method=method, act_bits=act,
                                                                       scale_dtype=sv)))
            for g in group_sizes:
                out.append(Option(f"int4-g{g}-{method}-f16" if "f16" in rt.scale_dtypes else f"int4-g{g}-{method}",
                                  QuantSpec(4, "group", g, method=method, act_bits=act, scale_dtype=scales[-1][1])))
    if "i8" in rt.weight_codes:
        for sk, sv in scales:
            out.append(Option(f"int8-ch-{sk}", QuantSpec(8, "channel", act_bits=act, scale_dtype=sv)))
    if "f32" in rt.float_weights:
        out.append(Option("fp32", None))
    return out


def make_recipe(name: str, assignment: dict[str, QuantSpec | None], description: str = "") -> QuantRecipe:
    """A recipe giving each unit its spec (exact module names, in the assignment's order; the Q head fp32)."""
    rules = (KEEP_FP32,) + tuple(Rule(unit, spec, "" if spec is not None else "kept fp32 by the search")
                                 for unit, spec in assignment.items())
    return QuantRecipe(name=name, rules=rules, description=description)


def unit_bytes(model: nn.Module, units: Sequence[str], options: Sequence[Option]) -> dict[str, dict[str, int]]:
    """Blob bytes (codes + scales) of each unit under each option: option label -> unit -> bytes."""
    from redge.deploy.pack import blob_entries, model_weights
    from redge.models import build_model

    with torch.device("meta"):
        meta = build_model(model.config)
    out = {}
    for opt in options:
        entries = blob_entries(model_weights(meta, make_recipe("bytes", dict.fromkeys(units, opt.spec)),
                                             with_values=False))
        out[opt.label] = {u: sum(e.nbytes for e in entries if e.name.startswith(u + ".")) for u in units}
    return out
