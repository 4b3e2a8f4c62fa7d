"""The README's renderers: one small function per kind of measured table or number, from parsed JSON to Markdown.

`RENDERERS` maps the KIND named in a README marker (see `readme_tables.py`) to its function. Fixed text that is not
measured (row labels, how a checkpoint was trained, the issue's targets) is declared here beside the function that
places it; every number comes from the JSON.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redge.core.errors import RedgeInputError


def _table(header: list[str], align: list[str], rows: list[list[str]]) -> str:
    """A GitHub Markdown table; `align` holds one `---` or `---:` per column."""
    def line(cells: list[str]) -> str:
        return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"

    return "\n".join([line(header), "|" + "|".join(align) + "|"] + [line(r) for r in rows])


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


THROUGHPUT_SESSION = "2026-11-29 (benchmarks/train_throughput.py --steps 40, one after another on one H200)"
DDP_SESSION = "2026-11-28 (training runs' own rates)"
THROUGHPUT_LABELS = {"trm-mlp": "`trm-mlp-sudoku`, mlp_t unpadded",
                     "trm-mlp-pad16": "`trm-mlp-sudoku`, mlp_t padded to 16",
                     "trm-mlp-pad128": "`trm-mlp-sudoku`, mlp_t padded to 128 (the config's default)",
                     "trm-att": "`trm-att-sudoku`"}


TRAIN_TARGETS = {"trm-mlp-sudoku": 9.0, "trm-att-sudoku": 11.0}  # issue 12: steps/s on one H200 at batch 768


def _target_cell(config: str, best: float) -> str:
    """`9.0 (not met)` or `11.0 (met)`: the campaign issue's target for a config against its best run."""
    target = TRAIN_TARGETS[config]
    return f"{target} (met)" if best >= target else f"{target} (not met)"


def train_throughput_table(data: dict[str, Any]) -> str:
    """Steps/s per run of the single-H200 session, beside the official code's rate and the issue's target (given
    on the first row of each config, judged on the config's best run)."""
    runs = data[THROUGHPUT_SESSION]["runs"]
    best: dict[str, float] = {}
    for run in runs.values():
        best[run["config"]] = max(best.get(run["config"], 0.0), run["steps_per_s"])
    rows, seen = [], set()
    for name, run in runs.items():
        first = run["config"] not in seen
        seen.add(run["config"])
        rows.append([THROUGHPUT_LABELS.get(name, name), f"{run['steps_per_s']:.2f}",
                     f"{run['reference']['official compiled']:.2f}" if first else "",
                     _target_cell(run["config"], best[run["config"]]) if first else ""])
    return _table(["config", "steps/s", "official code (compiled)", "issue target"], ["---"] * 4, rows)


def ddp_steps(data: dict[str, Any]) -> str:
    """Steps/s of the 2-GPU DDP run."""
    return f"{data[DDP_SESSION]['ddp']['steps_per_s']:.2f}"


def ddp_scaling(data: dict[str, Any]) -> str:
    """Samples/s of the 2-GPU DDP run over one GPU's."""
    return f"{data[DDP_SESSION]['ddp_scaling_samples_per_s']:.2f}x"


@dataclass(frozen=True)
class CheckpointRow:
    """One reference checkpoint's row: fixed text (how it was trained, the targets) and which evaluations to show."""

    name: str
    training: str
    generated: str  # key in eval.json ("raw/generated", "ema/generated", ...)
    hard: str | None
    targets: str
    note: str = ""  # after the generated number


CHECKPOINT_ROWS = (
    CheckpointRow("tiny-trm-mlp-sudoku", "2.5 min, 2-core CPU", "raw/easy", None, "> 0",
                  " on easy puzzles (50-60 givens)"),
    CheckpointRow("trm-mlp-sudoku", "77.5 min in five runs, 1 H200 (v5)", "ema/generated", "ema/hard", "99% / 85%",
                  " (EMA, fp32)"),
    CheckpointRow("trm-att-sudoku", "67.5 min in five runs, 1 H200 (v4)", "ema/generated", "ema/hard", "- / 70%",
                  " (EMA)"),
    CheckpointRow("hrm-sudoku", "16 min, half an H200", "raw/generated", "raw/hard", "- / 50%"),
)
EVAL_DEPTH = "16"


