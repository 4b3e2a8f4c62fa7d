"""CLI of the quantization layer: `redge quantize CHECKPOINT --recipe NAME|FILE --out PATH`."""
from __future__ import annotations

import itertools
from pathlib import Path

import typer


def _calibration_batches(data: Path, split: str, batches: int, batch_size: int) -> list[dict]:
    """The first `batches` batches of an official-format split (the calibration set)."""
    from redge.tasks.format import load_split
    from redge.tasks.loader import iter_eval_batches

    loaded = load_split(data, split)
    return [b for b, _ in itertools.islice(iter_eval_batches(loaded, batch_size, pad=False), batches)]


def register(app: typer.Typer) -> None:
    """Add `redge quantize` to the root app."""

    @app.command()
    def quantize(
        checkpoint: Path = typer.Argument(..., help="Checkpoint (official or redge) to quantize."),
        recipe: str = typer.Option(..., "--recipe", help="Preset name (int8, int4-channel-cal, ...) or YAML/JSON file."),
        out: Path = typer.Option(..., "--out", help="Output directory of the quantized checkpoint."),
        calib: Path | None = typer.Option(None, "--calib", help="Dataset directory (official npy format) for "
                                          "calibration statistics and GPTQ."),
        calib_split: str = typer.Option("train", "--calib-split"),
        calib_batches: int = typer.Option(4, "--calib-batches"),
        calib_batch_size: int = typer.Option(16, "--calib-batch-size"),
        calib_depth: int | None = typer.Option(None, "--calib-depth", help="ACT steps per calibration batch."),
        json_out: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
    ) -> None:
        """Quantize a checkpoint by a recipe and write a checkpoint that `load_checkpoint` reads back."""
        from redge.cli import emit_json
        from redge.quant.load import load_checkpoint
        from redge.quant.apply import quantize_
        from redge.quant.io import save_quantized
        from redge.quant.spec import load_recipe

        rec = load_recipe(recipe)  # fails on a bad recipe before the checkpoint is read
        model = load_checkpoint(checkpoint)
        batches = None if calib is None else _calibration_batches(calib, calib_split, calib_batches, calib_batch_size)
        quantize_(model, rec, calib=batches, calib_depth=calib_depth)
        save_quantized(model, out, rec.to_dict())
        report = model.quant_report
        if json_out:
            emit_json(report.to_dict() | {"out": str(out)})
            return
        typer.echo(report.table())
        kept = report.kept()
        if kept:
            typer.echo(f"{len(kept)} module(s) left in higher precision: "
                       + "; ".join(f"{m.name} ({m.reason})" for m in kept))
        typer.echo(f"wrote {out}")
