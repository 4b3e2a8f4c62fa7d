"""The claims report: evidence gathered from the runs store and the checkpoints' configs, the seven verdicts
(`study.claims`), and its files (claims.md, claims.json; the underlying sweep report goes beside them).

Per-puzzle outcomes come from the store's batch records (`records.puzzle_outcomes`); runs recorded before those
existed have none, and their claims carry point estimates without intervals (the report says so).
"""
from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from redge.core.atomic import atomic_write
from redge.core.errors import RedgeInputError
from redge.study.claims import (
    PER_GROUP,
    THRESHOLDS,
    VERDICTS,
    EmbeddingBytes,
    Evidence,
    Group,
    Run,
    damage_vs_strength,
    decidable_first,
    decide,
    per_group,
)
from redge.study.records import aggregate, puzzle_outcomes
from redge.study.report import jsonable
from redge.study.store import RunStore


@dataclass(frozen=True)
class Swept:
    """One sweep of the protocol: a checkpoint on a data set, its store keys, and its role (kind None: a checkpoint
    given with -c; otherwise a fine-tuned variant, qat, distill or linear-attn, of `origin` when that is one of
    them, else of the first)."""

    checkpoint: Path
    data: Path
    keys: tuple[str, ...]
    kind: str | None = None
    origin: Path | None = None  # the checkpoint a fine-tuned variant came from (its training's init_from/teacher)


def _run(store: RunStore, key: str, kind: str | None) -> tuple[dict[str, Any], str, Run]:
    (row,) = store.runs([key])
    meta = row["meta"]
    records = store.records(key)
    metrics = aggregate(records)
    run = Run(meta["label"], meta["recipe"], meta["H_cycles"], meta["L_cycles"], bool(meta["reference"]) and not kind,
              meta["flops_per_step"], metrics.by_depth["exact_acc"], metrics.by_depth["cell_acc"],
              metrics.by_depth["fidelity"], metrics.labelled, puzzle_outcomes(records), kind, meta["checkpoint"],
              metrics.by_depth["exact_acc_early_exit"], metrics.by_depth["halt_step_early_exit"])
    return meta, row["data_hash"], run


def gather(store: RunStore, swept: list[Swept], embeddings: list[EmbeddingBytes]) -> Evidence:
    """Evidence from the store: one group per (checkpoint, data) of the base sweeps, in the order given, except that
    groups whose FP32 solves too few puzzles go last (`decidable_first`; the first group is the primary). Each
    fine-tuned sweep joins the group on the same data of the checkpoint it came from (a linear-attention fine-tune
    of the TRM-Att is judged against the TRM-Att's FP32), else of the first checkpoint given."""
    from redge.quant.load import read_config

    groups: dict[tuple[str, str], Group] = {}
    for s in (s for s in swept if s.kind is None):
        for key in dict.fromkeys(s.keys):
            meta, data_hash, run = _run(store, key, None)
            where = (str(s.checkpoint), str(s.data))
            if where not in groups:
                groups[where] = Group(*where, data_hash, meta["architecture"], asdict(read_config(s.checkpoint)), [])
            if all(r.label != run.label for r in groups[where].runs):  # T = 1 may be the checkpoint's own cycles
                groups[where].runs.append(run)
    for s in (s for s in swept if s.kind is not None):
        same_data = [g for g in groups.values() if g.data == str(s.data)]
        home = next((g for g in same_data if s.origin and _same_file(g.checkpoint, s.origin)),
                    same_data[0] if same_data else None)
        trained = training_note(s.checkpoint)
        for key in s.keys:
            _, data_hash, run = _run(store, key, s.kind)
            if home is not None and data_hash == home.data_hash:
                home.finetuned.append(replace(run, trained=trained))
    return Evidence(decidable_first(list(groups.values())), embeddings)


