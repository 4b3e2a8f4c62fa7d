"""The paper's seven claims as data: for each, the statement, the rule that decides it (built from the named
thresholds below, printed in the report) and a function from the measured evidence to its numbers, a 95% interval
and a verdict: holds, partly, does not hold, or not testable here (with the reason).

Evidence (`Evidence`) is plain data: per (checkpoint, data) group, the sweep's runs with per-depth aggregates and,
where the runs store has them, per-puzzle outcomes (`records.PuzzleOutcomes`); fine-tuned checkpoints (QAT,
distillation, linear attention) evaluated on the same puzzles; and the embedding-table bytes of claim 7. Intervals
are percentile bootstraps over puzzles, paired (variant and FP32 resampled with the same puzzles). Verdicts are
decided on the point estimates; an interval that crosses a threshold is flagged beside the verdict. Claims 1, 2, 4,
5 and 6 are judged on the primary group (the first checkpoint on the first data set), claim 3 on the first TRM-MLP
and the first TRM-Att checkpoint on that data, claim 7 on the largest puzzle-embedding table given.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from redge.study.findings import WITHIN_POINTS
from redge.study.records import PuzzleOutcomes
from redge.study.stats import (
    Interval,
    bootstrap_interval,
    mean_difference,
    mean_ratio,
    pairwise_agreement,
    spearman_bootstrap,
)

HOLDS, PARTLY, FAILS, UNTESTABLE = "holds", "partly", "does not hold", "not testable here"
VERDICTS = (HOLDS, PARTLY, FAILS, UNTESTABLE)

# Thresholds (fractions of the FP32 reference at full depth unless named otherwise); printed in the report.
COLLAPSE_EXACT_KEPT = 0.10  # exact accuracy "collapses to ~0": at most 10% of FP32's kept
CELL_KEPT = 0.90  # cell accuracy "kept": at least 90% of FP32's
RECOVERED_EXACT_KEPT = 0.90  # exact accuracy "recovered" / "matches": at least 90% of FP32's kept
UNSTRUCK_EXACT_KEPT = 0.50  # attention "not struck": at least half of its FP32 exact accuracy kept
MIN_SOLVED = 20  # FP32 must solve at least this many puzzles for a kept ratio to mean anything
NEAR_POINTS = 5.0  # claim 6: "near" FP32 exact accuracy (percentage points); WITHIN_POINTS (1) is "matches"
SPEEDUP_CLAIMED = 6.0  # claim 6: "~6x fewer FLOPs"
SPEEDUP_MIN = 5.0  # ... read as at least 5x
RHO_STRONG = 0.7  # claim 5: Spearman rho of fidelity vs exact accuracy counted as "predicts"
PAPER_TABLE_MB = 99.4  # claim 7: the paper's puzzle-embedding table (ARC), in MB (10^6 bytes)
RESAMPLES = 2000

NAIVE, CALIBRATED, INT8, FP32 = "int4-naive", "int4-channel-cal", "int8", "fp32"
PRUNE_RECIPES = ("prune-50",)  # the protocol's data-free pruning (any `prune*` run in the sweep counts)
LINEAR_ATTN = "linear-attn"
FINETUNED_KINDS = {"qat": "QAT", "distill": "distillation", "linear-attn": "linear attention"}


@dataclass(frozen=True)
class Run:
    """One swept variant: per-depth aggregates (index d-1 = depth d) and per-puzzle outcomes when recorded."""

    label: str
    recipe: str
    H_cycles: int
    L_cycles: int
    reference: bool
    flops_per_step: float
    exact_acc: list[float]
    cell_acc: list[float]
    fidelity: list[float]
    labelled: int
    outcomes: PuzzleOutcomes | None = None
    kind: str | None = None  # fine-tuned kind (qat, distill, linear-attn); None for the checkpoint's own variants
    checkpoint: str = ""
    exact_early_exit: list[float] = field(default_factory=list)  # each puzzle answers at its own halting step
    halt_step: list[float] = field(default_factory=list)  # mean halting step under early exit
    trained: str = ""  # a fine-tuned variant's checkpoint and training budget, e.g. "ft-qat/model, 108 steps, 0.5 min"

    @property
    def name(self) -> str:
        """The label, preceded for a fine-tuned variant by how it was trained: two fine-tunes evaluated under one
        recipe share a label, and a verdict on a 40-step fine-tune must say it was one."""
        return f"{self.trained}: {self.label}" if self.trained else self.label

    @property
    def depth(self) -> int:
        return len(self.exact_acc)


@dataclass(frozen=True)
class Group:
    """One checkpoint on one data selection: its swept runs, and the fine-tuned runs judged against its FP32."""

    checkpoint: str
    data: str
    data_hash: str
    architecture: str
    config: dict[str, Any]
    runs: list[Run]
    finetuned: list[Run] = field(default_factory=list)

    @property
    def reference(self) -> Run | None:
        return next((r for r in self.runs if r.reference), None)

    def run(self, recipe: str, own_cycles: bool = True) -> Run | None:
        """The run of a recipe at the checkpoint's own cycles (the first one when several)."""
        ref = self.reference
        return next((r for r in self.runs if r.recipe == recipe and (
            not own_cycles or ref is None or (r.H_cycles, r.L_cycles) == (ref.H_cycles, ref.L_cycles))), None)