def checkpoint_table(evals: dict[str, Any]) -> str:
    """Exact accuracy at depth 16 of each reference checkpoint, from its `eval.json`."""
    def exact(row: CheckpointRow, key: str) -> str:
        path = f"checkpoints/{row.name}/eval.json"
        if path not in evals:
            raise RedgeInputError("missing (the checkpoint table needs it)", path)
        return _pct(evals[path][key][EVAL_DEPTH]["exact_accuracy"])

    rows = [[f"`checkpoints/{r.name}`", r.training, exact(r, r.generated) + r.note,
             exact(r, r.hard) if r.hard else "-", r.targets] for r in CHECKPOINT_ROWS]
    return _table(["checkpoint", "training", "generated", "hard", "targets"], ["---"] * 5, rows)


SWEEP_COLUMNS = (("variant (depth 16)", "variant"), ("exact %", "exact_acc"), ("cell %", "cell_acc"),
                 ("non-given cell %", "cell_acc_non_given"), ("exact kept %", "exact_kept"),
                 ("cell kept %", "cell_kept"), ("Q-halt agree %", "q_halt_agreement"), ("fidelity", "fidelity"))


def _sweep_cell(key: str, value: Any) -> str:
    """A report number as the variant table prints it: fidelity to 4 decimals, halting steps to 1, fractions as
    percentages."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if key.startswith("halt_step"):
        return f"{value:.1f}"
    return f"{value:.4f}" if key.startswith("fidelity") else f"{100 * value:.1f}"


def _variant_name(report: dict[str, Any], variant: str) -> str:
    """A variant's recipe alone when it runs at the FP32 reference's cycles (T, n), else its full name."""
    v = next(v for v in report["variants"] if v["variant"] == variant)
    ref = next(r for r in report["variants"] if r["group"] == v["group"] and r["reference"])
    return v["recipe"] if (v["H_cycles"], v["L_cycles"]) == (ref["H_cycles"], ref["L_cycles"]) else variant


def sweep_variants_table(report: dict[str, Any]) -> str:
    """The full-depth variant table of a `redge sweep` report.json (one checkpoint)."""
    rows = [[_variant_name(report, v["variant"])] + [_sweep_cell(k, v.get(k)) for _, k in SWEEP_COLUMNS[1:]]
            + [f"{v['fidelity_mean']:.4f} / {v['fidelity_min']:.4f}", f"{v['weight_bytes'] / 1e6:.3f} MB"]
            for v in report["variants"]]
    header = [h for h, _ in SWEEP_COLUMNS] + ["fidelity mean / min over depth", "weights"]
    return _table(header, ["---"] * len(header), rows)


def sweep_number(report: dict[str, Any], variant: str, key: str) -> str:
    """One number of the variant table (`variant` as the table names it, `key` a report column), as the table
    prints it: a bare percentage or a fidelity."""
    return _sweep_cell(key, next(v for v in report["variants"] if _variant_name(report, v["variant"]) == variant)[key])


SWEEP_DEPTHS = (1, 2, 4, 6, 8, 12, 16)


def sweep_depths_table(report: dict[str, Any], *variants: str) -> str:
    """Exact accuracy (%) by ACT depth of the named variants (as the variant table names them), from a sweep
    report's per-depth rows: where a variant's gain or loss against FP32 arises."""
    rows = []
    for variant in variants:
        by_depth = {r["depth"]: r["exact_acc"] for r in report["per_depth"]
                    if _variant_name(report, r["variant"]) == variant}
        if not by_depth:
            raise KeyError(variant)
        rows.append([variant] + [_sweep_cell("exact_acc", by_depth.get(d)) for d in SWEEP_DEPTHS])
    header = ["exact % at depth"] + [str(d) for d in SWEEP_DEPTHS]
    return _table(header, ["---"] + ["---:"] * len(SWEEP_DEPTHS), rows)


def sweep_spearman(report: dict[str, Any]) -> str:
    """Spearman rho of fidelity vs exact accuracy with its bootstrap interval (first checkpoint of the report)."""
    c = report["findings"][0]["fidelity_vs_exact"]
    return f"rho = {c['rho']:.2f} (95% bootstrap [{c['ci95'][0]:.2f}, {c['ci95'][1]:.2f}])"


def sweep_pairs(report: dict[str, Any]) -> str:
    """How many variant pairs fidelity orders as exact accuracy does."""
    r = report["findings"][0]["fidelity_ranking"]
    return f"{r['concordant_pairs']} of the {r['comparable_pairs']}"


def sweep_churn(report: dict[str, Any], variant: str) -> str:
    """Puzzles a variant (named as the variant table names it) solves that FP32 does not, and the reverse, with the
    exact difference's paired bootstrap interval (first checkpoint of the report)."""
    c = next(c for c in report["findings"][0]["churn"] if _variant_name(report, c["variant"]) == variant)
    return (f"gains {c['gained']} and loses {c['lost']} of {c['puzzles']} puzzles "
            f"({c['exact_diff_points']:+.1f} points, 95% [{c['ci95'][0]:+.1f}, {c['ci95'][1]:+.1f}])")


