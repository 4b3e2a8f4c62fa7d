"""Quantized models on any device: `quantize_` builds on the model's device, and `.to()` moves every cache.

The CUDA test runs where a GPU is (the device machine); CI has none and reports it as skipped, not passed."""
from __future__ import annotations

import pytest
import torch

from redge.core.errors import RedgeInputError
from redge.quant.apply import quantize_
from redge.quant.modules import QuantLinear
from redge.quant.spec import QuantRecipe, QuantSpec, Rule

DATA_FREE = ["int8", "int4-naive", "int4-channel", "int4-g32"]  # codes depend on the weights alone
CALIBRATED = ["int4-channel-cal",  # codes also depend on activations, which differ across devices in the last bits
              QuantRecipe("gptq", (Rule("q_head", None, "halting head"),
                                   Rule("@linears", QuantSpec(bits=4, method="gptq"))))]
W8A8 = QuantRecipe("w8a8", (Rule("q_head", None, "halting head"), Rule("@linears", QuantSpec(bits=8, act_bits=8))))
_name = lambda r: r if isinstance(r, str) else r.name  # noqa: E731 - pytest ids
cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_a_move_drops_the_dequantized_caches(small_trm) -> None:
    """The fake path caches the dequantized weight; after `.to()` it must be rebuilt on the new device/dtype."""
    model = quantize_(small_trm(True), "int4-channel")
    layer = next(m for m in model.modules() if isinstance(m, QuantLinear))
    assert layer.dequantized_weight().device.type == "cpu"
    model.to("meta")
    assert layer.dequantized_weight().device.type == "meta"


def test_the_kernel_name_is_known_off_the_cpu_and_the_packed_kernel_follows_a_move(small_trm) -> None:
    """Naming the kernel builds nothing (the int4 pack op is CPU-only: naming it on a GPU failed before); a move
    drops the CPU kernel, and asking for it off the CPU is refused with a clear error instead of a dispatcher one."""
    model = quantize_(small_trm(True), "int4-channel", mode="packed")
    layer = next(m for m in model.modules() if isinstance(m, QuantLinear))
    assert layer.kernel_name == "int4pack" and layer._kernel is not None
    model.to("meta")
    assert layer._kernel is None and layer.kernel_name == "int4pack"
    with pytest.raises(RedgeInputError, match="CPU integer kernels"):
        layer.set_mode("packed")
    model.to_empty(device="cpu")  # back on the CPU (meta kept no values: any codes do) the kernel is rebuilt
    layer.codes.fill_(1)
    layer.scales.fill_(1.0)
    assert layer(torch.ones(3, layer.in_features)).shape == (3, layer.out_features)
    assert layer._kernel is not None


def _dequantized(model) -> dict[str, torch.Tensor]:
    return {n: m.dequantized_weight().cpu() for n, m in model.named_modules() if isinstance(m, QuantLinear)}


@cuda_only
@pytest.mark.parametrize("mlp_t", [True, False], ids=["trm-mlp", "trm-att"])
@pytest.mark.parametrize("recipe", DATA_FREE + CALIBRATED + [W8A8], ids=_name)
def test_quantize_on_cuda_builds_the_cpu_weights(small_trm, sudoku_batch, mlp_t: bool, recipe) -> None:
    """Quantized on the GPU (calibration there too) = quantized on the CPU: the same integer weights for data-free
    recipes, but for the rare weight that sits on a rounding tie (w / scale within an ulp of k + 0.5: the GPU's
    last bit may round it the other way; int4-g32 hit one on the H200), which may move by one step; for calibrated
    ones (whose activation statistics differ in the last bits) the same to within a tenth of a step on average."""
    calib = {dev: [sudoku_batch(4, dev)] for dev in ("cpu", "cuda")}
    on_cpu = _dequantized(quantize_(small_trm(mlp_t), recipe, calib=calib["cpu"], calib_depth=2))
    on_gpu = _dequantized(quantize_(small_trm(mlp_t).to("cuda"), recipe, calib=calib["cuda"], calib_depth=2))
    assert on_cpu.keys() == on_gpu.keys() and on_cpu
    for name, w in on_cpu.items():
        step = w.abs().amax(dim=1, keepdim=True) / 7  # the largest int4 step in the row (int8 steps are smaller)
        off = (on_gpu[name] - w).abs() / step
        if recipe in DATA_FREE or recipe is W8A8:
            ties = ~torch.isclose(on_gpu[name], w, rtol=1e-6, atol=1e-7)
            assert float(ties.float().mean()) < 1e-3 and float(off.max()) <= 1.0 + 1e-4, name
        else:
            assert float(off.mean()) < 0.1, name


@cuda_only
@pytest.mark.parametrize("mlp_t", [True, False], ids=["trm-mlp", "trm-att"])
@pytest.mark.parametrize("recipe", DATA_FREE + CALIBRATED, ids=_name)
def test_a_weight_only_model_moved_to_cuda_computes_the_cpu_logits(small_trm, sudoku_batch, mlp_t: bool,
                                                                   recipe) -> None:
    """Weight-only integer weights: the forward is continuous in the activations, so the moved model's logits
    after two ACT steps match the CPU's to float rounding amplified by the recursion."""
    model = quantize_(small_trm(mlp_t), recipe, calib=[sudoku_batch(4)], calib_depth=2)
    ref = model.predict(sudoku_batch(2), depth=2)["logits"]
    moved = model.to("cuda").predict(sudoku_batch(2, "cuda"), depth=2)["logits"].cpu()
    assert float((moved - ref).abs().max()) < 2e-2 * float(ref.abs().max())


@cuda_only
@pytest.mark.parametrize("mlp_t", [True, False], ids=["trm-mlp", "trm-att"])
def test_w8a8_layers_moved_to_cuda_compute_the_cpu_outputs(small_trm, mlp_t: bool) -> None:
    """W8A8 rounds every activation to int8 per token, which makes the whole recursion discontinuous: on the CPU
    alone, a 1e-6 relative change of the float weights moved the logits after two ACT steps by up to 12.5% of
    their range (TRM-MLP; 4.6% TRM-Att). So devices are compared layer by layer, on the same input, where the
    integer product is exact on both."""
    model = quantize_(small_trm(mlp_t), W8A8)
    layers = {n: m for n, m in model.named_modules() if isinstance(m, QuantLinear)}
    inputs = {n: torch.randn(16, m.in_features, generator=torch.Generator().manual_seed(1)) for n, m in layers.items()}
    ref = {n: layers[n](x) for n, x in inputs.items()}
    model.to("cuda")
    for name, x in inputs.items():
        out = layers[name](x.to("cuda")).cpu()
        assert torch.allclose(out, ref[name], rtol=1e-5, atol=1e-5 * float(ref[name].abs().max())), name
