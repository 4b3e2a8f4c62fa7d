"""What every command module shares: JSON output, path checks, default output folders and the common options.

The same option means the same thing everywhere (docs/ARCHITECTURE.md, CLI conventions): `-c/--checkpoint`, `-d/--data`,
`-r/--recipe`, `-o/--out`, `--device`, `--dtype`, `--depths`, `--limit`, `--json`. The option objects below are
the one definition of each; a command takes them as defaults.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer

from redge.core.errors import RedgeInputError


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout (the `--json` convention)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def path_arg(path: Path) -> Path:
    """Resolve a user path argument, failing with a one-line message if it does not exist."""
    if not path.exists():
        raise RedgeInputError("no such file or directory", path)
    return path


def default_out(command: str) -> Path:
    """The default output folder of a command: runs/<command>-<timestamp>/."""
    return Path("runs") / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}"


def parse_depths(text: str) -> list[int]:
    """`--depths 1,2,4,8,16` (or a range `1-16`) -> [1, 2, 4, 8, 16]; anything else is a one-line input error."""
    depths: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            lo, sep, hi = part.partition("-")
            depths += list(range(int(lo), int(hi) + 1)) if sep else [int(part)]
    except ValueError:
        raise RedgeInputError(f"--depths must be comma-separated integers or ranges (1,2,4 or 1-16), got {text!r}") \
            from None
    if not depths or min(depths) < 1:
        raise RedgeInputError(f"--depths must be positive integers, got {text!r}")
    return sorted(set(depths))


def checkpoint_option(default: Any = ..., help: str = "Checkpoint: a redge folder or an official step file.") -> Any:
    """`-c/--checkpoint`."""
    return typer.Option(default, "--checkpoint", "-c", help=help)


def data_option(default: Any = ..., help: str = "Dataset folder in the official format (dataset.json + npy).") -> Any:
    """`-d/--data`."""
    return typer.Option(default, "--data", "-d", help=help)


def recipe_option(default: Any = "fp32", help: str = "Quantization preset (fp32, int8, int4-channel-cal, w8a8, ...) "
                  "or a recipe YAML/JSON file.") -> Any:
    """`-r/--recipe`."""
    return typer.Option(default, "--recipe", "-r", help=help)


def out_option(default: Any = None, help: str = "Output path (default: runs/<command>-<timestamp>/).") -> Any:
    """`-o/--out`."""
    return typer.Option(default, "--out", "-o", help=help)


def device_option(default: str = "auto") -> Any:
    """`--device auto|cpu|cuda[:N]` (auto: CUDA when present)."""
    return typer.Option(default, "--device", help="auto (CUDA when present), cpu, cuda or cuda:N.")


def depths_option(default: str = "1,2,4,8,16") -> Any:
    """`--depths` as a list (see parse_depths)."""
    return typer.Option(default, "--depths", help="ACT depths to report: comma-separated and/or ranges (1-16).")


def limit_option() -> Any:
    """`--limit N`."""
    return typer.Option(None, "--limit", min=1, help="Use only the first N examples.")


def json_option() -> Any:
    """`--json`: one JSON object on stdout, no progress bar."""
    return typer.Option(False, "--json", help="Print one JSON object on stdout (no progress bar).")


def dtype_option(default: str = "float32") -> Any:
    """`--dtype float32|bfloat16`: the forward dtype (weights stay as stored)."""
    return typer.Option(default, "--dtype", help="Forward dtype: float32 or bfloat16.")
