"""`redge export` on a quantized checkpoint (as it is) and with calibration data (`--calib`, GPTQ recipes)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from redge.cli import main
from redge.deploy.blob import read_blob
from redge.deploy.pack import export
from redge.deploy.runtime.host import HostRuntime
from redge.models import ModelConfig, build_model
from redge.models.checkpoints import save_checkpoint
from redge.quant.apply import quantize_
from redge.quant.io import save_quantized
from redge.quant.spec import PRESETS

SUDOKU = Path(__file__).resolve().parents[2] / "data" / "samples" / "sudoku"
CONFIG = ModelConfig(vocab_size=11, seq_len=81, hidden_size=32, num_heads=2, H_cycles=1, L_cycles=1, L_layers=1,
                     puzzle_emb_ndim=0, halt_max_steps=1)
GPTQ = """
name: w8a8-gptq
rules:
  - {pattern: q_head, spec: null}
  - {pattern: "@linears", spec: {bits: 8, granularity: channel, method: gptq, act_bits: 8}}
  - {pattern: embed_tokens, spec: {bits: 8, granularity: channel}}
"""


def test_w8a8_and_w4a8_are_presets():
    assert PRESETS["w8a8"].rules[1].spec.act_bits == 8 and PRESETS["w8a8"].rules[1].spec.bits == 8
    assert PRESETS["w4a8"].rules[1].spec.bits == 4 and PRESETS["w4a8"].rules[2].spec.act_bits is None


def test_quantized_checkpoint_is_exported_as_it_is(tmp_path, capsys):
    torch.manual_seed(0)
    model = quantize_(build_model(CONFIG).eval(), "w4a8")
    save_quantized(model, tmp_path / "q", PRESETS["w4a8"].to_dict())
    direct = export(model, tmp_path / "direct.blob", "w4a8")["blob"][0]
    assert main(["export", str(tmp_path / "q"), "--out", str(tmp_path / "m.blob"), "--target", "stm32n6",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["recipe"] == "w4a8" and out["target"] == "stm32n6"
    assert (tmp_path / "m.blob").read_bytes() == direct.read_bytes()
    assert HostRuntime(tmp_path / "m.blob").kernel_path == "c"
    assert main(["plan", str(tmp_path / "q"), "--target", "stm32n6", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["recipe"] == "w4a8" and plan["flash"]["blob"]["total"] == out["blob"]["bytes"]
    assert main(["export", str(tmp_path / "q"), "--recipe", "int8", "--out", str(tmp_path / "x.blob")]) == 2
    assert "already quantized (recipe 'w4a8')" in capsys.readouterr().err


def test_gptq_recipe_needs_and_uses_calibration_data(tmp_path, capsys):
    torch.manual_seed(0)
    save_checkpoint(build_model(CONFIG), tmp_path / "ck")
    (tmp_path / "gptq.yaml").write_text(GPTQ)
    base = ["export", str(tmp_path / "ck"), "--recipe", str(tmp_path / "gptq.yaml")]
    assert main(base + ["--out", str(tmp_path / "g.blob")]) == 2
    assert "needs calibration batches" in capsys.readouterr().err and not (tmp_path / "g.blob").exists()
    assert main(base + ["--out", str(tmp_path / "g.blob"), "--calib", str(SUDOKU), "--calib-batches", "1",
                        "--calib-batch-size", "4"]) == 0
    assert main(["export", str(tmp_path / "ck"), "--recipe", "w8a8", "--out", str(tmp_path / "r.blob")]) == 0
    gptq, rtn = read_blob(tmp_path / "g.blob"), read_blob(tmp_path / "r.blob")
    assert gptq.recipe == "w8a8-gptq" and gptq.file_size == rtn.file_size
    key = "L_level.layers.0.mlp.down_proj.weight"
    assert (gptq.tensors[key].array != rtn.tensors[key].array).any()  # GPTQ rounding moved codes
    HostRuntime(tmp_path / "g.blob")
