"""Compile the runtime: host shared library (gcc), Cortex-M firmware (arm-none-eabi-gcc) and the QEMU TCG plugin.

Outputs are cached under `$REDGE_CACHE` (default `~/.cache/redge`)/runtime/<hash of sources and flags>, so a
second build is free. Every compiler runs with -std=c99 -Wall -Wextra -Werror; float code with -ffp-contract=off
so host and Cortex-M builds compute the same float values.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from redge.core.errors import RedgeInputError
from redge.deploy import capabilities
from redge.deploy.targets import QemuMachine, Target

ROOT = Path(__file__).resolve().parent
SOURCES = [ROOT / "src" / "rt_kernels.c", ROOT / "src" / "rt_model.c", ROOT / "src" / "rt_emb.c"]
HEADERS = [ROOT / "include" / "redge_rt.h", ROOT / "src" / "rt_kernels.h", ROOT / "src" / "rt_scalar.h"]
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off"]
INCLUDES = [f"-I{ROOT / 'include'}", f"-I{ROOT / 'src'}"]
FIRMWARE = {"model": ROOT / "fw" / "model_fw.c", "kbench": ROOT / "fw" / "kbench.c"}
FUZZ_HARNESSES = {"blob": ROOT / "fuzz" / "fuzz_blob.c", "emb": ROOT / "fuzz" / "fuzz_emb.c"}
HOST_KERNELS = "c"  # the host build runs the portable kernels


def runtime_sources(kernels: str) -> list[Path]:
    """The runtime's C files for a kernel set (`runtime.kernels` of a target): the shared part + that set's files."""
    return SOURCES + [ROOT / "src" / name for name in capabilities.KERNEL_SETS[kernels]]


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


def _host_gcc(tag: str, filename: str, sources: list[Path], flags: list[str], libs: list[str], what: str,
              compiler: str = "gcc", headers: tuple[Path, ...] = ()) -> Path:
    """Build `sources` with a host compiler into the cache, keyed by the sources, headers and flags."""
    out = cache_dir() / f"{tag}-{_digest(sources + HEADERS + list(headers), [compiler, *flags])}" / filename
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        _run([compiler, *flags, *map(str, sources), "-o", str(tmp), *libs], what)
        tmp.replace(out)
    return out


def host_library(sanitize: bool = False) -> Path:
    """The host shared library (portable C path), built if needed; `sanitize` adds ASan + UBSan."""
    flags = WARN + ["-O2", "-g", "-fPIC", "-shared", *INCLUDES] + (SANITIZE if sanitize else [])
    return _host_gcc("host", "libredge_rt.so", runtime_sources(HOST_KERNELS), flags, ["-lm"], "host build")


def host_test_binary(sanitize: bool = True) -> Path:
    """The C test driver (tests/test_rt.c linked with the runtime), with ASan + UBSan by default."""
    flags = WARN + ["-O1", "-g", *INCLUDES] + (SANITIZE if sanitize else [])
    return _host_gcc("ctest", "test_rt", [*runtime_sources(HOST_KERNELS), ROOT / "tests" / "test_rt.c"], flags,
                     ["-lm"], "C test build")


def clang_missing() -> str | None:
    """None if clang with libFuzzer can build the fuzz harnesses, else a one-line reason (for skips and errors)."""
    if shutil.which("clang") is None:
        return "clang not found (apt-get install clang: Debian's clang ships libFuzzer)"
    return None


def clang_version() -> str:
    """The first line of `clang --version`."""
    return subprocess.run(["clang", "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]


def fuzz_harness(loader: str) -> Path:
    """The libFuzzer binary for `loader` ("blob": rt_load + a small forward, "emb": rt_emb_open / rt_emb_row), built
    with clang -fsanitize=fuzzer,address,undefined on the portable kernels."""
    reason = clang_missing()
    if reason:
        raise RedgeInputError(reason)
    flags = WARN + ["-O1", "-g", "-fsanitize=fuzzer,address,undefined", "-fno-omit-frame-pointer",
                    "-fno-sanitize-recover=all", *INCLUDES, f"-I{ROOT / 'fuzz'}"]
    sources = [*runtime_sources(HOST_KERNELS), FUZZ_HARNESSES[loader]]
    return _host_gcc(f"fuzz-{loader}", f"fuzz_{loader}", sources, flags, ["-lm"], f"fuzz harness build ({loader})",
                     compiler="clang", headers=(ROOT / "fuzz" / "fuzz_common.h",))


def plugin() -> Path:
    """The QEMU TCG profiling plugin (host gcc, no QEMU headers needed)."""
    flags = WARN[:-1] + ["-O2", "-shared", "-fPIC"]
    return _host_gcc("plugin", "libprof.so", [ROOT / "plugin" / "prof.c"], flags, [], "plugin build")


def linker_memory(qemu: QemuMachine) -> str:
    """The firmware's MEMORY block on the target's QEMU machine (board/sections.ld does the rest)."""
    windows = (("FLASH", "rx", qemu.code), ("RAM", "rwx", qemu.ram), ("WEIGHTS", "r", qemu.weights),
               ("ARENA", "rw", qemu.arena))
    lines = [f"  {name} ({mode}) : ORIGIN = {w.origin:#010x}, LENGTH = {w.size:#x}" for name, mode, w in windows]
    return f"/* generated from the target YAML (qemu.memory of {qemu.machine}) */\nMEMORY\n{{\n" + "\n".join(lines) + \
        "\n}\nINCLUDE sections.ld\n"


def firmware(target: Target, kind: str = "model") -> tuple[Path, Path]:
    """(ELF, symbol file) of the `model` or `kbench` firmware for a target with a QEMU machine, built as its YAML says:
    its kernel set, compiler flags and limits, linked to its `qemu.memory` map."""
    if target.qemu is None:
        raise RedgeInputError(f"target {target.name!r} names no QEMU machine (qemu:), so it cannot be emulated",
                              target.source or None)
    reason = arm_toolchain_missing()
    if reason:
        raise RedgeInputError(reason)
    board_dir = ROOT / "board"
    srcs = [board_dir / "startup.c", *runtime_sources(target.runtime.kernels), FIRMWARE[kind]]
    memory = linker_memory(target.qemu)
    flags = [*target.runtime.cflags, *WARN, *target.runtime.limit_defines(), "-O2", "-g", "-ffunction-sections",
             "-fdata-sections", *INCLUDES, "--specs=rdimon.specs", "-nostartfiles", f"-L{board_dir}"]
    digest = _digest(srcs + HEADERS + [board_dir / "sections.ld"], [*flags, memory])
    out_dir = cache_dir() / f"fw-{kind}-{re.sub(r'[^A-Za-z0-9_.-]', '_', target.name)}-{digest}"
    elf, syms, script = out_dir / "fw.elf", out_dir / "fw.syms", out_dir / "memory.ld"
    if not syms.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        script.write_text(memory)
        cmd = ["arm-none-eabi-gcc", *flags, "-T", str(script), "-Wl,--gc-sections", *map(str, srcs), "-o", str(elf),
               "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), proc.stderr.strip()[:300])
            raise RedgeInputError(f"target {target.name!r}: firmware build failed ({first.strip()})",
                                  target.source or None)
        nm = subprocess.run(["arm-none-eabi-nm", "-S", "--defined-only", str(elf)], capture_output=True, text=True,
                            check=True).stdout
        lines = [f"{p[0]} {p[1]} {p[3]}" for p in (ln.split() for ln in nm.splitlines())
                 if len(p) == 4 and p[2] in ("t", "T")]
        tmp = syms.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(syms)
    return elf, syms