def sweep_solved_then_lost(report: dict[str, Any], variant: str) -> str:
    """How many puzzles a variant (named as the variant table names it) had solved at an earlier depth and no longer
    solves at full depth, beside FP32's count (first checkpoint of the report)."""
    c = next(c for c in report["findings"][0]["churn"] if _variant_name(report, c["variant"]) == variant)
    return (f"{c['solved_then_lost']} puzzles it had solved at an earlier depth "
            f"(FP32: {c['reference_solved_then_lost']})")


def sweep_cheapest(report: dict[str, Any]) -> str:
    """The cheapest variant within 1 point of FP32 exact accuracy and its FLOPs ratio to FP32 at full depth."""
    b = report["findings"][0]["cheapest_within_1pt"]
    return f"{_variant_name(report, b['variant'])} at depth {b['depth']}, {b['flops_ratio']:.3g}x fewer FLOPs"


MCU_KERNELS = {"int8": "int8 per-channel", "int4": "int4 per-channel", "int4-g32": "int4 group 32",
               "int8-g32": "int8 group 32"}
MCU_CORES = (("m4", "M4 (an386)"), ("m7", "M7 (an500)"), ("m55", "M55 (an547)"))


def mcu_kernels_table(data: dict[str, Any]) -> str:
    """Instructions per MAC of each mat-vec kernel per emulated core, beside CMSIS-NN's M4 / M55 figures; an M55
    figure below CMSIS-NN's is in bold."""
    cells = {(r["kernel"], r["core"]): r for r in data["kernels"]}
    rows = []
    for kernel, label in MCU_KERNELS.items():
        row = [label]
        for core, _ in MCU_CORES:
            r = cells[(kernel, core)]
            anchor = r["cmsis_nn_instr_per_mac"]
            bold = core == "m55" and anchor is not None and r["instr_per_mac"] < anchor
            row.append(f"**{r['instr_per_mac']:.3f}**" if bold else f"{r['instr_per_mac']:.3f}")
        anchors = [cells[(kernel, core)]["cmsis_nn_instr_per_mac"] for core in ("m4", "m55")]
        row.append(" / ".join(f"{a:.2f}" for a in anchors) if None not in anchors else "-")
        rows.append(row)
    return _table(["kernel", *(name for _, name in MCU_CORES), "CMSIS-NN M4 / M55"], ["---"] + ["---:"] * 4, rows)


RSS_ROWS = {48_871: "48,871 (`--num-aug 50`)", 876_406: "876,406 (official ARC-1)"}


def embedding_rss_table(data: dict[str, Any]) -> str:
    """Peak RSS of ARC-shaped inference with the puzzle table in RAM vs streamed, per table size."""
    def mb(n: float) -> str:
        return f"{n / 1e6:,.1f} MB"

    rows = [[RSS_ROWS.get(r["rows"], f"{r['rows']:,}"), mb(r["table_bytes"]), mb(r["ram"]["vm_hwm_kib"] * 1024),
             mb(r["streamed"]["vm_hwm_kib"] * 1024), mb(r["saved_bytes"]), mb(r["needed_bytes"])]
            for r in data["results"]]
    header = ["rows", "table", "peak RSS, table in RAM", "peak RSS, streamed", "saved", "required (table - 1 MB)"]
    return _table(header, ["---:"] * 6, rows)


