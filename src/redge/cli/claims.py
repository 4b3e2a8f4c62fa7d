"""`redge claims`: run the protocol (the sweep of every checkpoint and fine-tuned variant on every data set) and
write the table of the paper's seven claims, each with its deciding numbers, a 95% bootstrap interval and a verdict
computed by the rules in `redge.study.claims`.

With no -c/-d it runs on the shipped tiny checkpoint and sample data, like `redge sweep`, and says which claims
that small model cannot decide. Exit 0 whenever the report was produced, whatever the verdicts.
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
)
from redge.cli.study import DEFAULT_CHECKPOINT, DEFAULT_DATA, run_sweeps
from redge.core.atomic import check_output_path
from redge.core.errors import RedgeInputError

PROTOCOL_RECIPES = ("fp32", "int8", "int4-naive", "int4-channel-cal", "prune-50")
FINETUNED_RECIPES = {"qat": None, "distill": "fp32", "linear-attn": "fp32"}  # None: read from its training config

_VARIANT = typer.Option(None, "--variant-checkpoint", help="A fine-tuned variant of a -c checkpoint (the one its "
                        "training config names as init_from or teacher, else the first -c), as KIND=PATH or "
                        "KIND:RECIPE=PATH (repeatable); KIND: qat (evaluated with its training config's qat recipe), "
                        "distill, linear-attn (evaluated as fp32). Used for claim 2.")
_EMBEDDING = typer.Option(None, "--embedding-checkpoint", help="A checkpoint whose puzzle-embedding table claim 7 "
                          "measures from its config alone, without running it (e.g. checkpoints/trm-att-arc).")
_TARGET = typer.Option("stm32n6", "--target", "-t", help="Built-in target or target YAML for claim 7's memory plan.")


def parse_variant(text: str) -> tuple[str, str, Path]:
    """`KIND=PATH` or `KIND:RECIPE=PATH` -> (kind, recipe, path); a QAT checkpoint's recipe defaults to the `qat`
    field of the training config beside it (see `_qat_recipe`)."""
    head, sep, path = text.partition("=")
    kind, _, recipe = head.partition(":")
    if not sep or not path or kind not in FINETUNED_RECIPES:
        raise RedgeInputError(f"--variant-checkpoint {text!r}: expected KIND=PATH or KIND:RECIPE=PATH with KIND one "
                              f"of {', '.join(FINETUNED_RECIPES)}")
    ckpt = Path(path)
    if not ckpt.exists():
        raise RedgeInputError("no such file or directory (--variant-checkpoint)", ckpt)
    recipe = recipe or FINETUNED_RECIPES[kind] or _qat_recipe(ckpt)
    if not recipe:
        raise RedgeInputError(f"--variant-checkpoint {text!r}: no qat recipe recorded in a training config beside "
                              "it; give it as qat:RECIPE=PATH", ckpt)
    return kind, recipe, ckpt


def _training_config(ckpt: Path) -> dict[str, Any] | None:
    """The training config beside a checkpoint: a packed checkpoint's `train_config.json`, or the `config.json` of
    the `redge train` run folder whose `model/` or `ema/` it is; None when there is neither."""
    from redge.core.jsonio import read_json

    for folder in (ckpt, ckpt.parent) if ckpt.is_dir() else (ckpt.parent,):
        for name in ("train_config.json", "config.json"):
            cfg = read_json(folder / name) if (folder / name).is_file() else None
            train = cfg.get("train") if isinstance(cfg, dict) else None
            if isinstance(train, dict):
                return train
    return None


def _qat_recipe(ckpt: Path) -> str | None:
    """The `qat` field of the checkpoint's training config."""
    return (_training_config(ckpt) or {}).get("qat")


def fine_tuned_from(ckpt: Path) -> Path | None:
    """The checkpoint a fine-tuned variant came from: its training config's `init_from` (QAT, linear attention,
    pruning) or else its `teacher` (distillation from scratch); None when neither is recorded."""
    train = _training_config(ckpt) or {}
    origin = train.get("init_from") or train.get("teacher")
    return Path(origin) if origin else None


def protocol_specs(checkpoints: list[Path], data: list[Path], variants: list[tuple[str, str, Path]], split: str,
                   depth: int, batch_size: int, limit: int | None) -> list[tuple[Path, Path, str | None, dict]]:
    """(checkpoint, data, kind, SweepSpec fields) per sweep, data-major so the first is (first -c, first -d): the
    protocol recipes at the checkpoint's cycles (+ linear-attn for attention TRMs), int8 at one cycle (T = 1), and
    each fine-tuned variant under its recipe."""
    from redge.quant.load import read_config

    out = []
    for d in data:
        common = dict(data=d, split=split, depth=depth, batch_size=batch_size, limit=limit)
        for c in checkpoints:
            cfg = read_config(c)
            extra = ("linear-attn",) if cfg.arch == "trm" and not cfg.mlp_t else ()
            out.append((c, d, None, dict(checkpoint=c, recipes=PROTOCOL_RECIPES + extra, **common)))
            out.append((c, d, None, dict(checkpoint=c, recipes=("int8",), cycles=((1, None),), **common)))
        out += [(p, d, kind, dict(checkpoint=p, recipes=(recipe,), **common)) for kind, recipe, p in variants]
    return out


