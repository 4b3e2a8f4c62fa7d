"""The FP32 reference, computed once on unlabelled inputs, and the label-free score of a candidate against it.

Inputs only: `load_inputs` opens the split without its labels file (`load_split(labels=False)`), so nothing here can
read an answer. `Reference` holds, per batch of puzzles (on the device), the FP32 model's final carry at the full
depth D and its final answer (argmax tokens); it is computed once and reused by every candidate.

A candidate (a compressed model run with inner cycles T, n for `depth` <= D steps) is scored, after every step d, by
- fidelity(d): mean over puzzles of the carry cosine ([z_H, z_L], all positions, `study.fidelity.carry_cosines`)
  to the FP32 carry at depth D. At d = D with the checkpoint's own T, n this is the usual fidelity at depth D; for
  fewer steps or cycles it asks how close the shipped state gets to the state FP32 reaches at full depth;
- agreement(d): fraction of puzzles whose whole answer equals the FP32 answer at depth D (label-free too);
- self-assessed(d): fraction of puzzles whose own halting rule says, at step d, that the answer is done
  (`RecursiveReasoner.halts`; TRM's Q head is trained to predict exactly whether the answer is correct): the
  model's own estimate of its exact accuracy at d, label-free, and blind neither to a variant that solves more
  than FP32 nor to one that solves less (fidelity, a distance to FP32, cannot tell those apart);
- checked(d): fraction of puzzles whose answer passes the task's own answer check (`Task.answer_check`: a Sudoku
  grid that is complete, valid and keeps its clues; a Maze path from S to G as short as BFS finds), from the inputs
  alone; for a task whose inputs fix one answer (Sudoku-Extreme) this is the exact accuracy, measured without a
  label. None for a task without a check (ARC: an output grid cannot be checked without its label);
- the early-exit rules: `q_halt` (a row stops at its first step at which it halts by the model's own rule,
  `RecursiveReasoner.halts`: Q-halt > 0 for TRM, Q-halt > Q-continue for HRM, as the runtime's `rt_opts.early_exit`)
  and `q_halt+guard` (stop there only once the carry has stopped moving: cos(carry_d, carry_{d-1}) >= guard), each
  with its mean exit step and the fidelity at the exit.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from redge.core.errors import RedgeInputError
from redge.models import Batch, Carry, RecursiveReasoner
from redge.study.fidelity import carry_cosines
from redge.tasks.format import PuzzleSplit, load_split
from redge.tasks.loader import iter_eval_batches

EXIT_RULES = ("q_halt", "q_halt+guard")
# what `score` returns: a cached score lacking one a caller needs is outdated
SCORE_KEYS = frozenset({"fidelity_by_depth", "agreement_by_depth", "self_assessed_by_depth", "checked_by_depth",
                        "fidelity", "agreement", "exit_rules", "puzzles"})
AnswerCheck = Callable[[Any, Any], Any]  # (inputs, answers) numpy [N, seq_len] -> bool [N] (`Task.answer_check`)


def load_inputs(data: Path, split: str = "test", limit: int | None = None, batch_size: int = 256
                ) -> tuple[PuzzleSplit, list[Batch]]:
    """The split without its labels and its first `limit` puzzles as batches of inputs + puzzle identifiers."""
    loaded = load_split(data, split, labels=False)
    if loaded.num_examples == 0:
        raise RedgeInputError("the split holds no examples", loaded.path)
    batches, seen = [], 0
    for batch, n in iter_eval_batches(loaded, batch_size, pad=False):
        if limit is not None and seen >= limit:
            break
        n = n if limit is None else min(n, limit - seen)
        batches.append({k: v[:n] for k, v in batch.items()})
        seen += n
    return loaded, batches


@dataclass
class Reference:
    """The FP32 path on the search inputs: batches, final carries and answers at depth D, per batch, and the inputs'
    task's answer check (None: the task has none)."""

    depth: int
    batches: list[Batch]
    carries: list[Carry] = field(default_factory=list)
    answers: list[torch.Tensor] = field(default_factory=list)
    check: AnswerCheck | None = None

    @property
    def puzzles(self) -> int:
        """Number of puzzles."""
        return sum(int(b["inputs"].shape[0]) for b in self.batches)

    def subset(self, puzzles: int) -> Reference:
        """The first `puzzles` puzzles (all when there are fewer): the sensitivity pass runs on fewer puzzles."""
        out = Reference(self.depth, [], check=self.check)
        left = puzzles
        for batch, carry, answer in zip(self.batches, self.carries, self.answers, strict=True):
            if left <= 0:
                break
            rows = min(left, int(batch["inputs"].shape[0]))
            out.batches.append({k: v[:rows] for k, v in batch.items()})
            out.carries.append(Carry(**{f.name: getattr(carry, f.name)[:rows] for f in fields(carry)}))
            out.answers.append(answer[:rows])
            left -= rows
        return out


