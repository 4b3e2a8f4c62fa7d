"""The C runtime's float32 elementwise numerics, mirrored bit for bit in torch (for parity tests and references).

The runtime (src/rt_kernels.c, src/rt_model.c) fixes three float functions so that every target (host, Arm DSP,
Helium) computes the same bits; torch's own `exp` / `silu` (SLEEF, vectorised) and `rms_norm` (blocked
reductions) round differently, and with int8 activations a last-bit difference can flip an activation code.

* `c_expf`: Cody-Waite reduction, n = round-half-even(x * log2 e), degree-6 Cephes polynomial, 2^n by exponent
  bits; x < -87.3 gives 0, x is clamped to 88.7 (`rk_expf`, `vexpq`).
* `c_silu_mul(gate, up)` = (g / (1 + c_expf(-g))) * up (`rk_silu_mul`).
* `c_rms_norm(x, eps)`: sum of squares accumulated left to right in float32, then x * (1 / sqrt(ss / n + eps))
  with a correctly rounded sqrt (`rms_norm`; torch.sqrt on the CPU is not correctly rounded, numpy's is).

Every step is one IEEE float32 operation (no fused multiply-add), so these functions equal the C ones exactly.
`runtime_numerics()` swaps them into `redge.models.layers` for the duration of a `with` block, so a quantized model
in fake mode (W8A8: `QuantLinear._simulate_int_gemm`, exact integer sums) computes what the C runtime computes.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

_F32 = torch.float32


def _c(v: float) -> torch.Tensor:
    return torch.tensor(v, dtype=_F32)


_HI, _LO, _LOG2E = _c(88.7), _c(-87.3), _c(1.44269504088896341)
_LN2_HI, _LN2_LO = _c(0.693359375), _c(2.12194440e-4)
_P = [_c(v) for v in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
                      5.0000001201e-1)]
_RND, _ONE = _c(12582912.0), _c(1.0)


def c_expf(x: torch.Tensor) -> torch.Tensor:
    """rk_expf of a float32 tensor, bit for bit."""
    x = x.to(_F32)
    under = x < _LO
    x = torch.minimum(torch.maximum(x, _LO), _HI)
    n = (x * _LOG2E + _RND) - _RND
    r = x - n * _LN2_HI
    r = r + n * _LN2_LO
    r2 = r * r
    p = _P[0] * r + _P[1]
    for c in _P[2:]:
        p = p * r + c
    p = (p * r2 + r) + _ONE
    scale = ((n.to(torch.int32) + 127) << 23).view(_F32)
    return torch.where(under, torch.zeros_like(x), p * scale)


def c_silu_mul(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """rk_silu_mul: silu(gate) * up with the runtime's exp."""
    gate = gate.to(_F32)
    return (gate / (_ONE + c_expf(-gate))) * up.to(_F32)


def c_rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """The runtime's rms_norm over the last axis (float32 in and out): sequential float32 sum of squares."""
    xf = x.detach().to(_F32)
    sq = (xf * xf).numpy()
    ss = np.add.accumulate(sq, axis=-1, dtype=np.float32)[..., -1:]
    # numpy's float32 sqrt is correctly rounded like C's sqrtf; torch.sqrt on the CPU is not (SLEEF)
    r = np.float32(1.0) / np.sqrt(ss / np.float32(x.shape[-1]) + np.float32(eps))
    return (xf * torch.from_numpy(r)).to(x.dtype)


@contextlib.contextmanager
def runtime_numerics() -> Iterator[None]:
    """Within the block, models in `redge.models` use the runtime's exp/SiLU and RMSNorm (inference only)."""
    from redge.models import layers

    def swiglu_forward(self: layers.SwiGLU, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(c_silu_mul(gate, up).to(x.dtype))

    saved = layers.rms_norm, layers.SwiGLU.forward
    layers.rms_norm, layers.SwiGLU.forward = c_rms_norm, swiglu_forward
    try:
        yield
    finally:
        layers.rms_norm, layers.SwiGLU.forward = saved