def _span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.0f}" if round(lo) == round(hi) else f"{lo:.0f}-{hi:.0f}"


def maze_rate(data: dict[str, Any]) -> str:
    """Range of the maze generator's rates over the benchmark's rows, per wall and per CPU second."""
    rows = data["results"]
    return (f"{_span([r['mazes_per_s'] for r in rows])} mazes/s "
            f"({_span([r['mazes_per_cpu_s'] for r in rows])} per CPU second, load average {data['load_avg_1m']:.1f})")


def host_step(data: dict[str, Any]) -> str:
    """Seconds per ACT step of the host C runtime, per checkpoint."""
    steps = ", ".join(f"{r['seconds_per_step']:.1f} s (`{Path(r['checkpoint']).name}`)" for r in data["results"])
    return f"{steps} per ACT step, load average {data['load_avg_1m']:.1f}"


def autocompress_table(search: dict[str, Any]) -> str:
    """`redge autocompress --verify`: the chosen variant, the other top candidates and the presets, with bytes,
    label-free fidelity and the exact / cell accuracy measured afterwards (search.json's `verify`)."""
    rows = []
    for r in search["verify"]:
        fid = "-" if r["fidelity"] is None else f"{r['fidelity']:.4f}"
        judged, checked = r.get("self_assessed"), r.get("checked")  # absent from searches run before they existed
        name = f"**{r['label']}** (chosen)" if r["kind"] == "chosen" else r["label"]
        rows.append([name, f"{r['blob_bytes']:,}", "yes" if r["fits"] else "no",
                     "yes" if r["at_most_chosen_bytes"] else "no", f"T{r['H_cycles']} n{r['L_cycles']} d{r['depth']}",
                     fid, "-" if judged is None else _pct(judged), "-" if checked is None else _pct(checked),
                     _pct(r["exact_accuracy"]), _pct(r["cell_accuracy"])])
    return _table(["variant", "blob B", "fits", "<= chosen bytes", "cycles, depth", "fidelity (no labels)",
                   "judged done (no labels)", "checked (no labels)", "exact", "cell"],
                  ["---", "---:", "---", "---", "---", "---:", "---:", "---:", "---:", "---:"], rows)


def _cell(text: str) -> str:
    """Free text made safe for a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def claims_table(report: dict[str, Any]) -> str:
    """`redge claims`: each of the paper's claims, its verdict and the numbers that decide it (claims.json)."""
    rows = [[str(c["number"]), _cell(c["claim"]), f"**{c['verdict']}**", _cell(c["reason"])] for c in report["claims"]]
    return _table(["#", "claim", "verdict", "deciding numbers"], ["---:", "---", "---", "---"], rows)


def claims_finetune_kept(report: dict[str, Any], run: str) -> str:
    """The exact accuracy (% of FP32) that claim 2 of a claims.json measured for the fine-tuned variant from the run
    folder `run` (e.g. ft-traj: the checkpoint RUN/model or RUN/ema)."""
    claim2 = next(c for c in report["claims"] if c["number"] == 2)
    row = next(r for part in claim2["numbers"].values() for r in part["runs"]
               if run in (Path(r["checkpoint"]).parent.name, Path(r["checkpoint"]).name))
    return f"{row['exact_kept']['value'] * 100:.1f}"


def sweep_rate_table(data: dict[str, Any]) -> str:
    """`benchmarks/sweep_rate.py`: the same sweep on each device, and what 1,000 puzzles x 10 variants would take."""
    target = data["target"]
    rows = [[f"`{r['device']}` ({r['device_name']})", f"{r['puzzles']:,} x {r['variants']}", str(r["depth"]),
             f"{r['seconds']:.1f}", f"{r['puzzle_variants_per_s']:.1f}", f"{r['projected_target_s']:,.0f}"]
            for r in data["rows"]]
    return _table(["device", "puzzles x variants", "depth", "seconds", "puzzle-variants/s",
                   f"{target['puzzles']:,} x {target['variants']} would take (s; target <= {target['seconds']:.0f})"],
                  ["---", "---:", "---:", "---:", "---:", "---:"], rows)


