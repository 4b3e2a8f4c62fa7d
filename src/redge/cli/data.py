"""CLI of the tasks layer: ``redge data build sudoku|maze|arc``, ``fetch``, ``info``, ``validate`` and ``evaluate``."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from redge.cli.common import default_out, json_option
from redge.core.errors import RedgeInputError
from redge.core.progress import progress_bar

data_app = typer.Typer(no_args_is_help=True,
                      help="Task data: fetch the raw sources; build, inspect and score official-format datasets.")
build_app = typer.Typer(no_args_is_help=True, help="Build a dataset folder (train/, test/, identifiers.json).")
data_app.add_typer(build_app, name="build")

JSON_OPT = json_option()


def _out(out: Path | None, name: str) -> Path:
    return out if out is not None else default_out(f"data-{name}")


def _report(data: dict[str, Any], as_json: bool, title: str) -> None:
    from redge.cli.common import emit_json

    if as_json:
        emit_json(data)
        return
    table = Table(title=title, show_header=False)
    for k, v in data.items():
        table.add_row(str(k), str(v))
    Console().print(table)


@build_app.command("sudoku")
def build_sudoku(
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default runs/data-sudoku-<time>)."),
    source: Path = typer.Option(None, "--source", help="tdoku CSV(.gz) in HRM layout (default: shared data)."),
    csv_dir: Path = typer.Option(None, "--csv-dir", help="HRM train.csv/test.csv folder: official build instead."),
    train_size: int = typer.Option(1000, "--train-size", help="Train puzzles sampled (HRM's 1k)."),
    num_aug: int = typer.Option(None, "--num-aug", help="Augmentations per train puzzle (default 1000; --full: 0)."),
    full: bool = typer.Option(False, "--full", help="Keep every train-side puzzle instead of a sample."),
    test_fraction: float = typer.Option(0.1, "--test-fraction", help="Share of symmetry classes held out."),
    test_size: int = typer.Option(None, "--test-size", help="Sample this many test puzzles (default all)."),
    all_sources: bool = typer.Option(False, "--all-sources", help="Also use the easy 17-clue list."),
    min_difficulty: int = typer.Option(None, "--min-difficulty", help="--csv-dir: minimum rating."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same dataset)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Sudoku-Extreme proxy split by symmetry class (or the official build from HRM CSVs with --csv-dir)."""
    from redge.tasks.build import build_dataset

    out = _out(out, "sudoku")
    with progress_bar("data build sudoku", None, not as_json):
        info = build_dataset("sudoku", out, csv_dir=csv_dir, source=source, train_size=train_size, num_aug=num_aug,
                                        full=full, test_fraction=test_fraction, test_size=test_size,
                                        all_sources=all_sources, min_difficulty=min_difficulty, seed=seed,
                                        progress=not as_json)
    _report({"out": str(out), **info}, as_json, "sudoku")


