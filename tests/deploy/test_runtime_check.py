"""`plan` and `export` refuse what the C runtime would reject, naming why; the check agrees with the runtime itself."""
from __future__ import annotations

import pytest
import torch

from redge.cli import main
from redge.core.errors import RedgeInputError
from redge.deploy.compat import runtime_rejections
from redge.deploy.pack import blob_entries, export, model_weights
from redge.deploy.plan import plan_config
from redge.deploy.runtime.host import HostRuntime
from redge.models import ModelConfig, build_model
from redge.models.checkpoints import save_checkpoint
from redge.quant.apply import quantize_
from redge.quant.spec import QuantRecipe, QuantSpec, Rule, load_recipe
from tests.deploy.conftest import TRM_ATT_SUDOKU
from tests.deploy.test_targets import USER

ASYM = QuantRecipe("int4-asym", (Rule("q_head", None), Rule("@linears", QuantSpec(bits=4, symmetric=False))))
F16_SCALES = QuantRecipe("int8-f16", (Rule("@linears", QuantSpec(bits=8, scale_dtype="float16")),))
SMALL = ModelConfig(vocab_size=11, seq_len=16, hidden_size=32, num_heads=2, H_cycles=1, L_cycles=1, L_layers=2,
                    puzzle_emb_ndim=0, halt_max_steps=1)


def test_plan_refuses_bf16_naming_why():
    """Before: `redge plan --recipe bf16` said FITS and the runtime then rejected the blob."""
    with pytest.raises(RedgeInputError) as info:
        plan_config(TRM_ATT_SUDOKU, "bf16", "stm32n6")
    text = str(info.value)
    assert "recipe 'bf16'" in text and "'stm32n6'" in text and "bf16 float weights" in text and "\n" not in text


def test_plan_refuses_asymmetric_codes_and_oversized_models():
    with pytest.raises(RedgeInputError, match="asymmetric codes"):
        plan_config(TRM_ATT_SUDOKU, ASYM, "stm32n6")
    with pytest.raises(RedgeInputError, match="L_layers 17 exceeds runtime.max_layers 16"):
        plan_config(TRM_ATT_SUDOKU.replace(L_layers=17), "int8", "esp32-s3")


@pytest.mark.parametrize("recipe", ["fp32", "int8", "int4-g32", "w8a8", "w4a8", "bf16", ASYM, F16_SCALES])
def test_check_agrees_with_the_runtime_loader(tmp_path, recipe):
    """For every recipe: the check rejects it exactly when the C runtime's rt_load does (blob written regardless)."""
    torch.manual_seed(0)
    model = quantize_(build_model(SMALL).eval(), recipe)
    entries = blob_entries(model_weights(model, with_values=False))
    blob = export(model, tmp_path / "m.blob", load_recipe(recipe).name)["blob"][0]
    try:
        HostRuntime(blob)
        loads = True
    except RedgeInputError:
        loads = False
    assert loads == (not runtime_rejections(SMALL, entries))


def test_a_target_can_narrow_what_its_runtime_build_accepts(tmp_path):
    text = tmp_path / "t.yaml"
    text.write_text(USER.replace("  kernels: helium", "  kernels: helium\n  weight_codes: [i8]\n  max_layers: 1"))
    with pytest.raises(RedgeInputError) as info:
        plan_config(TRM_ATT_SUDOKU, "int4-channel", str(text))
    assert "L_layers 2 exceeds runtime.max_layers 1" in str(info.value) and "i4 codes (supported: i8)" in str(info.value)


def test_export_cli_refuses_and_writes_nothing(tmp_path, capsys):
    save_checkpoint(build_model(SMALL), tmp_path / "ck")
    target = tmp_path / "t.yaml"
    target.write_text(USER.replace("  kernels: helium", "  kernels: helium\n  max_layers: 1"))
    for recipe, why in (("bf16", "bf16 float weights"), ("int8", "runtime.max_layers 1")):
        argv = ["export", str(tmp_path / "ck"), "--recipe", recipe, "--out", str(tmp_path / "m.blob")]
        assert main(argv + (["--target", str(target)] if recipe == "int8" else [])) == 2
        err = capsys.readouterr().err
        assert why in err and err.count("\n") == 1
        assert not (tmp_path / "m.blob").exists()
    assert main(["plan", str(tmp_path / "ck"), "--recipe", "bf16", "--target", "stm32n6"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"redge: error: {tmp_path / 'ck'}: recipe 'bf16'") and "would reject" in err
