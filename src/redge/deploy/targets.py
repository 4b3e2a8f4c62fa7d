"""Deployment targets as data: named parts with memory regions, clock, core, and where each item may live.

A target is a dict (the YAML schema, so built-in parts and user files share one parser)::

    name: my-board
    description: free text
    core: cortex-m55
    clock_mhz: 800
    code_bytes: 96KiB          # estimate of runtime + kernels code (flash)
    stack_bytes: 8KiB          # main stack, counted with the runtime state
    regions:                   # kind: sram (on-chip RAM), psram (external RAM), flash (non-volatile)
      - {name: sram, kind: sram, size: 4200KiB}
      - {name: xspi_flash, kind: flash, size: 128MiB, reserved: 0, note: "..."}
    place:                     # item -> candidate regions, most preferred first
      image: [xspi_flash]      # the blob as flashed (weights, scales, header)
      code: [xspi_flash]
      embeddings: [xspi_flash] # the puzzle-embedding file
      weights: [sram]          # where the runtime reads weights: a RAM region (copied at boot) or `in_place` (XIP)
      arena: [sram]            # the activation arena of one block
      state: [sram]            # carry, input embedding, puzzle rows in use, scratch, stack

Sizes are integers (bytes) or strings with a unit (B, KB, MB, GB = powers of 1000; KiB, MiB, GiB = powers of 1024).
`reserved` is what the platform keeps for itself (RTOS, caches, bootloader) and is not available to the model.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from redge.core.errors import RedgeInputError

REGION_KINDS = ("sram", "psram", "flash")
NONVOLATILE_ITEMS = ("image", "code", "embeddings")
RAM_ITEMS = ("weights", "arena", "state")
ITEMS = NONVOLATILE_ITEMS + RAM_ITEMS
IN_PLACE = "in_place"
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


@dataclass(frozen=True)
class Region:
    """One memory region of a part; `available` = size - reserved."""

    name: str
    kind: str
    size: int
    reserved: int = 0
    note: str = ""

    @property
    def volatile(self) -> bool:
        return self.kind != "flash"

    @property
    def available(self) -> int:
        return self.size - self.reserved


@dataclass(frozen=True)
class Target:
    """A part (or board): core, clock, memory regions and placement preferences per item."""

    name: str
    description: str
    core: str
    clock_mhz: float
    regions: tuple[Region, ...]
    place: dict[str, tuple[str, ...]]
    code_bytes: int = 96 * 1024
    stack_bytes: int = 8 * 1024
    source: str = "built-in"
    extra: dict[str, Any] = field(default_factory=dict)

    def region(self, name: str) -> Region:
        """The region called `name` (KeyError if absent)."""
        return next(r for r in self.regions if r.name == name)


def parse_size(value: Any, where: str) -> int:
    """Bytes from an int or a string such as '4200KiB', '8 MiB', '4.2MB'; ValueError naming `where` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{where}: size must be a number of bytes or a string with a unit, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{where}: negative size {value}")
        return value
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMG]i?B|B)?\s*", str(value), flags=re.IGNORECASE)
    if not match:
        raise ValueError(f"{where}: cannot read size {value!r} (use bytes or e.g. '512KiB', '8MiB', '4.2MB')")
    return int(round(float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()]))


def target_from_dict(data: Any, source: str = "built-in") -> Target:
    """Validate and build a Target from the YAML schema (see the module docstring)."""
    def bad(msg: str) -> RedgeInputError:
        return RedgeInputError(f"target: {msg}", None if source == "built-in" else source)

    def size(value: Any, where: str) -> int:
        try:
            return parse_size(value, where)
        except ValueError as exc:
            raise bad(str(exc)) from None

    if not isinstance(data, dict):
        raise bad("a target must be a mapping with 'name', 'regions' and 'place'")
    unknown = set(data) - {"name", "description", "core", "clock_mhz", "regions", "place", "code_bytes",
                           "stack_bytes", "extra"}
    if unknown:
        raise bad(f"unknown keys {sorted(unknown)}")
    for key in ("name", "regions", "place"):
        if key not in data:
            raise bad(f"missing {key!r}")
    regions = []
    for i, raw in enumerate(data["regions"] or []):
        if not isinstance(raw, dict) or set(raw) - {"name", "kind", "size", "reserved", "note"} or \
                not {"name", "kind", "size"} <= set(raw):
            raise bad(f"region {i} needs name, kind, size (optional reserved, note)")
        if raw["kind"] not in REGION_KINDS:
            raise bad(f"region {raw['name']!r}: kind must be one of {REGION_KINDS}, got {raw['kind']!r}")
        total = size(raw["size"], f"region {raw['name']!r} size")
        reserved = size(raw.get("reserved", 0), f"region {raw['name']!r} reserved")
        if reserved > total:
            raise bad(f"region {raw['name']!r}: reserved {reserved} exceeds size {total}")
        regions.append(Region(str(raw["name"]), raw["kind"], total, reserved, str(raw.get("note", ""))))
    if not regions or len({r.name for r in regions}) != len(regions):
        raise bad("regions must be a non-empty list with unique names")
    by_name = {r.name: r for r in regions}
    place_raw = data["place"]
    if not isinstance(place_raw, dict) or set(place_raw) != set(ITEMS):
        raise bad(f"place must list candidate regions for exactly {list(ITEMS)}")
    place: dict[str, tuple[str, ...]] = {}
    for item in ITEMS:
        names = place_raw[item]
        names = (names,) if isinstance(names, str) else tuple(names or ())
        if not names:
            raise bad(f"place.{item}: no candidate region")
        for name in names:
            if item == "weights" and name == IN_PLACE:
                continue
            if name not in by_name:
                raise bad(f"place.{item}: unknown region {name!r}")
            if by_name[name].volatile == (item in NONVOLATILE_ITEMS):
                need = "a flash" if item in NONVOLATILE_ITEMS else "a RAM (sram/psram)"
                raise bad(f"place.{item}: region {name!r} is {by_name[name].kind}, {item} needs {need} region")
        place[item] = names
    try:
        clock = float(data.get("clock_mhz", 0))
    except (TypeError, ValueError):
        raise bad(f"clock_mhz must be a number, got {data.get('clock_mhz')!r}") from None
    return Target(name=str(data["name"]), description=str(data.get("description", "")),
                  core=str(data.get("core", "")), clock_mhz=clock, regions=tuple(regions), place=place,
                  code_bytes=size(data.get("code_bytes", 96 * 1024), "code_bytes"),
                  stack_bytes=size(data.get("stack_bytes", 8 * 1024), "stack_bytes"),
                  source=source, extra=dict(data.get("extra") or {}))


