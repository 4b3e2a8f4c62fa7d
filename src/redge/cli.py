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
    from redge.models.cli import register as register_models

    register_models(app)
    from redge.study.cli import register as register_study; register_study(app)  # noqa: E702
    from redge.deploy.cli import register as register_deploy; register_deploy(app)  # noqa: E702
    from redge.tasks.cli import register as register_tasks; register_tasks(app)  # noqa: E702


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: runs the app and maps known errors to exit code 2."""
    from redge.errors import RedgeInputError

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
    except SystemExit as exc:  # click usage errors
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - click's own usage errors carry exit code 2
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            return 1
        raise
    return 0


def path_arg(path: Path) -> Path:
    """Resolve a user path argument, failing with a one-line message if it does not exist."""
    if not path.exists():
        raise UsageFailure(f"{path}: no such file or directory")
    return path


if __name__ == "__main__":
    sys.exit(main())
