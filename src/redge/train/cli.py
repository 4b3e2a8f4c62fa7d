"""CLI commands of the training layer: `redge train`, `redge eval` and `redge train-data`."""
from __future__ import annotations

import time
from pathlib import Path

import typer

DEPTHS = "1,2,4,8,16"


def _parse_depths(text: str) -> list[int]:
    from redge.core.errors import RedgeInputError

    try:
        depths = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise RedgeInputError(f"--depths must be comma-separated integers, got {text!r}") from None
    if not depths or min(depths) < 1:
        raise RedgeInputError(f"--depths must be positive integers, got {text!r}")
    return depths


def register(app: typer.Typer) -> None:
    """Add the training commands to the root app."""

    @app.command("train")
    def train_cmd(
        config: str = typer.Option("tiny", "--config", "-c", help="Named config or a YAML/JSON TrainConfig file."),
        out: Path = typer.Option(None, "--out", help="Run folder (default runs/train-<config>-<timestamp>)."),
        overrides: list[str] = typer.Option([], "--set", help="Override a field: key=value, model.hidden_size=128."),
        device: str = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: cuda if available)."),
        resume: bool = typer.Option(False, "--resume", help="Continue from OUT/state.pt (optimizer state too)."),
        final_eval: bool = typer.Option(True, "--eval/--no-eval", help="Evaluate at depths 1,2,4,8,16 at the end."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
    ) -> None:
        """Train a TRM/HRM with the official recipe (deep supervision, ACT, EMA); torchrun for several processes."""
        from redge.cli import emit_json
        from redge.core.jsonio import write_json
        from redge.core.ranks import joined
        from redge.tasks.reference import ensure_data
        from redge.train.configs import apply_overrides, get_config, parse_overrides
        from redge.train.loop import Trainer

        cfg = apply_overrides(get_config(config), parse_overrides(overrides))
        for path in {*cfg.data, *cfg.eval_data.values()}:
            ensure_data(path)
        out = out or Path("runs") / f"train-{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        with joined(device):  # every rank leaves the job before rank 0 evaluates and the processes exit
            trainer = Trainer(cfg, out, device, resume, progress=not as_json)
            summary = trainer.run()
        if final_eval and trainer.d.main:
            summary["eval"] = trainer.evaluate(tuple(_parse_depths(DEPTHS)))
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
        data: Path = typer.Option(..., "--data", help="Dataset folder in the official format."),
        split: str = typer.Option("test", "--split", help="Which split to score."),
        depths: str = typer.Option(DEPTHS, "--depths", help="Comma-separated ACT-step depths."),
        limit: int = typer.Option(None, "--limit", help="Score only the first N examples."),
        batch_size: int = typer.Option(256, "--batch-size"),
        device: str = typer.Option("cpu", "--device"),
        dtype: str = typer.Option("float32", "--dtype", help="Forward dtype: float32 or bfloat16."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    ) -> None:
        """Accuracy by depth: cell (all cells, non-given cells) and exact accuracy at each depth; ARC pass@K too."""
        from redge.cli import emit_json, path_arg
        from redge.models.checkpoint import load_checkpoint
        from redge.study.evaluate import evaluate_depths
        from redge.tasks.format import load_split

        depth_list = _parse_depths(depths)
        model = load_checkpoint(path_arg(checkpoint), forward_dtype=dtype).to(device)
        arc_data = data if split == "test" and (data / "test_puzzles.json").is_file() else None
        result = evaluate_depths(model, load_split(path_arg(data), split), depth_list, batch_size, limit, device,
                                 arc_data)
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
        out: Path = typer.Option(Path("runs/refdata"), "--out", help="Folder for the reference datasets."),
        generated_train: int = typer.Option(20000, "--generated-train"),
        maze_train: int = typer.Option(0, "--maze-train", help="Generated Maze-Hard train mazes (0: no maze set)."),
        seed: int = typer.Option(0, "--seed"),
        workers: int = typer.Option(1, "--workers", help="Processes for Sudoku generation (same result for any)."),
    ) -> None:
        """Build the reference datasets: generated + real hard Sudoku (split by symmetry class), Maze-Hard."""
        from redge.tasks.reference import build_reference_data

        for name, path in build_reference_data(out, generated_train, maze_train=maze_train, seed=seed, workers=workers).items():
            typer.echo(f"{name}: {path}")