@dataclass(frozen=True)
class EmbeddingBytes:
    """Claim 7's measurement of one checkpoint's config on one target (no forward pass)."""

    checkpoint: str
    identifiers: int
    ndim: int
    table_bytes: int  # fp32: identifiers x ndim x 4
    target: str
    target_ram: int  # bytes available in the target's SRAM regions
    streamed_ram: int  # the plan's RAM total with embeddings in flash (one row in RAM)
    fits: bool
    embeddings_in_ram: bool  # the target places the embedding file in an SRAM region
    why_not: list[str] = field(default_factory=list)
    refused: str | None = None  # the plan refused the model (the runtime would reject it)


@dataclass(frozen=True)
class Evidence:
    """Everything the rules read; groups[0] is the primary group."""

    groups: list[Group]
    embeddings: list[EmbeddingBytes] = field(default_factory=list)

    @property
    def primary(self) -> Group | None:
        return self.groups[0] if self.groups else None


@dataclass(frozen=True)
class ClaimResult:
    """A decided claim: verdict, the rule's text, the numbers that decide it, one headline interval, the reason."""

    number: int
    claim: str
    verdict: str
    rule: str
    reason: str
    numbers: dict[str, Any] = field(default_factory=dict)
    interval: dict[str, Any] | None = None
    subject: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for claims.json."""
        return asdict(self)


# ---------------------------------------------------------------------------------------------- shared measures


def _interval(name: str, iv: Interval, threshold: float | None = None) -> dict[str, Any]:
    out = {"name": name, "value": iv.value, "low": iv.low, "high": iv.high, "puzzles": iv.n,
           "resamples": iv.resamples}
    if threshold is not None and not math.isnan(iv.low):
        out["crosses_threshold"] = iv.low < threshold < iv.high
    return out


def _paired(run: Run, ref: Run) -> bool:
    o, r = run.outcomes, ref.outcomes
    return o is not None and r is not None and o.exact.shape[0] == r.exact.shape[0]


def kept(run: Run, ref: Run, metric: str, depth: int | None = None, ref_depth: int | None = None) -> Interval:
    """run's `metric` (exact or cell) at `depth` as a fraction of ref's at `ref_depth` (both default: full depth),
    with a paired bootstrap interval when both runs have per-puzzle outcomes on the same puzzles."""
    d, rd = (depth or run.depth) - 1, (ref_depth or ref.depth) - 1
    if not _paired(run, ref):
        a, b = getattr(run, f"{metric}_acc")[d], getattr(ref, f"{metric}_acc")[rd]
        return Interval(a / b if b else math.nan, math.nan, math.nan, run.labelled, 0)
    a, b = getattr(run.outcomes, metric)[:, d], getattr(ref.outcomes, metric)[:, rd]
    return bootstrap_interval(mean_ratio(a, b), len(a), RESAMPLES)


def difference(run: Run, ref: Run, metric: str = "exact", depth: int | None = None,
               ref_depth: int | None = None) -> Interval:
    """run's `metric` minus ref's, in percentage points, with a paired bootstrap interval where recorded."""
    d, rd = (depth or run.depth) - 1, (ref_depth or ref.depth) - 1
    if not _paired(run, ref):
        diff = 100 * (getattr(run, f"{metric}_acc")[d] - getattr(ref, f"{metric}_acc")[rd])
        return Interval(diff, math.nan, math.nan, run.labelled, 0)
    a, b = getattr(run.outcomes, metric)[:, d], getattr(ref.outcomes, metric)[:, rd]
    iv = bootstrap_interval(mean_difference(a, b), len(a), RESAMPLES)
    return Interval(100 * iv.value, 100 * iv.low, 100 * iv.high, iv.n, iv.resamples)


def solved(run: Run, depth: int | None = None) -> int:
    """Puzzles the run solves at `depth` (default: full depth)."""
    return round(run.exact_acc[(depth or run.depth) - 1] * run.labelled)


def _too_weak(ref: Run | None) -> str | None:
    """Why a group's FP32 reference cannot support kept ratios (None when it can)."""
    if ref is None:
        return "the sweep has no FP32 reference at the checkpoint's cycles"
    if solved(ref) < MIN_SOLVED:
        return (f"FP32 solves {solved(ref)} of {ref.labelled} puzzles (< {MIN_SOLVED}): too few for a kept ratio; "
                "a stronger checkpoint or more puzzles (--limit) would decide it")
    return None


