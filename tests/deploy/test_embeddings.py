"""Streamed puzzle embeddings: same outputs as the in-RAM table, rows read on demand, bad files rejected."""
from __future__ import annotations

import pytest
import torch

from redge.core.errors import RedgeInputError
from redge.deploy.embeddings import (
    HEADER_SIZE,
    EmbeddingFile,
    check_embedding_pair,
    save_table,
    stream_puzzle_embeddings,
)
from redge.models import build_model


def _batch(ids: list[int], vocab: int = 11, seq: int = 16) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return {"inputs": torch.randint(0, vocab, (len(ids), seq), generator=gen),
            "labels": torch.zeros(len(ids), seq, dtype=torch.long), "puzzle_identifiers": torch.tensor(ids)}


@pytest.mark.parametrize("dtype", ["f32", "bf16"])
def test_streamed_model_matches_table_in_ram(tmp_path, tiny_config, dtype):
    torch.manual_seed(0)
    model = build_model(tiny_config).eval()
    model.puzzle_emb.weights.normal_()
    if dtype == "bf16":  # the in-RAM reference holds the same (rounded) values the file stores
        model.puzzle_emb.weights.copy_(model.puzzle_emb.weights.to(torch.bfloat16).float())
    save_table(tmp_path / "t.emb", model.puzzle_emb.weights, dtype, chunk_rows=3)
    batch = _batch([6, 0, 3])
    ref = model.predict(batch, depth=2)["logits"]
    stream_puzzle_embeddings(model, tmp_path / "t.emb")
    assert torch.equal(model.predict(batch, depth=2)["logits"], ref)
    model.puzzle_emb.source.verify()


def test_rows_out_of_range_and_training_mode_are_refused(tmp_path, tiny_config):
    model = build_model(tiny_config).eval()
    save_table(tmp_path / "t.emb", model.puzzle_emb.weights)
    stream = stream_puzzle_embeddings(model, tmp_path / "t.emb")
    with pytest.raises(RedgeInputError, match="puzzle identifier 7 out of range"):
        stream(torch.tensor([7]), torch.float32)
    stream.train()
    with pytest.raises(RuntimeError, match="read-only"):
        stream(torch.tensor([1]), torch.float32)


@pytest.mark.parametrize("corrupt, message", [
    (lambda b: b"XXXXXXXX" + b[8:], "bad magic"),
    (lambda b: b[:-5], "truncated"),
    (lambda b: b[:30] + bytes([b[30] ^ 1]) + b[31:], "bad header checksum"),
])
def test_corrupt_embedding_file(tmp_path, corrupt, message):
    save_table(tmp_path / "t.emb", torch.ones(4, 8))
    (tmp_path / "bad.emb").write_bytes(corrupt((tmp_path / "t.emb").read_bytes()))
    with pytest.raises(RedgeInputError, match=message):
        EmbeddingFile(tmp_path / "bad.emb")


def test_data_checksum_is_checked_by_verify(tmp_path):
    save_table(tmp_path / "t.emb", torch.ones(4, 8))
    buf = bytearray((tmp_path / "t.emb").read_bytes())
    buf[HEADER_SIZE + 5] ^= 0xFF
    (tmp_path / "t.emb").write_bytes(bytes(buf))
    with pytest.raises(RedgeInputError, match="bad data checksum"):
        EmbeddingFile(tmp_path / "t.emb").verify()


def test_width_mismatch_is_refused(tmp_path, tiny_config):
    save_table(tmp_path / "t.emb", torch.ones(4, 8))
    with pytest.raises(RedgeInputError, match="row width 8"):
        stream_puzzle_embeddings(build_model(tiny_config), tmp_path / "t.emb")


def test_a_blob_refuses_the_embedding_file_of_another_export(tmp_path, tiny_config):
    """A killed export can leave a new embedding file beside an old blob: the blob names its own file's data CRC,
    and the Python reader and the C runtime (rt_emb_check) both refuse the mixed pair, while each own pair passes."""
    import ctypes

    from redge.deploy.blob import read_blob
    from redge.deploy.pack import export
    from redge.deploy.runtime import host

    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = build_model(tiny_config).eval()
        model.puzzle_emb.weights.normal_()
        export(model, tmp_path / f"m{seed}.blob", "fp32")
        paths.append((tmp_path / f"m{seed}.blob", tmp_path / f"m{seed}.emb"))
    (blob0, emb0), (_, emb1) = paths
    assert read_blob(blob0).config["emb_crc32"] == EmbeddingFile(emb0).data_crc
    assert check_embedding_pair(blob0, emb0).dim == tiny_config.puzzle_emb_ndim
    with pytest.raises(RedgeInputError, match=r"not the embedding file exported with .*m0\.blob") as info:
        check_embedding_pair(blob0, emb1)
    assert str(emb1) in str(info.value)

    lib = host._lib()
    lib.rt_emb_open.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    lib.rt_emb_check.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    rt = host.HostRuntime(blob0)
    for emb, status in ((emb0, 0), (emb1, 12)):  # RT_OK, RT_ERR_PAIR
        data = emb.read_bytes()
        handle = (ctypes.c_uint8 * 64)()
        assert lib.rt_emb_open(handle, data, len(data), 1) == 0
        assert lib.rt_emb_check(handle, rt._model) == status


def test_unknown_blob_flags_are_refused(tmp_path, tiny_config):
    """Header flags other than EMB_BOUND belong to a future format: both readers refuse them."""
    import struct
    import zlib

    from redge.deploy.blob import read_blob
    from redge.deploy.pack import export
    from redge.deploy.runtime import host

    export(build_model(tiny_config).eval(), tmp_path / "m.blob", "fp32")
    buf = bytearray((tmp_path / "m.blob").read_bytes())
    struct.pack_into("<I", buf, 20, 0b10 | struct.unpack_from("<I", buf, 20)[0])
    struct.pack_into("<I", buf, 252, zlib.crc32(bytes(buf[:252])))
    (tmp_path / "f.blob").write_bytes(bytes(buf))
    with pytest.raises(RedgeInputError, match="unknown header flags"):
        read_blob(tmp_path / "f.blob")
    with pytest.raises(RedgeInputError, match="inconsistent header"):
        host.HostRuntime(tmp_path / "f.blob")