def _preset_row(search: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((r for r in search["verify"] if r["kind"] == "preset" and r["label"] == f"preset {name}"), None)


def autocompress_references_table(searches: dict[str, Any]) -> str:
    """`redge autocompress --verify` per reference checkpoint and job: the chosen variant against the preset its
    `--max-bytes` named (the baseline), measured with labels the search never saw (each search.json)."""
    rows = []
    for path, s in sorted(searches.items()):
        chosen = next(r for r in s["verify"] if r["kind"] == "chosen")
        asked = s.get("asked", {})
        base_name = asked.get("max_bytes")
        base = _preset_row(s, base_name) if base_name else None
        if base is None:
            raise RedgeInputError(f"no verified preset {base_name!r} to compare with (--max-bytes PRESET and --verify)",
                                  path)
        holds = chosen["exact_accuracy"] >= base["exact_accuracy"] and chosen["blob_bytes"] <= base["blob_bytes"]
        budget = "-" if s["budget_ms"] is None else f"{s['budget_ms']:,.0f} ms ({asked.get('budget_ms')})"
        cut = next((r for r in s["verify"] if r["kind"] == "baseline-budget"), None)
        tuned = s.get("finetune", {})
        name = Path(tuned.get("checkpoint", s["checkpoint"])).name  # a fine-tuned search: the checkpoint it began at
        rows.append([f"`{name}`", s["target"], budget,
                     f"{_recipe_kind(chosen['label'])}{_by_rule(s)}, {chosen['blob_bytes']:,} B, "
                     f"T{chosen['H_cycles']} n{chosen['L_cycles']} d{chosen['depth']}",
                     _pct(chosen["exact_accuracy"]), f"{base_name}: {base['blob_bytes']:,} B",
                     _pct(base["exact_accuracy"]), "yes" if holds else "**no**",
                     "-" if cut is None else f"d{cut['depth']}: {_pct(cut['exact_accuracy'])}",
                     f"{chosen['puzzles']:,}", _search_cost(s["cost"], tuned)])
    return _table(["checkpoint", "target", "latency budget", "chosen", "exact", "baseline (full depth)", "exact",
                   "chosen >= baseline at <= bytes", "baseline within the budget", "puzzles", "variants searched"],
                  ["---", "---", "---:", "---", "---:", "---", "---:", "---", "---", "---:", "---"], rows)


def _recipe_kind(label: str) -> str:
    """A search candidate's label as a table cell: the preset's name ("preset w8a8 @ depth 8" -> `w8a8`), or
    "per-module mix" for a recipe the greedy climb assembled (its modules are in the job's recipe.yaml); a candidate
    of the fine-tuned model ("fine-tuned T2 n4: preset int8") says so after it."""
    tuned, _, label = label.partition(": ") if label.startswith("fine-tuned ") else ("", "", label)
    kind = f"`{label.removeprefix('preset ').split(' @ ')[0]}`" if label.startswith("preset ") else "per-module mix"
    return f"{kind} ({tuned})" if tuned else kind


def _by_rule(search: dict[str, Any]) -> str:
    """The suffix " (by RULE)" for a search that selected by another rule than fidelity (searches run before
    `--select` existed record none)."""
    rule = search.get("select", "fidelity")
    return "" if rule == "fidelity" else f" (by {rule})"


def autocompress_signals_table(data: dict[str, Any]) -> str:
    """`benchmarks/autocompress_signals.py`: per verified job, how each label-free signal orders the variants
    (Spearman with the verified exact accuracy) and what it would select within the byte cap, beside the best."""
    rows = []
    for r in data["rows"]:
        exact = {v["label"]: v["exact_accuracy"] for v in r["variants"]}

        def pick(label: str) -> str:
            return f"{_recipe_kind(label)} ({_pct(exact[label])})"

        rho, selects = r["spearman"], r["selects"]  # "checked" absent: a task without a check, or an older run
        rows.append([f"`{Path(r['job']).name}`", f"{r['puzzles']:,} ({r['device']})", str(len(r["variants"])),
                     *(f"{rho[k]:.2f}" if k in rho else "-" for k in ("fidelity", "agreement", "self_assessed",
                                                                       "checked")),
                     *(pick(selects[k]) if k in selects else "-" for k in ("fidelity", "self_assessed", "checked")),
                     pick(r["best_within_cap"])])
    return _table(["job", "unlabelled puzzles", "variants", "rho fidelity", "rho agreement", "rho judged done",
                   "rho checked", "fidelity selects (exact)", "judged done selects (exact)",
                   "checked selects (exact)", "best within the cap (exact)"],
                  ["---", "---", "---:", "---:", "---:", "---:", "---:", "---", "---", "---", "---"], rows)


def _search_cost(cost: dict[str, Any], tuned: dict[str, Any]) -> str:
    """Variants tried and minutes, saying how many scores an earlier (interrupted) run's cache supplied and, for a
    search with `--finetune-minutes` (`tuned`: its record, empty without one), the fine-tune's minutes and
    pseudo-labels."""
    cached = cost.get("variants_from_cache", 0)
    labels = tuned.get("pseudo_labels")
    return (f"{cost['variants_tried']} in {cost['minutes']:.1f} min"
            + (f" ({cached} scored by an earlier run, from its cache)" if cached else "")
            + (f", after fine-tuning {tuned['minutes']:.0f} min on {labels['kept']:,} pseudo-labelled puzzles"
               if labels else ""))


def plan_table(data: dict[str, Any]) -> str:
    """`benchmarks/plan_table.py`: each reference shape's plan on a target (bytes, schedule, fits, margin)."""
    rows = []
    for r in data["rows"]:
        ram = r["ram"]
        margin = (f"{r['margin_region']}: {r['margin_bytes']:,} B free ({100 * r['margin_fraction']:.1f}%)"
                  if r["fits"] else f"{r['margin_region']}: short by {-r['margin_bytes']:,} B")
        rows.append([f"{r['label']} (S={r['positions']})", r["recipe"], r["target"], f"{r['blob_bytes']:,}",
                     f"{ram['total']:,} ({ram['weights']:,} + {ram['arena']:,} + {ram['state']:,})", r["schedule"],
                     "yes" if r["fits"] else "no", margin])
    return _table(["model", "recipe", "target", "blob B", "RAM B (weights + arena + state)", "schedule", "fits",
                   "margin / why not"], ["---", "---", "---", "---:", "---:", "---", "---", "---"], rows)


def _duration(ms: float) -> str:
    return f"{ms / 1e3:,.1f} s" if ms >= 10_000 else f"{ms:,.0f} ms"


def quant_kernels_table(data: dict[str, Any]) -> str:
    """`benchmarks/quant_kernels.py`: estimated ms per ACT step per variant and batch, and the ratio to fp32 (>1:
    faster); a variant projected past the time budget is shown as skipped."""
    variants = list(dict.fromkeys(r["variant"] for r in data["rows"]))
    cells: dict[tuple[str, int], dict[str, str]] = {}
    for r in data["rows"]:
        if r["ms_per_step"] is None:
            text = f"skipped ({r['skipped']})"
        elif r["variant"] == "fp32":
            text = _duration(r["ms_per_step"])
        else:
            text = f"{_duration(r['ms_per_step'])} ({r['speedup_vs_fp32']:.3f}x)"
        cells.setdefault((r["model"], r["batch"]), {})[r["variant"]] = text
    rows = [[model, str(batch), *(found.get(v, "-") for v in variants)] for (model, batch), found in cells.items()]
    return _table(["model", "batch", *variants], ["---", "---:", *["---:"] * len(variants)], rows)


def quant_kernel_bytes(data: dict[str, Any]) -> str:
    """Stored weight bytes (codes + scales) of each packed variant per model, from the same JSON."""
    stored: dict[str, dict[str, int]] = {}
    for r in data["rows"]:
        if r["weight_bytes"]:
            stored.setdefault(r["variant"].split()[0], {})[r["model"]] = r["weight_bytes"]
    return "; ".join(f"{v} " + " / ".join(f"{m} {n:,}" for m, n in per.items()) for v, per in stored.items())


def quant_kernel_cpu(data: dict[str, Any]) -> str:
    """The CPU the kernel table was measured on, and its threads."""
    return f"{data['cpu']}, {data['threads']} threads, torch {data['torch']}"


MODEL_LABELS = {"trm-mlp-sudoku": "TRM-MLP", "trm-att-sudoku": "TRM-Att", "hrm-sudoku": "HRM"}


def _seconds_range(lo: float, hi: float) -> str:
    digits = 1 if lo < 10 else 0
    return f"{lo:.{digits}f}-{hi:.{digits}f} s"


def mcu_model_table(data: dict[str, Any]) -> str:
    """`benchmarks/mcu_model.py`: one ACT step of a whole reference model on each emulated core: instructions,
    instructions per MAC (matrix kernels, whole step), the share outside the matrix kernels, latency ESTIMATE."""
    rows = []
    for r in data["rows"]:
        lat = r["latency_per_step"]
        core = r["core"].removeprefix("cortex-").upper()
        latency = "-" if lat is None else (f"{_seconds_range(*lat['compute_s'])} "
                                           f"({_seconds_range(*lat['with_flash_stream_s'])})")
        clock = "" if lat is None else f" ({lat['clock_mhz']:.0f} MHz)"
        rows.append([f"{MODEL_LABELS.get(Path(r['checkpoint']).name, r['checkpoint'])}, {core}{clock}",
                     f"{r['instructions_per_step'] / 1e9:.2f} G", f"{r['instr_per_mac_matrix']:.3f}",
                     f"{r['instr_per_mac_step']:.3f}", f"{100 * r['non_matrix_fraction']:.1f}%", latency])
    return _table(["model, core", "instr / ACT step", "instr/MAC matrix", "instr/MAC step", "outside matrix",
                   "latency ESTIMATE / step (+ flash stream)"], ["---", "---:", "---:", "---:", "---:", "---"], rows)


def mcu_model_macs(data: dict[str, Any]) -> str:
    """MACs per forward and weight bytes streamed per step of each model in the whole-model table."""
    per = {MODEL_LABELS.get(Path(r["checkpoint"]).name, r["checkpoint"]): r for r in data["rows"]}
    return "; ".join(f"{name}: {r['macs_per_forward'] / 1e6:,.0f} M linear MACs per forward, "
                     f"{r['weight_bytes_per_step'] / 1e9:.1f} GB of weight bytes streamed per step"
                     for name, r in per.items())


RENDERERS: dict[str, Callable[..., str]] = {
    "train-throughput": train_throughput_table,
    "ddp-steps": ddp_steps,
    "ddp-scaling": ddp_scaling,
    "checkpoint-accuracy": checkpoint_table,
    "sweep-variants": sweep_variants_table,
    "sweep-number": sweep_number,
    "sweep-depths": sweep_depths_table,
    "sweep-spearman": sweep_spearman,
    "sweep-pairs": sweep_pairs,
    "sweep-cheapest": sweep_cheapest,
    "sweep-churn": sweep_churn,
    "sweep-solved-then-lost": sweep_solved_then_lost,
    "mcu-kernels": mcu_kernels_table,
    "embedding-rss": embedding_rss_table,
    "maze-rate": maze_rate,
    "host-step": host_step,
    "autocompress-verify": autocompress_table,
    "autocompress-references": autocompress_references_table,
    "autocompress-signals": autocompress_signals_table,
    "claims": claims_table,
    "claims-finetune-kept": claims_finetune_kept,
    "sweep-rate": sweep_rate_table,
    "plan": plan_table,
    "quant-kernels": quant_kernels_table,
    "quant-kernel-bytes": quant_kernel_bytes,
    "quant-kernel-cpu": quant_kernel_cpu,
    "mcu-model": mcu_model_table,
    "mcu-model-macs": mcu_model_macs,
}