@torch.no_grad()
def reference(model: RecursiveReasoner, batches: list[Batch], depth: int, device: torch.device,
              check: AnswerCheck | None = None) -> Reference:
    """Run the FP32 model once for `depth` steps on every batch and keep its final carry and answer (and `check`,
    the inputs' task's answer check, for the scores)."""
    ref = Reference(depth, [{k: v.to(device) for k, v in b.items()} for b in batches], check=check)
    for batch in ref.batches:
        carry, out = None, None
        for carry, out in model.iterate(batch, depth):
            pass
        ref.carries.append(carry)
        ref.answers.append(out["logits"].argmax(-1))
    return ref


@torch.no_grad()
def score(model: RecursiveReasoner, ref: Reference, H_cycles: int, L_cycles: int, depth: int,
          guard: float = 0.999) -> dict[str, Any]:
    """Label-free score of `model` run with (T, n) = (H_cycles, L_cycles) for `depth` steps (see the module
    docstring): fidelity, agreement, self-assessment and checked answers per depth 1..depth, and the early-exit
    rules at `depth`."""
    if depth > ref.depth:
        raise ValueError(f"depth {depth} exceeds the reference depth {ref.depth}")
    fid = torch.zeros(depth, dtype=torch.float64)
    agree = torch.zeros(depth, dtype=torch.float64)
    claimed = torch.zeros(depth, dtype=torch.float64)
    checked = torch.zeros(depth, dtype=torch.float64)
    exits = {rule: {"steps": 0.0, "fidelity": 0.0} for rule in EXIT_RULES}
    for batch, ref_carry, ref_answer in zip(ref.batches, ref.carries, ref.answers, strict=True):
        rows = batch["inputs"].shape[0]
        inputs = batch["inputs"].cpu().numpy() if ref.check is not None else None
        done = {rule: torch.zeros(rows, dtype=torch.bool, device=ref_answer.device) for rule in EXIT_RULES}
        prev = None
        for d, (carry, out) in enumerate(model.iterate(batch, depth, H_cycles, L_cycles), start=1):
            cos = carry_cosines(carry, ref_carry)["fidelity"]
            fid[d - 1] += cos.sum().cpu()
            answer = out["logits"].argmax(-1)
            agree[d - 1] += (answer == ref_answer).all(-1).sum().cpu()
            if ref.check is not None:
                checked[d - 1] += int(ref.check(inputs, answer.cpu().numpy()).sum())
            halt = model.halts(out)
            claimed[d - 1] += halt.sum().cpu()
            still = carry_cosines(carry, prev)["fidelity"] >= guard if prev is not None else torch.zeros_like(halt)
            for rule, stop in (("q_halt", halt), ("q_halt+guard", halt & still)):
                now = ~done[rule] & (stop | (d == depth))
                exits[rule]["steps"] += d * int(now.sum())
                exits[rule]["fidelity"] += float(cos[now].sum())
                done[rule] |= now
            prev = carry
    n = ref.puzzles
    return {"fidelity_by_depth": (fid / n).tolist(), "agreement_by_depth": (agree / n).tolist(),
            "self_assessed_by_depth": (claimed / n).tolist(),
            "checked_by_depth": None if ref.check is None else (checked / n).tolist(),
            "fidelity": float(fid[-1] / n), "agreement": float(agree[-1] / n),
            "exit_rules": {rule: {"mean_steps": v["steps"] / n, "fidelity": v["fidelity"] / n, "guard": guard
                                  if rule.endswith("guard") else None} for rule, v in exits.items()},
            "puzzles": n}
