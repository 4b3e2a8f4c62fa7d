"""Integer weight quantization: range setting, quantize_weight (RTN or GPTQ rounding), and `QuantizedWeight`, the
layout-free exchange format.

Conventions (what a C runtime must reproduce), for a weight W [out, in] quantized to b bits:

* Scales have shape [rows, n_groups]: per-tensor [1, 1], per-channel [out, 1], per-group [out, ceil(in / g)].
  Weight column j of row r uses scale `scales[r', j // g]` (r' = 0 for per-tensor, g = in for tensor/channel).
  When g does not divide `in`, the last group of each row is shorter (equivalently: zero-padded to g).
* Symmetric: codes are signed in [-2^(b-1), 2^(b-1)-1] (int8 tensor), zero point 0, scale = absmax / (2^(b-1)-1).
* Asymmetric: codes are unsigned in [0, 2^b-1] (uint8 tensor), one integer zero point per scale (same shape as
  scales), scale = (hi - lo) / (2^b-1) with lo <= 0 <= hi so that 0.0 is exact.
* Dequantization: w = (code - zero) * scale, computed in float32; scales are stored in `scale_dtype` and the value
  used by the simulation is exactly that stored value. Rounding is round-half-to-even (`torch.round`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from redge.quant.gptq import gptq_round
from redge.quant.rounding import code_range, round_codes
from redge.quant.spec import SCALE_DTYPES, QuantSpec

_TORCH_SCALE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def group_width(spec: QuantSpec, in_features: int) -> int:
    """Number of consecutive inputs sharing one scale (the whole row for tensor/channel granularity)."""
    return spec.group_size if spec.granularity == "group" else in_features


def expand_groups(per_group: torch.Tensor, shape: tuple[int, int], group_size: int) -> torch.Tensor:
    """Broadcast per-scale values [rows, n_groups] to a weight of `shape` [out, in] (last group may be short)."""
    out, k = shape
    return per_group.repeat_interleave(group_size, dim=1)[:, :k].expand(out, k)


@dataclass
class QuantizedWeight:
    """Integer codes + scales (+ zero points) of one [out, in] weight, independent of any kernel layout.

    codes: int8 (symmetric) or uint8 (asymmetric) [out, in], one value per weight, not bit-packed.
    scales: float32 [rows, n_groups] holding values exactly representable in `scale_dtype`.
    zeros: uint8 like `scales` (asymmetric) or None (symmetric). See the module docstring for the arithmetic.
    """

    codes: torch.Tensor
    scales: torch.Tensor
    zeros: torch.Tensor | None
    bits: int
    granularity: str
    group_size: int
    scale_dtype: str = "float32"

    @property
    def symmetric(self) -> bool:
        return self.zeros is None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.codes.shape)  # type: ignore[return-value]

    def expand(self, per_group: torch.Tensor) -> torch.Tensor:
        """Broadcast a [rows, n_groups] tensor to the full [out, in] weight shape."""
        return expand_groups(per_group, self.shape, self.group_size)

    def dequantize(self) -> torch.Tensor:
        """The float32 weight the quantized model computes with: (codes - zeros) * scales."""
        q = self.codes.to(torch.float32)
        if self.zeros is not None:
            q = q - self.expand(self.zeros.to(torch.float32))
        return q * self.expand(self.scales)

    def stored_bytes(self) -> dict[str, int]:
        """Exact storage: codes bit-packed densely (ceil(numel * bits / 8)), scales in `scale_dtype`, 1-byte zeros."""
        codes = math.ceil(self.codes.numel() * self.bits / 8)
        scales = self.scales.numel() * SCALE_DTYPES[self.scale_dtype]
        zeros = 0 if self.zeros is None else self.zeros.numel()
        return {"codes": codes, "scales": scales, "zeros": zeros}


def _units(w: torch.Tensor, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Reshape W [out, in] into rows that share one scale ([units, width]) plus a validity mask (padding = False)."""
    out, k = w.shape
    if spec.granularity == "tensor":
        return w.reshape(1, -1), torch.ones(1, w.numel(), dtype=torch.bool, device=w.device)
    g = group_width(spec, k)
    n_groups = -(k // -g)
    pad = n_groups * g - k
    wp = torch.nn.functional.pad(w, (0, pad))
    mask = torch.nn.functional.pad(torch.ones(out, k, dtype=torch.bool, device=w.device), (0, pad))
    return wp.reshape(out * n_groups, g), mask.reshape(out * n_groups, g)


def _params_from_range(lo: torch.Tensor, hi: torch.Tensor, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scales (rounded to the storage dtype) and zero points for per-unit ranges [lo, hi] (lo <= 0 <= hi)."""
    qmin, qmax = code_range(spec.bits, spec.symmetric)
    if spec.symmetric:
        scale = torch.maximum(lo.abs(), hi.abs()) / qmax
    else:
        scale = (hi - lo) / (qmax - qmin)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    scale = scale.to(_TORCH_SCALE_DTYPES[spec.scale_dtype]).to(torch.float32)
    scale = torch.where(scale > 0, scale, torch.full_like(scale, torch.finfo(torch.float16).tiny))
    if spec.symmetric:
        return scale, None
    zero = torch.clamp(torch.round(-lo / scale), qmin, qmax).to(torch.int32)
    return scale, zero


def _dequant(q: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor | None) -> torch.Tensor:
    return (q - zero if zero is not None else q) * scale


def _minmax(units: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    zero = units.new_zeros(units.shape[0], 1)
    return torch.minimum(units.amin(1, keepdim=True), zero), torch.maximum(units.amax(1, keepdim=True), zero)


def _percentile(units: torch.Tensor, mask: torch.Tensor, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip at the given percentile of |w| (symmetric) or of w at both tails (asymmetric), ignoring padding."""
    x = torch.where(mask, units, torch.full_like(units, float("nan")))
    p = spec.percentile / 100.0
    zero = units.new_zeros(units.shape[0], 1)
    if spec.symmetric:
        a = torch.nanquantile(x.abs(), p, dim=1, keepdim=True)
        return -a, a
    lo = torch.nanquantile(x, 1.0 - p, dim=1, keepdim=True)
    hi = torch.nanquantile(x, p, dim=1, keepdim=True)
    return torch.minimum(lo, zero), torch.maximum(hi, zero)


def _mse_search(units: torch.Tensor, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Per unit, the clip ratio in [clip_min, 1] (1 included) minimising ||w - Q(w)||^2 over a grid.

    Ratio 1 is the min-max range, so the result is never worse than min-max on the same unit. Padding values are 0,
    which every grid point represents exactly, so they add no error.
    """
    lo, hi = _minmax(units)
    ratios = torch.linspace(1.0, spec.clip_min, spec.clip_grid) if spec.clip_grid > 1 else torch.ones(1)
    best_err = units.new_full((units.shape[0], 1), float("inf"))
    best_lo, best_hi = lo.clone(), hi.clone()
    for r in ratios.tolist():
        scale, zero = _params_from_range(lo * r, hi * r, spec)
        err = (_dequant(round_codes(units, scale, zero, spec.bits), scale, zero) - units).square().sum(1, keepdim=True)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_lo, best_hi = torch.where(better, lo * r, best_lo), torch.where(better, hi * r, best_hi)
    return best_lo, best_hi


def choose_qparams(w: torch.Tensor, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scales and zero points ([rows, n_groups]) for W [out, in] by the spec's range method (gptq uses mse ranges)."""
    w = w.detach().to(torch.float32)
    units, mask = _units(w, spec)
    if spec.method == "percentile":
        lo, hi = _percentile(units, mask, spec)
    elif spec.method in ("mse", "gptq"):
        lo, hi = _mse_search(units, spec)
    else:
        lo, hi = _minmax(units)
    scale, zero = _params_from_range(lo, hi, spec)
    rows = 1 if spec.granularity == "tensor" else w.shape[0]
    return scale.reshape(rows, -1), None if zero is None else zero.reshape(rows, -1).to(torch.uint8)


def quantize_weight(w: torch.Tensor, spec: QuantSpec, hessian: torch.Tensor | None = None) -> QuantizedWeight:
    """Quantize W [out, in] by `spec`: round-to-nearest, or GPTQ rounding when `hessian` ([in, in]) is given."""
    w = w.detach().to(torch.float32)
    scales, zeros = choose_qparams(w, spec)
    g = group_width(spec, w.shape[1])
    scale_full = expand_groups(scales, w.shape, g)
    zero_full = None if zeros is None else expand_groups(zeros.to(torch.float32), w.shape, g)
    if hessian is None:
        codes = round_codes(w, scale_full, zero_full, spec.bits)
    else:
        codes = gptq_round(w, hessian, scale_full, zero_full, spec.bits)
    codes = codes.to(torch.int8 if spec.symmetric else torch.uint8)
    return QuantizedWeight(codes, scales, zeros, spec.bits, spec.granularity, g, spec.scale_dtype)


def pack_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Dense little-endian bitstream of `codes` (row-major), `bits` bits each, LSB first: uint8 [ceil(n*bits/8)].

    Signed codes are stored in two's complement. For 4 bits this is the usual nibble packing (element 2i in the low
    nibble of byte i); for 8 bits it is the bytes themselves. Its length is exactly `stored_bytes()["codes"]`.
    """
    u = codes.reshape(-1).to(torch.int32) & (2**bits - 1)
    bitstream = ((u[:, None] >> torch.arange(bits, dtype=torch.int32, device=u.device)) & 1).reshape(-1)
    bitstream = torch.nn.functional.pad(bitstream, (0, -bitstream.numel() % 8))
    return (bitstream.reshape(-1, 8) << torch.arange(8, dtype=torch.int32, device=u.device)).sum(1).to(torch.uint8)


def unpack_codes(packed: torch.Tensor, bits: int, shape: tuple[int, ...], signed: bool) -> torch.Tensor:
    """Inverse of `pack_codes`: int8 (signed) or uint8 codes of `shape`."""
    n = math.prod(shape)
    bitstream = ((packed.to(torch.int32)[:, None] >> torch.arange(8, dtype=torch.int32, device=packed.device)) & 1
                 ).reshape(-1)[: n * bits]
    u = (bitstream.reshape(n, bits) << torch.arange(bits, dtype=torch.int32, device=packed.device)).sum(1)
    if signed:
        u = torch.where(u >= 2 ** (bits - 1), u - 2**bits, u)
    return u.to(torch.int8 if signed else torch.uint8).reshape(shape)
