"""From stored runs to tables and headline findings, computed (never hand-written).

Tables: one row per (run, depth) (`per_depth_rows`) and one per run at full depth (`variant_rows`). A "group" is
one checkpoint on one data selection; findings are per group:

1. cheapest variant (FLOPs per puzzle, then weight bytes) whose exact accuracy is within 1 point of the FP32
   reference at full depth, and the FLOPs ratio reference / cheapest;
2. per variant at full depth, cell accuracy kept vs exact accuracy kept (fractions of the reference's);
3. Spearman correlation of fidelity (label-free) with exact accuracy over every (variant, depth) point, with a
   bootstrap interval;
4. whether fidelity at full depth orders the variants as exact accuracy does (pairwise agreement);
5. per variant at full depth, the puzzles it solves that FP32 does not and the reverse, with a paired bootstrap
   interval of the exact-accuracy difference (`exact_churn`): an exact accuracy equal to FP32's can hide many
   puzzles swapped both ways, which a kept ratio cannot show; and the puzzles each of the two had solved at an
   earlier depth but no longer solves at full depth (a carry drifting off an answer it had found);
and, across groups, 6. the same recipes side by side (`side_by_side`).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from redge.study.records import SUM_KEYS, PuzzleOutcomes, aggregate, puzzle_outcomes
from redge.study.stats import bootstrap_interval, mean_difference, pairwise_agreement, spearman_bootstrap
from redge.study.store import RunStore

WITHIN_POINTS = 1.0  # "within 1 point" of the FP32 exact accuracy, in percentage points


def group_name(meta: dict[str, Any]) -> str:
    """Human name of a (checkpoint, data) group, e.g. `TRM-MLP tiny-trm-mlp-sudoku on sudoku-easy/test (500)`: runs on
    different puzzle sets (another folder, split or --limit) are different groups, never one table or one plot."""
    return (f"{meta['architecture']} {Path(meta['checkpoint']).name} on {Path(meta['data']).name}/{meta['split']} "
            f"({meta['examples']})")


def per_depth_rows(store: RunStore, keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """One row per finished run and depth, with every metric, FLOPs per puzzle and bytes."""
    rows = []
    for run in store.runs(keys):
        meta = run["meta"]
        metrics = aggregate(store.records(run["key"]))
        for d in range(1, meta["depth"] + 1):
            rows.append({
                "group": group_name(meta), "data_hash": run["data_hash"], "key": run["key"],
                "variant": meta["label"], "recipe": meta["recipe"], "H_cycles": meta["H_cycles"],
                "L_cycles": meta["L_cycles"], "depth": d, "reference": meta["reference"],
                **{k: metrics.by_depth[k][d - 1] for k in SUM_KEYS},
                "flops_per_puzzle": meta["flops_per_step"] * d, "weight_bytes": meta["weight_bytes"],
                "puzzle_emb_bytes": meta["puzzle_emb_bytes"], "carry_bytes": meta["carry_bytes"],
                "puzzles": metrics.rows,
            })
    return rows


def variant_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per run: the full-depth row plus fidelity mean/min over depths and accuracy kept vs the group reference."""
    out = []
    for key in dict.fromkeys(r["key"] for r in rows):
        runs = [r for r in rows if r["key"] == key]
        full = dict(max(runs, key=lambda r: r["depth"]))
        fid = [r["fidelity"] for r in runs]
        full.update(fidelity_mean=sum(fid) / len(fid), fidelity_min=min(fid))
        out.append(full)
    for row in out:
        ref = reference_row(out, row["group"], row["data_hash"])
        row["cell_kept"] = _ratio(row["cell_acc"], ref["cell_acc"]) if ref else math.nan
        row["exact_kept"] = _ratio(row["exact_acc"], ref["exact_acc"]) if ref else math.nan
    return out


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(b) else math.nan


def reference_row(variants: list[dict[str, Any]], group: str, data_hash: str) -> dict[str, Any] | None:
    """The group's FP32 reference run at full depth, if the sweep included it."""
    return next((v for v in variants if v["group"] == group and v["data_hash"] == data_hash and v["reference"]),
                None)


def solved_then_lost(exact: Any) -> int:
    """Puzzles solved exactly at some depth before the last (columns of `exact`, [puzzles, depth]) but not at the
    last: answers the recursion found and then left."""
    if exact.shape[1] < 2:
        return 0
    return int(((exact[:, :-1].max(axis=1) == 1) & (exact[:, -1] == 0)).sum())


