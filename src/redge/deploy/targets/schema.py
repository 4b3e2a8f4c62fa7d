"""The target schema: a board as data (one YAML file), parsed into a `Target` with one-line errors per field.

A target file (built-ins live beside this module as `<name>.yaml`; a user passes a path)::

    name: my-board
    description: free text
    core: cortex-m55
    clock_mhz: 800
    code_bytes: 96KiB          # estimate of runtime + kernels code (flash); default 96KiB
    stack_bytes: 8KiB          # main stack, counted with the runtime state; default 8KiB
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
    runtime:                   # how the C runtime is built for this core, and what it then supports
      kernels: helium          # kernel set: c (portable), dsp (Arm DSP: SXTB16/SMLAD), helium (MVE)
      cflags: [-mcpu=cortex-m55, -mfloat-abi=hard]   # compiler flags for the core (arm-none-eabi-gcc)
      weight_codes: [i8, i4]   # optional: narrow what plan/export accept for this board (default: everything
                               # the C runtime implements, deploy/capabilities.py; a wider list is an error)
      float_weights: [f32]
      scale_dtypes: [f32, f16, bf16]
      act_bits: [0, 8]
      max_layers: 16           # optional compile-time limits (-DRT_MAX_LAYERS ...): the defaults are the C header's
      max_seq: 8192            # RT_MAX_* (deploy/capabilities.LIMITS); a target may narrow them, a larger value is
      max_dim: 65536           # an error. Also max_cycles, max_steps, max_puzzle_ids, max_tensors, max_arena (bytes)
    cycle_model:               # optional: latency ESTIMATE for `redge bench mcu` (QEMU counts instructions only)
      cpi: [1.0, 2.0]          # cycles per instruction, low-high
      weight_stream_mb_s: 400  # bandwidth of the memory the weights stream from (MB/s)
      instructions_per_mac: {i8: 0.265, i4: 0.333, i8-group: 1.232, i4-group: 1.378, f32: 1.0}
                               # optional: the runtime's matrix kernels on this core (instructions per MAC by weight
                               # encoding; group = per-group scales), for the estimate without QEMU (deploy/latency.py)
      non_matrix: 0.16         # optional: instructions outside the matrix kernels per matrix instruction
      note: "MVE beats: ..."
    qemu:                      # optional: a QEMU machine that emulates this core (`redge bench mcu`)
      machine: mps3-an547
      memory:                  # the firmware's link map on that machine: origin + size per window
        code: {origin: 0x00000000, size: 512KiB}
        ram: {origin: 0x20000000, size: 512KiB}      # data, bss, stack
        weights: {origin: 0x60000000, size: 16MiB}   # blob at its start, the run's input block in its last MiB
        arena: {origin: 0x61000000, size: 16MiB}

Sizes are integers (bytes) or strings with a unit (B, KB, MB, GB = powers of 1000; KiB, MiB, GiB = powers of 1024).
`reserved` is what the platform keeps for itself (RTOS, caches, bootloader) and is not available to the model.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from redge.core.errors import RedgeInputError
from redge.deploy import capabilities

REGION_KINDS = ("sram", "psram", "flash")
NONVOLATILE_ITEMS = ("image", "code", "embeddings")
RAM_ITEMS = ("weights", "arena", "state")
ITEMS = NONVOLATILE_ITEMS + RAM_ITEMS
IN_PLACE = "in_place"
QEMU_WINDOWS = ("code", "ram", "weights", "arena")
KERNEL_ENCODINGS = ("i8", "i4", "i8-group", "i4-group", "f32")  # weight encodings of the runtime's matrix kernels
INPUT_BLOCK = 1 << 20  # the last MiB of the QEMU weight window holds the run's input block
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_MISSING = object()


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
class RuntimeSupport:
    """How the C runtime is built for the core (kernel set, flags, limits) and the encodings it then accepts."""

    kernels: str
    cflags: tuple[str, ...] = ()
    weight_codes: tuple[str, ...] = capabilities.WEIGHT_CODES
    float_weights: tuple[str, ...] = capabilities.FLOAT_WEIGHTS
    scale_dtypes: tuple[str, ...] = capabilities.SCALE_DTYPES
    act_bits: tuple[int, ...] = capabilities.ACT_BITS
    max_layers: int = capabilities.LIMITS["max_layers"]
    max_seq: int = capabilities.LIMITS["max_seq"]
    max_dim: int = capabilities.LIMITS["max_dim"]
    max_cycles: int = capabilities.LIMITS["max_cycles"]
    max_steps: int = capabilities.LIMITS["max_steps"]
    max_puzzle_ids: int = capabilities.LIMITS["max_puzzle_ids"]
    max_tensors: int = capabilities.LIMITS["max_tensors"]
    max_arena: int = capabilities.LIMITS["max_arena"]

    def limit_defines(self) -> list[str]:
        """The -D flags that compile these limits into the runtime."""
        return [f"-D{macro}={getattr(self, key)}" for key, macro in capabilities.LIMIT_MACROS.items()]


@dataclass(frozen=True)
class CycleModel:
    """Latency estimate per core: cycles per instruction (low, high) and the weight-stream bandwidth (bytes/s)."""

    cpi: tuple[float, float]
    weight_stream_bytes_per_s: float
    note: str = ""
    instructions_per_mac: dict[str, float] | None = None  # weight encoding (KERNEL_ENCODINGS) -> matrix instr/MAC
    non_matrix: float = 0.0  # instructions outside the matrix kernels per matrix instruction


@dataclass(frozen=True)
class Window:
    """One window of an emulated machine's memory map."""

    origin: int
    size: int


