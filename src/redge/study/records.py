"""Per-batch sums of every per-depth metric, and their aggregation into per-depth means.

A sweep records, for each variant and each batch, one `BatchRecord`: counts plus a list over depth 1..D of sums
(accuracy x rows, fidelity x rows, ...). Sums from any split of the puzzles into batches, ranks or resumed runs
add up to the same totals; `aggregate` adds them in batch order, so the result does not depend on how the work was
interrupted or sharded. Accuracy numbers come from the task metric helpers (`redge.tasks.metrics`).

Each record also keeps compact per-puzzle outcomes (`BatchRecord.puzzles`: target cells per puzzle, correct cells
per depth and puzzle, and an exact-solve bitmask over depths per puzzle), so that intervals over puzzles can be
bootstrapped (`puzzle_outcomes`). Records written before these existed load with `puzzles` empty.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from redge.study.fidelity import FIDELITY_KEYS
from redge.tasks.loader import IGNORE_LABEL_ID
from redge.tasks.metrics import cell_accuracy, exact_accuracy, non_given_cell_accuracy

LABELLED_KEYS = ("cell_acc", "cell_acc_non_given", "exact_acc", "cell_acc_early_exit", "exact_acc_early_exit")
LABEL_FREE_KEYS = ("q_halt_agreement", "halt_step_early_exit", *FIDELITY_KEYS)
SUM_KEYS = LABELLED_KEYS + LABEL_FREE_KEYS


@dataclass
class BatchRecord:
    """Sums over one batch's puzzles, per depth (index d-1 holds depth d).

    rows: real (non-padding) puzzles; labelled: puzzles with at least one target cell (denominator of cell and
    exact accuracy); non_given: puzzles with at least one target cell left blank in the input.
    puzzles: per real puzzle, `targets` (target cells), `cells` (correct target cells, a list per depth) and
    `exact` (bit d-1 set when every target cell is right at depth d); empty in records from older stores.
    """

    depth: int
    rows: int = 0
    labelled: int = 0
    non_given: int = 0
    sums: dict[str, list[float]] = field(default_factory=dict)
    puzzles: dict[str, list] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in SUM_KEYS:
            self.sums.setdefault(key, [0.0] * self.depth)

    def to_dict(self) -> dict:
        """Plain-data form for the runs store."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> BatchRecord:
        """Inverse of `to_dict`; a metric that an older store did not record is NaN at every depth (not 0)."""
        depth = data["depth"]
        sums = {key: data["sums"].get(key, [math.nan] * depth) for key in SUM_KEYS}
        return cls(**{**data, "sums": sums})


