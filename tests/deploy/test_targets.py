"""Targets as data: built-ins, user YAML, and one-line errors for bad target files."""
from __future__ import annotations

import pytest

from redge.core.errors import RedgeInputError
from redge.deploy.plan import plan_config
from redge.deploy.targets import BUILTIN, load_target, parse_size
from tests.deploy.conftest import TRM_ATT_SUDOKU

USER = """
name: my-m55
core: cortex-m55
clock_mhz: 400
regions:
  - {name: sram, kind: sram, size: 8MiB, reserved: 512KiB}
  - {name: mram, kind: flash, size: 16MB}
place: {image: mram, code: mram, embeddings: mram, weights: [sram, in_place], arena: sram, state: sram}
"""


def test_builtins_parse_and_have_the_named_parts():
    assert {"stm32n6", "esp32-s3", "stm32h743", "cortex-m4"} <= set(BUILTIN)
    n6 = load_target("stm32n6")
    assert n6.core == "cortex-m55" and n6.region("sram").size == 4200 * 1024
    assert load_target("esp32-s3").region("psram").size == 8 * 2**20


def test_sizes():
    assert parse_size("4200KiB", "x") == 4_300_800 and parse_size("4.2MB", "x") == 4_200_000
    assert parse_size(17, "x") == 17


def test_user_yaml_target_is_planned(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(USER)
    plan = plan_config(TRM_ATT_SUDOKU, "int8", str(path))
    assert plan["target"]["name"] == "my-m55" and plan["fits"]
    sram = next(r for r in plan["regions"] if r["name"] == "sram")
    assert sram["available"] == 8 * 2**20 - 512 * 1024


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace("arena: sram", "arena: mram"), "place.arena: region 'mram' is flash"),
    (lambda s: s.replace("code: mram", "code: rom"), "unknown region 'rom'"),
    (lambda s: s.replace("size: 16MB", "size: lots"), "cannot read size 'lots'"),
    (lambda s: s.replace("kind: flash", "kind: disk"), "kind must be one of"),
    (lambda s: s + "\nfoo: 1\n", "unknown keys ['foo']"),
    (lambda s: "[unclosed", "unreadable target YAML"),
])
def test_bad_user_target(tmp_path, edit, message):
    path = tmp_path / "t.yaml"
    path.write_text(edit(USER))
    with pytest.raises(RedgeInputError) as info:
        load_target(str(path))
    assert message in str(info.value) and "t.yaml" in str(info.value)
