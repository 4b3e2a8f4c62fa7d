"""JSON (and YAML) files for every layer: readers that turn every way a file can be wrong into a one-line input error
naming the file, and one atomic JSON writer."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from redge.core.atomic import atomic_write
from redge.core.errors import RedgeInputError


def _read_text(path: Path, what: str) -> str:
    """The file's UTF-8 text; a missing file, a directory, other bytes or a read failure are named errors."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RedgeInputError(f"missing {what} file", path) from None
    except IsADirectoryError:
        raise RedgeInputError(f"expected a {what} file, found a directory", path) from None
    except UnicodeDecodeError:
        raise RedgeInputError(f"not UTF-8 text (a {what} file must be)", path) from None
    except OSError as exc:
        raise RedgeInputError(f"cannot read ({exc.strerror or type(exc).__name__})", path) from None


def _check_type(value: Any, expect: type | None, path: Path) -> Any:
    if expect is not None and not isinstance(value, expect):
        raise RedgeInputError(f"expected a {'mapping' if expect is dict else expect.__name__}, "
                              f"found {type(value).__name__}", path)
    return value


def read_json(path: str | Path, expect: type | None = None, what: str = "JSON") -> Any:
    """Parse the JSON file at `path`; a missing file, a directory, bytes that are not UTF-8, invalid JSON, or (with
    `expect`, e.g. dict or list) a top-level value of another type raise RedgeInputError naming `path`."""
    path = Path(path)
    try:
        value = json.loads(_read_text(path, what))
    except json.JSONDecodeError as exc:
        raise RedgeInputError(f"not valid JSON ({exc.msg}, line {exc.lineno})", path) from None
    return _check_type(value, expect, path)


def read_structured(path: str | Path, expect: type | None = dict, what: str = "config") -> Any:
    """A JSON (`.json`) or YAML (anything else) file, with the same one-line errors naming the file as `read_json`."""
    path = Path(path)
    if path.suffix == ".json":
        return read_json(path, expect, what)
    try:
        value = yaml.safe_load(_read_text(path, what))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise RedgeInputError(f"not valid YAML ({getattr(exc, 'problem', None) or type(exc).__name__}{where})",
                              path) from None
    return _check_type(value, expect, path)


def write_json(path: str | Path, obj: Any, indent: int | None = None) -> None:
    """Atomically write `obj` as JSON (default separators unless `indent`, as the official builders write them)."""
    atomic_write(path, lambda f: json.dump(obj, f, indent=indent), mode="w")
