"""CLI commands of the study layer: `redge sweep`, `redge fidelity`, `redge report`.

`redge sweep` with no arguments is the main job: the shipped reference checkpoint on the shipped test sample,
recipes fp32 / int8 / int4-naive / int4-channel-cal, depths 1..16, report under runs/sweep-<timestamp>/.
All three read and write the runs store (`--store`, one SQLite file per project directory), so re-running skips
work already done. Under `torchrun --nproc-per-node N -m redge sweep ...` the puzzles are sharded across ranks.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import typer

from redge.cli.common import (
    checkpoint_option,
    data_option,
    default_out,
    device_option,
    json_option,
    limit_option,
    out_option,
    parse_depths,
    recipe_option,
)
from redge.core.atomic import check_output_path

DEFAULT_CHECKPOINT = Path("checkpoints/tiny-trm-mlp-sudoku")
DEFAULT_DATA = Path("data/samples/sudoku-easy")

_CHECKPOINT = checkpoint_option(None, help="Checkpoint (repeat for a side-by-side table). "
                                f"Default: {DEFAULT_CHECKPOINT}.")
_DATA = data_option(DEFAULT_DATA)
_SPLIT = typer.Option("test", "--split", help="Split of the dataset folder to evaluate.")
_RECIPE = recipe_option(None, help="Quantization preset or recipe file (repeatable). "
                        "Default: fp32, int8, int4-naive, int4-channel-cal.")
_CYCLES = typer.Option(None, "--cycles", help="Inner cycles 'T,n' (repeatable). Default: the checkpoint's.")
_DEPTHS = typer.Option("1-16", "--depths", help="ACT depths (1,2,4 or 1-16): one pass runs to the largest and "
                      "records every depth up to it.")
_BATCH = typer.Option(64, "--batch-size", min=1, help="Puzzles per batch.")
_LIMIT = limit_option()
_STORE = typer.Option(Path("runs/redge-runs.sqlite"), "--store", help="Runs store (SQLite file).")
_OUT = out_option()
_DEVICE = device_option()
_JSON = json_option()
_THREADS = typer.Option(1, "--threads", help="Intra-op CPU threads per process (ACT steps are small: extra threads "
                        "mostly spin; scale out with torchrun ranks instead).")


def parse_cycles(values: list[str] | None) -> tuple[tuple[int | None, int | None], ...]:
    """'T,n' strings -> ((T, n), ...); none given -> the checkpoint's own cycles."""
    from redge.core.errors import RedgeInputError

    if not values:
        return ((None, None),)
    out = []
    for v in values:
        try:
            T, n = (int(x) for x in v.split(","))
        except ValueError:
            raise RedgeInputError(f"--cycles {v!r}: expected 'T,n', e.g. '3,6'") from None
        out.append((T, n))
    return tuple(out)


def swept_report(checkpoints: list[Path] | None, data: Path, split: str, recipes: list[str] | None,
                 cycles: list[str] | None, depths: str, batch_size: int, limit: int | None, store: Path,
                 as_json: bool, threads: int, device: str = "auto") -> dict[str, Any] | None:
    """Run (or resume) one sweep per checkpoint and return the report built from the store on the main rank (None
    on the other torchrun ranks)."""
    depth = max(parse_depths(depths))
    specs = [dict(checkpoint=ckpt, data=data, split=split, recipes=tuple(recipes) if recipes else None,
                  cycles=parse_cycles(cycles), depth=depth, batch_size=batch_size, limit=limit)
             for ckpt in checkpoints or [DEFAULT_CHECKPOINT]]
    keys = run_sweeps(specs, store, as_json, threads, device)
    if keys is None:
        return None
    from redge.study.report import build_report
    from redge.study.store import RunStore

    with RunStore(store) as db:
        return build_report(db, [k for part in keys for k in part])


def run_sweeps(specs: list[dict[str, Any]], store: Path, as_json: bool, threads: int, device: str = "auto"
               ) -> list[list[str]] | None:
    """Run (or resume) the sweeps described by `specs` (SweepSpec fields; recipes None: the default ones) into the
    store; return each sweep's store keys on the main rank (None on the other torchrun ranks)."""
    import os

    from redge.cli.common import path_arg
    from redge.core.errors import check_range
    from redge.core.progress import progress_bar

    check_range("--threads", threads, 1)
    show = not as_json and os.environ.get("RANK", "0") == "0"  # torchrun: rank 0 draws (no torch import yet)
    keys: list[list[str]] = []
    with progress_bar("sweep: loading", None, show):  # before the slow imports
        import torch

        from redge.core.ranks import joined
        from redge.study.parallel import sweep_device
        from redge.study.sweep import DEFAULT_RECIPES, SweepSpec, run_sweep

        torch.set_num_threads(threads)
        with joined(sweep_device(device)) as ranks:
            for fields in specs:
                spec = SweepSpec(**{**fields, "checkpoint": path_arg(fields["checkpoint"]),
                                    "data": path_arg(fields["data"]),
                                    "recipes": fields.get("recipes") or DEFAULT_RECIPES})
                with progress_bar(f"sweep {spec.checkpoint.name}", None, show) as stage:
                    keys.append(run_sweep(spec, store, ranks,
                                          progress=lambda done, total: stage.update(completed=done, total=total)))
        return keys if ranks.main else None


