"""What the C runtime implements: the ceiling that a target's `runtime:` section may narrow but never widen.

These constants describe the C code (runtime/src, runtime/include), not a board: which weight encodings `rt_load`
accepts, which kernel sets exist (one C file per instruction set, chosen by the build from the target's
`runtime.kernels`) and the limits on what a blob may ask for (`RT_MAX_*` in include/redge_rt.h, read from there: the
C header is their one source of truth; a target narrows them with -D flags). `redge.deploy.compat` checks a model + recipe against a target's
(narrowed) copy of them; the blob and embedding-file readers enforce the ceiling itself.
"""
from __future__ import annotations

import re
from pathlib import Path

# kernel set -> C sources under runtime/src/ (integer mat-vec kernels, then float vector kernels)
KERNEL_SETS: dict[str, tuple[str, ...]] = {
    "c": ("isa/int_c.c", "isa/vec_c.c"),
    "dsp": ("isa/int_dsp.c", "isa/vec_c.c"),
    "helium": ("isa/int_mve.c", "isa/vec_mve.c"),
}
WEIGHT_CODES = ("i8", "i4")  # symmetric integer codes (2-3 bit codes live in i4, 5-7 bit codes in i8); no zero points
FLOAT_WEIGHTS = ("f32",)  # float tensors; bf16/f16 weights are rejected (RT_ERR_UNSUPPORTED)
SCALE_DTYPES = ("f32", "f16", "bf16")
ACT_BITS = (0, 8)  # 0: float activations (weight-only recipes), 8: int8 per-token activations
# limit key (a target YAML's runtime.<key>) -> the C macro that holds its value
LIMIT_MACROS = {"max_layers": "RT_MAX_LAYERS", "max_seq": "RT_MAX_SEQ", "max_dim": "RT_MAX_DIM",
                "max_cycles": "RT_MAX_CYCLES", "max_steps": "RT_MAX_STEPS", "max_puzzle_ids": "RT_MAX_PUZZLE_IDS",
                "max_tensors": "RT_MAX_TENSORS", "max_arena": "RT_MAX_ARENA"}
# limit key -> the blob header fields it bounds (each also >= 1 where LIMIT_MIN_ONE says so); max_seq also bounds
# seq_len + prefix_len, max_tensors the table's length, max_arena the runtime's arena (computed by rt_load only)
LIMIT_FIELDS = {"max_layers": ("H_layers", "L_layers"), "max_seq": ("seq_len", "prefix_len"),
                "max_dim": ("vocab_size", "hidden_size", "intermediate", "token_inter", "puzzle_emb_ndim"),
                "max_cycles": ("H_cycles", "L_cycles"), "max_steps": ("halt_max_steps",),
                "max_puzzle_ids": ("num_puzzle_ids",)}
LIMIT_MIN_ONE = ("vocab_size", "seq_len", "hidden_size", "num_heads", "intermediate", "L_layers", "H_cycles",
                 "L_cycles", "halt_max_steps")
RUNTIME_HEADER = Path(__file__).resolve().parent / "runtime" / "include" / "redge_rt.h"


def _header_limits(header: Path = RUNTIME_HEADER) -> dict[str, int]:
    """The `#define RT_MAX_* <decimal>` defaults of the C header, by limit key."""
    text = header.read_text()
    out = {}
    for key, macro in LIMIT_MACROS.items():
        found = re.search(rf"^#define {macro} (\d+)\b", text, re.MULTILINE)
        if found is None:
            raise RuntimeError(f"{header}: no '#define {macro} <decimal>' (the runtime's limits live there)")
        out[key] = int(found.group(1))
    return out


LIMITS = _header_limits()
