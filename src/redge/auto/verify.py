"""`--verify DATA`: exact accuracy of the chosen variant, measured afterwards with labels the search never saw, next
to the other top candidates and the presets the target's runtime accepts (their bytes beside them).

The chosen and top candidates run at their own inner cycles and depth; presets at the checkpoint's cycles and the
full depth (after `--finetune-minutes`, those of the checkpoint the search started from), and under a latency
budget the baseline preset (`--max-bytes PRESET`) also at the depth the budget allows. Scores are the split's task
metrics (`study.evaluate.evaluate_depths`). With a cache file (the search's `--cache`), each score is kept under the
checkpoint's, the labelled files' and the variant's hashes, so the presets, which every job on one checkpoint
verifies alike, are measured once; a row says when its score came from the cache.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from redge.auto.search import PRESET_CANDIDATES, Candidate, Outcome, depth_within, read_cache
from redge.core.errors import RedgeInputError
from redge.core.jsonio import write_json
from redge.models import RecursiveReasoner
from redge.quant.spec import PRESETS, QuantRecipe
from redge.study.evaluate import check_compatible, evaluate_depths
from redge.study.store import checkpoint_hash, digest, hash_files
from redge.study.sweep import Variant, build_variant_model
from redge.tasks.format import load_split


def variant_model(model: RecursiveReasoner, recipe: QuantRecipe, T: int, n: int, calib: list) -> RecursiveReasoner:
    """The compressed model running with inner cycles (T, n) by default (a copy when the recipe leaves the model as
    it is, so the checkpoint's own config is never changed)."""
    vmodel = build_variant_model(model, Variant(recipe, T, n), calib)
    if (T, n) != (model.config.H_cycles, model.config.L_cycles):
        vmodel = copy.copy(vmodel) if vmodel is model else vmodel
        vmodel.config = vmodel.config.replace(H_cycles=T, L_cycles=n)
    return vmodel


class ScoreCache:
    """Verified scores by (checkpoint, labelled files, puzzles, variant), in a JSON file shared with the search's
    scores (their keys never meet: these carry the labels' hash); None keeps them in memory only."""

    def __init__(self, path: Path | None, checkpoint: Path, split: Any, limit: int | None) -> None:
        self.path = path
        files = [hash_files(split.path / f"all__{k}.npy") for k in ("inputs", "labels", "puzzle_identifiers")]
        self.base = {"verify": digest(files), "checkpoint": checkpoint_hash(checkpoint), "limit": limit}
        self.memo = read_cache(path)

    def scores(self, recipe: QuantRecipe, T: int, n: int, depth: int,
               measure: Callable[[], dict[str, float]]) -> dict[str, Any]:
        """The variant's scores from the cache, else measured (and written to the file at once)."""
        key = digest({**self.base, "recipe": recipe.to_dict(), "T": T, "n": n, "depth": depth})
        if key in self.memo:
            return {**self.memo[key], "from_cache": True}
        self.memo[key] = measure()
        if self.path is not None:
            write_json(self.path, self.memo)
        return {**self.memo[key], "from_cache": False}


def verify(outcome: Outcome, data: Path, split: str, limit: int | None, batch_size: int, device: torch.device,
           cache: Path | None = None, baseline: Outcome | None = None) -> list[dict[str, Any]]:
    """Rows of the comparison table: label, kind, blob bytes, fits, fidelity, self-assessment and checked answers
    (None for presets not scored), depth, cell and exact accuracy, and whether the scores came from `cache`. The
    presets are those of `baseline`'s checkpoint when given (the checkpoint a fine-tuned outcome came from)."""
    labelled = load_split(data, split)
    scores = _scorer(outcome, labelled, limit, batch_size, device, cache)
    rows: list[dict[str, Any]] = []
    chosen: Candidate | None = outcome.result["chosen"]
    if chosen is None:
        raise RedgeInputError("nothing fits the target: there is no chosen recipe to verify")
    entries = [(c, "chosen" if c is chosen else "top") for c in outcome.result["top"]]
    for c, kind in entries:
        rows.append(_row(c.label, kind, c.recipe, c.H_cycles, c.L_cycles, c.depth, c.assess, c, scores))
    base = baseline or outcome
    if base is not outcome:
        scores = _scorer(base, labelled, limit, batch_size, device, cache)
    result, assess = base.result, base.assess
    scored = {c.recipe.name: c for c in result["candidates"] if c.kind == "preset"}
    T0, n0 = result["cycles"]
    for name in PRESET_CANDIDATES:
        try:
            a = assess(PRESETS[name], T0, n0, result["depth"])
        except RedgeInputError:
            continue
        rows.append(_row(f"preset {name}", "preset", PRESETS[name], T0, n0, result["depth"], a, scored.get(name),
                         scores))
    rows += baseline_within_budget(base, scores)
    for row in rows:
        row["at_most_chosen_bytes"] = row["blob_bytes"] <= chosen.assess["blob_bytes"]
    return rows


def _scorer(outcome: Outcome, labelled: Any, limit: int | None, batch_size: int, device: torch.device,
            cache: Path | None) -> Callable[..., dict[str, Any]]:
    """scores(recipe, T, n, depth) of the outcome's model on the labelled split, through the score cache."""
    checkpoint = Path(outcome.result["checkpoint"])
    check_compatible(outcome.model, labelled, checkpoint)
    known = ScoreCache(cache, checkpoint, labelled, limit)

    def scores(recipe: QuantRecipe, T: int, n: int, depth: int) -> dict[str, Any]:
        return known.scores(recipe, T, n, depth, lambda: _scores(
            variant_model(outcome.model, recipe, T, n, outcome.calib), labelled, depth, batch_size, limit, device))

    return scores


def baseline_within_budget(outcome: Outcome, scores: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """Under a latency budget whose `--max-bytes` names a preset (the baseline), that preset cut to the deepest depth
    whose estimate fits the budget at the checkpoint's cycles (kind `baseline-budget`): the naive answer to the
    budget, measured beside the chosen variant. No row without a budget or a preset baseline, or when the preset
    fits the budget at full depth (its full-depth row is there) or not even at one step."""
    result, assess = outcome.result, outcome.assess
    name, budget = result["asked"].get("max_bytes"), result["budget_ms"]
    if budget is None or name not in PRESETS:
        return []
    T0, n0 = result["cycles"]
    d = depth_within(assess, PRESETS[name], T0, n0, result["depth"], budget)
    if not 1 <= d < result["depth"]:
        return []
    label = f"preset {name} @ depth {d}"
    c = next((c for c in result["candidates"] if c.label == label), None)
    return [_row(label, "baseline-budget", PRESETS[name], T0, n0, d, assess(PRESETS[name], T0, n0, d), c, scores)]


def _row(label: str, kind: str, recipe: QuantRecipe, T: int, n: int, depth: int, assessed: dict[str, Any],
         c: Candidate | None, scores: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """One comparison row of `recipe` at (T, n, depth): bytes and fit (`assessed`, its plan), the label-free
    signals the search gave it (`c`; None when the search did not score it) and its measured scores."""
    return {"label": label, "kind": kind, "blob_bytes": assessed["blob_bytes"], "fits": assessed["fits"],
            "fidelity": None if c is None else c.fidelity, "self_assessed": None if c is None else c.self_assessed,
            "checked": None if c is None else c.checked, "depth": depth, "H_cycles": T, "L_cycles": n,
            **scores(recipe, T, n, depth)}


def _scores(model: RecursiveReasoner, split: Any, depth: int, batch_size: int, limit: int | None,
            device: torch.device) -> dict[str, float]:
    row = evaluate_depths(model, split, [depth], batch_size, limit, device)[str(depth)]
    return {k: v for k, v in row.items() if k != "count"} | {"puzzles": int(row["count"])}
