"""The one checkpoint entry point (`redge.quant.load`) loads official, redge and quantized checkpoints alike."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from redge.core.errors import RedgeInputError
from redge.models import ModelConfig, build_model
from redge.models.checkpoints import save_checkpoint
from redge.quant import load_checkpoint as exported_load_checkpoint
from redge.quant.apply import quantize_
from redge.quant.io import save_quantized
from redge.quant.load import load_checkpoint, read_config
from redge.quant.modules import QuantLinear

CFG = ModelConfig(hidden_size=64, num_heads=2, puzzle_emb_ndim=64, H_cycles=1, L_cycles=2, mlp_t=True,
                  pos_encodings="none")
# What an official file cannot tell (cycles; heads are invisible with mlp_t), given as load-time overrides.
UNSEEN = dict(H_cycles=1, L_cycles=2, num_heads=2)
BATCH = {"inputs": torch.randint(1, 11, (2, 81)), "puzzle_identifiers": torch.zeros(2, dtype=torch.long)}


def _three_formats(tmp_path: Path) -> tuple[torch.nn.Module, dict[str, Path]]:
    """One random TRM written as an official `torch.save` state dict (compiled ACT-wrapper keys, no all_config.yaml),
    as a redge checkpoint directory, and quantized (int8) as a quantized checkpoint directory."""
    torch.manual_seed(0)
    model = build_model(CFG).eval()
    official = tmp_path / "official" / "step_100"
    official.parent.mkdir()
    torch.save({f"_orig_mod.model.inner.{k}": v for k, v in model.state_dict().items()}, official)
    redge = save_checkpoint(model, tmp_path / "redge")
    quantized = save_quantized(quantize_(build_model(CFG).eval().requires_grad_(False), "int8"), tmp_path / "quant")
    return model, {"official": official, "redge": redge, "redge-quant": quantized}


def test_every_format_loads_through_the_one_entry_point(tmp_path):
    model, paths = _three_formats(tmp_path)
    reference = model.predict(BATCH, depth=2)["logits"]
    official = load_checkpoint(paths["official"], **UNSEEN)
    redge = load_checkpoint(paths["redge"])
    quantized = load_checkpoint(paths["redge-quant"])
    for source, loaded in zip(paths, (official, redge, quantized)):
        assert loaded.checkpoint_info.source == source and loaded.checkpoint_info.path == str(paths[source])
        assert not loaded.training
    assert official.checkpoint_info.config_source == "inferred from shapes"
    assert official.config == CFG and redge.config == CFG and quantized.config == CFG
    assert torch.equal(official.predict(BATCH, depth=2)["logits"], reference)
    assert torch.equal(redge.predict(BATCH, depth=2)["logits"], reference)
    assert isinstance(quantized.lm_head, QuantLinear) and not isinstance(redge.lm_head, QuantLinear)
    assert exported_load_checkpoint is load_checkpoint  # `redge.quant.load_checkpoint` is the same function


def test_overrides_and_read_config_for_every_format(tmp_path):
    _, paths = _three_formats(tmp_path)
    for source, path in paths.items():
        loaded = load_checkpoint(path, forward_dtype="bfloat16", halt_max_steps=3)
        assert loaded.config.forward_dtype == "bfloat16" and loaded.config.halt_max_steps == 3, source
        assert read_config(path) == load_checkpoint(path).config, source


@pytest.mark.parametrize("source", ["official", "redge", "redge-quant"])
def test_shape_changing_override_is_refused_for_every_format(tmp_path, source):
    _, paths = _three_formats(tmp_path)
    with pytest.raises(RedgeInputError, match="hidden_size=128.*cannot be applied"):
        load_checkpoint(paths[source], hidden_size=128)


def test_missing_path_is_an_input_error(tmp_path):
    for entry in (load_checkpoint, read_config):
        with pytest.raises(RedgeInputError, match="no such file"):
            entry(tmp_path / "nothing")
