"""Quantized checkpoints round-trip through `redge quantize` and `load_checkpoint`."""
from pathlib import Path

import pytest
import torch

from redge.cli import main
from redge.core.errors import RedgeInputError
from redge.models import ModelConfig, build_model
from redge.models.checkpoints import save_checkpoint
from redge.quant.apply import quantize_
from redge.quant.io import save_quantized
from redge.quant.load import load_checkpoint
from redge.quant.modules import QuantLinear

CFG = ModelConfig(hidden_size=64, num_heads=2, puzzle_emb_ndim=64, H_cycles=1, L_cycles=2, mlp_t=True,
                  pos_encodings="none")
BATCH = {"inputs": torch.randint(1, 11, (2, 81)), "puzzle_identifiers": torch.zeros(2, dtype=torch.long)}


def _float_and_quantized(tmp_path: Path) -> tuple[Path, Path]:
    """A random TRM saved as a float checkpoint, and the same weights quantized (int4-g32) and saved."""
    torch.manual_seed(0)
    float_path = save_checkpoint(build_model(CFG).eval(), tmp_path / "m.safetensors")
    quant_path = save_quantized(quantize_(load_checkpoint(float_path), "int4-g32"), tmp_path / "q")
    return float_path, quant_path


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = quantize_(build_model(CFG).eval(), "int4-g32")
    save_quantized(model, tmp_path / "q")
    loaded = load_checkpoint(tmp_path / "q")
    layer = loaded.L_level.layers[0].mlp_t.down_proj
    assert isinstance(layer, QuantLinear) and layer.quantized_weight().scales.shape == (97, 16)
    assert torch.equal(model.predict(BATCH, depth=1)["logits"], loaded.predict(BATCH, depth=1)["logits"])
    size = (tmp_path / "q" / "model.safetensors").stat().st_size
    assert size < 1.1 * model.quant_report.total_bytes  # codes are bit-packed on disk


def test_cli_quantize(tmp_path, capsys):
    torch.manual_seed(0)
    save_checkpoint(build_model(CFG).eval(), tmp_path / "m.safetensors")
    assert main(["quantize", str(tmp_path / "m.safetensors"), "--recipe", "int8", "--out", str(tmp_path / "q")]) == 0
    assert "left in higher precision" in capsys.readouterr().out
    assert isinstance(load_checkpoint(tmp_path / "q").lm_head, QuantLinear)
    assert main(["quantize", str(tmp_path / "m.safetensors"), "--recipe", "int5", "--out", str(tmp_path / "x")]) == 2
    assert "unknown recipe" in capsys.readouterr().err


@pytest.mark.parametrize("overrides", [
    dict(H_cycles=2, L_cycles=3, halt_max_steps=3),
    dict(L_cycles=1, halt_max_steps=2, forward_dtype="bfloat16"),
], ids=["depth", "depth-bf16"])
def test_overrides_apply_to_quantized_checkpoint(tmp_path, overrides):
    """Loading the quantized directory with overrides equals loading the float file with them, then quantizing."""
    float_path, quant_path = _float_and_quantized(tmp_path)
    loaded = load_checkpoint(quant_path, **overrides)
    reference = quantize_(load_checkpoint(float_path, **overrides), "int4-g32")
    assert {k: getattr(loaded.config, k) for k in overrides} == overrides
    assert loaded.config == reference.config
    logits = loaded.predict(BATCH)["logits"]  # default depth = halt_max_steps
    assert torch.equal(logits, reference.predict(BATCH)["logits"])
    default = load_checkpoint(quant_path).predict(BATCH)["logits"]
    assert logits.shape == default.shape and not torch.equal(logits, default.to(logits.dtype))  # overrides matter


@pytest.mark.parametrize("field,value", [("hidden_size", 128), ("L_layers", 3), ("seq_len", 80)])
def test_shape_changing_override_of_quantized_checkpoint_is_refused(tmp_path, field, value):
    """mlp_t fixes seq_len too: every one of these would need other weights, so the loader names the field."""
    _, quant_path = _float_and_quantized(tmp_path)
    with pytest.raises(RedgeInputError) as info:
        load_checkpoint(quant_path, **{field: value})
    message = str(info.value)
    assert str(quant_path) in message and f"{field}={value}" in message and "cannot be applied" in message, message
