"""Drop-in replacements for `CastedLinear` / `CastedEmbedding` / `PuzzleEmbedding` holding quantized weights.

`QuantLinear` keeps integer codes, scales and zero points as buffers (so `state_dict` carries them) and computes by
one of two paths, selected by `mode`:

* `"fake"`: dequantize once (cached), then `F.linear` in the activation dtype; with `act_bits=8` the input is first
  quantized per token exactly as the device does (`kernels.quantize_per_token`). Exact simulation, any dtype/device.
* `"packed"`: the real integer kernels of `kernels.py`. Agrees with `"fake"` to floating-point rounding.

`QuantLinear.quantized_weight()` is the documented, kernel-independent export for deployment (see
`qtensor.QuantizedWeight`). `Bf16Linear` / `Bf16Embedding` store bfloat16 weights (bits=16).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from redge.quant.kernels import (
    Int4Kernel,
    Int8Kernel,
    build_kernel,
    kernel_name,
    quantize_per_token,
)
from redge.quant.qtensor import QuantizedWeight, quantize_weight
from redge.quant.spec import QuantSpec

MODES = ("fake", "packed")


def _optional_buffer(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else nn.Buffer(t.detach().clone())


class _QuantWeightMixin:
    """Codes/scales/zeros buffers shared by the quantized linear and embedding, and their export."""

    codes: torch.Tensor
    scales: torch.Tensor
    zeros: torch.Tensor | None

    def _init_weight(self, qw: QuantizedWeight) -> None:
        self.codes = nn.Buffer(qw.codes.clone())
        self.scales = nn.Buffer(qw.scales.clone())
        self.zeros = _optional_buffer(qw.zeros)
        self.bits, self.granularity, self.group_size, self.scale_dtype = (
            qw.bits, qw.granularity, qw.group_size, qw.scale_dtype)

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """`.to()`, `.cuda()`, `.half()`...: drop the caches derived from the buffers, so they follow the move."""
        for cache in ("_dequant", "_centred", "_kernel"):
            if getattr(self, cache, None) is not None:
                setattr(self, cache, None)
        return super()._apply(fn, *args, **kwargs)

    def quantized_weight(self) -> QuantizedWeight:
        """Codes [out, in] (int8 symmetric / uint8 asymmetric), scales [rows, groups], zeros, bits, granularity, g."""
        return QuantizedWeight(self.codes, self.scales, self.zeros, self.bits, self.granularity, self.group_size,
                               self.scale_dtype)

    def stored_bytes(self) -> dict[str, int]:
        """Exact bytes of codes, scales, zero points (and bias when present)."""
        out = self.quantized_weight().stored_bytes()
        bias = getattr(self, "bias", None)
        out["bias"] = 0 if bias is None else bias.numel() * 4
        return out


class QuantLinear(_QuantWeightMixin, nn.Module):
    """Integer-weight linear layer (weights [out, in]) with fake-quant and packed-kernel paths."""

    def __init__(self, qw: QuantizedWeight, bias: torch.Tensor | None = None, act_bits: int | None = None,
                 mode: str = "fake") -> None:
        super().__init__()
        self._init_weight(qw)
        self.out_features, self.in_features = qw.shape
        self.bias = _optional_buffer(None if bias is None else bias.to(torch.float32))
        self.act_bits = act_bits
        self._dequant: torch.Tensor | None = None
        self._centred: torch.Tensor | None = None
        self._kernel: Int8Kernel | Int4Kernel | None = None
        self.mode = "fake"
        self.set_mode(mode)

    @classmethod
    def from_linear(cls, linear: nn.Linear, spec: QuantSpec, hessian: torch.Tensor | None = None,
                    mode: str = "fake") -> QuantLinear:
        """Quantize an `nn.Linear`/`CastedLinear` by `spec` (GPTQ rounding when `hessian` is given)."""
        qw = quantize_weight(linear.weight, spec, hessian)
        return cls(qw, linear.bias, spec.act_bits, mode)

    @property
    def kernel_name(self) -> str:
        """Which integer kernel the packed path uses: `int4pack`, `int8pack` or `int_mm`."""
        return kernel_name(self.quantized_weight(), self.act_bits)

    def set_mode(self, mode: str) -> None:
        """Select the `"fake"` (dequantized) or `"packed"` (integer kernel) path; builds the kernel on first use."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "packed":
            self._packed_kernel()  # built now, so a weight the kernels cannot take fails here, not mid-run
        self.mode = mode

    def _packed_kernel(self) -> Int8Kernel | Int4Kernel:
        """The CPU integer kernel of this weight, built on first use (and again after a move dropped it)."""
        if self._kernel is None:
            self._kernel = build_kernel(self.quantized_weight(), self.act_bits)
        return self._kernel

    def dequantized_weight(self) -> torch.Tensor:
        """The fp32 weight [out, in] this layer computes with (cached)."""
        if self._dequant is None:
            self._dequant = self.quantized_weight().dequantize()
        return self._dequant

    def _simulate_int_gemm(self, x: torch.Tensor) -> torch.Tensor:
        """W8A8/W4A8 in float arithmetic, in the kernel's order: per scale group, integer-valued products
        (exact in fp32) times the weight scale, summed over groups, times the per-token activation scale."""
        xq, xs = quantize_per_token(x)
        xq = xq.to(torch.float32)
        if self._centred is None:  # codes - zeros as float, cached
            qw = self.quantized_weight()
            zeros = 0.0 if qw.zeros is None else qw.expand(qw.zeros.to(torch.float32))
            self._centred = qw.codes.to(torch.float32) - zeros
        scales = self.scales.expand(self.out_features, -1)
        y = None
        for gi, a in enumerate(range(0, self.in_features, self.group_size)):
            b = min(a + self.group_size, self.in_features)
            part = F.linear(xq[:, a:b], self._centred[:, a:b]) * scales[:, gi]
            y = part if y is None else y + part
        return y * xs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x2 = x.reshape(-1, self.in_features)
        if self.mode == "packed":
            y = self._packed_kernel()(x2)
        elif self.act_bits:
            y = self._simulate_int_gemm(x2)
        else:
            y = F.linear(x2, self.dequantized_weight().to(x.dtype))
        if self.bias is not None:
            y = y + self.bias.to(y.dtype)
        return y.to(x.dtype).reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return (f"in={self.in_features}, out={self.out_features}, bits={self.bits}, {self.granularity}"
                f"{self.group_size if self.granularity == 'group' else ''}, act_bits={self.act_bits}, mode={self.mode}")


