"""Packed matmuls on the real integer CPU kernels of torch 2.13, built from a `QuantizedWeight`.

Signatures, layouts and limits, checked by experiment on torch 2.13.0+cpu (see tests/quant/test_kernels.py):

* `aten._weight_int8pack_mm(x [M, K] float/bf16, w int8 [N, K], scales [N] same dtype as x) -> [M, N]`
  computes x @ (w * scales[:, None]).T. Any M and K (97 works); per-row scales only, no zero points, no groups.
  Crash hazards found by experiment: with bfloat16 x the op segfaults when K is not a multiple of 32 (reproduced
  alone: M=16, K=97, N=64), and with N = 11 (lm_head) it crashed inside a model run. `Int8Kernel` therefore pads
  each group's K to a multiple of 32, N to a multiple of 16 and M to a multiple of 16, with zeros. It runs one
  call per scale group and adds the zero-point term itself.
* `torch._int_mm(a int8 [M, K], b int8 [K, N]) -> int32 [M, N]`: exact integer GEMM, any M (1 works). On AVX-512 CPUs it
  returned garbage for K = 1 (a [1, N] operand with strides (1, 1)), so `Int8Kernel` gives it the same K-padded groups.
  Used for W8A8 / W4A8 with per-token int8 activations (`Int8Kernel` with `act_bits=8`).
* `aten._convert_weight_to_int4pack_for_cpu(w int32 [N, K] values 0..15, innerKTiles) -> uint8 [N, K/2]` and
  `aten._weight_int4pack_mm_for_cpu(x [M, K], packed, qGroupSize, qScaleAndZeros [K/g, N, 2]) -> [M, N]` with
  w = (u - 8) * scale + zero per (group, column). Requires N % 16 == 0, qGroupSize in {32, 64, 128, 256}, K % g == 0.
  `Int4Kernel` pads N and K with zeros, maps signed codes c to u = c + 8 and asymmetric zero points z to the float
  zero (8 - z) * scale, and repeats per-channel scales over the kernel's groups.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from redge.core.errors import RedgeInputError
from redge.quant.qtensor import QuantizedWeight

INT4_GROUPS = (256, 128, 64, 32)
_aten = torch.ops.aten


def _pad_rows(x: torch.Tensor, multiple: int = 16) -> torch.Tensor:
    """x [M, K] zero-padded to a row count that is a multiple of `multiple` (see the module docstring)."""
    pad = -x.shape[0] % multiple
    return F.pad(x, (0, 0, 0, pad)) if pad else x


def quantize_per_token(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per-row dynamic quantization of x [M, K]: codes in [-127, 127] and fp32 scales [M, 1].

    scale = absmax(row) / 127 (1 for an all-zero row), code = round_half_even(x / scale). This is what a W8A8
    microcontroller runtime computes at every call, so the fake-quant path uses it too.
    """
    x = x.to(torch.float32)
    scale = x.abs().amax(dim=-1, keepdim=True) / 127.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return torch.clamp(torch.round(x / scale), -127, 127).to(torch.int8), scale


