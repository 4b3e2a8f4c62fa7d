"""Accuracy by depth over a dataset: one run of `model.iterate` per batch records, at each requested depth (ACT
step), the metrics of the split's task (task registry): the official cell accuracy over all cells, the honest cell
accuracy over non-given cells, and exact accuracy; for an ARC test split also pass@K after TRM's voting over the
augmented variants.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from redge.core.errors import RedgeInputError
from redge.models import RecursiveReasoner
from redge.tasks import registry
from redge.tasks.format import PuzzleSplit
from redge.tasks.loader import iter_eval_batches


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


@torch.no_grad()
def evaluate_depths(model: RecursiveReasoner, split: PuzzleSplit, depths: Sequence[int], batch_size: int = 256,
                    limit: int | None = None, device: torch.device | str = "cpu",
                    arc_data: str | Path | None = None, progress: Callable[[int], None] | None = None
                    ) -> dict[str, dict[str, float]]:
    """{depth: {<the task's metrics>, count}} over the split (first `limit` examples when given), from one pass of
    `max(depths)` ACT steps per batch; a split of no registered task gets cell and exact accuracy.

    With `arc_data` (the dataset folder of a task that votes, ARC: the folder holding `test_puzzles.json`), each
    depth also gets the voting scores, `ARC/pass@K`: the predictions of every augmented variant vote per task
    (tasks without scored variants count as failed). `progress(n)` is called after each batch with its puzzles."""
    depths = sorted(set(int(d) for d in depths))
    if not depths or depths[0] < 1:
        raise ValueError(f"depths must be positive integers, got {depths}")
    was_training = model.training
    model.eval()
    preds: dict[int, list[np.ndarray]] = {d: [] for d in depths}
    voting: dict[int, registry.VotingEvaluator] = {}
    if arc_data is not None:
        voting = {d: e for d in depths if (e := registry.voting_evaluator(split.metadata, arc_data)) is not None}
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
            if depth in voting:
                voting[depth].update(batch["inputs"], batch["puzzle_identifiers"], preds[depth][-1],
                                     outputs["q_halt_logits"].float())
        labels.append(batch["labels"].cpu().numpy())
        inputs.append(batch["inputs"].cpu().numpy())
        seen += n
        if progress is not None:
            progress(n)
    model.train(was_training)
    y, x = np.concatenate(labels), np.concatenate(inputs)
    out: dict[str, dict[str, float]] = {}
    for d in depths:
        row = {**registry.score(split.metadata, np.concatenate(preds[d]), y, x), "count": int(len(y))}
        if d in voting:
            row.update(voting[d].result())
        out[str(d)] = row
    return out
