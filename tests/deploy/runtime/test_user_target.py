"""A new target is one YAML file: a user's board, written here into tmp_path, is planned, exported and benched on
the QEMU machine it names -- built with the kernel set, flags, limits and memory map its YAML gives -- with no code
edit anywhere."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from redge.cli import main
from redge.deploy.runtime import build, qemu
from redge.deploy.runtime.host import HostRuntime
from redge.models import ModelConfig, build_model
from redge.models.checkpoints import save_checkpoint

ARM_MISSING = build.arm_toolchain_missing()

# A Cortex-M7 board unlike the built-ins: external QSPI flash, weights copied to SDRAM, the portable C kernels
# (kernel set chosen here, not by the compiler's feature macros), small compile-time limits, and its own QEMU
# memory map on mps2-an500 (an 8 MiB weight window, so the input block moves to 0x60700000).
MY_BOARD = """
name: my-h7-board
description: Cortex-M7 with 1 MB SRAM, 16 MB QSPI flash and 8 MB SDRAM
core: cortex-m7
clock_mhz: 400
code_bytes: 80KiB
regions:
  - {name: sram, kind: sram, size: 1MiB}
  - {name: sdram, kind: psram, size: 8MiB}
  - {name: qspi, kind: flash, size: 16MiB}
place: {image: qspi, code: qspi, embeddings: qspi, weights: [sram, sdram], arena: sram, state: sram}
runtime:
  kernels: c
  cflags: [-mcpu=cortex-m7, -mfloat-abi=hard, -mfpu=fpv5-d16, -mthumb]
  max_layers: 2
  max_seq: 128
cycle_model: {cpi: [0.7, 1.1], weight_stream_mb_s: 150, note: "SDRAM-resident weights"}
qemu:
  machine: mps2-an500
  memory:
    code: {origin: 0x00000000, size: 4MiB}
    ram: {origin: 0x20000000, size: 1MiB}
    arena: {origin: 0x20100000, size: 3MiB}
    weights: {origin: 0x60000000, size: 8MiB}
"""
CONFIG = ModelConfig(vocab_size=11, seq_len=81, hidden_size=32, num_heads=2, H_cycles=1, L_cycles=2, L_layers=2,
                     mlp_t=True, puzzle_emb_ndim=0, halt_max_steps=2)


@pytest.mark.skipif(ARM_MISSING is not None, reason=f"Arm toolchain absent: {ARM_MISSING}")
def test_user_yaml_board_plans_exports_and_benches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    board = tmp_path / "my_board.yaml"
    board.write_text(MY_BOARD)
    torch.manual_seed(0)
    save_checkpoint(build_model(CONFIG), tmp_path / "ck")
    blob = tmp_path / "m.blob"

    assert main(["plan", str(tmp_path / "ck"), "--recipe", "w8a8", "--target", str(board), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["target"]["name"] == "my-h7-board" and plan["fits"] and plan["placement"]["weights"] == "sram"

    assert main(["export", str(tmp_path / "ck"), "--recipe", "w8a8", "--target", str(board), "--out", str(blob),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["blob"]["bytes"] == plan["flash"]["blob"]["total"]

    assert main(["bench", "mcu", str(blob), "--target", str(board), "--json"]) == 0
    bench = json.loads(capsys.readouterr().out)
    assert bench["target"] == "my-h7-board" and bench["core"] == "cortex-m7"
    assert bench["instructions_per_step"] > 0 and bench["latency_per_step"]["clock_mhz"] == 400
    funcs = bench["top_functions_per_forward"]
    assert "rk_dot_rows_c" in funcs and "rk_dot_rows_fast" in funcs  # the YAML's portable kernels, not DSP

    # the emulated board computes what the host runtime computes, bit for bit
    tokens = np.random.default_rng(0).integers(1, 11, size=(2, 81))
    outs, _ = qemu.run_model(board, blob, tokens, depth=1, logits=True, mem=False, timeout=120)
    host = HostRuntime(blob)
    for tok, out in zip(tokens, outs):
        ref = host.run(tok, depth=1)
        assert np.array_equal(out.preds, ref.preds) and np.array_equal(out.logits, ref.logits.reshape(-1))

    # the YAML's limits are compiled into the firmware (max_layers 2): plan and export refuse a 3-layer model, and
    # the firmware itself rejects its blob (exported without --target, i.e. for a default build)
    save_checkpoint(build_model(CONFIG.replace(L_layers=3)), tmp_path / "ck3")
    for cmd in (["plan"], ["export", "--out", str(tmp_path / "m3.blob")]):
        assert main([*cmd, str(tmp_path / "ck3"), "--recipe", "w8a8", "--target", str(board)]) == 2
        assert "L_layers 3 exceeds runtime.max_layers 2" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "ck3"), "--recipe", "w8a8", "--out", str(tmp_path / "m3.blob")]) == 0
    with pytest.raises(RuntimeError, match="model config out of the runtime.s limits"):
        qemu.run_model(board, tmp_path / "m3.blob", tokens[:1], depth=1, mem=False, timeout=120)


def test_bench_refuses_a_target_without_a_qemu_machine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blob = tmp_path / "m.blob"
    blob.write_bytes(b"")
    save_checkpoint(build_model(CONFIG), tmp_path / "ck")
    assert main(["export", str(tmp_path / "ck"), "--recipe", "int8", "--out", str(blob)]) == 0
    capsys.readouterr()
    assert main(["bench", "mcu", str(blob), "--target", "esp32-s3"]) == 2
    err = capsys.readouterr().err
    assert "esp32-s3.yaml" in err and "names no QEMU machine" in err
