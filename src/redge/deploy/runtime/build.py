"""Compile the runtime: host shared library (gcc), Cortex-M firmware (arm-none-eabi-gcc) and the QEMU TCG plugin.

Outputs are cached under `$REDGE_CACHE` (default `~/.cache/redge`)/runtime/<hash of sources and flags>, so a
second build is free. Every compiler runs with -std=c99 -Wall -Wextra -Werror; float code with -ffp-contract=off
so host and Cortex-M builds compute the same float values.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from redge.core.errors import RedgeInputError

ROOT = Path(__file__).resolve().parent
SOURCES = [ROOT / "src" / "rt_kernels.c", ROOT / "src" / "rt_model.c"]
HEADERS = [ROOT / "include" / "redge_rt.h", ROOT / "src" / "rt_kernels.h"]
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off"]
FIRMWARE = {"model": ROOT / "fw" / "model_fw.c", "kbench": ROOT / "fw" / "kbench.c"}


@dataclass(frozen=True)
class Board:
    """A QEMU Cortex-M machine: CPU flags, weight region base, part clock for latency estimates."""

    core: str
    machine: str
    cpu_flags: tuple[str, ...]
    weights_base: int
    weights_size: int = 0x1000000

    @property
    def input_addr(self) -> int:
        """Where the host loads the run's input block (last MB of the 16 MB weight region)."""
        return self.weights_base + 0xF00000

    @property
    def max_blob(self) -> int:
        return 0xF00000


BOARDS: dict[str, Board] = {
    "m4": Board("m4", "mps2-an386", ("-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"), 0x21000000),
    "m7": Board("m7", "mps2-an500", ("-mcpu=cortex-m7", "-mfloat-abi=hard", "-mfpu=fpv5-d16"), 0x60000000),
    "m55": Board("m55", "mps3-an547", ("-mcpu=cortex-m55", "-mfloat-abi=hard"), 0x60000000),
}


def cache_dir() -> Path:
    base = Path(os.environ.get("REDGE_CACHE", Path.home() / ".cache" / "redge"))
    return base / "runtime"


def _digest(paths: list[Path], flags: list[str]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    h.update(" ".join(flags).encode())
    return h.hexdigest()[:16]


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({' '.join(cmd[:3])} ...):\n{proc.stderr[-4000:]}")


def arm_toolchain_missing() -> str | None:
    """None if the Arm toolchain and QEMU are installed, else a one-line reason (for skips and errors)."""
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-nm", "qemu-system-arm"):
        if shutil.which(tool) is None:
            return (f"{tool} not found (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
                    "binutils-arm-none-eabi qemu-system-arm)")
    return None


SANITIZE = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]


def _host_gcc(tag: str, filename: str, sources: list[Path], flags: list[str], libs: list[str], what: str) -> Path:
    """Build `sources` with the host gcc into the cache, keyed by the sources, runtime headers and flags."""
    out = cache_dir() / f"{tag}-{_digest(sources + HEADERS, flags)}" / filename
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        _run(["gcc", *flags, *map(str, sources), "-o", str(tmp), *libs], what)
        tmp.replace(out)
    return out


def host_library(sanitize: bool = False) -> Path:
    """The host shared library (portable C path), built if needed; `sanitize` adds ASan + UBSan."""
    flags = WARN + ["-O2", "-g", "-fPIC", "-shared", f"-I{ROOT / 'include'}"] + (SANITIZE if sanitize else [])
    return _host_gcc("host", "libredge_rt.so", SOURCES, flags, ["-lm"], "host build")


def host_test_binary(sanitize: bool = True) -> Path:
    """The C test driver (tests/test_rt.c linked with the runtime), with ASan + UBSan by default."""
    flags = WARN + ["-O1", "-g", f"-I{ROOT / 'include'}"] + (SANITIZE if sanitize else [])
    return _host_gcc("ctest", "test_rt", [*SOURCES, ROOT / "tests" / "test_rt.c"], flags, ["-lm"], "C test build")


def plugin() -> Path:
    """The QEMU TCG profiling plugin (host gcc, no QEMU headers needed)."""
    flags = WARN[:-1] + ["-O2", "-shared", "-fPIC"]
    return _host_gcc("plugin", "libprof.so", [ROOT / "plugin" / "prof.c"], flags, [], "plugin build")


def firmware(core: str, kind: str = "model") -> tuple[Path, Path]:
    """(ELF, symbol file) of the `model` or `kbench` firmware for a core (m4, m7, m55)."""
    if core not in BOARDS:
        raise RedgeInputError(f"unknown core {core!r} (known: {', '.join(BOARDS)})")
    reason = arm_toolchain_missing()
    if reason:
        raise RedgeInputError(reason)
    board = BOARDS[core]
    board_dir = ROOT / "board"
    srcs = [board_dir / "startup.c", *SOURCES, FIRMWARE[kind]]
    flags = [*board.cpu_flags, "-mthumb", *WARN, "-O2", "-g", "-ffunction-sections", "-fdata-sections",
             f"-I{ROOT / 'include'}", f"-I{ROOT / 'src'}", "--specs=rdimon.specs", "-nostartfiles",
             f"-L{board_dir}", "-T", str(board_dir / f"{board.machine}.ld"), "-Wl,--gc-sections"]
    deps = srcs + HEADERS + [board_dir / "sections.ld", board_dir / f"{board.machine}.ld"]
    out_dir = cache_dir() / f"fw-{kind}-{core}-{_digest(deps, flags)}"
    elf, syms = out_dir / "fw.elf", out_dir / "fw.syms"
    if not syms.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        _run(["arm-none-eabi-gcc", *flags, *map(str, srcs), "-o", str(elf), "-lm"], f"{core} firmware build")
        nm = subprocess.run(["arm-none-eabi-nm", "-S", "--defined-only", str(elf)], capture_output=True, text=True,
                            check=True).stdout
        lines = [f"{p[0]} {p[1]} {p[3]}" for p in (ln.split() for ln in nm.splitlines())
                 if len(p) == 4 and p[2] in ("t", "T")]
        tmp = syms.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(syms)
    return elf, syms
