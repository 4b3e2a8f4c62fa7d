"""Blob format: nibble order, export -> import identity, plan == blob size, corrupted blobs give one-line errors."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch

from redge.core.errors import RedgeInputError
from redge.deploy.blob import (
    ENTRY_SIZE,
    HEADER_SIZE,
    TensorMeta,
    blob_size,
    pack_nibbles,
    parse_blob,
    read_blob,
    unpack_nibbles,
    write_blob,
)
from redge.deploy.pack import blob_entries, export, model_weights
from redge.models import build_model
from redge.quant.apply import quantize_
from redge.quant.spec import QuantRecipe, QuantSpec, Rule, load_recipe

ASYM_G16 = QuantRecipe("asym-g16", (Rule("q_head", None), Rule("@linears", QuantSpec(
    bits=4, granularity="group", group_size=16, symmetric=False, scale_dtype="float16")),
    Rule("embed_tokens", QuantSpec(bits=8, granularity="channel", symmetric=False, scale_dtype="bfloat16"))))


def test_nibble_order_is_low_first_and_rows_start_on_a_byte():
    assert pack_nibbles(np.array([1, 2, 3, 4])).tolist() == [0x21, 0x43]
    odd = np.array([[1, -2, 3], [-8, 7, 0]], dtype=np.int8)
    packed = pack_nibbles(odd)
    assert packed.shape == (2, 2) and packed[0, 1] == 0x03
    assert np.array_equal(unpack_nibbles(packed, 3, signed=True), odd)


@pytest.mark.parametrize("recipe", ["fp32", "int8", "int4-channel-cal", "int4-g32", ASYM_G16])
def test_export_import_identical_and_plan_size_exact(tmp_path, tiny_config, recipe):
    torch.manual_seed(0)
    recipe = load_recipe(recipe)
    with torch.device("meta"):
        planned = blob_size(blob_entries(model_weights(build_model(tiny_config), recipe, with_values=False)))
    model = quantize_(build_model(tiny_config).eval(), recipe)
    written = export(model, tmp_path / "m.blob", recipe.name)
    blob = read_blob(tmp_path / "m.blob")
    assert written["blob"][1] == planned == blob.file_size == (tmp_path / "m.blob").stat().st_size
    assert blob.recipe == recipe.name and blob.config["hidden_size"] == 64 and blob.config["prefix_len"] == 2
    for w in model_weights(model):
        got = blob.tensors[w.key]
        if hasattr(w.values, "codes"):  # quantized: codes, scales (in their storage dtype), zero points
            assert torch.equal(got.to_torch().to(torch.int16), w.values.codes.to(torch.int16))
            scale = blob.tensors[f"{w.key}.scale"].to_torch().to(torch.float32)
            assert torch.equal(scale, w.values.scales)
            if w.values.zeros is not None:
                assert torch.equal(blob.tensors[f"{w.key}.zero"].to_torch().to(torch.int32), w.values.zeros)
        else:
            assert torch.equal(got.to_torch(), w.values.to(torch.float32))


def test_offsets_are_aligned(tmp_path, tiny_config):
    write_blob(tmp_path / "a.blob", _fields(tiny_config), [
        (TensorMeta("a", "i4", (3, 5), bits=4), np.zeros((3, 5), np.int8)),
        (TensorMeta("b", "bf16", (7,), bits=16), np.arange(7, dtype=np.uint16))])
    buf = (tmp_path / "a.blob").read_bytes()
    offsets = [struct.unpack_from("<Q", buf, HEADER_SIZE + i * ENTRY_SIZE + 104)[0] for i in range(2)]
    assert all(off % 32 == 0 for off in offsets)
    assert np.array_equal(read_blob(tmp_path / "a.blob").tensors["b"].array, np.arange(7, dtype=np.uint16))


def _fields(config):
    from redge.deploy.blob import header_fields

    return header_fields(config, "test")


def _blob(tmp_path, tiny_config) -> bytes:
    model = quantize_(build_model(tiny_config).eval(), "int4-channel")
    export(model, tmp_path / "m.blob", "int4-channel")
    return (tmp_path / "m.blob").read_bytes()


def _reseal(buf: bytearray) -> bytes:
    """Recompute the table and header checksums so a deliberately wrong field reaches its own check."""
    n = struct.unpack_from("<I", buf, 16)[0]
    struct.pack_into("<I", buf, 48, zlib.crc32(buf[HEADER_SIZE:HEADER_SIZE + n * ENTRY_SIZE]))
    struct.pack_into("<I", buf, HEADER_SIZE - 4, zlib.crc32(buf[:HEADER_SIZE - 4]))
    return bytes(buf)


def _entry(i: int) -> int:
    return HEADER_SIZE + i * ENTRY_SIZE


@pytest.mark.parametrize("corrupt, message", [
    (lambda b: b"NOTABLOB" + b[8:], "bad magic"),
    (lambda b: b[: len(b) - 100], "truncated"),
    (lambda b: b[:100], "truncated"),
    (lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:], "bad header checksum"),
    (lambda b: b[:_entry(0) + 3] + b"X" + b[_entry(0) + 4:], "bad tensor-table checksum"),
    (lambda b: b[:-1] + bytes([b[-1] ^ 0xFF]), "bad data checksum"),
    (lambda b: _reseal(_put(b, _entry(1) + 104, "<Q", 2**40)), "out of range"),
    (lambda b: _reseal(_put(b, _entry(1) + 112, "<Q", 12345)), "does not match shape"),
    (lambda b: _reseal(_put(b, _entry(2) + 92, "<i", 999)), "scale index 999 out of range"),
    (lambda b: _reseal(_put(b, 16, "<I", 4000)), "tensor table out of range"),
    (lambda b: _reseal(_put(b, 16, "<I", 10**6)), "n_tensors 1000000 exceeds the runtime limit 4096"),
    (lambda b: _reseal(_put(b, _entry(0) + 64, "<B", 42)), "unknown dtype code 42"),
])
def test_corrupted_blob_gives_one_line_error(tmp_path, tiny_config, corrupt, message):
    bad = corrupt(_blob(tmp_path, tiny_config))
    with pytest.raises(RedgeInputError) as info:
        parse_blob(bad, tmp_path / "bad.blob")
    text = str(info.value)
    assert message in text and "\n" not in text and "bad.blob" in text


def _put(buf: bytes, offset: int, fmt: str, value: int) -> bytearray:
    out = bytearray(buf)
    struct.pack_into(fmt, out, offset, value)
    return out