def training_note(checkpoint: Path) -> str:
    """How a fine-tuned checkpoint was trained, from its saved metadata: its folder (with the run folder of a
    `redge train` output's model/ or ema/) and its steps and minutes, e.g. "ft-qat/model, 108 steps, 0.5 min"."""
    from redge.models.checkpoints.redge_format import read_redge_metadata

    path = Path(checkpoint)
    name = f"{path.parent.name}/{path.name}" if path.name in ("model", "ema") else path.name
    try:
        meta = read_redge_metadata(path)
    except RedgeInputError:  # an official or quantized checkpoint keeps no training metadata
        return name
    budget = [f"{meta['step']:,} steps" if isinstance(meta.get("step"), int) else "",
              f"{meta['train_minutes']:g} min" if isinstance(meta.get("train_minutes"), (int, float)) else ""]
    return ", ".join([name, *(b for b in budget if b)])


def measured_on(store: RunStore, keys: Sequence[str]) -> dict[str, int]:
    """How many of the runs behind a report (`keys`) each device measured ("not recorded" for runs stored before sweeps
    recorded it). A report rendered again from a store (on another machine) must say where its numbers came from,
    not only which command rendered it."""
    rows = store.runs(keys)
    return dict(Counter(row["meta"].get("measured_on", "not recorded") for row in rows))


def _same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same checkpoint (after resolving links and relative parts)."""
    return Path(a).resolve() == Path(b).resolve()


def embedding_bytes(checkpoint: Path, target: str) -> EmbeddingBytes:
    """Claim 7's numbers for one checkpoint, from its config alone: the fp32 table and the int8 plan on `target`
    with the table streamed from flash (`redge plan`); a model the target's runtime refuses is recorded as such."""
    from redge.deploy.plan import plan_config
    from redge.deploy.targets import load_target
    from redge.quant.load import read_config

    config = read_config(checkpoint)
    tgt = load_target(target)
    ram = sum(r.available for r in tgt.regions if r.kind == "sram")
    table = config.num_puzzle_identifiers * config.puzzle_emb_ndim * 4 if config.puzzle_emb_ndim else 0
    base = dict(checkpoint=str(checkpoint), identifiers=config.num_puzzle_identifiers, ndim=config.puzzle_emb_ndim,
                table_bytes=table, target=tgt.name, target_ram=ram)
    try:
        plan = plan_config(config, "int8", tgt, source=checkpoint)
    except RedgeInputError as exc:
        return EmbeddingBytes(**base, streamed_ram=0, fits=False, embeddings_in_ram=False, refused=str(exc))
    region = next(r for r in tgt.regions if r.name == plan["placement"]["embeddings"].split(":")[-1])
    return EmbeddingBytes(**base, streamed_ram=plan["ram"]["total"], fits=plan["fits"],
                          embeddings_in_ram=region.kind == "sram", why_not=plan["why_not"])


def claims_report(ev: Evidence, protocol: dict[str, Any]) -> dict[str, Any]:
    """The whole report as data: protocol, thresholds, the seven claims, per-checkpoint verdicts, damage vs
    strength, and how the intervals were computed."""
    runs = [r for g in ev.groups for r in (*g.runs, *g.finetuned)]
    recorded = all(r.outcomes is not None for r in runs)
    return {
        "protocol": protocol,
        "thresholds": THRESHOLDS,
        "claims": [c.to_dict() for c in decide(ev)],
        "per_checkpoint": per_group(ev) if len(ev.groups) > 1 else [],
        "damage_vs_strength": damage_vs_strength(ev),
        "intervals": ("95% percentile bootstrap over puzzles, paired (variant and FP32 resampled with the same "
                      "puzzles), from the per-puzzle outcomes in the runs store" if recorded else
                      "some runs in this store predate per-puzzle records: their claims show point estimates only "
                      "(rerun with a fresh --store for intervals)"),
    }


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and "value" in value:
        v, lo, hi = (value[k] for k in ("value", "low", "high"))
        if isinstance(v, int) or (isinstance(v, float) and abs(v) > 10):
            return f"{v:,.4g}" if isinstance(v, float) else f"{v:,}"
        ci = "" if lo is None or (isinstance(lo, float) and math.isnan(lo)) else f" [{lo:.3f}, {hi:.3f}]"
        return f"{v:.3f}{ci}" if v is not None and not (isinstance(v, float) and math.isnan(v)) else "-"
    return str(value)


