"""Blobs and embedding files whose loop counts, sizes or dimensions exceed the runtime's limits (with every checksum
valid) are rejected by the Python readers, the C loaders and `redge bench cpu` (exit 2, one line, in seconds)."""
from __future__ import annotations

import ctypes
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from redge.cli import main
from redge.core.errors import RedgeInputError
from redge.deploy import capabilities
from redge.deploy.blob import read_blob
from redge.deploy.embeddings import EmbeddingFile
from redge.deploy.pack import export
from redge.deploy.runtime import host
from redge.models import build_model
from redge.quant.apply import quantize_

L = capabilities.LIMITS
SRC = Path(__file__).resolve().parents[2] / "src"
# header field -> (byte offset in the blob header, a value out of range)
OUT_OF_RANGE = {
    "halt_max_steps": (104, 2**31 - 1), "halt_max_steps=0": (104, 0), "H_cycles": (88, L["max_cycles"] + 1),
    "L_cycles": (92, 0), "H_layers": (96, L["max_layers"] + 1), "L_layers": (100, L["max_layers"] + 1),
    "seq_len": (64, L["max_seq"] + 1), "prefix_len": (68, L["max_seq"]), "vocab_size": (60, L["max_dim"] + 1),
    "hidden_size": (72, 2**32 - 1), "num_heads": (76, 0), "intermediate": (80, L["max_dim"] + 1),
    "token_inter": (84, L["max_dim"] + 1), "num_puzzle_ids": (108, L["max_puzzle_ids"] + 1),
    "puzzle_emb_ndim": (112, L["max_dim"] + 1), "n_tensors": (16, L["max_tensors"] + 1),
}
RT_ERR_CONFIG, RT_ERR_FORMAT, RT_ERR_TRUNCATED = 6, 5, 3


def crafted(blob: bytes, offset: int, value: int) -> bytes:
    """The blob with one u32 header field replaced and its header checksum recomputed (the table's stays valid)."""
    b = bytearray(blob)
    b[offset:offset + 4] = struct.pack("<I", value)
    b[252:256] = struct.pack("<I", zlib.crc32(bytes(b[:252])))
    return bytes(b)


@pytest.fixture(scope="module")
def small_blob(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from redge.models import ModelConfig

    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=11, seq_len=16, num_puzzle_identifiers=7, hidden_size=32, num_heads=2,
                                    H_cycles=1, L_cycles=1, puzzle_emb_ndim=32, halt_max_steps=2)).eval()
    quantize_(model, "int8")
    return export(model, tmp_path_factory.mktemp("blob") / "m.blob", "int8")["blob"][0]


@pytest.mark.parametrize("field", list(OUT_OF_RANGE))
def test_out_of_range_field_rejected_everywhere(small_blob: Path, tmp_path: Path, field: str, capsys) -> None:
    offset, value = OUT_OF_RANGE[field]
    path = tmp_path / "crafted.blob"
    path.write_bytes(crafted(small_blob.read_bytes(), offset, value))
    name = field.split("=")[0]
    with pytest.raises(RedgeInputError) as info:
        read_blob(path)
    assert name in str(info.value) and str(path) in str(info.value)
    with pytest.raises(RedgeInputError, match="C runtime rejected the blob") as info:
        host.HostRuntime(path)
    # rt_load: RT_ERR_CONFIG (n_tensors: RT_ERR_FORMAT, or the table then leaves the file)
    assert any(host.STATUS[code] in str(info.value) for code in (RT_ERR_CONFIG, RT_ERR_FORMAT, RT_ERR_TRUNCATED))
    t0 = time.monotonic()
    assert main(["bench", "cpu", str(path), "--puzzles", "1"]) == 2
    err = capsys.readouterr().err
    assert time.monotonic() - t0 < 10
    assert err.count("\n") == 1 and name in err and str(path) in err, err


def test_valid_blob_loads(small_blob: Path) -> None:
    assert host.HostRuntime(small_blob).seq_len == 16
    assert read_blob(small_blob).config["halt_max_steps"] == 2


