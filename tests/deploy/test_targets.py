"""Targets as data: the built-in YAML files, a user YAML, and one-line errors naming the file and the field."""
from __future__ import annotations

import pytest

from redge.core.errors import RedgeInputError
from redge.deploy import capabilities
from redge.deploy.plan import plan_config
from redge.deploy.targets import BUILTIN_DIR, builtin_names, load_target, parse_size
from tests.deploy.conftest import TRM_ATT_SUDOKU

USER = """
name: my-m55
core: cortex-m55
clock_mhz: 400
regions:
  - {name: sram, kind: sram, size: 8MiB, reserved: 512KiB}
  - {name: mram, kind: flash, size: 16MB}
place: {image: mram, code: mram, embeddings: mram, weights: [sram, in_place], arena: sram, state: sram}
runtime:
  kernels: helium
  cflags: [-mcpu=cortex-m55, -mfloat-abi=hard, -mthumb]
cycle_model: {cpi: [1.0, 2.0], weight_stream_mb_s: 400}
qemu:
  machine: mps3-an547
  memory:
    code: {origin: 0x0, size: 512KiB}
    ram: {origin: 0x20000000, size: 512KiB}
    weights: {origin: 0x60000000, size: 16MiB}
    arena: {origin: 0x61000000, size: 16MiB}
"""


def test_builtins_are_yaml_files_with_the_named_parts():
    assert builtin_names() == ["cortex-m4", "esp32-s3", "stm32h743", "stm32n6"]
    assert all((BUILTIN_DIR / f"{n}.yaml").is_file() for n in builtin_names())
    n6 = load_target("stm32n6")
    assert n6.core == "cortex-m55" and n6.region("sram").size == 4200 * 1024 and n6.runtime.kernels == "helium"
    assert n6.qemu.machine == "mps3-an547" and n6.qemu.input_addr == 0x60F00000 and n6.cycle_model.cpi == (1.0, 2.0)
    assert load_target("esp32-s3").region("psram").size == 8 * 2**20 and load_target("esp32-s3").qemu is None
    assert {load_target(n).runtime.kernels for n in ("cortex-m4", "stm32h743")} == {"dsp"}


def test_sizes():
    assert parse_size("4200KiB", "x") == 4_300_800 and parse_size("4.2MB", "x") == 4_200_000
    assert parse_size(17, "x") == 17