def decidable_first(groups: Sequence[Group]) -> list[Group]:
    """The groups with the ones whose FP32 can support kept ratios first, each part in the order given.

    The headline verdicts are judged on the first group (the primary). When a user gives a weak checkpoint first
    (the TRM-Att that solves 6 of 1,000 hard puzzles beside a TRM-MLP that solves 450), every headline would read
    "not testable here" although another group decides it; the per-checkpoint table still judges each group."""
    return sorted(groups, key=lambda g: _too_weak(g.reference) is not None)


def _collapse(run: Run, ref: Run) -> tuple[str, dict[str, Any]]:
    """The collapse rule on one variant vs its FP32: verdict and the numbers."""
    ek, ck = kept(run, ref, "exact"), kept(run, ref, "cell")
    numbers = {"variant": run.name, "fp32_exact": ref.exact_acc[-1], "fp32_cell": ref.cell_acc[-1],
               "exact": run.exact_acc[-1], "cell": run.cell_acc[-1],
               "exact_kept": _interval("exact kept", ek, COLLAPSE_EXACT_KEPT),
               "cell_kept": _interval("cell kept", ck, CELL_KEPT)}
    if ck.value >= CELL_KEPT and ek.value <= COLLAPSE_EXACT_KEPT:
        verdict = HOLDS
    elif ek.value >= RECOVERED_EXACT_KEPT:
        verdict = FAILS
    elif (ck.value >= CELL_KEPT) or (ek.value <= COLLAPSE_EXACT_KEPT):
        verdict = PARTLY
    else:
        verdict = FAILS
    return verdict, numbers


def combine(verdicts: Sequence[str]) -> str:
    """Several parts into one verdict: all hold -> holds; none testable -> not testable; all tested parts fail ->
    does not hold; anything else (mixed, or some parts not testable) -> partly."""
    tested = [v for v in verdicts if v != UNTESTABLE]
    if not tested:
        return UNTESTABLE
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    if all(v == FAILS for v in tested):
        return FAILS
    return PARTLY


def _pct(x: float) -> str:
    return "-" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def _bytes(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n:,} B"


def _kept_text(iv: dict[str, Any]) -> str:
    ci = "" if math.isnan(iv["low"]) else f" [{_pct(iv['low'])}, {_pct(iv['high'])}]"
    return f"{_pct(iv['value'])}{ci}"


# ---------------------------------------------------------------------------------------------- the seven claims

RULE_COLLAPSE = (f"collapse: cell kept >= {CELL_KEPT:.0%} of FP32 and exact kept <= {COLLAPSE_EXACT_KEPT:.0%} -> "
                 f"holds; exact kept >= {RECOVERED_EXACT_KEPT:.0%} -> does not hold; only one of the two -> partly; "
                 f"FP32 solving < {MIN_SOLVED} puzzles -> not testable")


def claim_1(ev: Evidence) -> ClaimResult:
    g = ev.primary
    ref, naive = (g.reference, g.run(NAIVE)) if g else (None, None)
    base = dict(number=1, claim=CLAIM_TEXT[1], rule=RULE_COLLAPSE, subject=g.checkpoint if g else "")
    if naive is None:
        return ClaimResult(verdict=UNTESTABLE, reason=f"the sweep has no {NAIVE} run", **base)
    why = _too_weak(ref)
    if why:
        return ClaimResult(verdict=UNTESTABLE, reason=why, **base)
    verdict, numbers = _collapse(naive, ref)
    reason = (f"{NAIVE} keeps {_kept_text(numbers['cell_kept'])} of FP32 cell accuracy and "
              f"{_kept_text(numbers['exact_kept'])} of its exact accuracy")
    early = early_exit_numbers(naive, ref)
    if early is not None:
        numbers["early_exit"] = early
        reason += (f"; with early exit (not in the verdict: each puzzle answers at its own halting step, as a device "
                   f"stopping on Q-halt would) exact {_pct(early['exact'])} vs FP32 {_pct(early['fp32_exact'])}, "
                   f"mean halting step {early['halt_step']:.1f} vs {early['fp32_halt_step']:.1f}")
    return ClaimResult(verdict=verdict, reason=reason, numbers=numbers, interval=numbers["exact_kept"], **base)


