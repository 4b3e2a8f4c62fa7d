"""Quantized models on any device: `quantize_` builds on the model's device, and `.to()` moves every cache.

The CUDA test runs where a GPU is (the device machine); CI has none and reports it as skipped, not passed."""
from __future__ import annotations

import pytest
import torch

from redge.core.errors import RedgeInputError
from redge.quant.apply import quantize_
from redge.quant.modules import QuantLinear
from redge.quant.spec import QuantRecipe, QuantSpec, Rule

RECIPES = ["int8", "int4-naive", "int4-channel", "int4-g32", "int4-channel-mse",
           QuantRecipe("w8a8", (Rule("q_head", None, "halting head"), Rule("@linears", QuantSpec(bits=8, act_bits=8)))),
           QuantRecipe("gptq", (Rule("q_head", None, "halting head"), Rule("@linears", QuantSpec(bits=4, method="gptq"))))]


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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("mlp_t", [True, False], ids=["trm-mlp", "trm-att"])
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r if isinstance(r, str) else r.name)
def test_quantize_on_cuda_matches_the_cpu(small_trm, sudoku_batch, mlp_t: bool, recipe) -> None:
    """Quantized on the GPU (calibration there too) = quantized on the CPU, then moved: same logits to rounding."""
    calib = {dev: [sudoku_batch(4, dev)] for dev in ("cpu", "cuda")}
    on_cpu = quantize_(small_trm(mlp_t), recipe, calib=calib["cpu"], calib_depth=2)
    on_gpu = quantize_(small_trm(mlp_t).to("cuda"), recipe, calib=calib["cuda"], calib_depth=2)
    ref = on_cpu.predict(sudoku_batch(2, "cpu"), depth=2)["logits"]
    gpu = on_gpu.predict(sudoku_batch(2, "cuda"), depth=2)["logits"].cpu()
    moved = on_cpu.to("cuda").predict(sudoku_batch(2, "cuda"), depth=2)["logits"].cpu()
    scale = float(ref.abs().max())
    assert float((gpu - ref).abs().max()) < 2e-2 * scale
    assert float((moved - ref).abs().max()) < 2e-2 * scale
