"""The claims' verdict rules on synthetic evidence (every verdict reachable) and the bootstrap intervals."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from redge.study import claims as C
from redge.study.claims import EmbeddingBytes, Evidence, Group, Run
from redge.study.records import BatchRecord, PuzzleOutcomes, puzzle_outcomes
from redge.study.stats import bootstrap_interval, mean_ratio

N, DEPTH = 400, 4


def run(recipe: str, exact: float, cell: float, *, reference: bool = False, H: int = 3, fidelity: float = 1.0,
        flops: float = 21.0, kind: str | None = None, n: int = N, exact_by_depth: list[float] | None = None) -> Run:
    """A run whose first round(exact * n) puzzles are solved (at every depth unless exact_by_depth is given) and
    whose mean cell accuracy is `cell` (solved puzzles 1.0, the others the rest)."""
    by_depth = exact_by_depth or [exact] * DEPTH
    ex = np.zeros((n, len(by_depth)))
    for d, e in enumerate(by_depth):
        ex[: round(e * n), d] = 1.0
    k = round(exact * n)
    rest = (cell * n - k) / (n - k) if n > k else 1.0
    cl = np.where(ex[:, -1:] == 1.0, 1.0, rest) * np.ones_like(ex)
    fid = [fidelity] * len(by_depth)
    return Run(f"{recipe} T{H} n6", recipe, H, 6, reference, flops, [float(x) for x in ex.mean(0)],
               [float(x) for x in cl.mean(0)], fid, n, PuzzleOutcomes(ex, cl), kind, "ckpt")


def group(*runs: Run, arch: str = "TRM-MLP", name: str = "ckpt", finetuned: tuple[Run, ...] = (),
          config: dict | None = None) -> Group:
    return Group(name, "data", "h", arch, config or {"mlp_t": arch == "TRM-MLP"}, list(runs), list(finetuned))


def fp32(exact: float = 0.6, cell: float = 0.97, **kw) -> Run:
    return run("fp32", exact, cell, reference=True, **kw)


def ev(*groups: Group, embeddings: tuple[EmbeddingBytes, ...] = ()) -> Evidence:
    return Evidence(list(groups), list(embeddings))


# ------------------------------------------------------------------------------------------------------ claim 1

def test_naive_int4_collapse_holds() -> None:
    r = C.claim_1(ev(group(fp32(), run("int4-naive", 0.01, 0.95))))
    assert r.verdict == C.HOLDS
    iv = r.interval
    assert iv["low"] <= iv["value"] <= iv["high"] and iv["value"] == pytest.approx(0.01 / 0.6, rel=1e-6)


def test_no_collapse_does_not_hold_and_partial_is_partly() -> None:
    assert C.claim_1(ev(group(fp32(), run("int4-naive", 0.58, 0.97)))).verdict == C.FAILS
    assert C.claim_1(ev(group(fp32(), run("int4-naive", 0.30, 0.95)))).verdict == C.PARTLY


def test_claim_1_reports_early_exit_beside_the_verdict_when_recorded() -> None:
    """Early exit (each puzzle answers at its own halting step) is reported with claim 1 but does not change the
    verdict, which follows the official all-steps evaluation; runs recorded without it (NaN) report nothing."""
    def with_exit(r: Run, exact: float, step: float) -> Run:
        return dataclasses.replace(r, exact_early_exit=[math.nan] * (DEPTH - 1) + [exact],
                                   halt_step=[math.nan] * (DEPTH - 1) + [step])

    ref = with_exit(fp32(), 0.55, 6.0)
    naive = with_exit(run("int4-naive", 0.58, 0.97), 0.02, 1.0)
    r = C.claim_1(ev(group(ref, naive)))
    assert r.verdict == C.FAILS and r.numbers["early_exit"] == {"exact": 0.02, "fp32_exact": 0.55, "halt_step": 1.0,
                                                                 "fp32_halt_step": 6.0}
    assert "with early exit" in r.reason and "exact 2.0% vs FP32 55.0%" in r.reason
    unrecorded = with_exit(run("int4-naive", 0.58, 0.97), math.nan, math.nan)
    r = C.claim_1(ev(group(ref, unrecorded)))
    assert "early_exit" not in r.numbers and "early exit" not in r.reason


def test_claim_1_not_testable_when_inputs_are_missing_or_fp32_too_weak() -> None:
    missing = C.claim_1(ev(group(fp32())))
    assert missing.verdict == C.UNTESTABLE and "int4-naive" in missing.reason
    weak = C.claim_1(ev(group(fp32(exact=0.02), run("int4-naive", 0.0, 0.95))))
    assert weak.verdict == C.UNTESTABLE and "solves 8 of 400" in weak.reason
    assert C.claim_1(ev()).verdict == C.UNTESTABLE


# ------------------------------------------------------------------------------------------------------ claim 2

def test_claim_2_parts() -> None:
    base = (fp32(), run("prune-50", 0.0, 0.93))
    only_pruning = C.claim_2(ev(group(*base)))
    assert only_pruning.verdict == C.PARTLY
    assert only_pruning.numbers["pruning"]["verdict"] == C.HOLDS
    assert only_pruning.numbers["QAT"]["verdict"] == C.UNTESTABLE
    assert "no fine-tuned checkpoint given" in only_pruning.numbers["QAT"]["reason"]
    tuned = tuple(run("fp32", 0.01, 0.94, kind=k) for k in ("qat", "distill", "linear-attn"))
    assert C.claim_2(ev(group(*base, finetuned=tuned))).verdict == C.HOLDS
    kept = (fp32(), run("prune-50", 0.59, 0.97))
    assert C.claim_2(ev(group(*kept))).verdict == C.FAILS
    assert C.claim_2(ev(group(fp32()))).verdict == C.UNTESTABLE


def test_claim_2_linear_attention_from_an_attention_checkpoint_conversion() -> None:
    """The conversion is judged against the TRM-Att's FP32, and the reason names whose model it was."""
    att_fp32, mlp_fp32 = (dataclasses.replace(fp32(), checkpoint=f"ckpts/{n}") for n in ("trm-att", "trm-mlp"))
    att = group(att_fp32, run("linear-attn", 0.0, 0.95), arch="TRM-Att", name="ckpts/trm-att")
    mlp = group(mlp_fp32, run("prune-50", 0.0, 0.95), name="ckpts/trm-mlp")
    r = C.claim_2(ev(mlp, att))
    assert r.numbers["linear attention"]["verdict"] == C.HOLDS
    assert r.numbers["linear attention"]["reason"].startswith("linear-attn T3 n6 (of trm-att):")
    assert "(of" not in r.numbers["pruning"]["reason"]


