"""CLI commands of the training layer: `redge train`, `redge eval` and `redge train-data`."""
from __future__ import annotations

from pathlib import Path

import typer

from redge.cli.common import (
    data_option,
    default_out,
    depths_option,
    device_option,
    dtype_option,
    json_option,
    limit_option,
    out_option,
    parse_depths,
)

DEPTHS = "1,2,4,8,16"


def register(app: typer.Typer) -> None:
    """Add the training commands to the root app."""

    @app.command("train")
    def train_cmd(
        config: str = typer.Option("tiny", "--config", help="Named config or a YAML/JSON TrainConfig file."),
        out: Path = out_option(help="Run folder (default runs/train-<config>-<timestamp>)."),
        overrides: list[str] = typer.Option([], "--set", help="Override a field: key=value, model.hidden_size=128."),
        device: str = device_option(),
        resume: bool = typer.Option(False, "--resume", help="Continue from OUT/state.pt (optimizer state too)."),
        final_eval: bool = typer.Option(True, "--eval/--no-eval", help="Evaluate at depths 1,2,4,8,16 at the end."),
        as_json: bool = json_option(),
    ) -> None:
        """Train a TRM/HRM with the official recipe (deep supervision, ACT, EMA); torchrun for several processes."""
        import os

        from redge.cli.common import emit_json
        from redge.core.jsonio import write_json
        from redge.core.progress import progress_bar
        from redge.train.configs import apply_overrides, get_config, parse_overrides

        cfg = apply_overrides(get_config(config), parse_overrides(overrides))
        show = not as_json and os.environ.get("RANK", "0") == "0"  # torchrun: rank 0 draws (no torch import yet)
        with progress_bar(f"train {cfg.name}: data, model, compile", None, show):  # before the slow imports
            from redge.core.atomic import check_output_path
            from redge.core.device import resolve_device
            from redge.core.ranks import joined
            from redge.tasks.reference import ensure_data
            from redge.train.loop import Trainer

            resolve_device(device)  # an unusable --device fails here, before any data is read
            out = check_output_path(out or default_out(f"train-{cfg.name}"), directory=True)  # before data is built
            place = None if device == "auto" else device  # auto under torchrun: each rank its own GPU (LOCAL_RANK)
            for path in {*cfg.data, *cfg.eval_data.values()}:
                ensure_data(path)
            with joined(place):  # every rank leaves the job before rank 0 evaluates and the processes exit
                trainer = Trainer(cfg, out, place, resume, progress=show)
                summary = trainer.run()
        if final_eval and trainer.d.main:
            summary["eval"] = trainer.evaluate(tuple(parse_depths(DEPTHS)))
            write_json(Path(out) / "eval.json", summary["eval"])
        if trainer.d.main:
            if as_json:
                emit_json(summary)
            else:
                typer.echo(f"{summary['step']} steps in {summary['minutes']} min -> {out}")
                for name, res in summary.get("eval", {}).items():
                    typer.echo(f"  {name}: exact@16 {res['16']['exact_accuracy']:.4f}")

    @app.command("eval")
    def eval_cmd(
        checkpoint: Path = typer.Argument(..., help="A checkpoint (redge folder or official file)."),
        data: Path = data_option(),
        split: str = typer.Option("test", "--split", help="Which split to score."),
        depths: str = depths_option(),
        limit: int = limit_option(),
        batch_size: int = typer.Option(256, "--batch-size", min=1, help="Puzzles per forward pass."),
        device: str = device_option(),
        dtype: str = dtype_option(),
        as_json: bool = json_option(),
    ) -> None:
        """Accuracy by depth: cell (all cells, non-given cells) and exact accuracy at each depth; ARC pass@K too."""
        from redge.cli.common import emit_json, path_arg
        from redge.core.progress import progress_bar

        depth_list = parse_depths(depths)
        with progress_bar(f"eval: loading {checkpoint.name} and {data.name}", None, not as_json) as stage:
            # torch: imported under the bar
            from redge.core.device import resolve_device
            from redge.quant.load import load_checkpoint
            from redge.study.evaluate import check_compatible, evaluate_depths
            from redge.tasks.format import load_split

            on = resolve_device(device)
            model = load_checkpoint(path_arg(checkpoint), forward_dtype=dtype).to(on)
            puzzles = load_split(path_arg(data), split)
            check_compatible(model, puzzles, checkpoint)
            total = puzzles.num_examples if limit is None else min(limit, puzzles.num_examples)
            stage.update(total=total, description=f"eval {checkpoint.name} on {data.name}/{split}")
            arc_data = data if split == "test" and (data / "test_puzzles.json").is_file() else None
            result = evaluate_depths(model, puzzles, depth_list, batch_size, limit, on, arc_data, progress=stage)
        if as_json:
            emit_json({"checkpoint": str(checkpoint), "data": str(data), "split": split, "depths": result})
            return
        typer.echo(f"{'depth':>5}  {'cell':>7}  {'blanks':>7}  {'exact':>7}")
        for d, row in result.items():
            typer.echo(f"{d:>5}  {row['cell_accuracy']:7.4f}  {row.get('non_given_cell_accuracy', float('nan')):7.4f}"
                       f"  {row['exact_accuracy']:7.4f}" + "".join(f"  {k} {v:.4f}" for k, v in row.items()
                                                                     if k.startswith("ARC/")))

    @app.command("train-data")
    def train_data_cmd(
        out: Path = out_option(Path("runs/refdata"), help="Folder for the reference datasets."),
        generated_train: int = typer.Option(20000, "--generated-train", min=0,
                                            help="Generated unique-solution Sudoku puzzles in the train split."),
        maze_train: int = typer.Option(0, "--maze-train", min=0,
                                       help="Generated Maze-Hard train mazes (0: no maze set)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the generators and of the hard-Sudoku split."),
        workers: int = typer.Option(1, "--workers", min=1, help="Processes for Sudoku generation (same result for any)."),
    ) -> None:
        """Build the reference datasets: generated + real hard Sudoku (split by symmetry class), Maze-Hard."""
        from redge.tasks.reference import build_reference_data

        for name, path in build_reference_data(out, generated_train, maze_train=maze_train, seed=seed, workers=workers).items():
            typer.echo(f"{name}: {path}")
