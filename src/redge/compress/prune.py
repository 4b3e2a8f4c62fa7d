"""Pruning: weights set to zero by magnitude (unstructured), in the 2:4 pattern (semi-structured), or whole SwiGLU
channels (structured), on the modules a pattern selects (the quantization recipes' patterns and `@groups`).

* `magnitude`: in each selected weight, the `sparsity` fraction of entries with the smallest |w| (per tensor).
* `2:4`: in every group of 4 consecutive inputs of a row, the 2 smallest |w| (sparsity 0.5 when the input width is a
  multiple of 4; a last group of fewer inputs keeps up to 2, so a width of 97 keeps its last lone input).
* `channels`: in each selected SwiGLU (`*.mlp` channel MLPs, `*.mlp_t` token-mixing MLPs), the `sparsity` fraction
  of intermediate channels with the smallest product of norms ||gate_i|| ||up_i|| ||down_:,i|| is removed: their
  gate and up rows and their down column are zeroed, which computes exactly what the narrower MLP would.

The pruned model keeps its shapes (zeros are stored); `pruned_fraction` reports what was asked and what was achieved.
The optional short fine-tune is the training loop's (`redge train --set prune=METHOD --set init_from=CKPT`):
`prepare_pruned_` prunes and masks the weights, so they stay pruned while the rest learns.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils import parametrize

from redge.compress.api import DataFreeMethod, load_method, register_handler
from redge.core.errors import RedgeInputError
from redge.models.layers import SwiGLU
from redge.quant.apply import pattern_matches

KINDS = ("magnitude", "2:4", "channels")


@dataclass(frozen=True)
class PruneConfig(DataFreeMethod):
    """How to prune: `kind` (see the module docstring), `sparsity` in (0, 1) (2:4 is always 0.5), and `pattern`, the
    modules to prune (default `@linears` minus the heads; for `channels` the SwiGLU modules matched by it)."""

    method: ClassVar[str] = "prune"
    name: str
    kind: str = "magnitude"
    sparsity: float = 0.5
    pattern: str = "*_proj"
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise RedgeInputError(f"prune method {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "2:4" and self.sparsity != 0.5:
            raise RedgeInputError(f"prune method {self.name!r}: 2:4 sparsity is 0.5, got {self.sparsity}")
        if not 0.0 < self.sparsity < 1.0:
            raise RedgeInputError(f"prune method {self.name!r}: sparsity must be in (0, 1), got {self.sparsity}")


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """True where a weight is kept: all but the round(sparsity x numel) smallest |w| of the tensor."""
    drop = round(sparsity * weight.numel())
    keep = torch.ones(weight.numel(), dtype=torch.bool, device=weight.device)
    if drop:
        keep[weight.abs().reshape(-1).argsort()[:drop]] = False
    return keep.reshape(weight.shape)


def two_four_mask(weight: torch.Tensor) -> torch.Tensor:
    """True where a weight is kept: the 2 largest |w| of every 4 consecutive inputs of each row (a last group of
    fewer than 4 inputs keeps up to 2 of them: the padding is never kept)."""
    out, k = weight.shape
    groups = torch.nn.functional.pad(weight.abs(), (0, -k % 4), value=float("-inf")).reshape(out, -1, 4)
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(-1, groups.topk(2, dim=-1).indices, True)
    return keep.reshape(out, -1)[:, :k]


def channel_mask(mlp: SwiGLU, sparsity: float) -> torch.Tensor:
    """True for the intermediate channels a SwiGLU keeps: all but the round(sparsity x width) of smallest
    ||gate_i|| ||up_i|| ||down_:,i||."""
    gate, up = mlp.gate_up_proj.weight.chunk(2, dim=0)
    score = gate.norm(dim=1) * up.norm(dim=1) * mlp.down_proj.weight.norm(dim=0)
    drop = round(sparsity * score.numel())
    keep = torch.ones_like(score, dtype=torch.bool)
    if drop:
        keep[score.argsort()[:drop]] = False
    return keep


@torch.no_grad()
def prune_masks(model: nn.Module, config: PruneConfig) -> dict[str, torch.Tensor]:
    """Keep masks (True = kept, shaped as the weight) of every linear `config` prunes, by module name; computed from
    the current weights, changing nothing."""
    masks: dict[str, torch.Tensor] = {}
    if config.kind == "channels":
        for name, mlp in model.named_modules():
            if isinstance(mlp, SwiGLU) and pattern_matches(config.pattern, f"{name}.gate_up_proj"):
                keep = channel_mask(mlp, config.sparsity)
                masks[f"{name}.gate_up_proj"] = keep.repeat(2)[:, None].expand_as(mlp.gate_up_proj.weight)
                masks[f"{name}.down_proj"] = keep[None, :].expand_as(mlp.down_proj.weight)
    else:
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear) and pattern_matches(config.pattern, name):
                w = module.weight
                masks[name] = magnitude_mask(w, config.sparsity) if config.kind == "magnitude" else two_four_mask(w)
    if not masks:
        raise RedgeInputError(f"prune method {config.name!r}: pattern {config.pattern!r} selects no module to prune")
    return masks


@torch.no_grad()
def _zero_(model: nn.Module, masks: dict[str, torch.Tensor], config: PruneConfig) -> None:
    """Zero the weights outside `masks` and record `model.prune_report` (per pruned linear: the sparsity asked and
    the fraction of its weights now at zero)."""
    report: dict[str, dict[str, float]] = {}
    for name, keep in masks.items():
        w = model.get_submodule(name).weight
        w.mul_(keep.to(w.dtype))
        report[name] = {"asked": config.sparsity, "achieved": float((w == 0).float().mean())}
    model.prune_report = report


def prune_(model: nn.Module, config: PruneConfig, calib: Iterable[dict] | None = None) -> nn.Module:
    """Zero the weights `config` selects, in place (the `compress_` handler); see `_zero_` for the report."""
    _zero_(model, prune_masks(model, config), config)
    return model


class KeepMask(nn.Module):
    """w -> w * keep: a pruned weight stays pruned through fine-tuning (no gradient reaches a pruned entry). The mask
    is not saved: a run recomputes it from the same starting weights."""

    def __init__(self, keep: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("keep", keep.contiguous(), persistent=False)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.keep.to(weight.dtype)


def prepare_pruned_(model: nn.Module, config: PruneConfig) -> dict[str, torch.Tensor]:
    """Prune `model` and hold its pruned weights at zero for a masked fine-tune (`TrainConfig.prune`); the saved
    float weights (`float_state_dict`) are then as sparse as asked. Returns the masks."""
    masks = prune_masks(model, config)
    _zero_(model, masks, config)
    for name, keep in masks.items():
        parametrize.register_parametrization(model.get_submodule(name), "weight", KeepMask(keep))
    return masks


def pruning_method(name: str) -> PruneConfig:
    """The pruning preset `name` names (`redge train --set prune=...`); any other method is an input error."""
    method = load_method(name)
    if not isinstance(method, PruneConfig):
        raise RedgeInputError(f"prune={name!r} is not a pruning method (pruning presets: "
                              f"{', '.join(PRESETS)})")
    return method


def pruned_fraction(model: nn.Module) -> float:
    """The achieved sparsity over every pruned module (weights at zero / weights), from `model.prune_report`."""
    rows = getattr(model, "prune_report", {})
    return sum(r["achieved"] for r in rows.values()) / max(1, len(rows))


PRESETS = {
    "prune-50": lambda: PruneConfig("prune-50", "magnitude", 0.5, description="unstructured magnitude, 50%"),
    "prune-75": lambda: PruneConfig("prune-75", "magnitude", 0.75, description="unstructured magnitude, 75%"),
    "prune-2:4": lambda: PruneConfig("prune-2:4", "2:4", 0.5, description="2:4 semi-structured"),
    "prune-ch-25": lambda: PruneConfig("prune-ch-25", "channels", 0.25, "*.mlp.gate_up_proj",
                                       description="25% of channel-MLP SwiGLU channels"),
    "prune-tok-25": lambda: PruneConfig("prune-tok-25", "channels", 0.25, "*.mlp_t.gate_up_proj",
                                        description="25% of mlp_t token-mixing channels"),
}
register_handler(PruneConfig, prune_, PRESETS)