def int4_kernel_group(qw: QuantizedWeight) -> int | None:
    """The kernel group size `Int4Kernel` would use for `qw`, or None when the int4 kernel cannot express it."""
    if qw.bits > 4:
        return None
    if qw.granularity == "group":
        return qw.group_size if qw.group_size in INT4_GROUPS else None
    k_pad = -(qw.shape[1] // -32) * 32
    return next(g for g in INT4_GROUPS if k_pad % g == 0)


class Int8Kernel:
    """x @ W.T with W given as int8 codes: `_weight_int8pack_mm` (weight-only) or `_int_mm` (act_bits=8).

    Codes are shifted to int8 (asymmetric uint8 codes and zero points minus 128), sliced per scale group; the
    zero-point term sum_k x_k * z is subtracted per group. One kernel call per group (one for tensor/channel).
    """

    def __init__(self, qw: QuantizedWeight, act_bits: int | None) -> None:
        self.act_bits = act_bits
        n, k = qw.shape
        self.n, g = n, qw.group_size
        n_pad = -(n // -16) * 16 - n
        codes = F.pad(qw.codes.to(torch.int16) - (0 if qw.symmetric else 128), (0, 0, 0, n_pad))
        self.slices = [(j, min(j + g, k)) for j in range(0, k, g)]
        self.codes = [F.pad(codes[:, a:b], (0, -(b - a) % 32)).to(torch.int8).contiguous() for a, b in self.slices]
        # _int_mm takes the same K-padded groups: on AVX-512 CPUs it returned garbage for a 1-wide group ([1, N] with
        # strides (1, 1), the last group of K = 97 = 3 x 32 + 1), so no group is narrower than 32.
        self.codes_t = [c.t().contiguous() for c in self.codes] if act_bits else []
        self.scales = F.pad(qw.scales.expand(n, len(self.slices)), (0, 0, 0, n_pad)).contiguous()  # [N_pad, G]
        self.zeros = None if qw.symmetric else F.pad((qw.zeros.to(torch.float32) - 128).expand(
            n, len(self.slices)), (0, 0, 0, n_pad))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """y [M, N] for x [M, K]; fp32 output for act_bits=8, x.dtype otherwise."""
        y = self._w8a8(x) if self.act_bits else self._weight_only(_pad_rows(x))
        return y[: x.shape[0], : self.n]

    def _weight_only(self, x: torch.Tensor) -> torch.Tensor:
        scales = self.scales.to(x.dtype)
        y = None
        for gi, (a, b) in enumerate(self.slices):
            xg = x[:, a:b] if len(self.slices) > 1 else x
            part = _aten._weight_int8pack_mm(F.pad(xg, (0, -(b - a) % 32)).contiguous(), self.codes[gi],
                                             scales[:, gi].contiguous())
            if self.zeros is not None:
                part = part - xg.sum(-1, keepdim=True) * (scales[:, gi] * self.zeros[:, gi].to(x.dtype))
            y = part if y is None else y + part
        return y

    def _w8a8(self, x: torch.Tensor) -> torch.Tensor:
        xq, xs = quantize_per_token(x)
        y = None
        for gi, (a, b) in enumerate(self.slices):
            xg = xq[:, a:b] if len(self.slices) > 1 else xq
            acc = torch._int_mm(F.pad(xg, (0, -(b - a) % 32)).contiguous(), self.codes_t[gi]).to(torch.float32)
            if self.zeros is not None:
                acc = acc - xg.to(torch.float32).sum(-1, keepdim=True) * self.zeros[:, gi]
            part = acc * self.scales[:, gi]
            y = part if y is None else y + part
        return y * xs


class Int4Kernel:
    """Weight-only x @ W.T on `_weight_int4pack_mm_for_cpu` (bits <= 4; see `int4_kernel_group`)."""

    def __init__(self, qw: QuantizedWeight) -> None:
        group = int4_kernel_group(qw)
        if group is None:
            raise ValueError(f"int4 kernel cannot run bits={qw.bits} {qw.granularity} group {qw.group_size}")
        n, k = qw.shape
        self.n, self.k, self.group = n, k, group
        self.k_pad = -(k // -group) * group
        n_pad = -(n // -16) * 16
        u = qw.codes.to(torch.int32) + (8 if qw.symmetric else 0)
        u = F.pad(u, (0, self.k_pad - k, 0, n_pad - n), value=8)
        self.packed = _aten._convert_weight_to_int4pack_for_cpu(u.contiguous(), 1)
        scales = qw.expand(qw.scales)  # [N, K] full, then one value per kernel group (constant inside each)
        zeros = torch.zeros_like(scales) if qw.symmetric else (8.0 - qw.expand(qw.zeros.to(torch.float32))) * scales
        scales = F.pad(scales, (0, self.k_pad - k, 0, n_pad - n), value=1.0)[:, ::group]
        zeros = F.pad(zeros, (0, self.k_pad - k, 0, n_pad - n))[:, ::group]
        self.scale_zeros = torch.stack([scales, zeros], dim=-1).transpose(0, 1).contiguous()  # [K/g, N, 2]
        self._cast: dict[torch.dtype, torch.Tensor] = {torch.float32: self.scale_zeros}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """y [M, N] in x.dtype for x [M, K] (float32 or bfloat16)."""
        if x.dtype not in self._cast:
            self._cast[x.dtype] = self.scale_zeros.to(x.dtype)
        if self.k_pad != self.k:
            x = F.pad(x, (0, self.k_pad - self.k))
        m = x.shape[0]
        y = _aten._weight_int4pack_mm_for_cpu(_pad_rows(x).contiguous(), self.packed, self.group,
                                              self._cast[x.dtype])
        return y[:m, : self.n]


def kernel_name(qw: QuantizedWeight, act_bits: int | None) -> str:
    """Which kernel `build_kernel` picks, without building it: `int_mm` (int8 activations), `int4pack` (weight-only
    <= 4 bits when the int4 kernel can express the grouping) or `int8pack`."""
    if act_bits:
        return "int_mm"
    return "int4pack" if int4_kernel_group(qw) is not None else "int8pack"


def build_kernel(qw: QuantizedWeight, act_bits: int | None) -> Int8Kernel | Int4Kernel:
    """The fastest exact kernel for `qw` (see `kernel_name`). The kernels are torch's CPU kernels: `qw` must be on
    the CPU."""
    if qw.codes.device.type != "cpu":
        raise RedgeInputError(f"the packed path runs torch's CPU integer kernels; this weight is on "
                              f"{qw.codes.device} (use the fake path there: it computes the same numbers)")
    return Int4Kernel(qw) if kernel_name(qw, act_bits) == "int4pack" else Int8Kernel(qw, act_bits)