def test_claim_2_a_fine_tune_is_judged_against_the_fp32_of_the_checkpoint_it_came_from() -> None:
    """A linear-attention fine-tune of the TRM-Att sits in the TRM-Att's group: against the TRM-Att's FP32 (exact
    0.3) its 0.29 is no collapse, although it would be one against the TRM-MLP's 0.9."""
    tuned = run("fp32", 0.29, 0.95, kind="linear-attn")
    att = group(fp32(0.3), arch="TRM-Att", name="att", finetuned=(tuned,))
    r = C.claim_2(ev(group(fp32(0.9)), att))
    assert r.numbers["linear attention"]["verdict"] == C.FAILS


# ------------------------------------------------------------------------------------------------------ claim 3

def test_claim_3_mlp_vs_attention() -> None:
    mlp = group(fp32(), run("int4-naive", 0.0, 0.95))
    att_ok = group(fp32(), run("int4-naive", 0.55, 0.96), arch="TRM-Att", name="att")
    att_hit = group(fp32(), run("int4-naive", 0.0, 0.95), arch="TRM-Att", name="att")
    r = C.claim_3(ev(mlp, att_ok))
    assert r.verdict == C.HOLDS and r.interval["low"] > 0
    assert C.claim_3(ev(mlp, att_hit)).verdict == C.FAILS
    assert C.claim_3(ev(mlp)).verdict == C.UNTESTABLE
    half = group(fp32(), run("int4-naive", 0.2, 0.95), arch="TRM-Att", name="att")  # less struck, but struck
    assert C.claim_3(ev(mlp, half)).verdict == C.PARTLY


