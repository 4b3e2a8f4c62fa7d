"""Acceptance of `redge plan`: who fits where, why not, and the plan's blob bytes against the real export."""
from __future__ import annotations

import pytest
import torch

from redge.deploy.pack import export
from redge.deploy.plan import plan_config
from redge.models import build_model
from redge.quant.apply import quantize_
from tests.deploy.conftest import HRM_SUDOKU, TRM_ATT_MAZE, TRM_ATT_SUDOKU


def test_trm_att_int8_fits_the_8mb_soc():
    for config in (TRM_ATT_SUDOKU, TRM_ATT_MAZE):
        plan = plan_config(config, "int8", "esp32-s3")
        assert plan["fits"] and plan["margin_bytes"] > 0 and not plan["why_not"]
        assert 6.8e6 < plan["flash"]["blob"]["total"] < 7.0e6


def test_trm_att_calibrated_int4_fits_the_4mb_mcu_at_sudoku_length():
    plan = plan_config(TRM_ATT_SUDOKU, "int4-channel-cal", "stm32n6")
    assert plan["fits"] and plan["placement"]["weights"] == "sram" and plan["margin_region"] == "sram"
    assert plan["ram"]["total"] <= 4200 * 1024


def test_calibrated_int4_at_916_tokens_says_exactly_why_not():
    plan = plan_config(TRM_ATT_MAZE, "int4-channel-cal", "stm32n6")
    assert not plan["fits"]
    assert plan["schedule"].startswith("tiled")  # the smallest arena was tried
    (line,) = plan["why_not"]
    assert line.startswith("sram") and "short by" in line and "state" in line


@pytest.mark.parametrize("recipe", ["int8", "int4-channel-cal"])
@pytest.mark.parametrize("target", ["esp32-s3", "stm32n6"])
def test_hrm_fits_neither(recipe, target):
    plan = plan_config(HRM_SUDOKU, recipe, target)
    assert not plan["fits"] and plan["why_not"]


def test_916_tokens_reports_the_tiled_schedule_and_its_cost():
    plan = plan_config(TRM_ATT_MAZE, "int8", "esp32-s3")
    untiled, tiled = plan["schedules"]["untiled"], plan["schedules"]["tiled"]
    assert tiled["arena_bytes"] < untiled["arena_bytes"] / 4
    assert tiled["weight_bytes_per_act_step"] > untiled["weight_bytes_per_act_step"]
    assert plan["ram"]["arena"] == tiled["arena_bytes"]


def test_forced_tile_and_formats_change_the_arena():
    small = plan_config(TRM_ATT_SUDOKU, "int8", "esp32-s3", tile=16)
    fp32 = plan_config(TRM_ATT_SUDOKU, "int8", "esp32-s3", act="fp32")
    assert small["ram"]["arena"] < plan_config(TRM_ATT_SUDOKU, "int8", "esp32-s3")["ram"]["arena"]
    assert fp32["ram"]["state"]["carry"] == 4 * 2 * 97 * 512


def test_plan_bytes_equal_exported_files_at_full_size(tmp_path):
    torch.manual_seed(0)
    config = TRM_ATT_SUDOKU.replace(num_puzzle_identifiers=3)
    plan = plan_config(config, "int8", "esp32-s3")
    written = export(quantize_(build_model(config).eval(), "int8"), tmp_path / "m.blob", "int8")
    assert written["blob"][1] == plan["flash"]["blob"]["total"]
    assert written["embeddings"][1] == plan["flash"]["embeddings"]
