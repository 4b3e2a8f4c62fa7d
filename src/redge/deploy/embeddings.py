"""The puzzle-embedding table in its own file, read row by row (flash-streamed on a device, memory-mapped here).

TRM/HRM read one table row per puzzle (augmented variant) per forward, yet the ARC table has 876,406 rows (1.8 GB
fp32). Keeping it out of RAM is the paper's "flash-streamed embeddings": the file below is what goes to external
flash, and `StreamedPuzzleEmbedding` is a drop-in for `model.puzzle_emb` that reads only the rows a batch uses.

Byte layout, version 1 (little-endian)::

    off size field
      0    8 magic        b"REDGEEMB"
      8    2 version      u16 = 1
     10    2 header_size  u16 = 64
     12    1 dtype        0 = f32, 2 = bf16 (the blob's dtype codes)
     13    3 reserved     0
     16    8 rows         u64 (number of puzzle identifiers; row 0 is the blank puzzle)
     24    4 dim          u32 (puzzle_emb_ndim)
     28    4 row_stride   u32 bytes between rows = dim * element size
     32    8 data_offset  u64 = 64
     40    8 data_size    u64 = rows * row_stride (the file is exactly data_offset + data_size bytes)
     48    4 data_crc32   u32, CRC-32 of the data bytes (checked by `verify()`, not on open: that would read it all)
     52    8 reserved     0
     60    4 header_crc32 u32, CRC-32 of bytes [0, 60)

Row i is at data_offset + i * row_stride, row-major, so a device reads one row with one contiguous flash read.

Limits (the C runtime's, `RT_MAX_*` in runtime/include/redge_rt.h, see the blob format): rows <= 16,777,216
(max_puzzle_ids), dim <= 65,536 (max_dim). This reader and the C one (`rt_emb_open`, runtime/src/rt_emb.c) reject
larger files, as they reject a bad checksum or a size that does not match.
"""
from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from redge.core.atomic import atomic_open
from redge.core.errors import RedgeInputError
from redge.deploy.blob import DTYPE_CODES, DTYPES, read_blob
from redge.deploy.capabilities import LIMITS

MAGIC = b"REDGEEMB"
VERSION = 1
HEADER_SIZE = 64
ROW_DTYPES = ("f32", "bf16")
_HEADER = struct.Struct("<8sHHB3xQIIQQI8x")
assert _HEADER.size == HEADER_SIZE - 4


def embedding_file_size(rows: int, dim: int, dtype: str = "f32") -> int:
    """Exact size in bytes of an embedding file with `rows` x `dim` values of `dtype`."""
    return HEADER_SIZE + rows * dim * DTYPES[DTYPE_CODES[dtype]][1]


def _to_storage(chunk: torch.Tensor, dtype: str) -> np.ndarray:
    chunk = chunk.detach().to("cpu")
    if dtype == "bf16":
        return chunk.to(torch.bfloat16).contiguous().view(torch.int16).numpy().view(np.uint16)
    return chunk.to(torch.float32).contiguous().numpy()


def write_embedding_file(path: str | Path, chunks: Iterable[torch.Tensor], rows: int, dim: int,
                         dtype: str = "f32") -> int:
    """Write the table from row chunks ([k, dim] tensors, in order) atomically; returns the file size.

    Chunks keep memory flat when the table is larger than RAM is comfortable with (the synthetic 1.8 GB ARC table).
    """
    if dtype not in ROW_DTYPES:
        raise ValueError(f"embedding dtype must be one of {ROW_DTYPES}, got {dtype!r}")
    stride = dim * DTYPES[DTYPE_CODES[dtype]][1]
    with atomic_open(path) as fh:
        fh.write(b"\0" * HEADER_SIZE)
        crc, written = 0, 0
        for chunk in chunks:
            if chunk.ndim != 2 or chunk.shape[1] != dim:
                raise ValueError(f"chunk of shape {tuple(chunk.shape)}, expected [k, {dim}]")
            data = _to_storage(chunk, dtype).tobytes()
            crc = zlib.crc32(data, crc)
            fh.write(data)
            written += chunk.shape[0]
        if written != rows:
            raise ValueError(f"chunks hold {written} rows, expected {rows}")
        body = _HEADER.pack(MAGIC, VERSION, HEADER_SIZE, DTYPE_CODES[dtype], rows, dim, stride, HEADER_SIZE,
                            rows * stride, crc)
        fh.seek(0)
        fh.write(body + struct.pack("<I", zlib.crc32(body)))
    return embedding_file_size(rows, dim, dtype)


def save_table(path: str | Path, table: torch.Tensor, dtype: str = "f32", chunk_rows: int = 65536) -> int:
    """Write an in-memory table [rows, dim] (e.g. `model.puzzle_emb.weights`) as an embedding file."""
    chunks = (table[i:i + chunk_rows] for i in range(0, table.shape[0], chunk_rows))
    return write_embedding_file(path, chunks, table.shape[0], table.shape[1], dtype)


