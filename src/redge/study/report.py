"""Write a sweep's report from the runs store: Markdown, CSV and JSON tables, PNG plots, headline findings.

Files under `out/`: `report.md` (findings, summary table at full depth, per-depth table, side-by-side table when
several checkpoints are present, plots), `variants.csv` and `per_depth.csv`, `report.json` (everything above as
data), and `plots/<group>-{accuracy_vs_depth,fidelity_vs_depth,fidelity_vs_exact,pareto}.png`. Every file is
written atomically.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from redge.core.atomic import atomic_dir, atomic_write
from redge.study import plots
from redge.study.findings import (
    churn_by_run,
    group_findings,
    groups,
    per_depth_rows,
    side_by_side,
    variant_rows,
)
from redge.study.store import RunStore

SUMMARY_COLUMNS = ("variant", "exact_acc", "cell_acc", "cell_acc_non_given", "exact_kept", "cell_kept",
                   "q_halt_agreement", "halt_step_early_exit", "exact_acc_early_exit", "fidelity", "fidelity_H",
                   "fidelity_L", "fidelity_mean", "fidelity_min", "flops_per_puzzle", "weight_bytes", "carry_bytes")
DEPTH_COLUMNS = ("variant", "depth", "exact_acc", "cell_acc", "cell_acc_non_given", "q_halt_agreement",
                 "halt_step_early_exit", "exact_acc_early_exit", "cell_acc_early_exit", "fidelity", "fidelity_H",
                 "fidelity_L", "flops_per_puzzle")
_PERCENT = {"exact_acc", "cell_acc", "cell_acc_non_given", "exact_kept", "cell_kept", "q_halt_agreement",
            "exact_acc_early_exit", "cell_acc_early_exit"}


def build_report(store: RunStore, keys: Iterable[str] | None = None) -> dict[str, Any]:
    """All tables and findings as one JSON-able dict (`keys`: the runs to include; None: every finished run)."""
    rows = per_depth_rows(store, keys)
    if not rows:
        raise ValueError("no finished runs to report")
    variants = variant_rows(rows)
    churn = churn_by_run(store, variants)
    return {
        "findings": [group_findings(rows, variants, g, h, churn) for g, h in groups(variants)],
        "variants": variants,
        "per_depth": rows,
        "side_by_side": side_by_side(variants) if len(groups(variants)) > 1 else [],
    }


def fidelity_table(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per variant: fidelity of [z_H, z_L], z_H and z_L at each depth, with mean and min over depths."""
    out = []
    for v in report["variants"]:
        pts = [r for r in report["per_depth"] if r["key"] == v["key"]]
        out.append({"group": v["group"], "variant": v["variant"],
                    **{k: [r[k] for r in pts] for k in ("fidelity", "fidelity_H", "fidelity_L")},
                    "fidelity_mean": v["fidelity_mean"], "fidelity_min": v["fidelity_min"]})
    return out


def fmt(key: str, value: Any) -> str:
    """Human formatting of one table cell (percentages, fidelity, FLOPs, bytes)."""
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if key in _PERCENT or key.endswith(("exact_acc", "cell_acc")):
        return f"{100 * value:.1f}"
    if key.startswith("fidelity") or key.endswith("fidelity"):
        return f"{value:.4f}"
    if key == "flops_per_puzzle":
        return f"{value / 1e9:.3g} G" if value >= 1e8 else f"{value / 1e6:.3g} M"
    if key.endswith("bytes"):
        return f"{value / 1e6:.3f} MB" if value >= 1e5 else f"{value / 1e3:.1f} KB"
    if key == "halt_step_early_exit":
        return f"{value:.2f}"
    return str(value)


