"""CLI commands of the models layer: `redge info`."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the models commands to the root app."""
