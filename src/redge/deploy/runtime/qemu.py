"""Run redge firmware on QEMU's Cortex-M machines and read the TCG plugin's per-function counts.

The machine, compiler flags, kernel set and memory map come from the target's YAML (`qemu:` and `runtime:`). The blob
is placed at the start of its weight window (PSRAM on mps2-an386/an500, DDR on mps3-an547) and the input block in
the window's last MiB, both with QEMU's generic loader; the plugin counts executed instructions per function and
bytes loaded from the weight window (`flash=` range = the blob's bytes).
"""
from __future__ import annotations

import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from redge.core.errors import RedgeInputError
from redge.deploy.runtime import build
from redge.deploy.runtime.host import ACT_MODES, STATUS
from redge.deploy.targets import QemuMachine, Target, load_target

INPUT_MAGIC = 0x504E4952  # 'RINP'
KBENCH_MAGIC = 0x4E45424B  # 'KBEN'


@dataclass
class Profile:
    """Plugin report: totals and per-function [instructions, weight bytes, RAM load bytes, store bytes]."""

    instructions: int = 0
    weight_bytes: int = 0
    functions: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Profile:
        prof = cls()
        for line in text.splitlines():
            parts = line.split()
            if parts[:1] == ["total"]:
                prof.instructions, prof.weight_bytes = int(parts[1]), int(parts[2])
            elif parts[:1] == ["fn"]:
                prof.functions[parts[1]] = [int(v) for v in parts[2:6]]
        return prof

    def insns(self, names: tuple[str, ...]) -> int:
        """Instructions executed in the named functions."""
        return sum(v[0] for k, v in self.functions.items() if k in names)

    def __sub__(self, other: Profile) -> Profile:
        names = set(self.functions) | set(other.functions)
        zero = [0, 0, 0, 0]
        return Profile(self.instructions - other.instructions, self.weight_bytes - other.weight_bytes,
                       {n: [a - b for a, b in zip(self.functions.get(n, zero), other.functions.get(n, zero))]
                        for n in names})


@dataclass
class PuzzleOut:
    """One puzzle's output from the firmware (bit-exact floats)."""

    preds: np.ndarray
    q_halt: float
    q_continue: float
    steps: int
    logits: np.ndarray | None = None


def _f32(word: str) -> float:
    return float(np.array([int(word, 16)], dtype=np.uint32).view(np.float32)[0])


def run_qemu(board: QemuMachine, elf: Path, syms: Path, files: list[tuple[Path, int]], weight_range: tuple[int, int],
             timeout: float = 600, mem: bool = True) -> tuple[str, Profile]:
    """Run `elf` on a QEMU machine with data `files` loaded at addresses; return (stdout, profile)."""
    with tempfile.TemporaryDirectory() as tmp:
        prof_path = Path(tmp) / "prof.txt"
        cmd = ["qemu-system-arm", "-M", board.machine, "-nographic", "-semihosting", "-monitor", "none",
               "-serial", "none", "-kernel", str(elf)]
        for path, addr in files:
            cmd += ["-device", f"loader,file={path},addr={addr:#x},force-raw=on"]
        lo, hi = weight_range
        cmd += ["-plugin", f"{build.plugin()},syms={syms},flash={lo:x}-{hi:x},out={prof_path},mem={int(mem)}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        prof = Profile.parse(prof_path.read_text()) if prof_path.exists() else Profile()
    if proc.returncode != 0 and "done" not in proc.stdout:
        raise RuntimeError(f"qemu {board.machine} failed (exit {proc.returncode}): {proc.stdout[-500:]}"
                           f"{proc.stderr[-1000:]}")
    return proc.stdout, prof


def input_block(tokens: np.ndarray, rows: np.ndarray | None, act: str, depth: int, early_exit: bool,
                H_cycles: int = 0, L_cycles: int = 0, check_crc: bool = False, logits: bool = False) -> bytes:
    """The firmware's input block (see fw/model_fw.c)."""
    tokens = np.ascontiguousarray(np.atleast_2d(tokens), dtype="<i4")
    head = struct.pack("<2I5i3I6I", INPUT_MAGIC, tokens.shape[0], ACT_MODES[act], depth, int(early_exit), H_cycles,
                       L_cycles, int(check_crc), int(rows is not None), int(logits), *([0] * 6))
    body = tokens.tobytes() + (b"" if rows is None else np.ascontiguousarray(rows, dtype="<f4").tobytes())
    return head + body


def run_model(target: str | Path | Target, blob: Path, tokens: np.ndarray, rows: np.ndarray | None = None,
              act: str = "auto", depth: int = 0, early_exit: bool = False, H_cycles: int = 0, L_cycles: int = 0,
              logits: bool = False, mem: bool = True, timeout: float = 600) -> tuple[list[PuzzleOut], Profile]:
    """Run puzzles (tokens [N, seq_len]) through the model firmware on the target's emulated core."""
    target = load_target(target)
    elf, syms = build.firmware(target, "model")
    board = target.qemu
    size = Path(blob).stat().st_size
    if size > board.max_blob:
        raise RedgeInputError(f"blob is {size:,} B; the {target.name} firmware on {board.machine} takes at most "
                              f"{board.max_blob:,} B (qemu.memory.weights less 1 MiB)", blob)
    base = board.weights.origin
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "input.bin"
        inp.write_bytes(input_block(tokens, rows, act, depth, early_exit, H_cycles, L_cycles, logits=logits))
        out, prof = run_qemu(board, elf, syms, [(Path(blob), base), (inp, board.input_addr)], (base, base + size),
                             timeout, mem)
    results: list[PuzzleOut] = []
    for line in out.splitlines():
        parts = line.split()
        if parts[:1] == ["P"]:
            preds = np.array([int(c, 16) if c.isdigit() else ord(c) - 87 for c in parts[5]], dtype=np.int32)
            results.append(PuzzleOut(preds, _f32(parts[3]), _f32(parts[4]), int(parts[2])))
        elif parts[:1] == ["L"] and results:
            results[-1].logits = np.array([int(w, 16) for w in parts[2:]], dtype=np.uint32).view(np.float32)
        elif parts[:1] == ["done"] and parts[1] != "0":
            code = int(parts[1])
            raise RuntimeError(f"firmware on {target.name}: {STATUS.get(code, code)} ({' '.join(parts[2:])})")
    return results, prof


def run_kbench(target: str | Path | Target, bits: int, group: int = 0, mem: bool = True) -> Profile:
    """Profile one 512x512 mat-vec (int8 activations, `bits`-bit weights, per-channel or `group` scales)."""
    target = load_target(target)
    elf, syms = build.firmware(target, "kbench")
    board = target.qemu
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "cfg.bin"
        cfg.write_bytes(struct.pack("<4I", KBENCH_MAGIC, bits, group, 1))
        _, prof = run_qemu(board, elf, syms, [(cfg, board.input_addr)],
                           (board.weights.origin, board.weights.origin + 0x100000), 120, mem)
    return prof
