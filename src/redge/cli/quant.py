"""CLI of the quantization layer: `redge quantize CHECKPOINT --recipe NAME|FILE --out PATH`."""
from __future__ import annotations

from pathlib import Path

import typer

from redge.cli.common import json_option, out_option, recipe_option


def register(app: typer.Typer) -> None:
    """Add `redge quantize` to the root app."""

    @app.command()
    def quantize(
        checkpoint: Path = typer.Argument(..., help="Checkpoint (official or redge) to quantize."),
        recipe: str = recipe_option(...),
        out: Path = out_option(..., help="Output directory of the quantized checkpoint."),
        calib: Path | None = typer.Option(None, "--calib", help="Dataset directory (official npy format) for "
                                          "calibration statistics and GPTQ."),
        calib_split: str = typer.Option("train", "--calib-split", help="Split of the calibration dataset."),
        calib_batches: int = typer.Option(4, "--calib-batches", min=1, help="Calibration batches."),
        calib_batch_size: int = typer.Option(16, "--calib-batch-size", min=1, help="Puzzles per calibration batch."),
        calib_depth: int | None = typer.Option(None, "--calib-depth", min=1, help="ACT steps per calibration batch "
                                               "(default: the checkpoint's halt_max_steps)."),
        json_out: bool = json_option(),
    ) -> None:
        """Quantize a checkpoint by a recipe and write a checkpoint that `load_checkpoint` reads back."""
        from redge.cli.common import emit_json, path_arg
        from redge.core.atomic import check_output_path
        from redge.core.progress import progress_bar

        with progress_bar(f"quantize {checkpoint.name}: loading", None, not json_out) as stage:
            # torch: imported under the bar
            from redge.quant.apply import quantize_
            from redge.quant.calibration import calibration_batches
            from redge.quant.io import save_quantized
            from redge.quant.load import load_checkpoint
            from redge.quant.spec import load_recipe

            rec = load_recipe(recipe)  # fails on a bad recipe before the checkpoint is read
            check_output_path(out, directory=True)  # and a bad --out before any compute
            model = load_checkpoint(path_arg(checkpoint))
            batches = None if calib is None else calibration_batches(path_arg(calib), calib_split, calib_batches,
                                                                      calib_batch_size)
            stage.update(description=f"quantize {checkpoint.name} ({rec.name}"
                         + (f", calibrating on {len(batches)} batches)" if batches else ")"))
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
