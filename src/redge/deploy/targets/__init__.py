"""Deployment targets as data: one YAML file per board (this folder holds the built-ins), read by `plan`, `export`,
`bench` and the runtime build alike. A new target is one YAML file: drop it here, or pass its path (`--target
my_board.yaml`). The schema is in `schema.py`.
"""
from __future__ import annotations

from pathlib import Path

from redge.core.errors import RedgeInputError
from redge.core.jsonio import read_structured
from redge.deploy.targets.schema import (
    IN_PLACE,
    ITEMS,
    CycleModel,
    QemuMachine,
    Region,
    RuntimeSupport,
    Target,
    parse_size,
    target_from_dict,
)

BUILTIN_DIR = Path(__file__).resolve().parent

__all__ = ["IN_PLACE", "ITEMS", "CycleModel", "QemuMachine", "Region", "RuntimeSupport", "Target", "builtin_names",
           "load_target", "parse_size", "target_from_dict"]


def builtin_names() -> list[str]:
    """Names of the built-in targets (the YAML files beside this module)."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def load_target(source: str | Path | Target) -> Target:
    """A built-in target by name, a user target from a YAML file path, or an existing Target (returned as is)."""
    if isinstance(source, Target):
        return source
    builtin = BUILTIN_DIR / f"{source}.yaml"
    path = builtin if str(source) in builtin_names() else Path(source)
    if not path.is_file():
        raise RedgeInputError(f"unknown target {str(source)!r}: not a built-in ({', '.join(builtin_names())}) "
                              "nor a YAML file")
    target = target_from_dict(read_structured(path, None, "target"), source=str(path))
    if path == builtin and target.name != path.stem:
        raise RedgeInputError(f"target: name {target.name!r} differs from the file name", path)
    return target
