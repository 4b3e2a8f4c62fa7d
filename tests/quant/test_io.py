"""Quantized checkpoints round-trip through `redge quantize` and `load_checkpoint`."""
import torch

from redge.cli import main
from redge.models import ModelConfig, build_model
from redge.models.checkpoint import load_checkpoint, save_checkpoint
from redge.quant.apply import quantize_
from redge.quant.io import save_quantized
from redge.quant.modules import QuantLinear

CFG = ModelConfig(hidden_size=64, num_heads=2, puzzle_emb_ndim=64, H_cycles=1, L_cycles=2, mlp_t=True,
                  pos_encodings="none")
BATCH = {"inputs": torch.randint(1, 11, (2, 81)), "puzzle_identifiers": torch.zeros(2, dtype=torch.long)}


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