def _print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    colours = {"holds": "green", "partly": "yellow", "does not hold": "red", "not testable here": "dim"}
    view = Table(title="the paper's claims", show_lines=True)
    for col in ("#", "claim", "verdict", "deciding numbers"):
        view.add_column(col)
    for c in report["claims"]:
        view.add_row(str(c["number"]), escape(c["claim"]), f"[{colours[c['verdict']]}]{c['verdict']}[/]",
                     escape(c["reason"]))
    Console().print(view)


def register(app: typer.Typer) -> None:
    """Add `redge claims` to the root app."""

    @app.command()
    def claims(checkpoint: list[Path] = checkpoint_option(None, help="Checkpoint (repeatable; the first decides "
                                                          "claims 1, 2, 4-6; a TRM-MLP and a TRM-Att decide claim 3; "
                                                          f"versions of one model give damage vs strength). "
                                                          f"Default: {DEFAULT_CHECKPOINT}."),
               data: list[Path] = data_option(None, help="Dataset folder in the official format (repeatable). "
                                              f"Default: {DEFAULT_DATA}."),
               variant_checkpoint: list[str] = _VARIANT, embedding_checkpoint: list[Path] = _EMBEDDING,
               target: str = _TARGET,
               split: str = typer.Option("test", "--split", help="Split of each dataset folder to evaluate."),
               depths: str = typer.Option("1-16", "--depths", help="ACT depths (1-16 or 1,2,4): the sweep runs to "
                                          "the largest and records every depth up to it."),
               batch_size: int = typer.Option(64, "--batch-size", min=1, help="Puzzles per batch."),
               limit: int = limit_option(),
               store: Path = typer.Option(Path("runs/redge-runs.sqlite"), "--store", help="Runs store (SQLite file)."),
               out: Path = out_option(), as_json: bool = json_option(),
               threads: int = typer.Option(1, "--threads", help="Intra-op CPU threads per process."),
               device: str = device_option()) -> None:
        """The paper's seven claims: deciding numbers, 95% bootstrap intervals and verdicts by stated rules."""
        from redge.cli.common import emit_json, path_arg

        start = time.perf_counter()
        out = check_output_path(out or default_out("claims"), directory=True)
        checkpoints = [path_arg(c) for c in checkpoint or [DEFAULT_CHECKPOINT]]
        datas = [path_arg(d) for d in data or [DEFAULT_DATA]]
        variants = [parse_variant(v) for v in variant_checkpoint or []]
        extra = [path_arg(e) for e in embedding_checkpoint or []]
        depth = max(parse_depths(depths))
        specs = protocol_specs(checkpoints, datas, variants, split, depth, batch_size, limit)
        keys = run_sweeps([s for *_, s in specs], store, as_json, threads, device)
        if keys is None:
            return
        from redge.core.atomic import atomic_dir
        from redge.study.claims_report import (
            Swept,
            claims_report,
            embedding_bytes,
            gather,
            measured_on,
            write_claims,
        )
        from redge.study.report import build_report, jsonable, write_report
        from redge.study.store import RunStore

        swept = [Swept(c, d, tuple(k), kind, fine_tuned_from(c) if kind else None)
                 for (c, d, kind, _), k in zip(specs, keys, strict=True)]
        embeddings = [embedding_bytes(c, target) for c in dict.fromkeys([*checkpoints, *extra])]
        every_key = list(dict.fromkeys(k for part in keys for k in part))
        with RunStore(store) as db:
            sweep = build_report(db, every_key)
            evidence = gather(db, swept, embeddings)
            devices = measured_on(db, every_key)
        protocol = {"checkpoints": [str(c) for c in checkpoints], "data": [str(d) for d in datas], "split": split,
                    "puzzles": ", ".join(f"{g.data}: {g.runs[0].labelled} puzzles" for g in evidence.groups
                                         if g.checkpoint == str(checkpoints[0])),
                    "depth": depth, "variants": [(k, str(p)) for k, _, p in variants], "target": target,
                    "embedding_checkpoints": [str(e) for e in extra], "store": str(store), "measured_on": devices}
        report = claims_report(evidence, protocol)
        command = "redge " + " ".join(sys.argv[1:])
        with atomic_dir(out, replaces="claims.md") as tmp:
            write_report(sweep, tmp / "sweep", command)
            write_claims(report, tmp, command)
        seconds = time.perf_counter() - start
        if as_json:
            emit_json(jsonable({"report": str(out / "claims.md"), "out": str(out), "seconds": seconds, **report}))
            return
        _print_table(report)
        typer.echo(f"\nReport: {out / 'claims.md'}  ({seconds:.0f} s; sweep report {out / 'sweep' / 'report.md'}; "
                   f"store {store})")
