"""Pseudo-labels: a model's own answers on unlabelled inputs, kept where the task's answer check accepts them and
written as a training split, so a model can be fine-tuned without a label file (`redge autocompress
--finetune-minutes`).

Only tasks with an answer check (`Task.answer_check`: Sudoku, Maze) can be pseudo-labelled: an unchecked answer
would teach the model its own mistakes, and an ARC output grid cannot be checked without its label. For a puzzle
with one solution (Sudoku-Extreme's) an answer that passes the check is that solution, so the kept rows are right;
what is lost is every puzzle the model does not solve, which the fine-tune therefore never sees.
"""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from redge.auto.trajectory import load_inputs
from redge.core.atomic import atomic_dir
from redge.core.errors import RedgeInputError
from redge.core.jsonio import write_json
from redge.models import RecursiveReasoner
from redge.tasks.format import save_split
from redge.tasks.registry import answer_check, task_of_dataset

MARKER = "pseudo_labels.json"


@torch.no_grad()
def model_answers(model: RecursiveReasoner, batch: dict[str, torch.Tensor], depth: int) -> torch.Tensor:
    """The model's answer (argmax tokens) after `depth` ACT steps from a fresh carry."""
    out: dict[str, torch.Tensor] = {}
    for _, out in model.iterate(batch, depth):
        pass
    return out["logits"].argmax(-1)


def pseudo_label(model: RecursiveReasoner, data: Path, split: str, out: Path, depth: int, device: torch.device,
                 puzzles: int | None = None, skip: int = 0, batch_size: int = 512) -> dict[str, Any]:
    """Write `out` as a dataset folder whose `train` split holds `puzzles` inputs of `data`'s `split` (all when
    None), after its first `skip`, with `model`'s answers at `depth` as labels, keeping the rows that pass the task's
    answer check; returns what was kept (also written to `out/pseudo_labels.json`). No label file of `data` is
    opened."""
    loaded, batches = load_inputs(data, split, None if puzzles is None else skip + puzzles, batch_size)
    batches = _drop_rows(batches, skip)
    if not batches:
        raise RedgeInputError(f"the {split} split holds no inputs after the first {skip} (the search's)", loaded.path)
    check = answer_check(loaded.metadata)
    if check is None:
        task = task_of_dataset(loaded.metadata)
        raise RedgeInputError(f"pseudo-labels need the task's answer check, and the {task.name if task else 'unknown'}"
                              " task has none: the model's unchecked answers would teach it its own mistakes",
                              loaded.path)
    inputs, labels, identifiers = [], [], []
    for batch in batches:
        answers = model_answers(model, {k: v.to(device) for k, v in batch.items()}, depth).cpu().numpy()
        rows = batch["inputs"].numpy()
        ok = np.asarray(check(rows, answers), dtype=bool)
        inputs.append(rows[ok])
        labels.append(answers[ok])
        identifiers.append(batch["puzzle_identifiers"].numpy()[ok])
    kept = int(sum(len(x) for x in inputs))
    seen = sum(int(b["inputs"].shape[0]) for b in batches)
    if kept == 0:
        raise RedgeInputError(f"none of the {seen} answers of the model at depth {depth} passes the task's answer "
                              "check: there is nothing to fine-tune on", loaded.path)
    arrays = {"inputs": np.concatenate(inputs).astype(np.uint8), "labels": np.concatenate(labels).astype(np.uint8),
              "puzzle_identifiers": np.concatenate(identifiers).astype(np.int32),
              "puzzle_indices": np.arange(kept + 1, dtype=np.int32),
              "group_indices": np.arange(kept + 1, dtype=np.int32)}
    metadata = dataclasses.replace(loaded.metadata, total_groups=kept, total_puzzles=kept, mean_puzzle_examples=1.0)
    stats = {"source": str(data), "split": split, "skipped": skip, "puzzles": seen, "kept": kept,
             "kept_share": kept / seen, "depth": depth, "rule": "the model's answers that pass the task's answer check"}
    with atomic_dir(out, MARKER) as tmp:
        save_split(tmp, "train", arrays, metadata)
        identifiers_file = Path(data) / "identifiers.json"
        if identifiers_file.is_file():
            shutil.copyfile(identifiers_file, tmp / "identifiers.json")
        write_json(tmp / MARKER, stats, indent=2)
    return stats


def _drop_rows(batches: list[dict[str, torch.Tensor]], skip: int) -> list[dict[str, torch.Tensor]]:
    """The batches without their first `skip` rows (batches left empty are dropped)."""
    out = []
    for batch in batches:
        rows = int(batch["inputs"].shape[0])
        if skip < rows:
            out.append({k: v[skip:] for k, v in batch.items()})
        skip = max(0, skip - rows)
    return out