class EmbeddingFile:
    """A validated, memory-mapped embedding file: `rows(ids)` reads only the requested rows."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as fh:
                head = fh.read(HEADER_SIZE)
        except OSError as exc:
            raise RedgeInputError(f"cannot read embedding file ({exc.strerror or type(exc).__name__})",
                                  self.path) from None
        self._check_header(head, size)
        np_dtype = DTYPES[DTYPE_CODES[self.dtype]][2]
        self._map = np.memmap(self.path, dtype=np_dtype, mode="r", offset=HEADER_SIZE, shape=(self.num_rows, self.dim))

    def _check_header(self, head: bytes, size: int) -> None:
        def bad(msg: str) -> RedgeInputError:
            return RedgeInputError(msg, self.path)

        if head[:8] != MAGIC:
            raise bad(f"bad magic {head[:8]!r}: not a redge embedding file (expected {MAGIC!r})")
        if len(head) < HEADER_SIZE:
            raise bad(f"truncated: {len(head)} bytes, the header needs {HEADER_SIZE}")
        stored, = struct.unpack_from("<I", head, HEADER_SIZE - 4)
        if zlib.crc32(head[:HEADER_SIZE - 4]) != stored:
            raise bad("bad header checksum")
        _, version, header_size, dtype, rows, dim, stride, data_offset, data_size, crc = _HEADER.unpack_from(head)
        if version != VERSION or header_size != HEADER_SIZE or data_offset != HEADER_SIZE:
            raise bad(f"unsupported version {version} or header size {header_size}")
        if dtype not in DTYPES or DTYPES[dtype][0] not in ROW_DTYPES:
            raise bad(f"unsupported row dtype code {dtype}")
        name = DTYPES[dtype][0]
        for field, value, key in (("rows", rows, "max_puzzle_ids"), ("dim", dim, "max_dim")):
            if value > LIMITS[key]:
                raise bad(f"{field} {value} exceeds the runtime limit {LIMITS[key]} ({key})")
        if rows < 1 or dim < 1 or stride != dim * DTYPES[dtype][1] or data_size != rows * stride:
            raise bad(f"inconsistent shape: rows {rows}, dim {dim}, row stride {stride}, data size {data_size}")
        if size != data_offset + data_size:
            what = "truncated" if size < data_offset + data_size else "trailing bytes"
            raise bad(f"{what}: header says {data_offset + data_size} bytes, file has {size}")
        self.dtype, self.num_rows, self.dim, self.data_crc = name, rows, dim, crc

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """The rows for `ids` (any shape) as a float32/bfloat16 tensor [*ids.shape, dim], bounds-checked."""
        flat = ids.reshape(-1).to("cpu").long().numpy()
        if flat.size and (flat.min() < 0 or flat.max() >= self.num_rows):
            bad = flat[(flat < 0) | (flat >= self.num_rows)][0]
            raise RedgeInputError(f"puzzle identifier {bad} out of range (table has {self.num_rows} rows)", self.path)
        data = np.ascontiguousarray(self._map[flat])  # fancy indexing copies just these rows out of the map
        out = torch.from_numpy(data.view(np.int16)).view(torch.bfloat16) if self.dtype == "bf16" \
            else torch.from_numpy(data)
        return out.reshape(*ids.shape, self.dim)

    def verify(self) -> None:
        """Check the data CRC (reads the whole file once, in chunks)."""
        crc, step = 0, 1 << 24
        with open(self.path, "rb") as fh:
            fh.seek(HEADER_SIZE)
            while block := fh.read(step):
                crc = zlib.crc32(block, crc)
        if crc != self.data_crc:
            raise RedgeInputError("bad data checksum", self.path)


class StreamedPuzzleEmbedding(nn.Module):
    """Drop-in for `PuzzleEmbedding` (`forward(ids, dtype)`) that reads rows from an `EmbeddingFile` on demand.

    Inference only: the table is read-only, so training mode raises instead of silently not learning.
    """

    def __init__(self, source: EmbeddingFile) -> None:
        super().__init__()
        self.source = source

    def forward(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        if self.training:
            raise RuntimeError("StreamedPuzzleEmbedding is read-only: call model.eval() first")
        return self.source.rows(ids).to(device=ids.device, dtype=dtype)

    def extra_repr(self) -> str:
        return f"{self.source.path}, rows={self.source.num_rows}, dim={self.source.dim}, {self.source.dtype}"


def _opened_for(path: str | Path, ndim: int, owner: str) -> EmbeddingFile:
    """The embedding file at `path`, refused unless `owner` (the model or blob that reads it) has a puzzle
    embedding `ndim` values wide."""
    source = EmbeddingFile(path)
    if ndim <= 0:
        raise RedgeInputError(f"{owner} has no puzzle embedding (puzzle_emb_ndim = 0)", path)
    if source.dim != ndim:
        raise RedgeInputError(f"row width {source.dim} does not match the puzzle_emb_ndim {ndim} of {owner}", path)
    return source


def check_embedding_pair(blob_path: str | Path, emb_path: str | Path) -> EmbeddingFile:
    """Open the embedding file that goes with the blob at `blob_path`, refusing one from another export.

    `export` writes the two files one after the other, so a killed export can leave a new embedding file beside
    an old blob; the blob names the data CRC of its own embedding file, and a file with another CRC (or another
    row width) is refused here, as `rt_emb_check` refuses it on the device.
    """
    config = read_blob(blob_path).config
    source = _opened_for(emb_path, config["puzzle_emb_ndim"], f"the blob {blob_path}")
    bound = config["emb_crc32"]
    if bound is not None and source.data_crc != bound:
        raise RedgeInputError(f"not the embedding file exported with {blob_path} (its data CRC "
                              f"{source.data_crc:#010x}, the blob names {bound:#010x}): export the pair again",
                              emb_path)
    return source


def stream_puzzle_embeddings(model: nn.Module, path: str | Path) -> StreamedPuzzleEmbedding:
    """Replace `model.puzzle_emb` by rows streamed from the file at `path` (the old table is released).

    The row width must match the model's `puzzle_emb_ndim`; identifiers are checked against the file's row count
    on every read, so a model built with a 1-row placeholder table can serve the full ARC table.
    """
    source = _opened_for(path, model.config.puzzle_emb_ndim, "the model")
    module = StreamedPuzzleEmbedding(source)
    module.train(model.training)
    model.puzzle_emb = module
    return module