class StepRecorder:
    """Fills one `BatchRecord` from a variant's outputs and carry cosines, one ACT step at a time."""

    def __init__(self, batch: dict[str, torch.Tensor], n_real: int, depth: int, blank_tokens: Sequence[int]) -> None:
        self.inputs = batch["inputs"][:n_real].numpy()
        self.labels = batch["labels"][:n_real].numpy()
        self.blank_tokens = tuple(blank_tokens)
        targets = self.labels != IGNORE_LABEL_ID
        non_given = targets & np.isin(self.inputs, self.blank_tokens) if self.blank_tokens else targets & False
        self.n_real = n_real
        self.targets = targets
        self.record = BatchRecord(depth, rows=n_real, labelled=int(targets.any(-1).sum()),
                                  non_given=int(non_given.any(-1).sum()),
                                  puzzles={"targets": targets.sum(-1).tolist(), "cells": [[0] * n_real] * depth,
                                           "exact": [0] * n_real})
        self.first_halt = torch.full((n_real,), depth + 1, dtype=torch.int64)
        self.exit_preds = np.zeros_like(self.labels)  # each row's answer at its early exit (or at the last depth)

    def add(self, d: int, outputs: dict[str, torch.Tensor], cosines: dict[str, torch.Tensor],
            halts: torch.Tensor, ref_halts: torch.Tensor) -> None:
        """Record depth d (1-based): accuracies of argmax predictions, the agreement of the halting decisions
        (`halts`, the model's own rule, `RecursiveReasoner.halts`) with the FP32 reference's, the early-exit
        halting step and accuracies within a budget of d steps (each row answers at its first halting step, or at d),
        and the carry cosines."""
        r, n = self.record, self.n_real
        sums = r.sums
        preds = outputs["logits"][:n].argmax(-1).numpy()
        halt = halts[:n]
        self.first_halt = torch.where(halt & (self.first_halt > d), torch.full_like(self.first_halt, d),
                                      self.first_halt)
        running = (self.first_halt >= d).numpy()  # halting at this step, or not yet: they answer now
        self.exit_preds[running] = preds[running]
        if r.labelled:
            sums["cell_acc"][d - 1] = cell_accuracy(preds, self.labels) * r.labelled
            sums["exact_acc"][d - 1] = exact_accuracy(preds, self.labels) * r.labelled
            sums["cell_acc_early_exit"][d - 1] = cell_accuracy(self.exit_preds, self.labels) * r.labelled
            sums["exact_acc_early_exit"][d - 1] = exact_accuracy(self.exit_preds, self.labels) * r.labelled
        correct = ((preds == self.labels) & self.targets).sum(-1)
        solved = (correct == self.targets.sum(-1)) & self.targets.any(-1)
        r.puzzles["cells"][d - 1] = correct.tolist()
        r.puzzles["exact"] = [bits | (int(s) << (d - 1)) for bits, s in zip(r.puzzles["exact"], solved, strict=True)]
        if r.non_given:
            sums["cell_acc_non_given"][d - 1] = (
                non_given_cell_accuracy(preds, self.labels, self.inputs, self.blank_tokens) * r.non_given)
        sums["q_halt_agreement"][d - 1] = float((halt == ref_halts[:n]).sum())
        sums["halt_step_early_exit"][d - 1] = float(self.first_halt.clamp_max(d).sum())
        for key in FIDELITY_KEYS:
            sums[key][d - 1] = float(cosines[key][:n].sum())


@dataclass(frozen=True)
class DepthMetrics:
    """Per-depth means (each list indexed by depth - 1) and the puzzle counts behind them."""

    by_depth: dict[str, list[float]]
    rows: int
    labelled: int
    non_given: int


def aggregate(records: Iterable[BatchRecord]) -> DepthMetrics:
    """Per-depth means over all puzzles of the given batch records, summed in the order given.

    Accuracies divide by puzzles with targets (non-given cell accuracy by puzzles with blank targets), every other
    metric by real puzzles; a metric with no puzzle to average over is NaN.
    """
    records = list(records)
    if not records:
        raise ValueError("no batch records to aggregate")
    depth = records[0].depth
    counts = {k: sum(getattr(r, k) for r in records) for k in ("rows", "labelled", "non_given")}
    denominators = {"cell_acc": "labelled", "exact_acc": "labelled", "cell_acc_non_given": "non_given"}
    by_depth: dict[str, list[float]] = {}
    for key in SUM_KEYS:
        den = counts[denominators.get(key, "rows")]
        by_depth[key] = [math.fsum(r.sums[key][d] for r in records) / den if den else math.nan
                         for d in range(depth)]
    return DepthMetrics(by_depth, **counts)


@dataclass(frozen=True)
class PuzzleOutcomes:
    """Per-puzzle outcomes of one run over its labelled puzzles (rows without targets dropped), in puzzle order:
    `exact` [N, D] (1.0 where solved at depth d), `cell` [N, D] (fraction of target cells right)."""

    exact: np.ndarray
    cell: np.ndarray


def puzzle_outcomes(records: Iterable[BatchRecord]) -> PuzzleOutcomes | None:
    """The per-puzzle outcomes of a run's batch records (in the order given), or None when any record predates
    per-puzzle outcomes. Their means over puzzles equal `aggregate`'s cell and exact accuracy."""
    records = list(records)
    if not records or any(not r.puzzles for r in records):
        return None
    depth = records[0].depth
    targets = np.concatenate([np.asarray(r.puzzles["targets"], dtype=np.int64) for r in records])
    cells = np.concatenate([np.asarray(r.puzzles["cells"], dtype=np.int64).reshape(depth, -1).T for r in records])
    bits = np.concatenate([np.asarray(r.puzzles["exact"], dtype=np.int64) for r in records])
    exact = ((bits[:, None] >> np.arange(depth)) & 1).astype(np.float64)
    keep = targets > 0
    return PuzzleOutcomes(exact[keep], cells[keep] / targets[keep, None])
