"""CLI commands of the models layer: `redge info`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table


def describe_checkpoint(path: Path, seq_len: int | None = None) -> dict[str, Any]:
    """Architecture, parameter counts, weight bytes per precision and FLOPs of a checkpoint, as one dict."""
    import torch

    from redge.core.errors import RedgeInputError
    from redge.core.jsonio import read_json
    from redge.models import build_model
    from redge.quant.io import is_quantized_checkpoint
    from redge.quant.load import load_checkpoint
    from redge.study.flops import flop_count
    from redge.study.memory import weight_bytes
    from redge.tasks.registry import task_of_checkpoint

    model = load_checkpoint(path)
    cfg = model.config
    notes = list(model.checkpoint_info.assumptions)
    if seq_len is None:
        seq_len = cfg.seq_len
    if seq_len is None:  # RoPE weights fix no sequence length: take the task's (task registry)
        task = task_of_checkpoint(cfg.vocab_size, None)
        if task is None:
            raise RedgeInputError(f"no registered task has vocab size {cfg.vocab_size}, so the sequence length is "
                                  "unknown: pass --seq-len", path)
        seq_len = task.seq_len
        notes.append(f"seq_len = {seq_len} of task {task.name} (vocab size {cfg.vocab_size}); pass --seq-len to change")
    # Counts of the float architecture (a quantized checkpoint keeps its weights as codes, not parameters).
    with torch.device("meta"):
        architecture = build_model(cfg)
    params = architecture.num_parameters()
    params_emb = architecture.num_parameters(include_puzzle_emb=True)
    stored = weight_bytes(model)
    flops = flop_count(model, seq_len)
    name = "HRM" if cfg.arch == "hrm" else ("TRM-MLP" if cfg.mlp_t else "TRM-Att")
    return {
        "checkpoint": str(path),
        "architecture": name,
        "config_source": model.checkpoint_info.config_source,
        "config": {k: v for k, v in cfg.to_dict().items() if k != "extra"},
        "seq_len": seq_len,
        "positions": seq_len + cfg.prefix_len,
        "params": params,
        "params_with_puzzle_emb": params_emb,
        "puzzle_emb_rows": cfg.num_puzzle_identifiers if cfg.puzzle_emb_ndim else 0,
        # Codes only per precision; `stored_weight_bytes` is what this checkpoint holds (scales and zero points in).
        "weight_bytes": {"fp32": params * 4, "bf16": params * 2, "int8": params, "int4": params // 2},
        "stored_weight_bytes": stored["weights"],
        "quantization": read_json(path / "config.json")["recipe"]["name"] if is_quantized_checkpoint(path) else None,
        "puzzle_emb_bytes_fp32": (params_emb - params) * 4,
        "flops_per_act_step": flops.per_step,
        "flops_per_act_step_formula": flops.per_step_formula,
        "depth": flops.depth,
        "flops_per_puzzle": flops.per_puzzle,
        "assumptions": notes,
    }


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
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Architecture, parameter count, bytes per precision and FLOPs of a checkpoint."""
        from redge.cli.common import emit_json

        data = describe_checkpoint(checkpoint, seq_len)
        if as_json:
            emit_json(data)
        else:
            _print_table(data)
