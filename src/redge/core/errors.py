"""The one exception type for bad user input (files, recipes, options), shown as a one-line message by the CLI."""
from __future__ import annotations

from pathlib import Path


class RedgeInputError(ValueError):
    """Bad input that the user can fix; the message names the file (when there is one) and the problem."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)


def check_range(option: str, value: int | float | None, low: int | float, high: int | float | None = None,
                why: str = "") -> None:
    """Refuse an option value below `low` or above `high` (None: not given, nothing to check) before any work
    starts; `why` says where the upper bound comes from."""
    if value is not None and value < low:
        raise RedgeInputError(f"{option} must be >= {low}, got {value}")
    if value is not None and high is not None and value > high:
        raise RedgeInputError(f"{option} must be <= {high}{f' ({why})' if why else ''}, got {value}")