def claims_markdown(report: dict[str, Any], command: str = "") -> str:
    """The report as Markdown: the claims table, the rules with their thresholds, details, per-checkpoint verdicts
    and damage vs strength."""
    p = report["protocol"]
    md = ["# redge claims report", ""]
    if command:
        md += [f"Produced by `{command}`.", ""]
    md += [f"Checkpoints: {', '.join(f'`{c}`' for c in p['checkpoints'])}; data: "
           f"{', '.join(f'`{d}`' for d in p['data'])} (split {p['split']}, {p['puzzles']}); depths 1..{p['depth']}; "
           f"fine-tuned variants: {', '.join(f'{k}=`{v}`' for k, v in p['variants']) or 'none'}; claim 7 target "
           f"{p['target']}. Sweep report: `sweep/report.md`.", ""]
    if p.get("measured_on"):
        md += ["Runs measured on: " + ", ".join(f"{device} ({n} runs)" for device, n in p["measured_on"].items())
               + ".", ""]
    md += ["| # | claim | verdict | deciding numbers | 95% interval |", "|---|---|---|---|---|"]
    for c in report["claims"]:
        iv = c["interval"]
        interval = "-" if iv is None else f"{iv['name']}: {_fmt(iv)}"
        if iv and iv.get("crosses_threshold"):
            interval += " (crosses the threshold)"
        md.append(f"| {c['number']} | {c['claim']} | **{c['verdict']}** | {c['reason']} | {interval} |")
    md += ["", "## Rules", "", "Verdicts: " + " / ".join(VERDICTS) + ". Thresholds: "
           + ", ".join(f"{k} = {v}" for k, v in report["thresholds"].items()) + ".", ""]
    md += [f"{c['number']}. {c['rule']}." for c in report["claims"]]
    md += ["", f"Intervals: {report['intervals']}.", ""]
    if report["per_checkpoint"]:
        numbers = [f.__name__.split("_")[1] for f in PER_GROUP]
        md += ["## Per checkpoint (each judged on its own sweep)", "",
               "| checkpoint | data | architecture | " + " | ".join(f"claim {n}" for n in numbers) + " |",
               "|---|---|---|" + "---|" * len(numbers)]
        md += [f"| `{r['checkpoint']}` | `{r['data']}` | {r['architecture']} | "
               + " | ".join(r["verdicts"][int(n)] for n in numbers) + " |" for r in report["per_checkpoint"]]
        md.append("")
    if report["damage_vs_strength"]:
        md += ["## Damage vs strength (versions of one model, weakest FP32 first)", "",
               "| checkpoint | FP32 exact | FP32 solved | int4-naive exact | exact kept | cell kept |",
               "|---|---|---|---|---|---|"]
        md += [f"| `{r['checkpoint']}` | {_fmt(r['fp32_exact'])} | {r['fp32_solved']} | {r['naive_exact']:.3f} | "
               f"{_fmt(r['exact_kept'])} | {_fmt(r['cell_kept'])} |" for r in report["damage_vs_strength"]]
        md.append("")
    md += ["## Details", ""]
    for c in report["claims"]:
        md += [f"### Claim {c['number']}: {c['claim']}", "", f"Verdict: **{c['verdict']}** ({c['subject'] or '-'}). "
               f"{c['reason']}.", "", "```", json.dumps(jsonable(c["numbers"]), indent=1, default=str), "```", ""]
    return "\n".join(md)


def write_claims(report: dict[str, Any], folder: Path, command: str = "") -> Path:
    """Write claims.md and claims.json into `folder` (each atomically); return claims.md's path."""
    md = folder / "claims.md"
    atomic_write(md, lambda f: f.write(claims_markdown(report, command)), mode="w")
    atomic_write(folder / "claims.json", lambda f: f.write(json.dumps(jsonable({"command": command, **report}),
                                                                      indent=1, default=str)), mode="w")
    return md
