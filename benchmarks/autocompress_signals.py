"""Which label-free signal would have picked the right variant? Fidelity, answer agreement with FP32, the model's
own judgement (the share of answers its halting rule judges done) and, for Sudoku and Maze, the share of answers
that pass the task's own answer check, scored for the variants an autocompress search
verified, against the exact accuracy its `--verify` measured with labels.

An autocompress job (`redge autocompress --verify`) leaves `search.json`, whose verify rows hold each variant's exact
accuracy on held-out labelled puzzles, and `recipe.yaml`, the chosen recipe. This script rebuilds the chosen recipe
and the presets, scores each on unlabelled inputs exactly as the search does (`redge.auto.trajectory`: the FP32
carry at full depth as the reference, the checkpoint's inner cycles, the search's depth), and reports per signal
the Spearman correlation with the verified exact accuracy and the variant each signal would select among those
within the job's byte cap (a signal the task lacks, ARC's answer check, is left out). Searches run before a
signal existed get it here. A CPU can afford a few dozen puzzles of a reference model, a GPU the search's own 256.
Writes JSON (`--json`); the README's table comes from the GPU run:

    PYTHONPATH=src python3 benchmarks/autocompress_signals.py docs/study/autocompress/trm-mlp-sudoku-stm32n6 \
        --checkpoint checkpoints/trm-mlp-sudoku --data runs/refdata/sudoku-hard --split train --limit 256 \
        --batch-size 256 --device cuda --json benchmarks/results/autocompress_signals_cuda.json
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

from redge.auto import trajectory
from redge.compress import load_method
from redge.core.device import describe_device, resolve_device
from redge.core.errors import RedgeInputError
from redge.core.jsonio import read_json, write_json
from redge.quant import QuantRecipe, load_checkpoint
from redge.quant.spec import PRESETS
from redge.study.stats import spearman
from redge.study.sweep import Variant, build_variant_model
from redge.tasks.registry import answer_check

SIGNALS = ("fidelity", "agreement", "self_assessed", "checked")


def verified_variants(job: Path, search: dict[str, Any]) -> list[tuple[dict[str, Any], QuantRecipe]]:
    """The verified rows of the job's `search` (its search.json) at the checkpoint's full depth and cycles whose
    recipe can be rebuilt: the presets, and the chosen variant from its recipe.yaml (other greedy candidates are
    described, not stored)."""
    T0, n0 = search["cycles"]
    rows, seen = [], set()
    for row in search.get("verify") or []:
        if row["label"] in seen or (row["depth"], row["H_cycles"], row["L_cycles"]) != (search["depth"], T0, n0):
            continue
        name = row["label"].removeprefix("preset ")
        if row["kind"] == "preset" and name in PRESETS:
            recipe = PRESETS[name]
        elif row["kind"] == "chosen" and (job / "recipe.yaml").is_file():
            recipe = load_method(job / "recipe.yaml")
        else:
            continue
        seen.add(row["label"])
        rows.append((row, recipe))
    if len(rows) < 2:
        raise RedgeInputError("fewer than two verified variants at full depth to compare (run autocompress with "
                              "--verify)", job / "search.json")
    return rows


def score_signals(job: Path, checkpoint: Path, data: Path, split: str, limit: int, batch_size: int,
                  device: torch.device) -> dict[str, Any]:
    """Each verified variant's label-free signals on `limit` inputs of `data`, the Spearman of each signal with the
    verified exact accuracy, and the variant each signal ranks first among those within the job's byte cap."""
    search = read_json(job / "search.json", dict, "autocompress search")
    rows = verified_variants(job, search)
    model = load_checkpoint(checkpoint).eval().to(device)
    depth, (T0, n0) = search["depth"], search["cycles"]
    inputs, batches = trajectory.load_inputs(data, split, limit, batch_size)
    start = time.perf_counter()
    ref = trajectory.reference(model, batches, depth, device, answer_check(inputs.metadata))
    variants = []
    for row, recipe in rows:
        vmodel = build_variant_model(model, Variant(recipe, T0, n0), [])
        s = trajectory.score(vmodel, ref, T0, n0, depth)
        checked = None if s["checked_by_depth"] is None else s["checked_by_depth"][-1]
        variants.append({"label": row["label"], "blob_bytes": row["blob_bytes"],
                         "within_cap": search["max_bytes"] is None or row["blob_bytes"] <= search["max_bytes"],
                         "exact_accuracy": row["exact_accuracy"], "verified_puzzles": row["puzzles"],
                         "fidelity": s["fidelity"], "agreement": s["agreement"],
                         "self_assessed": s["self_assessed_by_depth"][-1],
                         "checked": checked})
        shown = "" if checked is None else f"  checked {checked:.1%}"
        print(f"  {row['label']:<60} fidelity {s['fidelity']:.4f}  judged done "
              f"{s['self_assessed_by_depth'][-1]:.1%}{shown}  exact {row['exact_accuracy']:.1%}", file=sys.stderr)
    exact = [v["exact_accuracy"] for v in variants]
    capped = [v for v in variants if v["within_cap"]]
    signals = [k for k in SIGNALS if ref.check is not None or k != "checked"]
    return {"job": str(job), "checkpoint": str(checkpoint), "data": str(data), "split": split,
            "puzzles": ref.puzzles, "depth": depth, "cycles": [T0, n0], "device": describe_device(device),
            "seconds": time.perf_counter() - start, "variants": variants,
            "spearman": {k: spearman([v[k] for v in variants], exact) for k in signals},
            # as the search ranks (Candidate.rank_key): the signal, then fidelity, then fewer bytes
            "selects": {k: max(capped, key=lambda v: (v[k], v["fidelity"], -v["blob_bytes"]))["label"]
                        for k in signals},
            "best_within_cap": max(capped, key=lambda v: v["exact_accuracy"])["label"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jobs", nargs="+", type=Path, help="autocompress output folders (search.json, recipe.yaml)")
    parser.add_argument("--checkpoint", type=Path, action="append", required=True,
                        help="the checkpoint of each job, in order (one for all when they share it)")
    parser.add_argument("--data", type=Path, required=True, help="dataset folder; only its inputs are read")
    parser.add_argument("--split", default="train", help="split of --data (the search reads train)")
    parser.add_argument("--limit", type=int, default=48, help="unlabelled puzzles to score on")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    checkpoints = args.checkpoint * len(args.jobs) if len(args.checkpoint) == 1 else args.checkpoint
    if len(checkpoints) != len(args.jobs):
        parser.error(f"{len(args.jobs)} jobs but {len(args.checkpoint)} --checkpoint (give one, or one per job)")
    device = resolve_device(args.device)
    try:
        results = [score_signals(job, ckpt, args.data, args.split, args.limit, args.batch_size, device)
                   for job, ckpt in zip(args.jobs, checkpoints, strict=True)]
    except RedgeInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{'job':<40} {'puzzles':>7}  " + "  ".join(f"{k + ' rho':>17}" for k in SIGNALS) + "  selects / best")
    for r in results:
        rho = r["spearman"]
        print(f"{Path(r['job']).name:<40} {r['puzzles']:>7}  "
              + "  ".join(f"{rho[k]:>17.2f}" if k in rho else f"{'-':>17}" for k in SIGNALS)
              + "  " + " / ".join(r["selects"].values()) + f" / best {r['best_within_cap']}")
    if args.json:
        write_json(args.json, {"rows": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
