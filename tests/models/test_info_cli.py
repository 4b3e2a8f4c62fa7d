"""`redge info` on official-format files, and its one-line errors with exit code 2."""
import json
import subprocess
import sys
from pathlib import Path

import torch

from redge.models import ModelConfig, build_model

TINY = Path(__file__).resolve().parents[2] / "checkpoints" / "tiny-trm-mlp-sudoku"


def _redge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "redge.cli", *args], capture_output=True, text=True, timeout=120)


def _official_file(tmp_path: Path, config: ModelConfig) -> Path:
    state = {f"_orig_mod.model.inner.{k}": v for k, v in build_model(config).state_dict().items()}
    path = tmp_path / "step_100"
    torch.save(state, path)
    return path


def test_info_reports_counts_bytes_and_flops(tmp_path: Path) -> None:
    path = _official_file(tmp_path, ModelConfig(hidden_size=64, num_heads=2, mlp_t=True, pos_encodings="none"))
    result = _redge("info", str(path), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["architecture"] == "TRM-MLP"
    assert info["params"] == sum(p.numel() for p in build_model(ModelConfig(
        hidden_size=64, num_heads=2, mlp_t=True, pos_encodings="none")).parameters())
    assert info["weight_bytes"]["fp32"] == 4 * info["params"]
    assert info["flops_per_puzzle"] == 16 * info["flops_per_act_step"]
    assert abs(info["flops_per_act_step"] - info["flops_per_act_step_formula"]) <= 0.02 * info["flops_per_act_step"]


def test_info_bad_inputs_exit_2_with_one_line(tmp_path: Path) -> None:
    good = _official_file(tmp_path, ModelConfig(hidden_size=64, num_heads=2))
    truncated = tmp_path / "truncated"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    evil = tmp_path / "evil"
    torch.save({"w": Exploit()}, evil)
    wrong = tmp_path / "wrong_shape"
    state = torch.load(good, weights_only=True)
    state["_orig_mod.model.inner.lm_head.weight"] = torch.zeros(11, 32)
    torch.save(state, wrong)
    for path, words in [(truncated, "truncated"), (evil, "refused"), (wrong, "lm_head.weight"),
                        (tmp_path / "missing", "no such file")]:
        result = _redge("info", str(path))
        assert result.returncode == 2, (path, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and words in lines[0], result.stderr
        assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_info_on_a_quantized_checkpoint_counts_the_architecture(tmp_path) -> None:
    """A quantized checkpoint keeps its weights as codes: info still counts the float architecture's parameters and
    reports the bytes the checkpoint actually stores."""
    q = tmp_path / "q4"
    assert _redge("quantize", str(TINY), "-r", "int4-channel-cal", "-o", str(q), "--json").returncode == 0
    quant = json.loads(_redge("info", str(q), "--json").stdout)
    float_ = json.loads(_redge("info", str(TINY), "--json").stdout)
    assert quant["params"] == float_["params"] > 200_000
    assert quant["quantization"] == "int4-channel-cal" and float_["quantization"] is None
    assert float_["stored_weight_bytes"] / 8 < quant["stored_weight_bytes"] < float_["stored_weight_bytes"] / 4


def test_info_asks_the_task_registry_what_rope_weights_cannot_tell(tmp_path: Path) -> None:
    """A RoPE model's weights fix no sequence length or cycles: the task with its vocabulary gives them (Maze: 900
    cells, T=3 n=4); a vocabulary of no registered task needs --seq-len and says so in one line."""
    maze = _official_file(tmp_path, ModelConfig(vocab_size=6, hidden_size=64, num_heads=2))
    info = json.loads(_redge("info", str(maze), "--json").stdout)
    assert info["seq_len"] == 900 and (info["config"]["H_cycles"], info["config"]["L_cycles"]) == (3, 4)
    assert any("task maze" in note for note in info["assumptions"])
    (tmp_path / "other").mkdir()
    other = _official_file(tmp_path / "other", ModelConfig(vocab_size=7, hidden_size=64, num_heads=2))
    result = _redge("info", str(other))
    assert result.returncode == 2 and "--seq-len" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert json.loads(_redge("info", str(other), "--seq-len", "50", "--json").stdout)["seq_len"] == 50