# ------------------------------------------------------------------------------------------------------ claim 4

@pytest.mark.parametrize("cal,verdict", [(0.58, C.HOLDS), (0.3, C.PARTLY), (0.01, C.FAILS)])
def test_claim_4_recovery(cal: float, verdict: str) -> None:
    r = C.claim_4(ev(group(fp32(), run("int4-naive", 0.01, 0.95), run("int4-channel-cal", cal, 0.97))))
    assert r.verdict == verdict


def test_claim_4_not_testable_without_a_collapse() -> None:
    r = C.claim_4(ev(group(fp32(), run("int4-naive", 0.59, 0.97), run("int4-channel-cal", 0.6, 0.97))))
    assert r.verdict == C.UNTESTABLE and "nothing to recover" in r.reason


# ------------------------------------------------------------------------------------------------------ claim 5

def _fidelity_group(tracks: bool) -> Group:
    depths = [0.2, 0.4, 0.5, 0.6]
    runs = [run("fp32", 0.6, 0.97, reference=True, fidelity=1.0, exact_by_depth=depths)]
    for recipe, scale, fid in (("int8", 0.95, 0.99), ("int4-channel-cal", 0.8, 0.95), ("int4-naive", 0.05, 0.6)):
        runs.append(run(recipe, 0.6 * scale, 0.95, fidelity=fid if tracks else 1.6 - fid,
                        exact_by_depth=[x * scale for x in depths]))
    for r in runs:  # fidelity falls with depth for the compressed runs, as exact rises: per-depth points
        r.fidelity[:] = [f - (0.01 * d if not r.reference else 0) for d, f in enumerate(r.fidelity)]
    return group(*runs)


def test_claim_5_fidelity_predicts() -> None:
    good, bad = C.claim_5(ev(_fidelity_group(True))), C.claim_5(ev(_fidelity_group(False)))
    assert good.verdict in (C.HOLDS, C.PARTLY) and good.numbers["concordant_pairs"] == good.numbers[
        "comparable_pairs"]
    assert bad.verdict == C.FAILS
    assert C.claim_5(ev(group(fp32()))).verdict == C.UNTESTABLE


# ------------------------------------------------------------------------------------------------------ claim 6

def test_claim_6_cycles_and_flops() -> None:
    ref = fp32(flops=21.0)
    fast = run("int8", 0.6, 0.97, H=1, flops=7.0, exact_by_depth=[0.3, 0.6, 0.6, 0.6])
    r = C.claim_6(ev(group(ref, fast)))  # depth 2 of 4 at 7/21 of the FLOPs: 6x
    assert r.verdict == C.HOLDS and r.numbers["decided_by"]["flops_ratio"] == pytest.approx(6.0)
    early = run("int8", 0.6, 0.97, H=1, flops=7.0)  # matches from depth 1: 12x
    assert C.claim_6(ev(group(ref, early))).numbers["decided_by"]["flops_ratio"] == pytest.approx(12.0)
    late = run("int8", 0.6, 0.97, H=1, flops=7.0, exact_by_depth=[0.1, 0.2, 0.3, 0.6])
    assert C.claim_6(ev(group(ref, late))).verdict == C.PARTLY  # matches only at depth 4: 3x
    bad = run("int8", 0.1, 0.9, H=1, flops=7.0)
    assert C.claim_6(ev(group(ref, bad))).verdict == C.FAILS
    assert C.claim_6(ev(group(ref))).verdict == C.UNTESTABLE


# ------------------------------------------------------------------------------------------------------ claim 7

def _bytes(ids: int, fits: bool = True, in_ram: bool = False, refused: str | None = None) -> EmbeddingBytes:
    return EmbeddingBytes("arc", ids, 512, ids * 512 * 4, "stm32n6", 4_300_800, 3_000_000, fits, in_ram,
                          [] if fits else ["sram short"], refused)