def exact_churn(variant: PuzzleOutcomes, reference: PuzzleOutcomes) -> dict[str, Any]:
    """Puzzles solved at full depth by `variant` but not by `reference` (gained) and the reverse (lost), the
    exact-accuracy difference in points with its paired 95% bootstrap interval (same puzzles, same resamples), and
    how many puzzles each had solved at an earlier depth and lost by full depth (`solved_then_lost`)."""
    if variant.exact.shape[0] != reference.exact.shape[0]:
        raise ValueError(f"different puzzle counts: {variant.exact.shape[0]} vs {reference.exact.shape[0]}")
    a, b = variant.exact[:, -1], reference.exact[:, -1]
    diff = bootstrap_interval(mean_difference(a, b), len(a))
    return {"gained": int(((a == 1) & (b == 0)).sum()), "lost": int(((a == 0) & (b == 1)).sum()),
            "exact_diff_points": 100 * diff.value, "ci95": [100 * diff.low, 100 * diff.high], "puzzles": len(a),
            "solved_then_lost": solved_then_lost(variant.exact),
            "reference_solved_then_lost": solved_then_lost(reference.exact)}


def churn_by_run(store: RunStore, variants: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`exact_churn` of every non-reference run against its group's FP32 reference, by run key; runs whose store
    records predate per-puzzle outcomes, or whose puzzles differ from the reference's, are left out."""
    outcomes = {v["key"]: puzzle_outcomes(store.records(v["key"])) for v in variants}
    out = {}
    for v in variants:
        ref = reference_row(variants, v["group"], v["data_hash"])
        if v["reference"] or ref is None:
            continue
        mine, theirs = outcomes[v["key"]], outcomes[ref["key"]]
        if mine is not None and theirs is not None and mine.exact.shape[0] == theirs.exact.shape[0]:
            out[v["key"]] = exact_churn(mine, theirs)
    return out


def group_findings(rows: list[dict[str, Any]], variants: list[dict[str, Any]], group: str, data_hash: str,
                   churn: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Findings 1-5 for one group (see the module docstring); finding 5 needs `churn` (`churn_by_run`)."""
    points = [r for r in rows if r["group"] == group and r["data_hash"] == data_hash]
    finals = [v for v in variants if v["group"] == group and v["data_hash"] == data_hash]
    ref = reference_row(variants, group, data_hash)
    out: dict[str, Any] = {"group": group, "reference": None, "cheapest_within_1pt": None}
    if ref is not None:
        out["reference"] = {k: ref[k] for k in ("variant", "depth", "exact_acc", "cell_acc", "flops_per_puzzle")}
        ok = [r for r in points if r["exact_acc"] >= ref["exact_acc"] - WITHIN_POINTS / 100]
        best = min(ok, key=lambda r: (r["flops_per_puzzle"], r["weight_bytes"], r["variant"], r["depth"]))
        out["cheapest_within_1pt"] = {
            k: best[k] for k in ("variant", "depth", "exact_acc", "flops_per_puzzle", "weight_bytes")}
        out["cheapest_within_1pt"]["flops_ratio"] = ref["flops_per_puzzle"] / best["flops_per_puzzle"]
    out["kept"] = [{"variant": v["variant"], "cell_kept": v["cell_kept"], "exact_kept": v["exact_kept"]}
                   for v in finals]
    churn = churn or {}
    out["churn"] = [{"variant": v["variant"], **churn[v["key"]]} for v in finals if v["key"] in churn]
    corr = spearman_bootstrap([r["fidelity"] for r in points], [r["exact_acc"] for r in points])
    out["fidelity_vs_exact"] = {"rho": corr.rho, "ci95": [corr.low, corr.high], "points": corr.n,
                                "resamples": corr.resamples}
    agree, total = pairwise_agreement([v["fidelity"] for v in finals], [v["exact_acc"] for v in finals])
    out["fidelity_ranking"] = {"concordant_pairs": agree, "comparable_pairs": total,
                               "ranks_correctly": (agree == total) if total else None,
                               "by_fidelity": [v["variant"] for v in sorted(finals, key=lambda v: -v["fidelity"])],
                               "by_exact": [v["variant"] for v in sorted(finals, key=lambda v: -v["exact_acc"])]}
    return out


def side_by_side(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per variant label, one column set (exact, cell, fidelity at full depth) per group."""
    table: dict[str, dict[str, Any]] = {}
    for v in variants:
        row = table.setdefault(v["variant"], {"variant": v["variant"]})
        for k in ("exact_acc", "cell_acc", "fidelity"):
            row[f"{v['group']} {k}"] = v[k]
    return list(table.values())


def groups(variants: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(group, data hash) pairs in first-seen order."""
    return list(dict.fromkeys((v["group"], v["data_hash"]) for v in variants))