def test_issue_case_bench_cpu_returns_in_seconds(small_blob: Path, tmp_path: Path) -> None:
    """The blob of issue 15 (halt_max_steps = 2^31 - 1, consistent CRCs) made `bench cpu` run until killed."""
    path = tmp_path / "halt.blob"
    path.write_bytes(crafted(small_blob.read_bytes(), 104, 2**31 - 1))
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "redge.cli", "bench", "cpu", str(path)], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 2 and time.monotonic() - t0 < 30
    assert proc.stderr.count("\n") == 1 and "halt_max_steps 2147483647 exceeds the runtime limit 256" in proc.stderr


@pytest.mark.parametrize("argv,what", [(["--depth", str(L["max_steps"] + 1)], "--depth"), (["--depth", "-3"], "depth"),
                                       (["--puzzles", "0"], "puzzles")])
def test_bench_options_range_checked(small_blob: Path, argv: list[str], what: str, capsys) -> None:
    assert main(["bench", "cpu", str(small_blob), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and what in err


def test_c_run_refuses_depth_and_cycles_above_limits(small_blob: Path) -> None:
    rt = host.HostRuntime(small_blob)
    tokens = np.ones(rt.seq_len, dtype=np.int64)
    assert rt.run(tokens, depth=1).steps == 1
    for kw in ({"depth": L["max_steps"] + 1}, {"H_cycles": L["max_cycles"] + 1}, {"L_cycles": L["max_cycles"] + 1}):
        with pytest.raises(RedgeInputError, match="bad argument"):
            rt.run(tokens, **kw)


def emb_lib() -> ctypes.CDLL:
    """The host runtime library with rt_emb_open / rt_emb_row typed (embedding files have no Python binding)."""
    lib = host._lib()
    lib.rt_emb_open.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    lib.rt_emb_row.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p]
    return lib


def emb_header(rows: int, dim: int) -> bytes:
    """An f32 embedding-file header with a valid checksum (the data is not needed: limits are checked first)."""
    body = struct.pack("<8sHHB3xQIIQQI8x", b"REDGEEMB", 1, 64, 0, rows, dim, dim * 4, 64, rows * dim * 4, 0)
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("rows,dim,field", [(L["max_puzzle_ids"] + 1, 4, "rows"), (2, L["max_dim"] + 1, "dim")])
def test_embedding_file_limits(tmp_path: Path, rows: int, dim: int, field: str) -> None:
    path = tmp_path / "big.emb"
    path.write_bytes(emb_header(rows, dim))
    with pytest.raises(RedgeInputError, match=f"{field} .* exceeds the runtime limit") as info:
        EmbeddingFile(path)
    assert str(path) in str(info.value)
    lib = emb_lib()
    data = path.read_bytes()
    emb = (ctypes.c_uint8 * 64)()
    assert lib.rt_emb_open(emb, data, len(data), 0) == RT_ERR_CONFIG


def test_c_embedding_loader_reads_rows(tmp_path: Path) -> None:
    """rt_emb_open + rt_emb_row give EmbeddingFile's rows (f32 and bf16), and refuse an id past the end."""
    from redge.deploy.embeddings import save_table

    table = torch.randn(5, 6)
    lib = emb_lib()
    for dtype in ("f32", "bf16"):
        path = tmp_path / f"t-{dtype}.emb"
        save_table(path, table, dtype)
        data = path.read_bytes()
        emb = (ctypes.c_uint8 * 64)()
        assert lib.rt_emb_open(emb, data, len(data), 1) == 0
        row = np.zeros(6, dtype=np.float32)
        ref = EmbeddingFile(path).rows(torch.tensor([3])).float().numpy()[0]
        assert lib.rt_emb_row(emb, 3, row.ctypes.data) == 0 and np.array_equal(row, ref)
        assert lib.rt_emb_row(emb, 5, row.ctypes.data) == 11
        assert lib.rt_emb_open(emb, data[:-1], len(data) - 1, 1) == RT_ERR_TRUNCATED


def test_documented_limits_are_the_header_limits() -> None:
    """The blob format docstring states each limit with the value the C header (their one source) holds."""
    from redge.deploy import blob

    lines = blob.__doc__.splitlines()
    for key, macro in capabilities.LIMIT_MACROS.items():
        value = L[key]
        line = next(ln for ln in lines if f"{key} ({macro})" in ln)
        shown = f"{value // 2**30} GiB" if key == "max_arena" else f"{value:,}"
        assert shown in line, (key, line)
