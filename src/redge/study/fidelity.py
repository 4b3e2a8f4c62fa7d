"""Carry-trajectory fidelity: how close a compressed model's recursive state stays to the FP32 reasoning path.

Definition (docs/ARCHITECTURE.md): at depth d, the mean over puzzles and positions of cos(c_q(d), c_fp(d)), where c is the
concatenation [z_H, z_L] of one position's carry after ACT step d. z_H and z_L are also scored on their own. All
S = seq_len + prefix positions count. The reference path is the FP32 model at the checkpoint's own inner cycles
(T, n), so a variant that changes T or n is scored against the path it replaces, not against itself.

Nothing here keeps a trajectory: `carry_cosines` scores one step of one batch, and callers stream the FP32 and the
compressed carries side by side, one step at a time (`redge.study.sweep`).
"""
from __future__ import annotations

from collections.abc import Iterator

import torch

from redge.models import Batch, Carry, RecursiveReasoner

FIDELITY_KEYS = ("fidelity", "fidelity_H", "fidelity_L")
_EPS = 1e-8  # as torch.nn.functional.cosine_similarity


def _cos(dot: torch.Tensor, sq_a: torch.Tensor, sq_b: torch.Tensor) -> torch.Tensor:
    return dot / (sq_a.clamp_min(_EPS**2).sqrt() * sq_b.clamp_min(_EPS**2).sqrt())


def carry_cosines(carry: Carry, ref: Carry) -> dict[str, torch.Tensor]:
    """Per puzzle [B] (float64): mean over positions of the cosine of [z_H, z_L], of z_H and of z_L vs `ref`."""
    parts = {}
    for name, a, b in (("H", carry.z_H, ref.z_H), ("L", carry.z_L, ref.z_L)):
        a, b = a.double(), b.double()
        parts[name] = ((a * b).sum(-1), (a * a).sum(-1), (b * b).sum(-1))  # each [B, S]
    dot, sq_a, sq_b = (parts["H"][i] + parts["L"][i] for i in range(3))
    return {
        "fidelity": _cos(dot, sq_a, sq_b).mean(-1),
        "fidelity_H": _cos(*parts["H"]).mean(-1),
        "fidelity_L": _cos(*parts["L"]).mean(-1),
    }


def lockstep(models: list[RecursiveReasoner], batch: Batch, depth: int,
             cycles: list[tuple[int | None, int | None]]) -> Iterator[list[tuple[Carry, dict[str, torch.Tensor]]]]:
    """Run several models on one batch side by side and yield, after each ACT step, every model's (carry, outputs).

    Only the current step's carries are alive at any time; `cycles[i]` = (T, n) of model i (None: its config).
    """
    runs = [m.iterate(batch, depth, T, n) for m, (T, n) in zip(models, cycles, strict=True)]
    yield from (list(step) for step in zip(*runs, strict=True))