@dataclass(frozen=True)
class QemuMachine:
    """A QEMU machine that emulates the target's core, with the firmware's link map on it."""

    machine: str
    code: Window
    ram: Window
    weights: Window
    arena: Window

    @property
    def input_addr(self) -> int:
        """Where the host loads the run's input block (the last MiB of the weight window)."""
        return self.weights.origin + self.weights.size - INPUT_BLOCK

    @property
    def max_blob(self) -> int:
        """The largest blob the weight window takes before the input block."""
        return self.weights.size - INPUT_BLOCK


@dataclass(frozen=True)
class Target:
    """A part (or board): core, clock, memory regions, placement, the runtime it runs, optional QEMU + cycle model."""

    name: str
    description: str
    core: str
    clock_mhz: float
    regions: tuple[Region, ...]
    place: dict[str, tuple[str, ...]]
    runtime: RuntimeSupport
    code_bytes: int = 96 * 1024
    stack_bytes: int = 8 * 1024
    cycle_model: CycleModel | None = None
    qemu: QemuMachine | None = None
    source: str = ""

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


class _Reader:
    """Typed field access on one mapping of the YAML; every problem is a RedgeInputError naming file and field."""

    def __init__(self, data: Any, where: str, source: str, allowed: tuple[str, ...]) -> None:
        self.where, self.source = where, source
        if not isinstance(data, dict):
            raise self.bad(f"{where or 'a target'} must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(map(str, data)) - set(allowed))
        if unknown:
            raise self.bad(f"unknown keys {unknown} in {where or 'the target'} (known: {', '.join(allowed)})")
        self.data = data

    def bad(self, msg: str) -> RedgeInputError:
        return RedgeInputError(f"target: {msg}", self.source or None)

    def field(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise self.bad(f"missing field {self.field(key)!r}")
        return default

    def text(self, key: str, default: Any = _MISSING) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or (default is _MISSING and not value):
            raise self.bad(f"{self.field(key)} must be a non-empty string, got {value!r}")
        return value

    def number(self, key: str, default: Any = _MISSING, integer: bool = False) -> float:
        value = self.raw(key, default)
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
            raise self.bad(f"{self.field(key)} must be a positive {'integer' if integer else 'number'}, "
                           f"got {value!r}")
        return value

    def size(self, key: str, default: Any = _MISSING) -> int:
        try:
            return parse_size(self.raw(key, default), self.field(key))
        except ValueError as exc:
            raise self.bad(str(exc)) from None

    def choices(self, key: str, allowed: tuple[Any, ...], default: tuple[Any, ...]) -> tuple[Any, ...]:
        value = self.raw(key, list(default))
        if not isinstance(value, list) or not value:
            raise self.bad(f"{self.field(key)} must be a non-empty list, got {value!r}")
        for item in value:
            if item not in allowed or isinstance(item, bool):
                raise self.bad(f"{self.field(key)}: {item!r} is not something the C runtime implements "
                               f"(it implements {list(allowed)})")
        return tuple(value)

    def mapping(self, key: str, allowed: tuple[str, ...], optional: bool = False) -> _Reader | None:
        if optional and self.data.get(key) is None:
            return None
        return _Reader(self.raw(key), self.field(key), self.source, allowed)


def _regions(r: _Reader) -> tuple[Region, ...]:
    raw = r.raw("regions")
    if not isinstance(raw, list) or not raw:
        raise r.bad(f"regions must be a non-empty list, got {raw!r}")
    regions = []
    for i, item in enumerate(raw):
        reg = _Reader(item, f"regions[{i}]", r.source, ("name", "kind", "size", "reserved", "note"))
        name = reg.text("name")
        kind = reg.text("kind")
        if kind not in REGION_KINDS:
            raise r.bad(f"regions[{i}].kind must be one of {REGION_KINDS}, got {kind!r}")
        total, reserved = reg.size("size"), reg.size("reserved", 0)
        if reserved > total:
            raise r.bad(f"regions[{i}].reserved {reserved} exceeds its size {total}")
        regions.append(Region(name, kind, total, reserved, str(reg.raw("note", ""))))
    if len({x.name for x in regions}) != len(regions):
        raise r.bad("regions: names must be unique")
    return tuple(regions)


def _place(r: _Reader, regions: tuple[Region, ...]) -> dict[str, tuple[str, ...]]:
    p = r.mapping("place", ITEMS)
    by_name = {x.name: x for x in regions}
    place: dict[str, tuple[str, ...]] = {}
    for item in ITEMS:
        names = p.raw(item)
        names = (names,) if isinstance(names, str) else tuple(names) if isinstance(names, list) else ()
        if not names or not all(isinstance(n, str) for n in names):
            raise r.bad(f"place.{item} must name one region or a list of regions, got {p.raw(item)!r}")
        for name in names:
            if item == "weights" and name == IN_PLACE:
                continue
            if name not in by_name:
                raise r.bad(f"place.{item}: unknown region {name!r}")
            if by_name[name].volatile == (item in NONVOLATILE_ITEMS):
                need = "a flash" if item in NONVOLATILE_ITEMS else "a RAM (sram/psram)"
                raise r.bad(f"place.{item}: region {name!r} is {by_name[name].kind}, {item} needs {need} region")
        place[item] = names
    return place


def _runtime(r: _Reader) -> RuntimeSupport:
    rt = r.mapping("runtime", ("kernels", "cflags", "weight_codes", "float_weights", "scale_dtypes", "act_bits",
                               *capabilities.LIMITS))
    kernels = rt.text("kernels")
    if kernels not in capabilities.KERNEL_SETS:
        raise r.bad(f"runtime.kernels must be one of {list(capabilities.KERNEL_SETS)}, got {kernels!r}")
    limits = {key: int(rt.number(key, default, integer=True)) for key, default in capabilities.LIMITS.items()}
    for key, value in limits.items():
        if value > capabilities.LIMITS[key]:
            raise r.bad(f"runtime.{key} {value} is above the C runtime's own limit {capabilities.LIMITS[key]} "
                        f"(a target may only narrow it)")
    cflags = rt.raw("cflags", [])
    if not isinstance(cflags, list) or not all(isinstance(f, str) for f in cflags):
        raise r.bad(f"runtime.cflags must be a list of compiler flags, got {cflags!r}")
    return RuntimeSupport(
        kernels=kernels, cflags=tuple(cflags),
        weight_codes=rt.choices("weight_codes", capabilities.WEIGHT_CODES, capabilities.WEIGHT_CODES),
        float_weights=rt.choices("float_weights", capabilities.FLOAT_WEIGHTS, capabilities.FLOAT_WEIGHTS),
        scale_dtypes=rt.choices("scale_dtypes", capabilities.SCALE_DTYPES, capabilities.SCALE_DTYPES),
        act_bits=rt.choices("act_bits", capabilities.ACT_BITS, capabilities.ACT_BITS),
        **limits)


def _instructions_per_mac(cm: _Reader) -> dict[str, float] | None:
    raw = cm.raw("instructions_per_mac", None)
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw or any(
            k not in KERNEL_ENCODINGS or isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0
            for k, v in raw.items()):
        raise cm.bad(f"cycle_model.instructions_per_mac must map encodings {list(KERNEL_ENCODINGS)} to positive "
                     f"numbers, got {raw!r}")
    return {str(k): float(v) for k, v in raw.items()}


def _cycle_model(r: _Reader) -> CycleModel | None:
    cm = r.mapping("cycle_model", ("cpi", "weight_stream_mb_s", "note", "instructions_per_mac", "non_matrix"),
                   optional=True)
    if cm is None:
        return None
    cpi = cm.raw("cpi")
    if not (isinstance(cpi, list) and len(cpi) == 2 and all(isinstance(c, (int, float)) and not isinstance(c, bool)
                                                             and c > 0 for c in cpi) and cpi[0] <= cpi[1]):
        raise r.bad(f"cycle_model.cpi must be [low, high] positive cycles per instruction, got {cpi!r}")
    non_matrix = cm.raw("non_matrix", 0.0)
    if isinstance(non_matrix, bool) or not isinstance(non_matrix, (int, float)) or non_matrix < 0:
        raise r.bad(f"cycle_model.non_matrix must be a number >= 0, got {non_matrix!r}")
    return CycleModel((float(cpi[0]), float(cpi[1])), float(cm.number("weight_stream_mb_s")) * 1e6,
                      str(cm.raw("note", "")), _instructions_per_mac(cm), float(non_matrix))


def _qemu(r: _Reader) -> QemuMachine | None:
    q = r.mapping("qemu", ("machine", "memory"), optional=True)
    if q is None:
        return None
    mem = q.mapping("memory", QEMU_WINDOWS)
    windows = {}
    for key in QEMU_WINDOWS:
        w = mem.mapping(key, ("origin", "size"))
        origin = w.raw("origin")
        if isinstance(origin, bool) or not isinstance(origin, int) or origin < 0:
            raise r.bad(f"qemu.memory.{key}.origin must be an address (e.g. 0x20000000), got {origin!r}")
        windows[key] = Window(origin, w.size("size"))
    if windows["weights"].size <= INPUT_BLOCK:
        raise r.bad(f"qemu.memory.weights.size must exceed {INPUT_BLOCK} bytes (its last MiB holds the input block)")
    return QemuMachine(q.text("machine"), **windows)


def target_from_dict(data: Any, source: str = "") -> Target:
    """Validate and build a Target from the YAML schema (see the module docstring); `source` names the file."""
    r = _Reader(data, "", source, ("name", "description", "core", "clock_mhz", "code_bytes", "stack_bytes",
                                   "regions", "place", "runtime", "cycle_model", "qemu"))
    regions = _regions(r)
    return Target(name=r.text("name"), description=str(r.raw("description", "")), core=r.text("core"),
                  clock_mhz=float(r.number("clock_mhz")), regions=regions, place=_place(r, regions),
                  runtime=_runtime(r), code_bytes=r.size("code_bytes", 96 * 1024),
                  stack_bytes=r.size("stack_bytes", 8 * 1024), cycle_model=_cycle_model(r), qemu=_qemu(r),
                  source=source)