def early_exit_numbers(run: Run, ref: Run) -> dict[str, float] | None:
    """Exact accuracy and mean halting step of `run` and its FP32 `ref` under early exit within the full depth
    (None when either run was recorded before these metrics existed): the official evaluation runs every step,
    an edge device that stops on the Q head shows these instead, and a compressed Q head can stop too early."""
    values = [run.exact_early_exit, ref.exact_early_exit, run.halt_step, ref.halt_step]
    if not all(values) or any(math.isnan(v[-1]) for v in values):
        return None
    return {"exact": run.exact_early_exit[-1], "fp32_exact": ref.exact_early_exit[-1],
            "halt_step": run.halt_step[-1], "fp32_halt_step": ref.halt_step[-1]}


def _of_other_checkpoint(against: str | None, primary: Group | None) -> str:
    """The suffix " (of NAME)" when a claim-2 run is judged against another checkpoint's FP32 than the primary one
    (linear attention converted from the TRM-Att checkpoint in a TRM-MLP report), so the reader knows whose model
    it was."""
    if not against or primary is None or against == primary.checkpoint:
        return ""
    return f" (of {Path(against).name})"


def _claim2_parts(ev: Evidence) -> dict[str, tuple[str, str, list[dict[str, Any]]]]:
    """Part name -> (verdict, reason, per-run numbers)."""
    g = ev.primary
    parts: dict[str, tuple[str, str, list[dict[str, Any]]]] = {}
    ref = g.reference if g else None
    weak = _too_weak(ref)
    same_data = [h for h in ev.groups if g is not None and h.data_hash == g.data_hash]
    candidates: dict[str, list[tuple[Run, Run | None]]] = {
        "pruning": [(r, ref) for r in (g.runs if g else []) if r.recipe.startswith("prune")],
        **{FINETUNED_KINDS[k]: [(r, h.reference) for h in same_data for r in h.finetuned if r.kind == k]
           for k in FINETUNED_KINDS},  # each fine-tune against the FP32 of the checkpoint it came from
    }
    if not candidates["linear attention"]:  # the data-free conversion of an attention checkpoint, vs its own FP32
        candidates["linear attention"] = [(r, h.reference) for h in same_data for r in h.runs
                                          if r.recipe == LINEAR_ATTN]
    for name, pairs in candidates.items():
        if not pairs:
            missing = ("no pruning run in the sweep" if name == "pruning" else
                       "no fine-tuned checkpoint given (--variant-checkpoint "
                       f"{next(k for k, v in FINETUNED_KINDS.items() if v == name)}=PATH)")
            parts[name] = (UNTESTABLE, missing, [])
            continue
        verdicts, rows = [], []
        for run, base in pairs:
            why = weak if base is ref else _too_weak(base)
            if why:
                verdicts.append(UNTESTABLE)
                rows.append({"variant": run.name, "checkpoint": run.checkpoint, "against": base.checkpoint if base
                             else None, "verdict": UNTESTABLE, "why": why})
                continue
            v, numbers = _collapse(run, base)
            verdicts.append(v)
            rows.append({**numbers, "checkpoint": run.checkpoint, "against": base.checkpoint, "verdict": v})
        verdict = combine(verdicts)
        reason = "; ".join(f"{r['variant']}{_of_other_checkpoint(r.get('against'), g)}: " + (r["why"] if "why" in r else
                                                   f"cell kept {_kept_text(r['cell_kept'])}, exact kept "
                                                   f"{_kept_text(r['exact_kept'])}") for r in rows)
        parts[name] = (verdict, reason, rows)
    return parts


def claim_2(ev: Evidence) -> ClaimResult:
    parts = _claim2_parts(ev)
    verdict = combine([v for v, _, _ in parts.values()])
    if verdict == HOLDS and any(v == UNTESTABLE for v, _, _ in parts.values()):
        verdict = PARTLY
    rule = (f"each method's runs under the collapse rule ({RULE_COLLAPSE}); the claim holds when every part "
            "(pruning, QAT, distillation, linear attention) holds, partly when some parts hold or are not testable, "
            "does not hold when every tested part does not")
    reason = "; ".join(f"{name}: {v} ({why})" for name, (v, why, _) in parts.items())
    numbers = {name: {"verdict": v, "reason": why, "runs": rows} for name, (v, why, rows) in parts.items()}
    first = next((r["exact_kept"] for _, _, rows in parts.values() for r in rows if "exact_kept" in r), None)
    return ClaimResult(2, CLAIM_TEXT[2], verdict, rule, reason, numbers, first,
                       ev.primary.checkpoint if ev.primary else "")


