"""Bad checkpoint inputs: every one is a `RedgeInputError` naming the file, never a traceback or executed code."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from redge.core.errors import RedgeInputError
from redge.models.checkpoints import save_checkpoint
from redge.quant.load import load_checkpoint

OFFICIAL = Path(__file__).resolve().parents[1] / "fixtures" / "official" / "trm_att_rope" / "step_100"
KEY = "_orig_mod.model.inner."


def official_state() -> dict[str, torch.Tensor]:
    return torch.load(OFFICIAL, weights_only=True)


def expect_error(path: Path, *words: str, named: Path | None = None, **overrides: Any) -> RedgeInputError:
    """Loading `path` (with config `overrides`) raises RedgeInputError whose one-line message names the file and
    contains `words`."""
    with pytest.raises(RedgeInputError) as info:
        load_checkpoint(path, **overrides)
    message = str(info.value)
    assert str(named or path) in message, message
    assert "\n" not in message, message
    for word in words:
        assert word in message, message
    return info.value


class _Exploit:
    """Unpickling this would create the marker file (stands in for arbitrary code execution)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_truncated_official_file(tmp_path: Path) -> None:
    data = OFFICIAL.read_bytes()
    for name, blob in [("step_truncated", data[: len(data) // 3]), ("step_empty", b"")]:
        path = tmp_path / name
        path.write_bytes(blob)
        expect_error(path, "not a readable checkpoint")
    # Bytes that are not a zip archive go to the legacy unpickler, whose complaint reads as a refusal ("refused to
    # unpickle"); the wording is imprecise for garbage, but it is still a one-line RedgeInputError naming the file.
    for name, blob in [("step_tail", data[-100:]), ("step_random", os.urandom(256))]:
        path = tmp_path / name
        path.write_bytes(blob)
        expect_error(path)


def test_wrong_shape_names_key_and_shapes(tmp_path: Path) -> None:
    state = official_state()
    state[KEY + "L_level.layers.1.self_attn.o_proj.weight"] = torch.zeros(32, 16)
    path = tmp_path / "step_wrong"
    torch.save(state, path)
    expect_error(path, "L_level.layers.1.self_attn.o_proj.weight", "[32, 16]", "[32, 32]")


def test_missing_and_unexpected_keys(tmp_path: Path) -> None:
    state = official_state()
    del state[KEY + "q_head.bias"]
    torch.save(state, tmp_path / "step_missing")
    expect_error(tmp_path / "step_missing", "missing key", "q_head.bias")
    state = official_state()
    state[KEY + "value_head.weight"] = torch.zeros(1, 32)
    torch.save(state, tmp_path / "step_extra")
    expect_error(tmp_path / "step_extra", "unexpected key", "value_head.weight")


@pytest.mark.parametrize("where", ["top-level", "inside-state-dict"])
def test_malicious_pickle_is_refused_not_executed(tmp_path: Path, where: str) -> None:
    marker = tmp_path / "code_was_executed"
    payload = _Exploit(marker)
    obj = payload if where == "top-level" else {**official_state(), KEY + "lm_head.weight": payload}
    path = tmp_path / "step_evil"
    torch.save(obj, path)
    assert not marker.exists()
    expect_error(path, "refused", "nothing was executed")
    assert not marker.exists(), "unpickling ran the payload"


def test_not_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "step_list"
    torch.save([torch.zeros(2)], path)
    expect_error(path, "not a state dict")


def test_directory_without_config_json(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    save_file({"w": torch.zeros(2)}, folder / "model-00001-of-00001.safetensors")
    expect_error(folder, "config.json is missing")


def test_directory_with_invalid_config_json(tmp_path: Path) -> None:
    model = load_checkpoint(OFFICIAL)
    folder = save_checkpoint(model, tmp_path / "run")
    (folder / "config.json").write_text("{not json")
    expect_error(folder, "not valid JSON", named=folder / "config.json")
    doc = {"format": "redge-checkpoint", "version": 99, "config": {}}
    (folder / "config.json").write_text(json.dumps(doc))
    expect_error(folder, "unsupported", "version 99")


def test_bad_safetensors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(os.urandom(64))
    expect_error(garbage, "not a readable safetensors file")
    bad_header = tmp_path / "bad_header.safetensors"
    bad_header.write_bytes((16).to_bytes(8, "little") + b"{garbage json...")
    expect_error(bad_header, "not a readable safetensors file")
    good = save_checkpoint(load_checkpoint(OFFICIAL), tmp_path / "good.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    expect_error(truncated, "not a readable safetensors file")
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)
    expect_error(foreign, "not a redge-checkpoint")


def test_bad_all_config_yaml_names_the_yaml(tmp_path: Path) -> None:
    (tmp_path / "step_1").write_bytes(OFFICIAL.read_bytes())
    (tmp_path / "all_config.yaml").write_text("arch: [unclosed")
    expect_error(tmp_path / "step_1", "unreadable YAML", named=tmp_path / "all_config.yaml")
    (tmp_path / "all_config.yaml").write_text("lr: 0.1\n")
    expect_error(tmp_path / "step_1", "no 'arch' section", named=tmp_path / "all_config.yaml")


@pytest.mark.parametrize("fmt", ["official", "redge"])
@pytest.mark.parametrize("field,value", [("hidden_size", 64), ("L_layers", 3), ("vocab_size", 12)])
def test_shape_changing_override_names_the_field(tmp_path: Path, fmt: str, field: str, value: int) -> None:
    """The weights fix the shapes: such an override is refused naming the checkpoint, the field and a tensor key."""
    path = OFFICIAL if fmt == "official" else save_checkpoint(load_checkpoint(OFFICIAL), tmp_path / "m.safetensors")
    expect_error(path, f"{field}={value}", "cannot be applied", "key '", **{field: value})


def test_shape_neutral_overrides_still_apply() -> None:
    """Overrides the weights do not fix (schedule, heads, dtype) are taken as given."""
    overrides = dict(H_cycles=1, L_cycles=5, halt_max_steps=2, num_heads=1, forward_dtype="bfloat16")
    config = load_checkpoint(OFFICIAL, **overrides).config
    assert {k: getattr(config, k) for k in overrides} == overrides


def test_redge_round_trip_still_loads(tmp_path: Path) -> None:
    """The error paths above are not a broken loader: the same files, intact, load."""
    model = load_checkpoint(OFFICIAL)
    for dest in (tmp_path / "one.safetensors", tmp_path / "dir"):
        again = load_checkpoint(save_checkpoint(model, dest))
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_cli_info_bad_inputs_exit_2_one_line(tmp_path: Path) -> None:
    """`redge info` maps these errors to exit code 2 and one stderr line naming the file, no traceback."""
    folder = tmp_path / "no_config"
    folder.mkdir()  # one subprocess only (torch import dominates); test_info_cli.py covers the other file errors
    for path, words in [(folder, "config.json is missing")]:
        result = subprocess.run([sys.executable, "-m", "redge.cli", "info", str(path)], capture_output=True,
                                text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert str(path) in lines[0] and words in lines[0], lines[0]
        assert "Traceback" not in result.stderr
        assert result.stdout == ""


def test_tensor_larger_than_a_shard_is_stored_in_row_blocks(tmp_path):
    model = load_checkpoint(OFFICIAL)
    table = model.puzzle_emb.weights
    with torch.no_grad():
        table.copy_(torch.randn_like(table))
    limit = table.numel() * table.element_size() // 3 + 1  # the table needs 3+ shards; no shard may exceed it
    folder = save_checkpoint(model, tmp_path / "run", max_shard_bytes=limit)
    shards = sorted(folder.glob("model-*.safetensors"))
    assert len(shards) >= 3
    again = load_checkpoint(folder).state_dict()
    assert all(torch.equal(v, again[k]) for k, v in model.state_dict().items())
    with_blocks = [s for s in shards if any("#part" in k for k in load_file(s))]
    with_blocks[-1].unlink()  # a missing block (the last one too) is an error naming the folder, not a smaller table
    expect_error(folder, "row blocks")


def test_resaving_a_checkpoint_folder_replaces_it_whole_and_keeps_other_files(tmp_path: Path) -> None:
    model = load_checkpoint(OFFICIAL)
    folder = save_checkpoint(model, tmp_path / "run", max_shard_bytes=1 << 16)  # several shards
    (folder / "MODEL_CARD.md").write_text("card")
    shards = sorted(p.name for p in folder.glob("model*.safetensors"))
    assert len(shards) > 1
    save_checkpoint(model, folder, {"again": True})  # one file now: the old shards must all go
    assert sorted(p.name for p in folder.iterdir()) == ["MODEL_CARD.md", "config.json",
                                                        "model-00001-of-00001.safetensors"]
    assert load_checkpoint(folder).checkpoint_info.metadata == {"again": True}
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary folder left beside it


def test_saving_over_a_folder_that_is_no_checkpoint_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("keep me")
    with pytest.raises(RedgeInputError, match="not an earlier output"):
        save_checkpoint(load_checkpoint(OFFICIAL), folder)
    assert [p.name for p in folder.iterdir()] == ["todo.txt"]
