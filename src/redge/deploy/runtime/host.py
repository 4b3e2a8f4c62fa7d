"""ctypes binding of the host build of the C runtime: load a blob, run puzzles, get predictions and logits."""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redge.core.errors import RedgeInputError
from redge.deploy.runtime import build

ACT_MODES = {"auto": 0, "int8": 1, "f32": 2}
STATUS = {
    0: "ok", 1: "bad argument (or depth / cycles above RT_MAX_STEPS / RT_MAX_CYCLES)",
    2: "bad magic: not a redge blob", 3: "truncated: a size or offset points outside the file", 4: "checksum mismatch",
    5: "inconsistent header or tensor table",
    6: "model config out of the runtime's limits (RT_MAX_* in redge_rt.h; e.g. its arena would exceed RT_MAX_ARENA)",
    7: "a tensor the model needs is missing", 8: "a tensor has the wrong shape or dtype",
    9: "feature not supported by the C runtime (asymmetric codes, bf16/f16 weights)", 10: "arena too small",
    11: "token or puzzle id out of range", 12: "the embedding file was not exported with this blob"}


class _Opts(ctypes.Structure):
    _fields_ = [("act_mode", ctypes.c_int32), ("depth", ctypes.c_int32), ("early_exit", ctypes.c_int32),
                ("H_cycles", ctypes.c_int32), ("L_cycles", ctypes.c_int32)]


class _Result(ctypes.Structure):
    _fields_ = [("q_halt", ctypes.c_float), ("q_continue", ctypes.c_float), ("steps", ctypes.c_int32)]


@dataclass
class RunOutput:
    """One puzzle's result: predictions [seq_len], logits [seq_len, V] of the last step, Q logits, steps run."""

    preds: np.ndarray
    logits: np.ndarray
    q_halt: float
    q_continue: float
    steps: int


def _lib(sanitize: bool = False) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(build.host_library(sanitize)))
    lib.rt_model_size.restype = ctypes.c_size_t
    lib.rt_arena_size.restype = ctypes.c_size_t
    lib.rt_arena_size.argtypes = [ctypes.c_void_p]
    lib.rt_load.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    lib.rt_set_arena.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    lib.rt_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(_Opts),
                           ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(_Result)]
    lib.rt_kernel_path.restype = ctypes.c_char_p
    return lib


def _aligned(nbytes: int, align: int = 64) -> tuple[np.ndarray, int]:
    """A zeroed byte buffer and the address inside it aligned to `align` (the C side never allocates)."""
    buf = np.zeros(nbytes + align, dtype=np.uint8)
    addr = buf.ctypes.data
    return buf, (addr + align - 1) // align * align


class HostRuntime:
    """The C runtime on the host: `HostRuntime(blob_path).run(tokens, puzzle_row)`.

    The blob is copied into an aligned buffer, verified by `rt_load` (header, table and tensor CRCs, every
    offset/shape), and the arena is sized by `rt_arena_size` from the blob's config.
    """

    def __init__(self, blob: str | Path | bytes, check_crc: bool = True) -> None:
        data = Path(blob).read_bytes() if isinstance(blob, (str, Path)) else bytes(blob)
        self.lib = _lib()
        self._model_buf, self._model = _aligned(self.lib.rt_model_size())
        self._blob_buf, self._blob = _aligned(len(data))
        ctypes.memmove(self._blob, data, len(data))
        rc = self.lib.rt_load(self._model, self._blob, len(data), int(check_crc))
        if rc:
            where = str(blob) if isinstance(blob, (str, Path)) else "<blob>"
            raise RedgeInputError(f"C runtime rejected the blob: {STATUS.get(rc, rc)}", where)
        self.arena_bytes = int(self.lib.rt_arena_size(self._model))
        self._arena_buf, self._arena = _aligned(self.arena_bytes)
        rc = self.lib.rt_set_arena(self._model, self._arena, self.arena_bytes)
        if rc:
            raise RuntimeError(f"rt_set_arena: {STATUS.get(rc, rc)}")
        fields = (ctypes.c_uint32 * 32).from_address(self._model)
        # rt_model starts with: arch pos mlp_t no_act_continue vocab seq_len prefix hidden ... puzzle_emb_ndim
        self.vocab, self.seq_len, self.prefix, self.hidden = fields[4], fields[5], fields[6], fields[7]
        self.puzzle_emb_ndim = fields[16]
        self.kernel_path = self.lib.rt_kernel_path().decode()

    def run(self, tokens: np.ndarray, puzzle_row: np.ndarray | None = None, depth: int = 0,
            early_exit: bool = False, act: str = "auto", H_cycles: int = 0, L_cycles: int = 0) -> RunOutput:
        """Run one puzzle (tokens [seq_len]); depth 0 = halt_max_steps; act 'auto' follows the blob."""
        if act not in ACT_MODES:
            raise RedgeInputError(f"act must be one of {tuple(ACT_MODES)}, got {act!r}")
        tok = np.ascontiguousarray(np.asarray(tokens).reshape(-1), dtype=np.int32)
        if tok.shape[0] != self.seq_len:
            raise RedgeInputError(f"expected {self.seq_len} tokens, got {tok.shape[0]}")
        row = None
        if puzzle_row is not None:
            row = np.ascontiguousarray(np.asarray(puzzle_row, dtype=np.float32).reshape(-1))
            if row.shape[0] != self.puzzle_emb_ndim:
                raise RedgeInputError(f"puzzle row has {row.shape[0]} values, the model needs {self.puzzle_emb_ndim}")
        preds = np.zeros(self.seq_len, dtype=np.int32)
        logits = np.zeros((self.seq_len, self.vocab), dtype=np.float32)
        opts = _Opts(ACT_MODES[act], depth, int(early_exit), H_cycles, L_cycles)
        res = _Result()
        rc = self.lib.rt_run(self._model, tok.ctypes.data, None if row is None else row.ctypes.data,
                             ctypes.byref(opts), preds.ctypes.data, logits.ctypes.data, ctypes.byref(res))
        if rc:
            raise RedgeInputError(f"C runtime run failed: {STATUS.get(rc, rc)}")
        return RunOutput(preds, logits, float(res.q_halt), float(res.q_continue), int(res.steps))