def claim_3(ev: Evidence) -> ClaimResult:
    rule = (f"on the same puzzles, {NAIVE}: TRM-MLP collapses (collapse rule) while TRM-Att keeps >= "
            f"{UNSTRUCK_EXACT_KEPT:.0%} of its exact and >= {CELL_KEPT:.0%} of its cell accuracy -> holds; TRM-MLP "
            "keeps less exact accuracy than TRM-Att with the paired interval of the difference above 0 -> partly; "
            "otherwise does not hold; no TRM-MLP and TRM-Att pair on one data set, or either FP32 too weak -> "
            "not testable")
    g = ev.primary
    same = [h for h in ev.groups if g is not None and h.data_hash == g.data_hash]
    mlp = next((h for h in same if h.architecture == "TRM-MLP"), None)
    att = next((h for h in same if h.architecture == "TRM-Att"), None)
    base = dict(number=3, claim=CLAIM_TEXT[3], rule=rule)
    if mlp is None or att is None:
        have = sorted({h.architecture for h in same}) or ["none"]
        return ClaimResult(verdict=UNTESTABLE, reason="needs a TRM-MLP and a TRM-Att checkpoint (-c twice) on the "
                           f"same data; given: {', '.join(have)}", **base)
    subject = f"{mlp.checkpoint} vs {att.checkpoint}"
    for h in (mlp, att):
        why = _too_weak(h.reference) or (None if h.run(NAIVE) else f"no {NAIVE} run")
        if why:
            return ClaimResult(verdict=UNTESTABLE, reason=f"{h.architecture} {h.checkpoint}: {why}", subject=subject,
                               **base)
    v_mlp, n_mlp = _collapse(mlp.run(NAIVE), mlp.reference)
    _, n_att = _collapse(att.run(NAIVE), att.reference)
    diff = _kept_gap(mlp, att)
    numbers = {"TRM-MLP": n_mlp, "TRM-Att": n_att,
               "exact_kept_gap_att_minus_mlp": _interval("exact kept, TRM-Att minus TRM-MLP", diff, 0.0)}
    att_ok = n_att["exact_kept"]["value"] >= UNSTRUCK_EXACT_KEPT and n_att["cell_kept"]["value"] >= CELL_KEPT
    verdict = _graded(v_mlp == HOLDS and att_ok, diff)
    reason = (f"{NAIVE} exact kept: TRM-MLP {_kept_text(n_mlp['exact_kept'])}, TRM-Att "
              f"{_kept_text(n_att['exact_kept'])}")
    return ClaimResult(verdict=verdict, reason=reason, numbers=numbers, interval=numbers[
        "exact_kept_gap_att_minus_mlp"], subject=subject, **base)


def _graded(holds: bool, advantage: Interval) -> str:
    """HOLDS when the full rule holds; else PARTLY when the advantage is positive with its interval above 0 (or no
    interval could be drawn); else FAILS."""
    if holds:
        return HOLDS
    if advantage.value > 0 and (math.isnan(advantage.low) or advantage.low > 0):
        return PARTLY
    return FAILS


def _kept_gap(mlp: Group, att: Group) -> Interval:
    """Exact kept under int4-naive, TRM-Att minus TRM-MLP, paired over the same puzzles where recorded."""
    runs = (mlp.run(NAIVE), mlp.reference, att.run(NAIVE), att.reference)
    if not all(r.outcomes is not None for r in runs) or len({r.outcomes.exact.shape[0] for r in runs}) != 1:
        return Interval(kept(runs[2], runs[3], "exact").value - kept(runs[0], runs[1], "exact").value,
                        math.nan, math.nan, runs[0].labelled, 0)
    m, mr, a, ar = (r.outcomes.exact[:, -1] for r in runs)
    ratio_m, ratio_a = mean_ratio(m, mr), mean_ratio(a, ar)
    return bootstrap_interval(lambda idx: ratio_a(idx) - ratio_m(idx), len(m), RESAMPLES)


