"""Packed kernels agree with the dequantized (fake-quant) matmul, including awkward shapes (K = 97, N = 11)."""
import pytest
import torch

from redge.quant.kernels import Int4Kernel, Int8Kernel, build_kernel, quantize_per_token
from redge.quant.qtensor import quantize_weight
from redge.quant.spec import QuantSpec

SPECS = [
    QuantSpec(bits=8, granularity="channel"),
    QuantSpec(bits=8, granularity="tensor", symmetric=False),
    QuantSpec(bits=8, granularity="group", group_size=32, symmetric=False),
    QuantSpec(bits=4, granularity="channel"),
    QuantSpec(bits=4, granularity="group", group_size=32),
    QuantSpec(bits=4, granularity="group", group_size=128, symmetric=False),
    QuantSpec(bits=4, granularity="group", group_size=48),  # not an int4-kernel group size: int8 kernel
    QuantSpec(bits=3, granularity="tensor"),
]


@pytest.mark.parametrize("n,k", [(11, 97), (64, 256)])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe())
def test_weight_only_kernels_match_dequantized(spec, n, k):
    torch.manual_seed(0)
    w, x = torch.randn(n, k), torch.randn(37, k)
    qw = quantize_weight(w, spec)
    kernel = build_kernel(qw, None)
    expected_int4 = spec.bits <= 4 and spec.group_size in (None, 32, 128)
    assert isinstance(kernel, Int4Kernel if expected_int4 else Int8Kernel)
    ref = x @ qw.dequantize().T
    assert torch.allclose(kernel(x), ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
    y16 = kernel(x.bfloat16()).float()  # bf16 with K = 97 used to segfault in _weight_int8pack_mm
    assert float((y16 - ref).abs().max()) < 0.05 * float(ref.abs().max())


@pytest.mark.parametrize("spec", [QuantSpec(bits=8, act_bits=8), QuantSpec(bits=4, granularity="group", group_size=32,
                                                                             symmetric=False, act_bits=8)],
                         ids=["w8a8", "w4a8-g32-asym"])
def test_int_mm_matches_per_token_simulation(spec):
    torch.manual_seed(0)
    w, x = torch.randn(24, 97), torch.randn(5, 97)
    qw = quantize_weight(w, spec)
    xq, xs = quantize_per_token(x)
    ref = (xq.float() * xs) @ qw.dequantize().T
    y = build_kernel(qw, 8)(x)
    assert torch.allclose(y, ref, rtol=1e-5, atol=1e-5 * float(ref.abs().max()))


def test_per_token_quantization_is_exact_int8():
    x = torch.tensor([[0.0, 0.0], [1.0, -0.5], [2.54, 0.01]])
    xq, xs = quantize_per_token(x)
    assert xq.dtype == torch.int8 and xq[1].tolist() == [127, -64] and float(xs[0]) == 1.0
