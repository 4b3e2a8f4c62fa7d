"""What the C runtime implements: the ceiling that a target's `runtime:` section may narrow but never widen.

These constants describe the C code (runtime/src, runtime/include), not a board: which weight encodings `rt_load` accepts, which
kernel sets exist (one C file per instruction set, chosen by the build from the target's `runtime.kernels`) and the
compile-time limits' defaults (`RT_MAX_LAYERS`, `RT_MAX_SEQ`, `RT_MAX_DIM` in include/redge_rt.h, overridden per target
by -D flags). `redge.deploy.compat` checks a model + recipe against a target's (narrowed) copy of them.
"""
from __future__ import annotations

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
LIMITS = {"max_layers": 16, "max_seq": 8192, "max_dim": 65536}  # defaults of RT_MAX_LAYERS, RT_MAX_SEQ, RT_MAX_DIM
LIMIT_MACROS = {"max_layers": "RT_MAX_LAYERS", "max_seq": "RT_MAX_SEQ", "max_dim": "RT_MAX_DIM"}