def claim_4(ev: Evidence) -> ClaimResult:
    rule = (f"{CALIBRATED} (per-channel scales, calibrated on data, no retraining) where {NAIVE} lost exact accuracy: "
            f"exact kept >= {RECOVERED_EXACT_KEPT:.0%} of FP32 -> holds; better than {NAIVE} with the paired "
            f"interval of the difference above 0 -> partly; otherwise does not hold; {NAIVE} keeping >= "
            f"{RECOVERED_EXACT_KEPT:.0%} (nothing to recover) or FP32 too weak -> not testable")
    g = ev.primary
    base = dict(number=4, claim=CLAIM_TEXT[4], rule=rule, subject=g.checkpoint if g else "")
    ref, naive, cal = (g.reference, g.run(NAIVE), g.run(CALIBRATED)) if g else (None, None, None)
    if naive is None or cal is None:
        return ClaimResult(verdict=UNTESTABLE, reason=f"the sweep needs {NAIVE} and {CALIBRATED} runs", **base)
    why = _too_weak(ref)
    if why:
        return ClaimResult(verdict=UNTESTABLE, reason=why, **base)
    nk, ck = kept(naive, ref, "exact"), kept(cal, ref, "exact")
    gain = difference(cal, naive)
    numbers = {"fp32_exact": ref.exact_acc[-1], "naive_exact": naive.exact_acc[-1], "cal_exact": cal.exact_acc[-1],
               "naive_exact_kept": _interval("int4-naive exact kept", nk),
               "cal_exact_kept": _interval("int4-channel-cal exact kept", ck, RECOVERED_EXACT_KEPT),
               "gain_points": _interval("cal minus naive exact (points)", gain, 0.0)}
    if nk.value >= RECOVERED_EXACT_KEPT:
        return ClaimResult(verdict=UNTESTABLE, reason=f"{NAIVE} already keeps {_pct(nk.value)} of FP32 exact accuracy: "
                           "nothing to recover", numbers=numbers, **base)
    verdict = _graded(ck.value >= RECOVERED_EXACT_KEPT, gain)
    reason = (f"exact kept: {NAIVE} {_pct(nk.value)}, {CALIBRATED} {_kept_text(numbers['cal_exact_kept'])}; "
              f"gain {gain.value:+.1f} points")
    return ClaimResult(verdict=verdict, reason=reason, numbers=numbers, interval=numbers["cal_exact_kept"], **base)


def claim_5(ev: Evidence) -> ClaimResult:
    rule = (f"over every (variant, depth) point of the checkpoint's sweep, Spearman rho of carry fidelity (no labels) "
            f"with exact accuracy: rho >= {RHO_STRONG} with its bootstrap interval above 0, and fidelity at full depth "
            "ordering every pair of variants as exact accuracy does -> holds; interval above 0 otherwise -> partly; "
            f"else does not hold; without {NAIVE} and {CALIBRATED} runs or with FP32 too weak -> not testable")
    g = ev.primary
    base = dict(number=5, claim=CLAIM_TEXT[5], rule=rule, subject=g.checkpoint if g else "")
    if g is None or g.run(NAIVE) is None or g.run(CALIBRATED) is None:
        return ClaimResult(verdict=UNTESTABLE, reason=f"the sweep needs {NAIVE} and {CALIBRATED} runs", **base)
    why = _too_weak(g.reference)
    if why:
        return ClaimResult(verdict=UNTESTABLE, reason=why, **base)
    fid = [f for r in g.runs for f in r.fidelity]
    exact = [e for r in g.runs for e in r.exact_acc]
    corr = spearman_bootstrap(fid, exact, RESAMPLES)
    agree, total = pairwise_agreement([r.fidelity[-1] for r in g.runs], [r.exact_acc[-1] for r in g.runs])
    interval = {"name": "Spearman rho (bootstrap over points)", "value": corr.rho, "low": corr.low, "high": corr.high,
                "points": corr.n, "resamples": corr.resamples, "crosses_threshold": corr.low < 0 < corr.high}
    numbers = {"rho": interval, "concordant_pairs": agree, "comparable_pairs": total,
               "fidelity_at_full_depth": {r.label: r.fidelity[-1] for r in g.runs},
               "exact_at_full_depth": {r.label: r.exact_acc[-1] for r in g.runs}}
    if math.isnan(corr.rho):
        return ClaimResult(verdict=UNTESTABLE, reason="fidelity or exact accuracy is constant over the sweep",
                           numbers=numbers, **base)
    significant = not math.isnan(corr.low) and corr.low > 0
    if significant and corr.rho >= RHO_STRONG and agree == total:
        verdict = HOLDS
    elif significant:
        verdict = PARTLY
    else:
        verdict = FAILS
    reason = (f"rho = {corr.rho:.2f} [{corr.low:.2f}, {corr.high:.2f}] over {corr.n} points; fidelity orders "
              f"{agree}/{total} pairs of variants as exact accuracy")
    return ClaimResult(verdict=verdict, reason=reason, numbers=numbers, interval=interval, **base)