def register(app: typer.Typer) -> None:
    """Add the study commands to the root app."""

    @app.command()
    def sweep(checkpoint: list[Path] = _CHECKPOINT, data: Path = _DATA, split: str = _SPLIT,
              recipe: list[str] = _RECIPE, cycles: list[str] = _CYCLES, depths: str = _DEPTHS,
              batch_size: int = _BATCH, limit: int = _LIMIT, store: Path = _STORE, out: Path = _OUT,
              as_json: bool = _JSON, threads: int = _THREADS, device: str = _DEVICE) -> None:
        """Depth x precision sweep: accuracy, fidelity, FLOPs and bytes per variant and depth, and a report."""
        from redge.cli.common import emit_json

        start = time.perf_counter()
        out = check_output_path(out or default_out("sweep"), directory=True)  # before the compute, not after
        report = swept_report(checkpoint, data, split, recipe, cycles, depths, batch_size, limit, store, as_json,
                              threads, device)
        if report is None:
            return
        from redge.study.report import jsonable, write_report

        path = write_report(report, out, "redge " + " ".join(sys.argv[1:]))
        seconds = time.perf_counter() - start
        if as_json:
            emit_json(jsonable({"report": str(path), "out": str(out), "seconds": seconds, **report}))
        else:
            typer.echo(path.read_text().split("### Per depth")[0].strip())
            typer.echo(f"\nReport: {path}  ({seconds:.0f} s; store {store})")

    @app.command()
    def fidelity(checkpoint: list[Path] = _CHECKPOINT, data: Path = _DATA, split: str = _SPLIT,
                 recipe: list[str] = _RECIPE, cycles: list[str] = _CYCLES, depths: str = _DEPTHS,
                 batch_size: int = _BATCH, limit: int = _LIMIT, store: Path = _STORE, out: Path = _OUT,
                 as_json: bool = _JSON, threads: int = _THREADS, device: str = _DEVICE) -> None:
        """Label-free carry-trajectory fidelity per variant and depth (cosine to the FP32 carry)."""
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from redge.cli.common import emit_json
        from redge.core.jsonio import write_json

        out = check_output_path(out or default_out("fidelity"), directory=True)
        report = swept_report(checkpoint, data, split, recipe, cycles, depths, batch_size, limit, store, as_json,
                              threads, device)
        if report is None:
            return
        from redge.study.report import fidelity_table, jsonable

        table = fidelity_table(report)
        write_json(out / "fidelity.json", jsonable(table))
        if as_json:
            emit_json(jsonable({"out": str(out), "variants": table}))
            return
        view = Table(title=escape("carry-trajectory fidelity cos([z_H, z_L]) by ACT depth"))
        for col in ("variant", "d=1", "d=D/2", "d=D", "mean", "min"):
            view.add_column(col, justify="right")
        for row in table:
            f = row["fidelity"]
            view.add_row(row["variant"], f"{f[0]:.4f}", f"{f[len(f) // 2 - 1]:.4f}", f"{f[-1]:.4f}",
                         f"{row['fidelity_mean']:.4f}", f"{row['fidelity_min']:.4f}")
        Console().print(view)
        typer.echo(f"Written: {out / 'fidelity.json'}")

    @app.command()
    def report(store: Path = _STORE, checkpoint: list[Path] = checkpoint_option(
                   None, help="Only runs of these checkpoints (default: every finished run)."),
               out: Path = _OUT, as_json: bool = _JSON) -> None:
        """Rebuild the report (Markdown, CSV, JSON, plots) from the runs store."""
        from redge.cli.common import emit_json, path_arg
        from redge.core.errors import RedgeInputError
        from redge.study.report import build_report, jsonable, write_report
        from redge.study.store import RunStore

        out = check_output_path(out or default_out("report"), directory=True)
        with RunStore(path_arg(store)) as db:
            wanted = {str(c) for c in checkpoint or []}
            keys = [r["key"] for r in db.runs() if not wanted or r["meta"]["checkpoint"] in wanted]
            if not keys:
                raise RedgeInputError("no finished runs" + (" for these checkpoints" if wanted else ""), store)
            data = build_report(db, keys)
        path = write_report(data, out, "redge " + " ".join(sys.argv[1:]))
        if as_json:
            emit_json(jsonable({"report": str(path), **data}))
        else:
            typer.echo(f"Report: {path}")
