"""Scores shared by all tasks, as pure functions of predictions and labels (numpy arrays or torch tensors).

Shapes: ``preds``, ``labels`` and ``inputs`` are integer token arrays [N, seq_len] (a single sequence [seq_len]
is treated as N=1). A label equal to ``ignore_index`` is not a target: -100 for batches from
:mod:`redge.tasks.loader`, 0 (the pad/ignore id) for raw arrays read from disk. Sequences with no target
(padding rows) are left out of every mean, as the official ``ACTLossHead`` does; with no sequence left the
score is ``nan``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

IGNORE_INDEX = -100


def _np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    return x[None] if x.ndim == 1 else x


def _per_sequence(preds: Any, labels: Any, mask: np.ndarray | None, ignore_index: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per sequence: number of correct target cells and number of target cells (both [N])."""
    p, y = _np(preds), _np(labels)
    if p.shape != y.shape:
        raise ValueError(f"preds shape {p.shape} != labels shape {y.shape}")
    valid = y != ignore_index
    if mask is not None:
        valid &= mask
    return ((p == y) & valid).sum(-1), valid.sum(-1)


def cell_accuracy(preds: Any, labels: Any, ignore_index: int = IGNORE_INDEX) -> float:
    """Official cell accuracy: mean over sequences of (correct target cells / target cells).

    All supervised cells count, including Sudoku clues and maze walls, so it is inflated; see
    :func:`non_given_cell_accuracy` for the honest variant.
    """
    correct, total = _per_sequence(preds, labels, None, ignore_index)
    keep = total > 0
    return float(np.mean(correct[keep] / total[keep])) if keep.any() else float("nan")


def non_given_cell_accuracy(preds: Any, labels: Any, inputs: Any, blank_tokens: Iterable[int],
                            ignore_index: int = IGNORE_INDEX) -> float:
    """Cell accuracy over the cells the solver must fill: those whose input token is in ``blank_tokens``.

    A task's blank tokens are ``redge.tasks.registry.get_task(name).blank_tokens``. Averaged per sequence
    like :func:`cell_accuracy`; sequences with no such cell are left out.
    """
    mask = np.isin(_np(inputs), np.asarray(list(blank_tokens)))
    correct, total = _per_sequence(preds, labels, mask, ignore_index)
    keep = total > 0
    return float(np.mean(correct[keep] / total[keep])) if keep.any() else float("nan")


def exact_accuracy(preds: Any, labels: Any, ignore_index: int = IGNORE_INDEX) -> float:
    """Official exact accuracy: fraction of sequences (with at least one target) where every target is right."""
    correct, total = _per_sequence(preds, labels, None, ignore_index)
    keep = total > 0
    return float(np.mean(correct[keep] == total[keep])) if keep.any() else float("nan")


def arc_pass_at_k(ranked: Mapping[str, Sequence[Sequence[Any]]], solutions: Mapping[str, Sequence[Any]],
                  ks: Sequence[int] = (1, 2)) -> dict[int, float]:
    """ARC pass@K with per-task fractional credit (TRM ``evaluators/arc.py``).

    ``solutions[task]`` lists the label of each test input; ``ranked[task][i]`` lists the candidate answers
    for test input ``i``, best first (a missing task or input has no candidates and scores 0). Labels and
    candidates are anything comparable with ``==`` once converted to numpy (grids) or hashes (strings).
    A task scores (test inputs whose label is in the top K) / (test inputs); the result averages over tasks.
    """
    if not solutions:
        return {k: float("nan") for k in ks}
    totals = dict.fromkeys(ks, 0.0)
    for task, labels in solutions.items():
        cands = ranked.get(task, [])
        for k in ks:
            hits = sum(_contains(cands[i][:k] if i < len(cands) else [], label) for i, label in enumerate(labels))
            totals[k] += hits / len(labels) if labels else 0.0
    return {k: v / len(solutions) for k, v in totals.items()}


def _contains(candidates: Sequence[Any], label: Any) -> bool:
    if isinstance(label, str):
        return label in candidates
    y = np.asarray(label)
    return any(np.asarray(c).shape == y.shape and np.array_equal(np.asarray(c), y) for c in candidates)