@build_app.command("maze")
def build_maze(
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default runs/data-maze-<time>)."),
    train: int = typer.Option(1000, "--train", help="Train mazes."),
    test: int = typer.Option(1000, "--test", help="Test mazes."),
    min_path: int = typer.Option(110, "--min-path", help="Keep mazes whose shortest path is longer than this."),
    aug: bool = typer.Option(False, "--aug", help="Add the 8 dihedral copies in train (official --aug)."),
    csv_dir: Path = typer.Option(None, "--csv-dir", help="Read HRM train.csv/test.csv instead of generating."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same dataset)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Maze-Hard: generate 30x30 mazes (or convert HRM CSVs) into the official format and the CSV layout."""
    from redge.tasks.build import build_dataset

    out = _out(out, "maze")
    with progress_bar("data build maze", None, not as_json):
        info = build_dataset("maze", out, train_size=train, test_size=test, seed=seed, min_path=min_path, aug=aug,
                                      csv_dir=csv_dir, progress=not as_json)
    _report({"out": str(out), **info}, as_json, "maze")


@build_app.command("arc")
def build_arc(
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default runs/data-arc-<time>)."),
    inputs: list[Path] = typer.Option(None, "--input", help="ARC JSON folder(s), or a Kaggle file prefix "
                                      "(…/arc-agi). Default: the shared TRM kaggle/combined files."),
    subsets: str = typer.Option("training,evaluation,concept", "--subsets", help="Comma-separated subsets."),
    test_set: str = typer.Option("evaluation", "--test-set", help="Subset whose test pairs form the test split."),
    num_aug: int = typer.Option(1000, "--num-aug", help="Augmented variants per task."),
    tasks_per_subset: int = typer.Option(None, "--tasks-per-subset", help="Keep the first N tasks of each subset "
                                         "(small samples)."),
    seed: int = typer.Option(42, "--seed", help="Random seed (same seed, same dataset)."),
    as_json: bool = JSON_OPT,
) -> None:
    """ARC-AGI (TRM builder, same RNG): dihedral + colour augmentation, identifiers, test split, test_puzzles."""
    from redge.tasks.build import build_dataset

    out = _out(out, "arc")
    with progress_bar("data build arc", None, not as_json):
        info = build_dataset("arc", out, inputs=inputs, subsets=[s for s in subsets.split(",") if s],
                                     test_set=test_set, num_aug=num_aug, tasks_per_subset=tasks_per_subset, seed=seed,
                                     progress=not as_json)
    _report({"out": str(out), **info}, as_json, "arc")


@data_app.command("fetch")
def fetch(
    name: str = typer.Argument(None, help="Source to fetch (without a name: list the sources)."),
    from_dir: Path = typer.Option(None, "--from", help="Take the files from this local copy instead of downloading "
                                  "(the downloaded files, or an archive's unpacked folders)."),
    list_sources: bool = typer.Option(False, "--list", help="List the sources and whether each is cached."),
    as_json: bool = JSON_OPT,
) -> None:
    """Download raw data from its pinned public origin into the cache ($REDGE_DATA), checking sha256."""
    from redge.tasks import fetch as fetcher

    if name is not None and not list_sources:
        _report(fetcher.fetch(name, from_dir=from_dir, progress=not as_json), as_json, f"fetch {name}")
        return
    rows = fetcher.list_sources()
    if as_json:
        from redge.cli.common import emit_json

        emit_json({"cache": str(fetcher.cache_dir()), "sources": rows})
        return
    table = Table(title=f"data sources (cache {fetcher.cache_dir()})")
    for column in ("name", "cached", "checked", "title"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("name", "cached", "checked", "title")))
    Console().print(table)


@data_app.command("info")
def info(data_dir: Path = typer.Argument(..., help="Dataset folder."), as_json: bool = JSON_OPT) -> None:
    """Metadata and sizes of a dataset folder (official HRM/TRM or redge-built)."""
    from redge.tasks.validate import describe_dataset

    _report(describe_dataset(data_dir), as_json, f"dataset {data_dir}")


@data_app.command("validate")
def validate(data_dir: Path = typer.Argument(..., help="Dataset folder."), as_json: bool = JSON_OPT) -> None:
    """Check format consistency and the task's properties; exit 1 when a check fails."""
    from redge.tasks.validate import check_dataset

    checks = check_dataset(data_dir)
    ok = not any(checks.values())
    _report({"path": str(data_dir), "ok": ok, **checks}, as_json, f"validate {data_dir}")
    if not ok:
        failed = ", ".join(f"{name} {count}" for name, count in checks.items() if count)
        sys.stderr.write(f"redge: check failed: {data_dir}: {failed}\n")
        raise typer.Exit(1)


@data_app.command("evaluate")
def evaluate(
    data_dir: Path = typer.Argument(..., help="ARC dataset folder (with test_puzzles.json)."),
    predictions: Path = typer.Argument(None, help=".npz with inputs, puzzle_identifiers, preds, q_halt_logits."),
    ground_truth: bool = typer.Option(False, "--ground-truth", help="Score the test labels themselves."),
    submission: Path = typer.Option(None, "--submission", help="Write submission.json here."),
    as_json: bool = JSON_OPT,
) -> None:
    """ARC pass@K with TRM's voting over augmented variants and per-task fractional credit."""
    from redge.tasks.arc_eval import ArcEvaluator
    from redge.tasks.format import load_split

    ev = ArcEvaluator(data_dir)
    if ground_truth:
        test = load_split(data_dir, "test")
        ids = np.repeat(test.puzzle_identifiers, np.diff(test.puzzle_indices))
        ev.update(test.inputs, ids, test.labels, np.zeros(len(ids)))
    elif predictions is not None:
        try:
            npz = np.load(predictions)
            ev.update(npz["inputs"], npz["puzzle_identifiers"], npz["preds"], npz["q_halt_logits"])
        except (OSError, ValueError, KeyError, EOFError) as exc:  # an empty file ends early (EOFError)
            raise RedgeInputError(f"not a predictions .npz with inputs, puzzle_identifiers, preds, q_halt_logits "
                                  f"({exc})", predictions) from None
    else:
        raise RedgeInputError("give a predictions .npz or --ground-truth")
    _report(ev.result(submission_path=submission), as_json, "ARC")


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the root app."""
    app.add_typer(data_app, name="data")