def claim_6(ev: Evidence) -> ClaimResult:
    rule = (f"the cheapest {INT8} point at one recursive cycle (T = 1, any depth) within {WITHIN_POINTS:g} point of "
            f"FP32's exact accuracy at full depth and cycles: FLOPs ratio >= {SPEEDUP_MIN:g}x (the claim: "
            f"~{SPEEDUP_CLAIMED:g}x) -> holds; within {WITHIN_POINTS:g} point at a smaller saving, or within "
            f"{NEAR_POINTS:g} points at >= {SPEEDUP_MIN:g}x -> partly; otherwise does not hold; no {INT8} T=1 run "
            "or FP32 too weak -> not testable")
    g = ev.primary
    base = dict(number=6, claim=CLAIM_TEXT[6], rule=rule, subject=g.checkpoint if g else "")
    runs = [r for r in (g.runs if g else []) if r.recipe == INT8 and r.H_cycles == 1]
    if not runs:
        return ClaimResult(verdict=UNTESTABLE, reason=f"the sweep has no {INT8} run at T = 1", **base)
    ref = g.reference
    why = _too_weak(ref)
    if why:
        return ClaimResult(verdict=UNTESTABLE, reason=why, **base)
    ref_flops = ref.flops_per_step * ref.depth
    points = [(r, d, ref_flops / (r.flops_per_step * d), 100 * (r.exact_acc[d - 1] - ref.exact_acc[-1]))
              for r in runs for d in range(1, r.depth + 1)]
    match = [p for p in points if p[3] >= -WITHIN_POINTS]
    fast = [p for p in points if p[2] >= SPEEDUP_MIN]
    cheapest = max(match, key=lambda p: p[2]) if match else None
    best_fast = max(fast, key=lambda p: p[3]) if fast else None

    def describe(p: tuple[Run, int, float, float] | None) -> dict[str, Any] | None:
        if p is None:
            return None
        r, d, ratio, _ = p
        return {"variant": r.label, "depth": d, "exact": r.exact_acc[d - 1], "flops_ratio": ratio,
                "difference_points": _interval("exact minus FP32 (points)", difference(r, ref, depth=d),
                                               -WITHIN_POINTS)}

    numbers = {"fp32_exact": ref.exact_acc[-1], "fp32_flops_per_puzzle": ref_flops,
               "cheapest_within": describe(cheapest), f"best_at_{SPEEDUP_MIN:g}x": describe(best_fast)}
    if cheapest is not None and cheapest[2] >= SPEEDUP_MIN:
        verdict, shown = HOLDS, cheapest
    elif cheapest is not None and cheapest[2] > 1:
        verdict, shown = PARTLY, cheapest
    elif best_fast is not None and best_fast[3] >= -NEAR_POINTS:
        verdict, shown = PARTLY, best_fast
    else:
        verdict, shown = FAILS, cheapest or best_fast or max(points, key=lambda p: p[3])
    r, d, ratio, diff = shown
    reason = (f"{r.label} at depth {d}: exact {_pct(r.exact_acc[d - 1])} vs FP32 {_pct(ref.exact_acc[-1])} "
              f"({diff:+.1f} points) at {ratio:.2f}x fewer FLOPs")
    shown_numbers = describe(shown)
    return ClaimResult(verdict=verdict, reason=reason, numbers={**numbers, "decided_by": shown_numbers},
                       interval=shown_numbers["difference_points"], **base)


def claim_7(ev: Evidence) -> ClaimResult:
    rule = ("from the config (no forward pass): the fp32 puzzle-embedding table (identifiers x puzzle_emb_ndim x 4 "
            "bytes) vs the target's SRAM, and the memory plan (redge plan, int8) with the table streamed from flash: "
            "the table alone exceeds SRAM and the streamed plan fits -> holds; the table leaves RAM (one row stays) "
            "but the plan still does not fit -> partly; the table stays in RAM -> does not hold; a table that fits "
            f"in SRAM anyway (no bottleneck; the paper's is ARC's, ~{PAPER_TABLE_MB} MB) -> not testable")
    base = dict(number=7, claim=CLAIM_TEXT[7], rule=rule)
    usable = [e for e in ev.embeddings if e.refused is None]
    if not usable:
        why = "; ".join(f"{e.checkpoint}: {e.refused}" for e in ev.embeddings) or "no checkpoint to measure"
        return ClaimResult(verdict=UNTESTABLE, reason=why, **base)
    e = max(usable, key=lambda x: x.table_bytes)
    numbers = {**asdict(e), "table_mb": e.table_bytes / 1e6, "paper_table_mb": PAPER_TABLE_MB,
               "ram_without_streaming": e.streamed_ram + (0 if e.embeddings_in_ram else e.table_bytes)}
    interval = {"name": "bytes (exact count, no sampling)", "value": e.table_bytes, "low": e.table_bytes,
                "high": e.table_bytes}
    sizes = (f"table {e.identifiers:,} x {e.ndim} x 4 B = {_bytes(e.table_bytes)} vs {_bytes(e.target_ram)} SRAM on "
             f"{e.target}")
    if e.table_bytes <= e.target_ram:
        return ClaimResult(verdict=UNTESTABLE, reason=f"{sizes}: no bottleneck to remove on this model",
                           numbers=numbers, interval=interval, subject=e.checkpoint, **base)
    if e.embeddings_in_ram:
        verdict, tail = FAILS, "the target places the embedding file in SRAM"
    elif e.fits:
        verdict, tail = HOLDS, f"streamed, the plan needs {_bytes(e.streamed_ram)} of RAM and fits"
    else:
        verdict, tail = PARTLY, (f"streamed, RAM falls to {_bytes(e.streamed_ram)} but the plan still does not "
                                 f"fit ({'; '.join(e.why_not)})")
    return ClaimResult(verdict=verdict, reason=f"{sizes}; {tail}", numbers=numbers, interval=interval,
                       subject=e.checkpoint, **base)