def test_user_yaml_target_is_planned_and_defaults_to_what_the_runtime_implements(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(USER)
    target = load_target(str(path))
    assert target.runtime.weight_codes == capabilities.WEIGHT_CODES and target.runtime.max_layers == 16
    assert target.runtime.limit_defines()[:3] == ["-DRT_MAX_LAYERS=16", "-DRT_MAX_SEQ=8192", "-DRT_MAX_DIM=65536"]
    assert "-DRT_MAX_STEPS=256" in target.runtime.limit_defines() and len(target.runtime.limit_defines()) == 8
    plan = plan_config(TRM_ATT_SUDOKU, "int8", str(path))
    assert plan["target"]["name"] == "my-m55" and plan["fits"]
    sram = next(r for r in plan["regions"] if r["name"] == "sram")
    assert sram["available"] == 8 * 2**20 - 512 * 1024


def _drop(key: str):
    return lambda s: "\n".join(line for line in s.splitlines() if not line.startswith(key))


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace("arena: sram", "arena: mram"), "place.arena: region 'mram' is flash"),
    (lambda s: s.replace("code: mram", "code: rom"), "unknown region 'rom'"),
    (lambda s: s.replace("size: 16MB", "size: lots"), "cannot read size 'lots'"),
    (lambda s: s.replace("kind: flash", "kind: disk"), "regions[1].kind must be one of"),
    (lambda s: s + "\nfoo: 1\n", "unknown keys ['foo']"),
    (lambda s: "[unclosed", "not valid YAML"),
    (lambda s: "- just a list", "a target must be a mapping"),
    (_drop("core:"), "missing field 'core'"),
    (lambda s: s.replace("runtime:\n  kernels: helium\n  cflags: [-mcpu=cortex-m55, -mfloat-abi=hard, -mthumb]\n",
                         ""), "missing field 'runtime'"),
    (lambda s: s.replace("runtime:\n  kernels: helium\n", "runtime:\n"), "missing field 'runtime.kernels'"),
    (lambda s: s.replace("kernels: helium", "kernels: avx2"), "runtime.kernels must be one of ['c', 'dsp', 'helium']"),
    (lambda s: s.replace("kernels: helium", "kernels: [helium]"), "runtime.kernels must be a non-empty string"),
    (lambda s: s.replace("clock_mhz: 400", "clock_mhz: fast"), "clock_mhz must be a positive number, got 'fast'"),
    (lambda s: s.replace("clock_mhz: 400", "clock_mhz: -4"), "clock_mhz must be a positive number"),
    (lambda s: s.replace("  kernels: helium", "  kernels: helium\n  max_layers: 2.5"),
     "runtime.max_layers must be a positive integer, got 2.5"),
    (lambda s: s.replace("  kernels: helium", "  kernels: helium\n  max_steps: 1000"),
     "runtime.max_steps 1000 is above the C runtime's own limit 256 (a target may only narrow it)"),
    (lambda s: s.replace("  kernels: helium", "  kernels: helium\n  weight_codes: [i8, u4]"),
     "runtime.weight_codes: 'u4' is not something the C runtime implements"),
    (lambda s: s.replace("  kernels: helium", "  kernels: helium\n  float_weights: [bf16]"),
     "runtime.float_weights: 'bf16' is not something the C runtime implements"),
    (lambda s: s.replace("cflags: [-mcpu=cortex-m55, -mfloat-abi=hard, -mthumb]", "cflags: -mcpu=cortex-m55"),
     "runtime.cflags must be a list of compiler flags"),
    (lambda s: s.replace("cpi: [1.0, 2.0]", "cpi: [2.0, 1.0]"), "cycle_model.cpi must be [low, high]"),
    (lambda s: s.replace(", weight_stream_mb_s: 400", ""), "missing field 'cycle_model.weight_stream_mb_s'"),
    (lambda s: s.replace("origin: 0x20000000", "origin: somewhere"), "qemu.memory.ram.origin must be an address"),
    (lambda s: s.replace("    arena: {origin: 0x61000000, size: 16MiB}\n", ""), "missing field 'qemu.memory.arena'"),
    (lambda s: s.replace("weights: {origin: 0x60000000, size: 16MiB}", "weights: {origin: 0x60000000, size: 1MiB}"),
     "qemu.memory.weights.size must exceed"),
    (lambda s: s.replace("machine: mps3-an547", "machine: 3"), "qemu.machine must be a non-empty string"),
    (lambda s: s.replace("  - {name: mram, kind: flash, size: 16MB}\n", "").replace(
        "regions:\n  - {name: sram, kind: sram, size: 8MiB, reserved: 512KiB}", "regions: 5"),
     "regions must be a non-empty list, got 5"),
    (lambda s: s.replace("  - {name: sram, kind: sram, size: 8MiB, reserved: 512KiB}\n", "  - sram\n"),
     "regions[0] must be a mapping"),
])
def test_bad_user_target_is_one_line_naming_file_and_field(tmp_path, edit, message):
    path = tmp_path / "t.yaml"
    path.write_text(edit(USER))
    with pytest.raises(RedgeInputError) as info:
        load_target(str(path))
    text = str(info.value)
    assert message in text and text.startswith(str(path)) and "\n" not in text


def test_unknown_target_lists_the_builtins():
    with pytest.raises(RedgeInputError, match="not a built-in .*stm32n6.* nor a YAML file"):
        load_target("nowhere")


def test_kernel_sets_are_files_and_the_shared_sources_select_no_instruction_set():
    """Adding a target needs no #elif: ISA code lives only in the kernel-set files the build picks from the YAML."""
    from redge.deploy.runtime import build

    for name in capabilities.KERNEL_SETS:
        assert all(p.is_file() for p in build.runtime_sources(name)), name
    shared = build.SOURCES + build.HEADERS + list(build.FIRMWARE.values())
    assert not [p.name for p in shared if "__ARM_FEATURE" in p.read_text()]
    assert {load_target(n).runtime.kernels for n in builtin_names()} <= set(capabilities.KERNEL_SETS)