class QuantEmbedding(_QuantWeightMixin, nn.Module):
    """Integer embedding table [num, dim] (one row per id; per-channel = one scale per row), dequantized on lookup.

    Replaces `CastedEmbedding` and `PuzzleEmbedding` (same `forward(ids, dtype)`); `embedding_weight` gives the
    full dequantized table for code that reads it directly (learned positions).
    """

    def __init__(self, qw: QuantizedWeight) -> None:
        super().__init__()
        self._init_weight(qw)

    @classmethod
    def from_table(cls, table: torch.Tensor, spec: QuantSpec) -> QuantEmbedding:
        """Quantize an embedding table [num, dim] by `spec` (rows play the role of output channels)."""
        return cls(quantize_weight(table, spec))

    @property
    def embedding_weight(self) -> torch.Tensor:
        return self.dequantized_weight()

    def dequantized_weight(self) -> torch.Tensor:
        """The full fp32 table [num, dim] lookups return rows of."""
        return self.quantized_weight().dequantize()

    def forward(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        flat = ids.reshape(-1).long()
        per_row = self.scales.shape[0] > 1
        rows = QuantizedWeight(self.codes[flat], self.scales[flat] if per_row else self.scales,
                               None if self.zeros is None else (self.zeros[flat] if per_row else self.zeros),
                               self.bits, self.granularity, self.group_size, self.scale_dtype)
        return rows.dequantize().reshape(*ids.shape, self.codes.shape[1]).to(dtype)


class Bf16Linear(nn.Module):
    """Linear layer whose weight is stored in bfloat16 (bits=16); same computation in both modes."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.weight = nn.Buffer(weight.detach().to(torch.bfloat16).clone())
        self.bias = _optional_buffer(None if bias is None else bias.to(torch.float32))
        self.out_features, self.in_features = weight.shape
        self.mode = "fake"

    def set_mode(self, mode: str) -> None:
        """Both modes run the same bf16-weight matmul (there is nothing to pack)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode

    def dequantized_weight(self) -> torch.Tensor:
        """The weight as fp32 (exactly the bf16 values)."""
        return self.weight.to(torch.float32)

    def stored_bytes(self) -> dict[str, int]:
        """Two bytes per weight, four per bias entry."""
        return {"codes": self.weight.numel() * 2, "scales": 0, "zeros": 0,
                "bias": 0 if self.bias is None else self.bias.numel() * 4}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.weight.to(x.dtype), bias)


class Bf16Embedding(nn.Module):
    """Embedding table stored in bfloat16 (bits=16)."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Buffer(table.detach().to(torch.bfloat16).clone())

    @property
    def embedding_weight(self) -> torch.Tensor:
        return self.dequantized_weight()

    def dequantized_weight(self) -> torch.Tensor:
        """The table as fp32 (exactly the bf16 values)."""
        return self.table.to(torch.float32)

    def stored_bytes(self) -> dict[str, int]:
        """Two bytes per entry."""
        return {"codes": self.table.numel() * 2, "scales": 0, "zeros": 0, "bias": 0}

    def forward(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return F.embedding(ids.long(), self.table).to(dtype)
