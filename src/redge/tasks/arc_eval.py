"""ARC evaluation as TRM's ``evaluators/arc.py``: crop, undo the augmentation, vote, pass@K, submission.json.

Each prediction is cropped to its largest top-left rectangle of colour tokens, mapped back to the original
task frame (inverse dihedral, inverse colour permutation), and filed under (task, original test input).
Votes per distinct grid are ``[count, mean sigmoid(q_halt)]``, ranked by count then mean q. A task scores
the fraction of its test inputs whose label is in the top K (TRM's fractional credit).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np

from redge.core.errors import RedgeInputError
from redge.core.jsonio import read_json, write_json
from redge.tasks.arc_grid import SEP, crop, to_grid
from redge.tasks.augment import inverse_dihedral, inverse_permutation
from redge.tasks.format import load_identifiers
from redge.tasks.metrics import arc_pass_at_k

_HRM_NAME = re.compile(r"^(.*)_t([0-7])_(\d{10})$")
PASS_KS = (1, 2, 5, 10, 100, 1000)



def grid_hash(grid: np.ndarray) -> str:
    """sha256 over the shape bytes and the uint8 cells (TRM's ``grid_hash``)."""
    grid = np.ascontiguousarray(grid, dtype=np.uint8)
    return hashlib.sha256(bytes(grid.shape) + grid.tobytes()).hexdigest()


def parse_identifier(name: str) -> tuple[str, int, np.ndarray | None]:
    """``(task, dihedral id, colour perm)`` of a variant name, TRM (``a|||t3|||0…``) or HRM (``a_t3_0…``) style."""
    if SEP in name:
        task, t, perm = name.split(SEP)[-3:]
        return task, int(t[1:]), np.array([int(c) for c in perm], np.uint8)
    m = _HRM_NAME.match(name)
    if m:
        return m.group(1), int(m.group(2)), np.array([int(c) for c in m.group(3)], np.uint8)
    return name, 0, None


def to_task_frame(grid: np.ndarray, tid: int, perm: np.ndarray | None) -> np.ndarray:
    """Undo a variant's augmentation on a colour grid."""
    if perm is None:
        return grid
    return inverse_permutation(perm)[inverse_dihedral(grid, tid)]


class ArcEvaluator:
    """Collects predictions batch by batch, then votes and scores against ``test_puzzles.json``."""

    def __init__(self, data_dir: str | Path, blank_identifier_id: int = 0) -> None:
        data_dir = Path(data_dir)
        self.names = load_identifiers(data_dir)
        path = data_dir / "test_puzzles.json"
        if not path.is_file():
            raise RedgeInputError("missing test_puzzles.json (build the ARC dataset with redge or TRM)", path)
        self.test_puzzles: dict[str, Any] = read_json(path, dict)
        self.blank = blank_identifier_id
        self.grids: dict[str, np.ndarray] = {}
        self.votes: dict[str, dict[str, list[tuple[str, float]]]] = {}

    def update(self, inputs: Any, puzzle_identifiers: Any, preds: Any, q_halt_logits: Any) -> None:
        """Add one batch: token arrays [B, 900], identifiers [B], predicted tokens [B, 900], q-halt logits [B]."""
        arrs = [np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)
                for x in (inputs, puzzle_identifiers, preds, q_halt_logits)]
        inputs, ids, preds, q = arrs
        q = 1.0 / (1.0 + np.exp(-q.astype(np.float64)))
        for inp, ident, pred, qv in zip(inputs, ids, preds, q):
            if ident == self.blank:
                continue
            if not 0 <= ident < len(self.names):
                raise RedgeInputError(f"puzzle identifier {ident} not in identifiers.json ({len(self.names)} names)")
            task, tid, perm = parse_identifier(self.names[ident])
            key = grid_hash(to_task_frame(crop(inp), tid, perm))
            grid = to_task_frame(crop(pred), tid, perm)
            h = grid_hash(grid)
            self.grids[h] = grid
            self.votes.setdefault(task, {}).setdefault(key, []).append((h, float(qv)))

    def ranked(self) -> dict[str, list[list[str]]]:
        """Per task and test input, the candidate grid hashes best first (count, then mean q)."""
        out = {}
        for task, puzzle in self.test_puzzles.items():
            out[task] = []
            for pair in puzzle["test"]:
                stats: dict[str, list[float]] = {}
                for h, q in self.votes.get(task, {}).get(grid_hash(to_grid(pair["input"], task)), []):
                    s = stats.setdefault(h, [0, 0.0])
                    s[0] += 1
                    s[1] += q
                out[task].append([h for h, _ in sorted(stats.items(), key=lambda kv: (kv[1][0], kv[1][1] / kv[1][0]),
                                                        reverse=True)])
        return out

    def result(self, ks: tuple[int, ...] = PASS_KS, submission_path: str | Path | None = None,
               attempts: int = 2) -> dict[str, float]:
        """``{"ARC/pass@K": score}``; writes ``submission.json`` (``attempt_1``..) when a path is given."""
        ranked = self.ranked()
        labels = {t: [grid_hash(to_grid(p["output"], t)) for p in puz["test"]] for t, puz in self.test_puzzles.items()}
        scores = arc_pass_at_k(ranked, labels, ks)
        if submission_path is not None:
            sub = {t: [{f"attempt_{i + 1}": self.grids[(c[:attempts] + [c[0]] * attempts)[i]].tolist()
                        for i in range(attempts)} for c in cands if c] for t, cands in ranked.items()}
            write_json(submission_path, sub)
        return {f"ARC/pass@{k}": v for k, v in scores.items()}
