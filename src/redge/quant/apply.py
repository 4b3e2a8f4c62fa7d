"""`quantize_(model, recipe, calib)`: match rules to modules, calibrate through the recursion, swap modules, report.

Every quantizable module (each `CastedLinear`/`nn.Linear`, `CastedEmbedding`, `PuzzleEmbedding`) ends up in the
report, either quantized (with its exact stored bytes) or kept in fp32 with the reason (the rule that kept it, or
"no rule matched"). Quantized modules replace the originals under the same attribute name, so module paths and
hooks written against the float model keep working.
"""
from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from redge.core.errors import RedgeInputError
from redge.models.layers import CastedEmbedding, PuzzleEmbedding
from redge.quant.modules import (
    MODES,
    Bf16Embedding,
    Bf16Linear,
    QuantEmbedding,
    QuantLinear,
)
from redge.quant.observe import Batch, collect_stats
from redge.quant.spec import GROUPS, QuantRecipe, QuantSpec, load_recipe

_QUANTIZED = (QuantLinear, QuantEmbedding, Bf16Linear, Bf16Embedding)


def quantizable_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Name -> module for every linear and embedding table a recipe can address."""
    kinds = (nn.Linear, CastedEmbedding, PuzzleEmbedding) + _QUANTIZED
    return {name: m for name, m in model.named_modules() if isinstance(m, kinds)}


def _table(module: nn.Module) -> torch.Tensor:
    return module.weights if isinstance(module, PuzzleEmbedding) else module.embedding_weight


def pattern_matches(pattern: str, name: str) -> bool:
    """Whether a rule pattern (`@group`, `re:<regex>` or fnmatch glob) selects module `name`."""
    if pattern.startswith("@"):
        return any(fnmatch.fnmatchcase(name, glob) for glob in GROUPS[pattern[1:]])
    if pattern.startswith("re:"):
        return re.fullmatch(pattern[3:], name) is not None
    return fnmatch.fnmatchcase(name, pattern)


@dataclass
class Assignment:
    """What the recipe decided for one module: a spec, or None with the reason it stays fp32."""

    name: str
    spec: QuantSpec | None
    reason: str


def plan(model: nn.Module, recipe: QuantRecipe) -> list[Assignment]:
    """Resolve the recipe against the model's module names; fails (one line) before any work on a bad recipe.

    Errors: an invalid spec (e.g. bits outside 2-16), an unknown group, a regex that does not compile, or a rule
    whose pattern matches no quantizable module of this model.
    """
    recipe.validate()
    modules = quantizable_modules(model)
    already = [n for n, m in modules.items() if isinstance(m, _QUANTIZED)]
    if already:
        raise RedgeInputError(f"model is already quantized (e.g. {already[0]!r})")
    for i, rule in enumerate(recipe.rules):
        try:
            hit = any(pattern_matches(rule.pattern, n) for n in modules)
        except re.error as exc:
            raise RedgeInputError(f"recipe {recipe.name!r} rule {i}: bad regex {rule.pattern!r} ({exc})") from None
        if not hit:
            raise RedgeInputError(f"recipe {recipe.name!r} rule {i}: pattern {rule.pattern!r} matches no module of "
                                  f"this model (quantizable: {', '.join(sorted(modules)[:6])}, ...)")
    out = []
    for name in modules:
        rule = next((r for r in recipe.rules if pattern_matches(r.pattern, name)), None)
        if rule is None:
            out.append(Assignment(name, None, "no rule matched"))
        else:
            out.append(Assignment(name, rule.spec, rule.reason or f"rule {rule.pattern!r} keeps it fp32"))
    return out


@dataclass
class ModuleReport:
    """One row of the quantization report."""

    name: str
    shape: list[int]
    status: str  # "quantized", "bf16" or "fp32"
    spec: str
    reason: str
    bytes: dict[str, int]
    kernel: str = ""
    weight_sqnr_db: float | None = None
    act_range: dict | None = None

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())


@dataclass
class QuantReport:
    """Per-module outcome and exact stored bytes of a `quantize_` call."""

    recipe: str
    modules: list[ModuleReport] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        """Bytes of every addressable weight (quantized or not), including scales, zero points and biases."""
        return sum(m.total_bytes for m in self.modules)

    def kept(self) -> list[ModuleReport]:
        """Modules left in higher precision, each with its reason."""
        return [m for m in self.modules if m.status != "quantized"]

    def to_dict(self) -> dict:
        return {"recipe": self.recipe, "total_bytes": self.total_bytes,
                "modules": [asdict(m) | {"total_bytes": m.total_bytes} for m in self.modules]}

    def table(self) -> str:
        """A plain-text table: module, status, spec, kernel, bytes, SQNR, reason."""
        lines = [f"{'module':48} {'status':9} {'spec':28} {'kernel':8} {'bytes':>10} {'sqnr dB':>8}  reason"]
        for m in self.modules:
            sqnr = "" if m.weight_sqnr_db is None else f"{m.weight_sqnr_db:8.2f}"
            lines.append(f"{m.name:48} {m.status:9} {m.spec:28} {m.kernel:8} {m.total_bytes:>10} {sqnr:>8}  "
                         f"{m.reason if m.status != 'quantized' else ''}")
        lines.append(f"{'total':48} {'':9} {'':28} {'':8} {self.total_bytes:>10}")
        return "\n".join(lines)


def _fp32_bytes(module: nn.Module) -> dict[str, int]:
    weight = _table(module) if not isinstance(module, nn.Linear) else module.weight
    bias = getattr(module, "bias", None) if isinstance(module, nn.Linear) else None
    return {"codes": weight.numel() * 4, "scales": 0, "zeros": 0, "bias": 0 if bias is None else bias.numel() * 4}


def _sqnr(ref: torch.Tensor, approx: torch.Tensor) -> float:
    noise = (ref - approx).double().square().sum()
    return float(10 * torch.log10(ref.double().square().sum() / noise)) if noise > 0 else float("inf")


def _replace(module: nn.Module, spec: QuantSpec, hessian: torch.Tensor | None, mode: str) -> nn.Module:
    if isinstance(module, nn.Linear):
        if spec.is_float:
            return Bf16Linear(module.weight, module.bias)
        return QuantLinear.from_linear(module, spec, hessian, mode)
    return Bf16Embedding(_table(module)) if spec.is_float else QuantEmbedding.from_table(_table(module), spec)


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attr, module)


def quantize_(model: nn.Module, recipe: str | Path | QuantRecipe, calib: Iterable[Batch] | None = None,
              mode: str = "fake", calib_depth: int | None = None) -> nn.Module:
    """Quantize `model` in place by `recipe` (preset name, YAML/JSON path or QuantRecipe) and return it.

    `calib`: batches (official keys) run through `model.iterate` to collect per-cycle activation statistics (in the
    report) and, for `method: gptq`, pooled Hessians. `mode`: initial path of the quantized linears ("fake" or
    "packed"; switch later with `set_mode`). `calib_depth`: ACT steps per calibration batch (default: the recipe's
    `calib_depth`, else the model's halt_max_steps). The report is attached as `model.quant_report` (`QuantReport`).
    """
    if mode not in MODES:
        raise RedgeInputError(f"mode must be one of {MODES}, got {mode!r}")
    recipe = load_recipe(recipe)
    assignments = plan(model, recipe)
    if recipe.needs_calibration and calib is None:
        raise RedgeInputError(f"recipe {recipe.name!r} uses GPTQ and needs calibration batches")
    modules = quantizable_modules(model)
    stats = {}
    if calib is not None:
        linears = {a.name: modules[a.name] for a in assignments if isinstance(modules[a.name], nn.Linear)}
        gptq = [a.name for a in assignments if a.spec is not None and a.spec.method == "gptq"]
        stats = collect_stats(model, calib, linears, gptq, calib_depth or recipe.calib_depth)
    report = QuantReport(recipe.name)
    for a in assignments:
        module = modules[a.name]
        ref = module.weight if isinstance(module, nn.Linear) else _table(module)
        shape = list(ref.shape)
        act = stats[a.name].summary() if a.name in stats else None
        if a.spec is None:
            report.modules.append(ModuleReport(a.name, shape, "fp32", "fp32", a.reason, _fp32_bytes(module),
                                               act_range=act))
            continue
        hessian = stats[a.name].hessian if a.name in stats else None
        new = _replace(module, a.spec, hessian, mode)
        approx = new.dequantized_weight()
        kernel = new.kernel_name if isinstance(new, QuantLinear) else ""
        status = "bf16" if a.spec.is_float else "quantized"
        reason = "bits=16: bfloat16 storage" if a.spec.is_float else ""
        report.modules.append(ModuleReport(a.name, shape, status, a.spec.describe(), reason, new.stored_bytes(),
                                           kernel, _sqnr(ref.detach().float(), approx.float()), act))
        _set_submodule(model, a.name, new)
    model.quant_report = report
    return model


def set_mode(model: nn.Module, mode: str) -> None:
    """Switch every quantized linear of `model` to the "fake" or "packed" path."""
    for m in model.modules():
        if isinstance(m, (QuantLinear, Bf16Linear)):
            m.set_mode(mode)
