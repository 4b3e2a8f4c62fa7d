"""`redge plan` and `redge export` from the command line: one JSON object, exit codes, one-line errors."""
from __future__ import annotations

import json

import torch

from redge.cli import main
from redge.deploy.blob import read_blob
from redge.models import build_model
from redge.models.checkpoints import save_checkpoint


def test_plan_json_and_export_agree(tmp_path, tiny_config, capsys):
    torch.manual_seed(0)
    save_checkpoint(build_model(tiny_config), tmp_path / "ck")
    assert main(["plan", str(tmp_path / "ck"), "--recipe", "int4-channel", "--target", "cortex-m4", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert main(["export", str(tmp_path / "ck"), "--recipe", "int4-channel", "--out", str(tmp_path / "m.blob"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["blob"]["bytes"] == plan["flash"]["blob"]["total"] == read_blob(tmp_path / "m.blob").file_size
    assert out["embeddings"]["bytes"] == plan["flash"]["embeddings"]
    assert main(["plan", str(tmp_path / "ck"), "--recipe", "int8", "--target", "esp32-s3"]) == 0
    assert "FITS" in capsys.readouterr().out


def test_bad_inputs_exit_2_with_one_line(tmp_path, tiny_config, capsys):
    save_checkpoint(build_model(tiny_config), tmp_path / "ck")
    ck = str(tmp_path / "ck")
    (tmp_path / "bad.blob").write_bytes(b"REDGEBLB" + bytes(300))
    for argv in (["plan", str(tmp_path / "missing"), "--target", "stm32n6"],
                 ["plan", ck, "--target", "nowhere"],
                 ["plan", ck, "--target", "stm32n6", "--recipe", "int5"],
                 ["plan", ck, "--target", "stm32n6", "--act", "int3"],
                 ["export", ck, "--recipe", "int8", "--out", str(tmp_path / "bad.blob" / "x")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("redge: error:") and err.count("\n") == 1


def test_an_official_rope_file_is_planned_and_exported_with_seq_len(tmp_path, capsys):
    """An official step file fixes no sequence length (RoPE): plan and export say so and take --seq-len."""
    from redge.models import ModelConfig

    config = ModelConfig(hidden_size=64, num_heads=2, puzzle_emb_ndim=64, H_cycles=1, L_cycles=1, halt_max_steps=2)
    step = tmp_path / "step_10"
    torch.save({f"_orig_mod.model.inner.{k}": v for k, v in build_model(config).state_dict().items()}, step)
    assert main(["plan", str(step), "-t", "stm32n6", "--json"]) == 2
    assert "--seq-len" in capsys.readouterr().err
    assert main(["plan", str(step), "-t", "stm32n6", "--seq-len", "81", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"]["positions"] == 81 + config.prefix_len
    assert main(["export", str(step), "-r", "int8", "--seq-len", "81", "-o", str(tmp_path / "m.blob"), "--json"]) == 0
    assert read_blob(tmp_path / "m.blob").config["seq_len"] == 81