CLAIM_TEXT = {
    1: "naive INT4 keeps cell accuracy while exact accuracy collapses to ~0",
    2: "the same collapse for pruning, distillation, QAT and linear attention",
    3: "the collapse strikes MLP-mixing recursion, not attention, on the same task",
    4: "per-channel calibrated INT4 without retraining recovers exact accuracy",
    5: "carry-trajectory fidelity predicts the damage and the recovery without labels",
    6: "INT8 at one recursive cycle matches full-depth FP32 at ~6x fewer FLOPs",
    7: f"flash-streamed embeddings remove a ~{PAPER_TABLE_MB} MB bottleneck",
}
CLAIMS: tuple[Callable[[Evidence], ClaimResult], ...] = (claim_1, claim_2, claim_3, claim_4, claim_5, claim_6,
                                                          claim_7)
PER_GROUP = (claim_1, claim_2, claim_4, claim_5, claim_6)  # the claims judged on one checkpoint's own sweep

THRESHOLDS = {
    "COLLAPSE_EXACT_KEPT": COLLAPSE_EXACT_KEPT, "CELL_KEPT": CELL_KEPT, "RECOVERED_EXACT_KEPT": RECOVERED_EXACT_KEPT,
    "UNSTRUCK_EXACT_KEPT": UNSTRUCK_EXACT_KEPT, "MIN_SOLVED": MIN_SOLVED, "WITHIN_POINTS": WITHIN_POINTS,
    "NEAR_POINTS": NEAR_POINTS, "SPEEDUP_MIN": SPEEDUP_MIN, "RHO_STRONG": RHO_STRONG, "RESAMPLES": RESAMPLES,
}


def decide(ev: Evidence) -> list[ClaimResult]:
    """All seven claims on the evidence, in order."""
    return [claim(ev) for claim in CLAIMS]


def per_group(ev: Evidence) -> list[dict[str, Any]]:
    """The per-checkpoint claims (1, 2, 4, 5, 6) judged on every group as if it were the primary one."""
    out = []
    for g in ev.groups:
        others = [h for h in ev.groups if h is not g]
        results = [claim(replace(ev, groups=[g, *others])) for claim in PER_GROUP]
        out.append({"checkpoint": g.checkpoint, "data": g.data, "architecture": g.architecture,
                    "verdicts": {r.number: r.verdict for r in results}})
    return out


def damage_vs_strength(ev: Evidence) -> list[dict[str, Any]]:
    """Versions of the primary model (same config, other weights) on the primary data, weakest FP32 first: FP32
    exact accuracy and what int4-naive keeps of it. Empty unless at least two versions were given."""
    g = ev.primary
    if g is None:
        return []
    versions = [h for h in ev.groups if h.data_hash == g.data_hash and h.config == g.config
                and h.reference is not None and h.run(NAIVE) is not None]
    if len(versions) < 2:
        return []
    rows = []
    for h in versions:
        ref, naive = h.reference, h.run(NAIVE)
        rows.append({"checkpoint": h.checkpoint, "fp32_exact": _interval("FP32 exact", _mean(ref)),
                     "naive_exact": naive.exact_acc[-1], "fp32_solved": solved(ref),
                     "exact_kept": _interval("exact kept", kept(naive, ref, "exact")),
                     "cell_kept": _interval("cell kept", kept(naive, ref, "cell"))})
    return sorted(rows, key=lambda r: r["fp32_exact"]["value"])


def _mean(run: Run) -> Interval:
    if run.outcomes is None:
        return Interval(run.exact_acc[-1], math.nan, math.nan, run.labelled, 0)
    x = run.outcomes.exact[:, -1]
    return bootstrap_interval(lambda idx: np.asarray(x[idx].mean(-1)), len(x), RESAMPLES)
