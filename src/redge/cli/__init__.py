"""The `redge` command line, the top floor of the house: each command module parses, calls a layer, prints.

Conventions (docs/ARCHITECTURE.md): `--json` prints one JSON object on stdout; exit 0 on success, 1 when a check fails
or on an internal error (one line; `REDGE_DEBUG=1` or `--debug` shows the traceback), 2 on bad input with a one-line
message on stderr naming the file or option. One module per command group; nothing below this package imports it.
"""
from __future__ import annotations

import os
import sys
from typing import Any

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Recursive reasoners on the edge: run, compress, measure and deploy TRM/HRM.")


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors (or REDGE_DEBUG=1).")
          ) -> None:
    """Recursive reasoners on the edge: run, compress, measure and deploy TRM/HRM."""


def _register_commands() -> None:
    from redge.cli import auto, bench, claims, data, deploy, models, quant, study, train

    for module in (models, data, train, study, deploy, bench, quant, claims, auto):
        module.register(app)


def _is_usage_error(exc: BaseException) -> bool:
    """Click's usage errors (typer vendors click in recent releases, so match by shape, not by class)."""
    return callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int)


def _report_usage_error(exc: Any) -> int:
    """A usage error as one line naming the command (help asked for by giving no arguments is shown whole)."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        exc.show()
        return exc.exit_code
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "redge"
    message = " ".join(exc.format_message().split())
    sys.stderr.write(f"{where}: error: {message} (see {where} --help)\n")
    return exc.exit_code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: runs the app and maps errors to exit codes 2 (input) and 1 (internal)."""
    from redge.core.errors import RedgeInputError

    _register_commands()
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("REDGE_DEBUG", "") not in ("", "0")
    try:
        code = app(args=args, standalone_mode=False)  # click returns (not raises) Exit's code in this mode
    except (RedgeInputError, FileNotFoundError) as exc:
        if debug:
            raise
        sys.stderr.write(f"redge: error: {exc}\n")
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort as exc:  # click turns KeyboardInterrupt and a stray EOFError into Abort: one line, not silence
        if debug and exc.__cause__ is not None:
            raise exc.__cause__ from None
        sys.stderr.write("redge: aborted (interrupted, or an input ended early; REDGE_DEBUG=1 shows where)\n")
        return 1
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:
        if _is_usage_error(exc):
            return _report_usage_error(exc)
        if debug:
            raise
        sys.stderr.write(f"redge: internal error: {type(exc).__name__}: {exc} "
                         "(rerun with REDGE_DEBUG=1 for the traceback)\n")
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
