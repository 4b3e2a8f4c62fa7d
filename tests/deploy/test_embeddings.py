"""Streamed puzzle embeddings: same outputs as the in-RAM table, rows read on demand, bad files rejected."""
from __future__ import annotations

import pytest
import torch

from redge.core.errors import RedgeInputError
from redge.deploy.embeddings import (
    HEADER_SIZE,
    EmbeddingFile,
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