def markdown_table(rows: list[dict[str, Any]], columns: Iterable[str]) -> str:
    """A GitHub Markdown table of `columns` (percent columns are x100)."""
    columns = list(columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(c, r.get(c, math.nan)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def findings_markdown(f: dict[str, Any]) -> str:
    """The computed headline findings of one group as Markdown bullet points."""
    lines = []
    ref, best = f["reference"], f["cheapest_within_1pt"]
    if ref is None:
        lines.append("- No FP32 reference at the checkpoint's cycles in this sweep: kept ratios and finding 1 n/a.")
    else:
        lines.append(f"- FP32 reference ({ref['variant']}, depth {ref['depth']}): exact {100 * ref['exact_acc']:.1f}%,"
                     f" cell {100 * ref['cell_acc']:.1f}%, {fmt('flops_per_puzzle', ref['flops_per_puzzle'])}"
                     " FLOPs per puzzle.")
        lines.append(f"- Cheapest variant within 1 point of FP32 exact accuracy: **{best['variant']} at depth "
                     f"{best['depth']}** (exact {100 * best['exact_acc']:.1f}%, "
                     f"{fmt('flops_per_puzzle', best['flops_per_puzzle'])} FLOPs, "
                     f"{fmt('weight_bytes', best['weight_bytes'])} weights): "
                     f"{best['flops_ratio']:.2f}x fewer FLOPs than FP32 at full depth.")
    kept = ", ".join(f"{k['variant']}: cell {fmt('cell_kept', k['cell_kept'])}% / exact "
                     f"{fmt('exact_kept', k['exact_kept'])}%" for k in f["kept"])
    lines.append(f"- Accuracy kept at full depth (cell / exact, % of FP32): {kept}.")
    if f.get("churn"):
        swaps = ", ".join(f"{c['variant']}: +{c['gained']} / -{c['lost']} ({c['exact_diff_points']:+.1f} points, "
                          f"[{c['ci95'][0]:+.1f}, {c['ci95'][1]:+.1f}])" for c in f["churn"])
        lines.append(f"- Puzzles solved vs FP32 at full depth (gained / lost, exact difference with its paired 95% "
                     f"bootstrap interval): {swaps}.")
        late = ", ".join(f"{c['variant']}: {c['solved_then_lost']}" for c in f["churn"])
        lines.append(f"- Puzzles solved at an earlier depth but not at full depth (FP32: "
                     f"{f['churn'][0]['reference_solved_then_lost']}): {late}.")
    c = f["fidelity_vs_exact"]
    lines.append(f"- Spearman correlation of fidelity with exact accuracy over {c['points']} (variant, depth) points: "
                 f"rho = {fmt('fidelity', c['rho'])} (95% bootstrap interval [{fmt('fidelity', c['ci95'][0])}, "
                 f"{fmt('fidelity', c['ci95'][1])}], {c['resamples']} resamples).")
    r = f["fidelity_ranking"]
    verdict = {True: "yes", False: "no", None: "undecided (all variants tie on exact accuracy)"}[r["ranks_correctly"]]
    lines.append(f"- Does fidelity (no labels) rank the variants as exact accuracy does at full depth? **{verdict}** "
                 f"({r['concordant_pairs']}/{r['comparable_pairs']} pairs concordant; by fidelity: "
                 f"{', '.join(r['by_fidelity'])}).")
    return "\n".join(lines)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def jsonable(obj: Any) -> Any:
    """`obj` with NaN floats replaced by None, so that the JSON output is standard JSON."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text), mode="w")


def write_report(report: dict[str, Any], out: Path, command: str = "") -> Path:
    """Write report.md, report.json, variants.csv, per_depth.csv and plots under `out`, all at once (an earlier report
    there is replaced whole); return report.md's path."""
    with atomic_dir(out, replaces="report.md") as tmp:
        _write_files(report, tmp, command)
    return out / "report.md"


def _write_files(report: dict[str, Any], out: Path, command: str) -> None:
    md = ["# redge sweep report", ""]
    if command:
        md += [f"Produced by `{command}`.", ""]
    for f in report["findings"]:
        g = f["group"]
        pts = [r for r in report["per_depth"] if r["group"] == g]
        slug = _slug(g)
        pngs = [plots.accuracy_vs_depth(pts, out / "plots" / f"{slug}-accuracy_vs_depth.png", g),
                plots.fidelity_vs_depth(pts, out / "plots" / f"{slug}-fidelity_vs_depth.png", g),
                plots.fidelity_vs_exact(pts, out / "plots" / f"{slug}-fidelity_vs_exact.png", g,
                                        f["fidelity_vs_exact"]["rho"], f["fidelity_vs_exact"]["ci95"]),
                plots.pareto(pts, out / "plots" / f"{slug}-pareto.png", g)]
        finals = [v for v in report["variants"] if v["group"] == g]
        md += [f"## {g}", "", "### Findings", "", findings_markdown(f), "",
               f"### Variants at full depth ({finals[0]['depth']} ACT steps, {finals[0]['puzzles']} puzzles)", "",
               markdown_table(finals, SUMMARY_COLUMNS), "",
               "### Per depth", "", markdown_table(pts, DEPTH_COLUMNS), "", "### Plots", ""]
        md += [f"![{p.stem}](plots/{p.name})" for p in pngs] + [""]
    if report["side_by_side"]:
        md += ["## Checkpoints side by side (full depth)", "",
               markdown_table(report["side_by_side"], report["side_by_side"][0].keys()), ""]
    md += ["Accuracies and kept ratios in %, fidelity = mean cosine of the [z_H, z_L] carry to the FP32 carry at the"
           " same depth; FLOPs counted per puzzle (FlopCounterMode), bytes as stored (weights incl. scales; carry"
           " = z_H + z_L of one puzzle).", ""]
    _write_text(out / "report.md", "\n".join(md))
    _write_text(out / "report.json", json.dumps(jsonable(report), indent=1, default=str))
    _write_text(out / "variants.csv", _csv(report["variants"]))
    _write_text(out / "per_depth.csv", _csv(report["per_depth"]))