@pytest.mark.parametrize("emb,verdict", [(_bytes(48871), C.HOLDS), (_bytes(48871, fits=False), C.PARTLY),
                                         (_bytes(48871, in_ram=True), C.FAILS), (_bytes(1), C.UNTESTABLE),
                                         (_bytes(48871, refused="runtime refuses"), C.UNTESTABLE)])
def test_claim_7_embedding_bytes(emb: EmbeddingBytes, verdict: str) -> None:
    r = C.claim_7(ev(embeddings=(emb,)))
    assert r.verdict == verdict
    if verdict != C.UNTESTABLE or emb.refused is None:
        assert r.numbers["table_bytes"] == emb.identifiers * 512 * 4


# ------------------------------------------------------------------------------------------------ whole report

def test_every_claim_has_a_verdict_and_rule_and_versions_give_damage_vs_strength() -> None:
    v1 = group(fp32(exact=0.3), run("int4-naive", 0.1, 0.95), name="v1", config={"a": 1})
    v2 = group(fp32(exact=0.6), run("int4-naive", 0.01, 0.95), name="v2", config={"a": 1})
    e = ev(v2, v1)
    results = C.decide(e)
    assert [r.number for r in results] == list(range(1, 8))
    assert all(r.verdict in C.VERDICTS and r.rule and r.reason for r in results)
    table = C.damage_vs_strength(e)
    assert [r["checkpoint"] for r in table] == ["v1", "v2"]
    assert table[0]["exact_kept"]["value"] > table[1]["exact_kept"]["value"]
    assert len(C.per_group(e)) == 2
    assert C.damage_vs_strength(ev(v2)) == []


# ------------------------------------------------------------------------------------------------------ bootstrap

def test_bootstrap_interval_contains_the_estimate_and_shrinks_with_more_puzzles() -> None:
    rng = np.random.default_rng(1)
    widths = []
    for n in (100, 1600):
        ref = (rng.random(n) < 0.6).astype(float)
        var = ref * (rng.random(n) < 0.5)
        iv = bootstrap_interval(mean_ratio(var, ref), n, 1000)
        assert iv.low <= iv.value <= iv.high
        assert iv.value == pytest.approx(var.mean() / ref.mean())
        widths.append(iv.high - iv.low)
    assert widths[1] < widths[0] / 2
    assert math.isnan(bootstrap_interval(mean_ratio(np.zeros(0), np.zeros(0)), 0).value)


def test_kept_without_per_puzzle_records_gives_a_point_estimate_only() -> None:
    a, b = fp32(), run("int4-naive", 0.3, 0.95)
    old = Run(**{**b.__dict__, "outcomes": None})
    iv = C.kept(old, a, "exact")
    assert iv.value == pytest.approx(0.5) and math.isnan(iv.low)


def test_old_batch_records_load_without_puzzle_outcomes() -> None:
    record = BatchRecord(2, rows=3, labelled=3).to_dict()
    record.pop("puzzles")
    assert puzzle_outcomes([BatchRecord.from_dict(record)]) is None


def test_a_checkpoint_too_weak_to_decide_does_not_take_the_headline() -> None:
    """Given first, a TRM-Att that solves 1% would make every headline 'not testable'; the TRM-MLP given second
    decides them, and the weak one keeps its own row (per_group) as 'not testable'."""
    weak = group(fp32(exact=0.01), run("int4-naive", 0.0, 0.95), arch="TRM-Att", name="att")
    strong = group(fp32(), run("int4-naive", 0.0, 0.95))
    ordered = C.decidable_first([weak, strong])
    assert [g.checkpoint for g in ordered] == ["ckpt", "att"]
    assert C.claim_1(ev(*ordered)).verdict == C.HOLDS and C.claim_1(ev(weak, strong)).verdict == C.UNTESTABLE
    rows = {r["checkpoint"]: r["verdicts"][1] for r in C.per_group(ev(*ordered))}
    assert rows == {"ckpt": C.HOLDS, "att": C.UNTESTABLE}
    both = [group(fp32(), name="a"), group(fp32(), name="b")]
    assert [g.checkpoint for g in C.decidable_first(both)] == ["a", "b"]  # the order given when both decide
