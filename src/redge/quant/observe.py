"""Calibration statistics captured *through the recursion*: per cycle, per ACT step, or pooled.

A module of a recursive reasoner is called many times per ACT step (TRM-Att Sudoku: each `L_level` linear runs
(n + 1) * T = 21 times per step, 16 steps per puzzle). Stock observers pool all those calls into one range. Here
forward hooks record, for every linear, the per-input-channel |x| maximum of each call indexed by (ACT step, call
within the step), so a recipe or a study can use pooled ranges, per-cycle ranges (one per call index within a
step, max over steps) or per-step ranges, and see how far they drift. For GPTQ the hooks also accumulate the
pooled Hessian H = sum x^T x over every call.

Calibration runs the model's own evaluation loop (`RecursiveReasoner.iterate`) on each batch, so the inputs seen
are exactly those of inference at that depth.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

Batch = dict[str, torch.Tensor]


@dataclass
class ActivationStats:
    """Input statistics of one linear: `absmax` [n_steps, calls_per_step, in_features] and the pooled Hessian."""

    absmax: torch.Tensor
    hessian: torch.Tensor | None = None
    rows: int = 0

    def pooled(self) -> torch.Tensor:
        """Per-channel max |x| over every call of every step [in_features] (what stock observers keep)."""
        return self.absmax.amax(dim=(0, 1))

    def per_cycle(self) -> torch.Tensor:
        """Per-channel max |x| for each call index within an ACT step, max over steps [calls_per_step, in]."""
        return self.absmax.amax(dim=0)

    def per_step(self) -> torch.Tensor:
        """Per-channel max |x| for each ACT step, max over the calls of that step [n_steps, in]."""
        return self.absmax.amax(dim=1)

    def summary(self) -> dict[str, object]:
        """Scalar ranges for reports: pooled, per cycle, per step, and the ratio of the widest to narrowest cycle."""
        per_cycle = self.per_cycle().amax(-1)
        return {"pooled": float(self.pooled().max()), "per_cycle": [round(float(v), 4) for v in per_cycle],
                "per_step": [round(float(v), 4) for v in self.per_step().amax(-1)],
                "cycle_spread": float(per_cycle.max() / per_cycle.min().clamp_min(1e-12))}


class _Recorder:
    """Forward hooks that file each call's statistics under (current ACT step, call index within the step)."""

    def __init__(self, modules: dict[str, nn.Module], hessian_names: set[str]) -> None:
        self.step = 0
        self.calls = {name: 0 for name in modules}
        self.absmax: dict[str, dict[tuple[int, int], torch.Tensor]] = {name: {} for name in modules}
        self.hessian = {name: None for name in hessian_names}
        self.rows = {name: 0 for name in modules}
        self.handles = [m.register_forward_hook(self._hook(name)) for name, m in modules.items()]

    def _hook(self, name: str):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            x = args[0].detach().reshape(-1, args[0].shape[-1]).to(torch.float32)
            key = (self.step, self.calls[name])
            self.calls[name] += 1
            amax = x.abs().amax(0)
            prev = self.absmax[name].get(key)
            self.absmax[name][key] = amax if prev is None else torch.maximum(prev, amax)
            self.rows[name] += x.shape[0]
            if name in self.hessian:
                h = x.t().to(torch.float64) @ x.to(torch.float64)
                self.hessian[name] = h if self.hessian[name] is None else self.hessian[name] + h
        return hook

    def next_step(self, step: int) -> None:
        self.step = step
        self.calls = dict.fromkeys(self.calls, 0)

    def close(self) -> dict[str, ActivationStats]:
        for handle in self.handles:
            handle.remove()
        out = {}
        for name, table in self.absmax.items():
            if not table:
                continue
            n_steps = 1 + max(s for s, _ in table)
            n_calls = 1 + max(c for _, c in table)
            width = next(iter(table.values())).numel()
            absmax = torch.zeros(n_steps, n_calls, width, device=next(iter(table.values())).device)
            for (s, c), v in table.items():
                absmax[s, c] = v
            out[name] = ActivationStats(absmax, self.hessian.get(name), self.rows[name])
        return out


@torch.no_grad()
def collect_stats(model: nn.Module, batches: Iterable[Batch], modules: dict[str, nn.Module],
                  hessian_names: Iterable[str] = (), depth: int | None = None) -> dict[str, ActivationStats]:
    """Run `model.iterate` over `batches` for `depth` ACT steps and return the statistics of each named linear.

    `hessian_names` selects the modules whose pooled Hessian (x^T x over all calls) is accumulated (GPTQ).
    """
    recorder = _Recorder(modules, set(hessian_names))
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            recorder.next_step(0)
            for i, _ in enumerate(model.iterate(batch, depth)):
                recorder.next_step(i + 1)
    finally:
        model.train(was_training)
        stats = recorder.close()
    return stats
