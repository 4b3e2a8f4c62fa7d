"""`redge autocompress`: the recipe to ship for a target, chosen without labels (issue 16)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from redge.cli.common import (
    data_option,
    default_out,
    device_option,
    json_option,
    limit_option,
    out_option,
    parse_depths,
)
from redge.cli.study import DEFAULT_DATA


def _mb(n: int) -> str:
    return f"{n:,} B ({n / 2**20:.2f} MiB)"


def summary(result: dict[str, Any], search: dict[str, Any], paths: dict[str, str] | None) -> dict[str, Any]:
    """The `--json` object: fits, fidelity, recipe, flash/RAM bytes, latency estimate, and the rest of the answer."""
    chosen = search["chosen"]
    out: dict[str, Any] = {"fits": result["fits"], "target": result["target"], "checkpoint": result["checkpoint"]}
    if chosen is None:
        return {**out, "fidelity": None, "recipe": None, "flash_bytes": None, "ram_bytes": None,
                "latency_estimate": None, "smallest": result["smallest"], "cost": result["cost"]}
    return {**out, "fidelity": chosen["fidelity"], "agreement": chosen["agreement"],
            "self_assessed": chosen["self_assessed"], "checked": chosen["checked"], "select": result["select"],
            "recipe": (paths or {}).get("recipe"), "recipe_rules": chosen["recipe_rules"],
            "H_cycles": chosen["H_cycles"], "L_cycles": chosen["L_cycles"], "depth": chosen["depth"],
            "blob_bytes": chosen["blob_bytes"], "flash_bytes": chosen["flash_bytes"], "ram_bytes": chosen["ram_bytes"],
            "latency_estimate": chosen["latency"], "exit_rules": chosen["exit_rules"],
            "top": [{k: c[k] for k in ("label", "fidelity", "agreement", "self_assessed", "checked", "blob_bytes",
                                       "depth", "latency_ms")}
                    for c in search["top"]],
            "cost": result["cost"], "finetune": result.get("finetune"), "outputs": paths,
            "verify": result.get("verify")}


def _print(obj: dict[str, Any]) -> None:
    lat = obj["latency_estimate"]
    checked = "" if obj["checked"] is None else f"; pass the task's answer check: {obj['checked']:.1%}"
    typer.echo(f"target {obj['target']}: FITS with fidelity {obj['fidelity']:.4f} (answers as FP32: "
               f"{obj['agreement']:.1%}; judged done by its halting rule: {obj['self_assessed']:.1%}{checked}), "
               f"T{obj['H_cycles']} n{obj['L_cycles']} depth {obj['depth']}")
    typer.echo(f"  blob {_mb(obj['blob_bytes'])}, flash {_mb(obj['flash_bytes'])}, RAM {_mb(obj['ram_bytes'])}")
    if lat is not None:
        typer.echo(f"  latency ESTIMATE {lat['per_puzzle_ms'][0]:,.1f}-{lat['per_puzzle_ms'][1]:,.1f} ms per puzzle")
    typer.echo(f"  top by {obj['select']}: " + "; ".join(
        f"{c['label']} {c['fidelity']:.4f} fidelity, {c['self_assessed']:.1%} judged done"
        + ("" if c["checked"] is None else f", {c['checked']:.1%} checked") for c in obj["top"]))
    ft = obj.get("finetune")
    if ft and "skipped" in ft:
        typer.echo(f"  fine-tune skipped: {ft['skipped']}")
    elif ft:
        labels = ft["pseudo_labels"]
        typer.echo(f"  fine-tuned at T{ft['H_cycles']} n{ft['L_cycles']}: {ft['steps']} steps in "
                   f"{ft['minutes']:.1f} min on {labels['kept']:,} answers of {labels['puzzles']:,} inputs that "
                   f"pass the answer check ({ft['weights_kind']} weights{', reused' if ft['reused'] else ''}); "
                   f"chosen from {ft['chosen_from']}")
    cost = obj["cost"]
    cached = cost.get("variants_from_cache", 0)
    typer.echo(f"  search: {cost['variants_tried']} variants tried in {cost['minutes']:.1f} min on {cost['device']}"
               + (f" ({cached} scores from the cache)" if cached else ""))
    for row in obj.get("verify") or []:
        fid = "-" if row["fidelity"] is None else f"{row['fidelity']:.4f}"
        judged = "-" if row["self_assessed"] is None else f"{row['self_assessed']:.1%}"
        checked = "-" if row["checked"] is None else f"{row['checked']:.1%}"
        typer.echo(f"  verify {row['label']:<40} {row['blob_bytes']:>12,} B  fits {'yes' if row['fits'] else 'no ':<3} "
                   f"fidelity {fid:<7} judged done {judged:<6} checked {checked:<6} exact {row['exact_accuracy']:.1%}  "
                   f"cell {row['cell_accuracy']:.1%}")
    typer.echo("  wrote " + ", ".join(obj["outputs"].values()))


def _group_sizes(text: str) -> tuple[int, ...]:
    from redge.core.errors import RedgeInputError

    try:
        return tuple(int(g) for g in text.split(",") if g.strip())
    except ValueError:
        raise RedgeInputError(f"--group-sizes must be comma-separated integers, got {text!r}") from None


def register(app: typer.Typer) -> None:
    """Add `autocompress` to the root app."""

    @app.command("autocompress")
    def autocompress_cmd(
        checkpoint: Path = typer.Argument(..., help="Float checkpoint (official or redge)."),
        target: str = typer.Option(..., "--target", "-t", help="Built-in target or a target YAML file."),
        data: Path = data_option(DEFAULT_DATA, help="Unlabelled inputs: a dataset folder in the official format "
                                 "(only inputs and puzzle identifiers are read; label files may be absent)."),
        split: str = typer.Option("test", "--split", help="Split of --data to search on."),
        budget_ms: str = typer.Option(None, "--budget-ms", help="Latency budget per puzzle (the high end of the "
                                      "target's instruction-model estimate): ms, a preset's estimate at full depth "
                                      "(int8) or a fraction of it ('0.5*int8'); depth and cycles may shrink."),
        max_bytes: str = typer.Option(None, "--max-bytes", help="Blob bytes at most: a number, or a preset name "
                                      "whose blob on this model sets the cap (e.g. int4-channel-cal)."),
        depths: str = typer.Option(None, "--depths", help="ACT depths; the largest is the full depth searched "
                                   "(default: the checkpoint's halt_max_steps)."),
        methods: str = typer.Option("minmax,mse", "--methods", help="Range-setting methods to search "
                                    "(minmax, percentile, mse, gptq; gptq calibrates on the unlabelled inputs)."),
        group_sizes: str = typer.Option("32,64,128", "--group-sizes", help="Group sizes of per-group int4 to search "
                                        "(multiples of 32; empty: per-channel only)."),
        limit: int = limit_option(),
        batch_size: int = typer.Option(256, "--batch-size", min=1, help="Puzzles per batch."),
        sensitivity_puzzles: int = typer.Option(256, "--sensitivity-puzzles", min=1,
                                                help="Puzzles of the per-module sensitivity pass."),
        max_candidates: int = typer.Option(24, "--max-candidates", min=0, help="Greedy rounds at most."),
        guard: float = typer.Option(0.999, "--guard", help="Fidelity guard of the reported early-exit rule: stop on "
                                    "Q-halt only once cos(carry_t, carry_t-1) >= this."),
        cache: Path = typer.Option(None, "--cache", help="JSON file caching candidate and verified scores (a "
                                   "rerun is cheap)."),
        select: str = typer.Option("auto", "--select", help="What ranks the variants that fit (no labels): "
                                   "auto (checked where the task has an answer check, else fidelity), "
                                   "fidelity (closest carry to FP32's), self-assessed (most answers the model's "
                                   "own halting rule judges done, then fidelity; can see a variant that solves more "
                                   "than FP32, but only as well as the halting head judges) or checked (most answers "
                                   "that pass the task's own rules, then fidelity: Sudoku and Maze, not ARC)."),
        verify: Path = typer.Option(None, "--verify", help="Labelled dataset folder: afterwards, measure cell and "
                                    "exact accuracy of the chosen variant, the top three and the presets."),
        verify_split: str = typer.Option("test", "--verify-split", help="Split of --verify."),
        verify_limit: int = typer.Option(None, "--verify-limit", min=1, help="Puzzles of --verify to score "
                                         "(default: --limit): verify on more puzzles than the search ran on."),
        finetune_minutes: float = typer.Option(None, "--finetune-minutes", min=0.01, help="Under --budget-ms: "
                                               "also fine-tune the model for this many minutes at the richest inner "
                                               "cycles that run the full depth within the budget, on its own answers "
                                               "that pass the task's answer check (no labels), and search it too."),
        finetune_puzzles: int = typer.Option(8192, "--finetune-puzzles", min=1, help="Inputs of --data's split "
                                             "(after the search's) the fine-tune's answers are taken from."),
        finetune_batch: int = typer.Option(None, "--finetune-batch", min=1, help="Global batch of the fine-tune "
                                           "(default: the checkpoint's training config's)."),
        finetune_dir: Path = typer.Option(None, "--finetune-dir", help="Work folder of the fine-tune (default: "
                                          "OUT-finetune); a rerun from the same inputs reuses it."),
        out: Path = out_option(),
        device: str = device_option(),
        threads: int = typer.Option(1, "--threads", min=1, help="Intra-op CPU threads."),
        as_json: bool = json_option(),
    ) -> None:
        """Label-free auto-compression: the recipe, plan and blob to flash on a target, chosen by the answers that
        pass the task's own rules (Sudoku, Maze) or by carry fidelity (ARC), or as `--select` says."""
        from redge.cli.common import emit_json, path_arg
        from redge.core.atomic import check_output_path
        from redge.core.progress import progress_bar

        out = check_output_path(out or default_out("autocompress"), directory=True)
        with progress_bar("autocompress: loading", None, not as_json) as stage:
            import torch

            from redge.auto.outputs import search_json, write_outputs
            from redge.auto.search import AutoSpec, run_search
            from redge.auto.verify import verify as run_verify
            from redge.core.device import resolve_device

            torch.set_num_threads(threads)
            dev = resolve_device(device)
            spec = AutoSpec(path_arg(checkpoint), target, path_arg(data), split, limit,
                            max(parse_depths(depths)) if depths else None, budget_ms, max_bytes,
                            tuple(m.strip() for m in methods.split(",") if m.strip()),
                            _group_sizes(group_sizes), batch_size,
                            sensitivity_puzzles, max_candidates, guard, cache=cache, select=select)
            if verify is not None:
                path_arg(verify)
            def say(text: str) -> None:
                stage.update(description=f"autocompress: {text}")

            outcome = run_search(spec, dev, progress=say)
            baseline = outcome
            if finetune_minutes is not None:
                from redge.auto.finetune import FinetuneSpec, search_with_finetune

                ft = FinetuneSpec(finetune_minutes, finetune_dir or out.with_name(out.name + "-finetune"),
                                  finetune_puzzles, finetune_batch)
                outcome, baseline = search_with_finetune(spec, outcome, ft, dev, say)
            result = outcome.result
            paths, verified = None, None
            if result["fits"]:
                if verify is not None:
                    stage.update(description="autocompress: verify (labels)")
                    verified = run_verify(outcome, verify, verify_split, verify_limit or limit, batch_size, dev,
                                          cache, baseline)
                    result["verify"] = verified
                paths = write_outputs(out, outcome, verified)
        obj = summary(result, search_json(outcome), paths)
        if as_json:
            emit_json(obj)
        elif result["fits"]:
            _print(obj)
        if not result["fits"]:
            small = result["smallest"]
            why = "; ".join(small["why_not"]) or f"blob over --max-bytes {result['max_bytes']:,} B"
            if result["budget_ms"] is not None and not small["why_not"]:
                why = f"no depth >= 1 meets --budget-ms {result['budget_ms']:g} (or: {why})"
            sys.stderr.write(f"redge autocompress: nothing fits target {result['target']}: the smallest recipe the "
                             f"runtime accepts (blob {small['blob_bytes']:,} B) does not: {why}\n")
            raise typer.Exit(1)
