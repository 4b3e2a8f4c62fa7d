"""Accuracy by depth over a dataset: one run of `model.iterate` per batch records, at each requested depth (ACT
step), the official cell accuracy over all cells, the honest cell accuracy over non-given cells, and exact accuracy;
for an ARC test split also pass@K after TRM's voting over the augmented variants.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from redge.core.errors import RedgeInputError
from redge.models import RecursiveReasoner
from redge.tasks import metrics
from redge.tasks.arc_eval import ArcEvaluator
from redge.tasks.format import DatasetMetadata, PuzzleSplit
from redge.tasks.loader import iter_eval_batches


def blank_tokens(metadata: DatasetMetadata) -> tuple[int, ...] | None:
    """Input tokens of the cells a solver must fill: Sudoku (vocab 11, 81 cells) and Maze (vocab 6); None for ARC."""
    if metadata.vocab_size == 11 and metadata.seq_len == 81:
        return metrics.SUDOKU_BLANK_TOKENS
    if metadata.vocab_size == 6:
        return metrics.MAZE_BLANK_TOKENS
    return None


@torch.no_grad()
def check_compatible(model: RecursiveReasoner, split: PuzzleSplit, checkpoint: Path) -> None:
    """Fail with a one-line error when the checkpoint cannot read the split: sequence length, vocabulary, or puzzle
    identifiers beyond its puzzle-embedding table (an ARC model scored on another build of the data)."""
    cfg, meta = model.config, split.metadata
    if cfg.seq_len is not None and cfg.seq_len != meta.seq_len:
        raise RedgeInputError(f"checkpoint expects seq_len {cfg.seq_len}, the data at {split.path} has {meta.seq_len}",
                              checkpoint)
    if meta.vocab_size > cfg.vocab_size:
        raise RedgeInputError(f"checkpoint vocabulary {cfg.vocab_size} < data vocabulary {meta.vocab_size} "
                              f"({split.path})", checkpoint)
    rows, ids = cfg.num_puzzle_identifiers, meta.num_puzzle_identifiers
    if cfg.puzzle_emb_ndim and (ids > rows or 1 < ids != rows):  # 1 id: the task has no per-puzzle identity
        raise RedgeInputError(f"its puzzle-embedding table has {cfg.num_puzzle_identifiers:,} rows but the data at "
                              f"{split.path} numbers {meta.num_puzzle_identifiers:,} puzzle identifiers (another "
                              "build of the data?)", checkpoint)


def evaluate_depths(model: RecursiveReasoner, split: PuzzleSplit, depths: Sequence[int], batch_size: int = 256,
                    limit: int | None = None, device: torch.device | str = "cpu",
                    arc_data: str | Path | None = None, progress: Callable[[int], None] | None = None
                    ) -> dict[str, dict[str, float]]:
    """{depth: {cell_accuracy, non_given_cell_accuracy, exact_accuracy, count}} over the split (first `limit`
    examples when given), from one pass of `max(depths)` ACT steps per batch.

    With `arc_data` (the ARC dataset folder holding `test_puzzles.json`), each depth also gets `ARC/pass@K`: the
    predictions of every augmented variant vote per task (tasks without scored variants count as failed).
    `progress(n)` is called after each batch with the puzzles it held."""
    depths = sorted(set(int(d) for d in depths))
    if not depths or depths[0] < 1:
        raise ValueError(f"depths must be positive integers, got {depths}")
    was_training = model.training
    model.eval()
    preds: dict[int, list[np.ndarray]] = {d: [] for d in depths}
    arc = {d: ArcEvaluator(arc_data) for d in depths} if arc_data is not None else {}
    labels, inputs = [], []
    seen = 0
    for batch, n in iter_eval_batches(split, batch_size, pad=False):
        if limit is not None and seen >= limit:
            break
        n = n if limit is None else min(n, limit - seen)
        batch = {k: v[:n].to(device) for k, v in batch.items()}
        for depth, (_, outputs) in enumerate(model.iterate(batch, depth=depths[-1]), start=1):
            if depth in preds:
                preds[depth].append(outputs["logits"].argmax(-1).cpu().numpy())
            if depth in arc:
                arc[depth].update(batch["inputs"], batch["puzzle_identifiers"], preds[depth][-1],
                                  outputs["q_halt_logits"].float())
        labels.append(batch["labels"].cpu().numpy())
        inputs.append(batch["inputs"].cpu().numpy())
        seen += n
        if progress is not None:
            progress(n)
    model.train(was_training)
    y, x = np.concatenate(labels), np.concatenate(inputs)
    blanks = blank_tokens(split.metadata)
    out: dict[str, dict[str, float]] = {}
    for d in depths:
        p = np.concatenate(preds[d])
        row = {"cell_accuracy": metrics.cell_accuracy(p, y), "exact_accuracy": metrics.exact_accuracy(p, y),
               "count": int(len(y))}
        if blanks is not None:
            row["non_given_cell_accuracy"] = metrics.non_given_cell_accuracy(p, y, x, blanks)
        if d in arc:
            row.update(arc[d].result())
        out[str(d)] = row
    return out
