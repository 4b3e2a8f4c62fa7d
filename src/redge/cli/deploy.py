"""CLI commands of the deploy layer: `redge plan` (memory plan on a target) and `redge export` (blob + embeddings)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from redge.cli.common import json_option, out_option

_ACTS = "int8 (per-token, default with integer weights), int8-tensor, bf16, fp32"


def _kb(n: int) -> str:
    return f"{n:,} B ({n / 2**20:.2f} MiB)" if abs(n) >= 2**20 else f"{n:,} B ({n / 1024:.1f} KiB)"


def format_plan(plan: dict[str, Any]) -> str:
    """The plan as a plain-text report (the same numbers as the JSON)."""
    m, t, fl, ram = plan["model"], plan["target"], plan["flash"], plan["ram"]
    lines = [f"{m['arch'].upper()}{'-MLP' if m['mlp_t'] else ''} (S = {m['positions']} positions) "
             f"recipe {plan['recipe']} on {t['name']} ({t['core']}, {t['clock_mhz']:g} MHz)",
             f"activations {plan['formats']['activations']}, carry {plan['formats']['carry']}, "
             f"schedule {plan['schedule']}", "",
             "flash:"]
    for key, val in fl["blob"].items():
        lines.append(f"  blob {key:<18} {_kb(val)}")
    lines += [f"  embeddings file       {_kb(fl['embeddings'])}", f"  code (estimate)       {_kb(fl['code_estimate'])}",
              f"  total                 {_kb(fl['total'])}", "ram:",
              f"  weights (copy)        {_kb(ram['weights'])}", f"  activation arena      {_kb(ram['arena'])}"]
    lines += [f"  {key:<21} {_kb(val)}" for key, val in ram["state"].items()]
    lines += [f"  total                 {_kb(ram['total'])}", "", "schedules (arena of one block, weight traffic):"]
    for name, s in plan["schedules"].items():
        tile = "" if s["tile"] is None else f" tile {s['tile']}"
        lines.append(f"  {name}{tile}: arena {_kb(s['arena_bytes'])}, weights read per ACT step "
                     f"{_kb(s['weight_bytes_per_act_step'])}")
    lines += ["", "regions:"]
    for r in plan["regions"]:
        items = ", ".join(f"{k}" for k in r["items"]) or "-"
        lines.append(f"  {r['name']:<11} {r['kind']:<6} used {_kb(r['used'])} of {_kb(r['available'])}"
                     f" free {_kb(r['free'])}  [{items}]")
    lines.append("")
    if plan["fits"]:
        lines.append(f"FITS: tightest region {plan['margin_region']} keeps {_kb(plan['margin_bytes'])} "
                     f"({100 * plan['margin_fraction']:.1f}%) free")
    else:
        lines.append("DOES NOT FIT:")
        lines += [f"  {w}" for w in plan["why_not"]]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add `plan` and `export` to the root app."""
    from redge.cli.common import emit_json

    @app.command("plan")
    def plan_cmd(
        checkpoint: Path = typer.Argument(..., help="Checkpoint (official, redge, or quantized by `redge quantize`)."),
        recipe: str = typer.Option(None, "--recipe", "-r", help="Quantization preset or recipe file (default fp32; "
                                   "a quantized checkpoint is planned as it is)."),
        target: str = typer.Option(..., "--target", "-t", help="Built-in target or a target YAML file."),
        act: str = typer.Option(None, "--act", help=f"Activation storage: {_ACTS}."),
        carry: str = typer.Option(None, "--carry", help="Carry storage (default: as --act)."),
        tile: int = typer.Option(None, "--tile", help="Force a token tile of this many rows."),
        seq_len: int = typer.Option(None, "--seq-len", min=1, help="Task sequence length, for a checkpoint that does "
                                    "not fix it (an official RoPE file): 81 Sudoku, 900 Maze/ARC."),
        as_json: bool = json_option(),
    ) -> None:
        """Memory plan: flash and RAM bytes per region on a target, fits or not, with the margin (refuses what the
        target's C runtime would reject)."""
        from redge.deploy.export import plan_checkpoint

        result = plan_checkpoint(checkpoint, recipe, target, act, carry, tile, seq_len)
        if as_json:
            emit_json(result)
        else:
            typer.echo(format_plan(result))

    @app.command("export")
    def export_cmd(
        checkpoint: Path = typer.Argument(..., help="Checkpoint (official, redge, or quantized by `redge quantize`)."),
        recipe: str = typer.Option(None, "--recipe", "-r", help="Quantization preset or recipe file (default fp32; "
                                   "leave out for a quantized checkpoint, which is exported as it is)."),
        out: Path = out_option(..., help="Blob file to write."),
        target: str = typer.Option(None, "--target", "-t", help="Built-in target or target YAML: refuse what its "
                                   "runtime build would reject (default: any build of the C runtime)."),
        calib: Path = typer.Option(None, "--calib", help="Dataset directory (official npy format) for calibration "
                                   "(GPTQ and calibrated recipes)."),
        calib_split: str = typer.Option("train", "--calib-split", help="Split of --calib to calibrate on."),
        calib_batches: int = typer.Option(4, "--calib-batches", min=1, help="Calibration batches."),
        calib_batch_size: int = typer.Option(16, "--calib-batch-size", min=1, help="Puzzles per calibration batch."),
        emb_out: Path = typer.Option(None, "--emb-out", help="Puzzle-embedding file (default: OUT with .emb)."),
        seq_len: int = typer.Option(None, "--seq-len", min=1, help="Task sequence length, for a checkpoint that does "
                                    "not fix it (an official RoPE file): 81 Sudoku, 900 Maze/ARC."),
        as_json: bool = json_option(),
    ) -> None:
        """Quantize a checkpoint by a recipe (or take a quantized one as it is) and write the packed blob and the
        puzzle-embedding file; refuses what the C runtime would reject."""
        from redge.core.progress import progress_bar

        with progress_bar(f"export {checkpoint.name}", None, not as_json):
            # torch: imported under the bar
            from redge.deploy.export import export_checkpoint

            result = export_checkpoint(checkpoint, out, recipe, target, calib, emb_out, calib_split, calib_batches,
                                       calib_batch_size, seq_len)
        if as_json:
            emit_json(result)
        else:
            typer.echo("wrote " + " and ".join(f"{v['path']} ({v['bytes']:,} B)" for k, v in result.items()
                                               if k in ("blob", "embeddings")))
