"""`redge info`: what a checkpoint is, in numbers (the numbers come from `redge.study.describe`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from redge.cli.common import json_option


def _print_table(info: dict[str, Any]) -> None:
    console = Console()
    cfg = info["config"]
    table = Table(title=f"{info['architecture']}  {info['checkpoint']}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    cycles = f"H_cycles={cfg['H_cycles']} L_cycles={cfg['L_cycles']}"
    layers = f"L_layers={cfg['L_layers']}" + (f" H_layers={cfg['H_layers']}" if cfg["arch"] == "hrm" else "")
    table.add_row("shape", f"D={cfg['hidden_size']} V={cfg['vocab_size']} S={info['positions']} "
                           f"({info['seq_len']} + {info['positions'] - info['seq_len']} prefix) {layers} {cycles}")
    table.add_row("positions / token mixing", f"{cfg['pos_encodings']} / {'mlp_t' if cfg['mlp_t'] else 'attention'}")
    table.add_row("params (no puzzle emb)", f"{info['params']:,}")
    table.add_row("params (with puzzle emb)", f"{info['params_with_puzzle_emb']:,} ({info['puzzle_emb_rows']:,} rows)")
    for prec, nbytes in info["weight_bytes"].items():
        table.add_row(f"weights {prec}", f"{nbytes / 1e6:,.2f} MB")
    table.add_row("weights as stored here", f"{info['stored_weight_bytes'] / 1e6:,.2f} MB")
    table.add_row("puzzle emb fp32", f"{info['puzzle_emb_bytes_fp32'] / 1e6:,.2f} MB")
    table.add_row("FLOPs / ACT step", f"{info['flops_per_act_step'] / 1e9:,.2f} G "
                                      f"(formula {info['flops_per_act_step_formula'] / 1e9:,.2f} G)")
    table.add_row(f"FLOPs / puzzle ({info['depth']} steps)", f"{info['flops_per_puzzle'] / 1e9:,.1f} G")
    console.print(table)
    for note in info["assumptions"]:
        console.print(f"[dim]assumed: {note}[/dim]")


def register(app: typer.Typer) -> None:
    """Add the models commands to the root app."""

    @app.command()
    def info(
        checkpoint: Path = typer.Argument(..., help="Official state dict (step_N) or redge checkpoint."),
        seq_len: int = typer.Option(None, "--seq-len", help="Task sequence length when the checkpoint cannot tell."),
        as_json: bool = json_option(),
    ) -> None:
        """Architecture, parameter count, bytes per precision and FLOPs of a checkpoint."""
        from redge.cli.common import emit_json
        from redge.study.describe import describe_checkpoint

        data = describe_checkpoint(checkpoint, seq_len)
        if as_json:
            emit_json(data)
        else:
            _print_table(data)
