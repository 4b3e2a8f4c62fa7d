"""The `redge` command line: each command is a thin call into the layers below.

Conventions (DESIGN.md): `--json` prints one JSON object on stdout; exit 0 on success, 1 when a check fails,
2 on bad input with a one-line message on stderr naming the file or option (`--debug` shows the traceback).
Sub-command groups live beside the layer they drive and are registered here.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Recursive reasoners on the edge: run, compress, measure and deploy TRM/HRM.")

_state = {"debug": False}


class UsageFailure(Exception):
    """Bad input: reported as one line on stderr with exit code 2."""


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    _state["debug"] = debug


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout (the `--json` convention)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _register_commands() -> None:
    from redge.deploy.bench_cli import register as register_bench
    from redge.deploy.cli import register as register_deploy
    from redge.models.cli import register as register_models
    from redge.quant.cli import register as register_quant
    from redge.study.cli import register as register_study
    from redge.tasks.cli import register as register_tasks
    from redge.train.cli import register as register_train

    for register in (register_models, register_tasks, register_train, register_study, register_deploy,
                     register_bench, register_quant):
        register(app)


def _is_usage_error(exc: BaseException) -> bool:
    """Click's usage errors (typer vendors click in recent releases, so match by shape, not by class)."""
    return callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: runs the app and maps known errors to exit code 2."""
    from redge.core.errors import RedgeInputError

    _register_commands()
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        app(args=args, standalone_mode=False)
    except (RedgeInputError, UsageFailure, FileNotFoundError) as exc:
        if debug:
            raise
        sys.stderr.write(f"redge: error: {exc}\n")
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 1
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        exc.show()
        return exc.exit_code
    return 0


def path_arg(path: Path) -> Path:
    """Resolve a user path argument, failing with a one-line message if it does not exist."""
    if not path.exists():
        raise UsageFailure(f"{path}: no such file or directory")
    return path


if __name__ == "__main__":
    sys.exit(main())
