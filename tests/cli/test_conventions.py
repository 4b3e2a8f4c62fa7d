"""CLI conventions (docs/ARCHITECTURE.md) over every command of the app: one meaning per flag, help on every option."""
from __future__ import annotations

from typing import Any

import pytest
import typer.main

from redge.cli import _register_commands, app

# Long flag -> the only short flag it may have (None: it has none); a short flag belongs to its long flag alone.
CANONICAL = {"--checkpoint": "-c", "--data": "-d", "--recipe": "-r", "--out": "-o", "--device": None, "--dtype": None,
             "--depths": None, "--limit": None, "--json": None}


def all_commands() -> list[tuple[str, Any]]:
    _register_commands()
    root = typer.main.get_command(app)
    out: list[tuple[str, Any]] = []

    def walk(prefix: str, cmd: Any) -> None:
        if hasattr(cmd, "commands"):  # a group (typer vendors click, so match by shape)
            for name, sub in cmd.commands.items():
                walk(f"{prefix} {name}".strip(), sub)
        else:
            out.append((prefix, cmd))

    walk("", root)
    return out


COMMANDS = all_commands()


def test_the_app_has_its_command_groups() -> None:
    names = {name.split()[0] for name, _ in COMMANDS}
    assert {"info", "train", "eval", "sweep", "fidelity", "report", "plan", "export", "quantize", "data",
            "bench"} <= names


@pytest.mark.parametrize("name,cmd", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_option_has_help(name: str, cmd: Any) -> None:
    missing = [p.opts[0] for p in cmd.params if p.param_type_name == "option" and not (p.help or "").strip()]
    assert missing == [], f"redge {name}: options without help text: {missing}"
    assert (cmd.help or "").strip(), f"redge {name} has no help text"


@pytest.mark.parametrize("name,cmd", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_common_flags_mean_one_thing(name: str, cmd: Any) -> None:
    shorts = {v: k for k, v in CANONICAL.items() if v}
    for param in cmd.params:
        if param.param_type_name != "option":
            continue
        flags = set(param.opts)
        for long, short in CANONICAL.items():
            if long in flags:
                assert flags == {long} | ({short} if short else set()), f"redge {name}: {sorted(flags)}"
        for short, long in shorts.items():
            if short in flags:
                assert long in flags, f"redge {name}: {short} belongs to {long}, not {sorted(flags)}"
