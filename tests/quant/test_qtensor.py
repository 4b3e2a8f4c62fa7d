"""Weight quantization: analytic round-trip bounds, MSE clipping vs min-max, ragged groups, bit packing, bytes."""
import pytest
import torch

from redge.quant.qtensor import pack_codes, quantize_weight, unpack_codes
from redge.quant.spec import QuantSpec

GRANULARITIES = [("tensor", None), ("channel", None), ("group", 32), ("group", 128)]


@pytest.fixture(scope="module")
def weight() -> torch.Tensor:
    torch.manual_seed(0)
    w = torch.randn(48, 97)  # 97: the TRM-MLP token-mixing width, not divisible by any group size
    w[3, 5] = 8.0  # an outlier row
    return w


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("granularity,group", GRANULARITIES)
def test_round_trip_within_half_step(weight, bits, symmetric, granularity, group):
    """Min-max RTN: every weight is within half a quantization step (its own scale) of its dequantized value."""
    spec = QuantSpec(bits=bits, granularity=granularity, group_size=group, symmetric=symmetric)
    qw = quantize_weight(weight, spec)
    err = (qw.dequantize() - weight).abs()
    step = qw.expand(qw.scales)
    assert torch.all(err <= step / 2 * (1 + 1e-5) + 1e-7)
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if symmetric else (0, 2**bits - 1)
    assert int(qw.codes.min()) >= lo and int(qw.codes.max()) <= hi


def test_ragged_groups_are_padded_not_skipped(weight):
    qw = quantize_weight(weight, QuantSpec(bits=4, granularity="group", group_size=32))
    assert qw.scales.shape == (48, 4)  # ceil(97 / 32): the last group holds one column
    assert qw.codes.shape == weight.shape
    assert torch.allclose(qw.dequantize()[:, 96], weight[:, 96], atol=1e-6)  # a 1-wide group is exact up to rounding


@pytest.mark.parametrize("bits,symmetric", [(4, True), (4, False), (3, True)])
def test_mse_clipping_never_worse_than_minmax_per_channel(weight, bits, symmetric):
    base = dict(bits=bits, granularity="channel", symmetric=symmetric)
    mm = quantize_weight(weight, QuantSpec(**base, method="minmax"))
    mse = quantize_weight(weight, QuantSpec(**base, method="mse", clip_grid=25))
    e_mm = (mm.dequantize() - weight).square().sum(1)
    e_mse = (mse.dequantize() - weight).square().sum(1)
    assert torch.all(e_mse <= e_mm * (1 + 1e-6))
    assert e_mse[3] < e_mm[3]  # the outlier row benefits from clipping


def test_percentile_clips_outlier(weight):
    qw = quantize_weight(weight, QuantSpec(bits=4, granularity="tensor", method="percentile", percentile=99.0))
    assert float(qw.scales) * 7 < 8.0


def test_gptq_lowers_output_error_on_correlated_inputs():
    torch.manual_seed(1)
    w = torch.randn(32, 64)
    x = torch.randn(2000, 8) @ torch.randn(8, 64) + 0.1 * torch.randn(2000, 64)  # low-rank, correlated inputs
    spec = QuantSpec(bits=3, granularity="channel", method="gptq")
    rtn, gptq = quantize_weight(w, spec), quantize_weight(w, spec, hessian=x.T.double() @ x.double())
    out_err = lambda q: (x @ (q.dequantize() - w).T).square().mean()  # noqa: E731
    assert out_err(gptq) < 0.7 * out_err(rtn)


@pytest.mark.parametrize("bits,symmetric", [(2, True), (3, False), (4, True), (4, False), (8, True), (8, False)])
def test_pack_codes_round_trip_and_bytes(weight, bits, symmetric):
    qw = quantize_weight(weight, QuantSpec(bits=bits, granularity="channel", symmetric=symmetric))
    packed = pack_codes(qw.codes, bits)
    assert packed.numel() == qw.stored_bytes()["codes"]
    assert torch.equal(unpack_codes(packed, bits, qw.shape, signed=symmetric), qw.codes)


def test_stored_bytes_exact(weight):
    qw = quantize_weight(weight, QuantSpec(bits=4, granularity="group", group_size=32, symmetric=False,
                                           scale_dtype="float16"))
    assert qw.stored_bytes() == {"codes": (48 * 97 * 4 + 7) // 8, "scales": 48 * 4 * 2, "zeros": 48 * 4}