BUILTIN: dict[str, dict[str, Any]] = {
    "stm32n6": {
        "name": "stm32n6",
        "description": "STM32N657 ('the 4 MB MCU'): Cortex-M55 (Helium) + Neural-ART NPU, 4.2 MB contiguous SRAM, "
                       "no internal flash; external memories as on the STM32N6570-DK. Weights run from SRAM.",
        "core": "cortex-m55", "clock_mhz": 800, "code_bytes": "96KiB", "stack_bytes": "8KiB",
        "regions": [
            {"name": "sram", "kind": "sram", "size": "4200KiB", "note": "4.2 MB contiguous AXI SRAM"},
            {"name": "xspi_flash", "kind": "flash", "size": "128MiB", "note": "octo-SPI NOR (DK), memory-mapped"},
            {"name": "psram", "kind": "psram", "size": "32MiB", "note": "hexa-SPI PSRAM (DK); unused by default"},
        ],
        "place": {"image": ["xspi_flash"], "code": ["xspi_flash"], "embeddings": ["xspi_flash"],
                  "weights": ["sram"], "arena": ["sram"], "state": ["sram"]},
    },
    "esp32-s3": {
        "name": "esp32-s3",
        "description": "ESP32-S3 module with 8 MB octal PSRAM and 8 MB flash ('the 8 MB SoC', e.g. WROOM-1-N8R8): "
                       "2x Xtensa LX7 240 MHz, 512 KB internal SRAM.",
        "core": "xtensa-lx7", "clock_mhz": 240, "code_bytes": "256KiB", "stack_bytes": "16KiB",
        "regions": [
            {"name": "sram", "kind": "sram", "size": "512KiB", "reserved": "192KiB",
             "note": "internal SRAM; reserved = ESP-IDF, caches, task stacks (estimate)"},
            {"name": "psram", "kind": "psram", "size": "8MiB", "note": "octal PSRAM"},
            {"name": "flash", "kind": "flash", "size": "8MiB", "reserved": "64KiB",
             "note": "quad/octal flash, mmap through the cache; reserved = bootloader + partition table"},
        ],
        "place": {"image": ["flash"], "code": ["flash"], "embeddings": ["flash"],
                  "weights": ["psram", "in_place"], "arena": ["sram", "psram"], "state": ["sram", "psram"]},
    },
    "stm32h743": {
        "name": "stm32h743",
        "description": "STM32H743: Cortex-M7 480 MHz, 1 MB RAM in several banks, 2 MB internal flash.",
        "core": "cortex-m7", "clock_mhz": 480, "code_bytes": "96KiB", "stack_bytes": "8KiB",
        "regions": [
            {"name": "dtcm", "kind": "sram", "size": "128KiB"},
            {"name": "axi_sram", "kind": "sram", "size": "512KiB"},
            {"name": "sram_d2", "kind": "sram", "size": "288KiB", "note": "SRAM1-3"},
            {"name": "sram_d3", "kind": "sram", "size": "64KiB", "note": "SRAM4"},
            {"name": "flash", "kind": "flash", "size": "2MiB"},
        ],
        "place": {"image": ["flash"], "code": ["flash"], "embeddings": ["flash"], "weights": ["in_place"],
                  "arena": ["axi_sram", "sram_d2", "dtcm"], "state": ["dtcm", "sram_d2", "axi_sram", "sram_d3"]},
    },
    "cortex-m4": {
        "name": "cortex-m4",
        "description": "Generic Cortex-M4F (STM32F4-class): 168 MHz, 192 KB SRAM, 1 MB internal flash.",
        "core": "cortex-m4", "clock_mhz": 168, "code_bytes": "64KiB", "stack_bytes": "4KiB",
        "regions": [
            {"name": "sram", "kind": "sram", "size": "192KiB"},
            {"name": "flash", "kind": "flash", "size": "1MiB"},
        ],
        "place": {"image": ["flash"], "code": ["flash"], "embeddings": ["flash"], "weights": ["in_place"],
                  "arena": ["sram"], "state": ["sram"]},
    },
}


def load_target(source: str | Path) -> Target:
    """A built-in target by name, or a user target from a YAML file."""
    if str(source) in BUILTIN:
        return target_from_dict(BUILTIN[str(source)])
    path = Path(source)
    if not path.is_file():
        raise RedgeInputError(f"unknown target {str(source)!r}: not a built-in ({', '.join(BUILTIN)}) nor a YAML file")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RedgeInputError(f"unreadable target YAML ({type(exc).__name__})", path) from None
    return target_from_dict(data, source=str(path))
