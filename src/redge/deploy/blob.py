"""The packed weight blob: one little-endian file the Python reader and the C runtime (no malloc) both read.

Byte layout, version 1 (all integers little-endian; offsets are absolute from the start of the file)::

    [0, 256)                 header (fixed size)
    [256, 256 + 128 * n)     tensor table: n fixed-size entries of 128 bytes
    [data_offset, file_size) tensor data; each tensor starts at a multiple of `alignment` (32), gaps are zero

Header (256 bytes)::

    off size field
      0    8 magic            b"REDGEBLB"
      8    2 version          u16 = 1
     10    2 header_size      u16 = 256
     12    2 entry_size       u16 = 128
     14    2 alignment        u16 = 32 (every tensor offset is a multiple: SIMD loads, M7 cache lines)
     16    4 n_tensors        u32
     20    4 flags            u32: bit 0 = EMB_BOUND (emb_crc32 below binds the embedding file), other bits 0
     24    8 table_offset     u64 = 256
     32    8 data_offset      u64 (first byte after the table, rounded up to `alignment`)
     40    8 file_size        u64 (the exact size of the file)
     48    4 table_crc32      u32, CRC-32 of the n * 128 table bytes
     52    4 reserved         0
     56    1 arch             0 = TRM, 1 = HRM
     57    1 pos_encodings    0 = none, 1 = rope, 2 = learned
     58    1 mlp_t            0/1 (TRM token-mixing MLP instead of attention)
     59    1 no_act_continue  0/1 (halting rule: q_halt > 0 if 1, q_halt > q_continue if 0)
     60    4 vocab_size       u32
     64    4 seq_len          u32 (tokens, without the puzzle prefix)
     68    4 prefix_len       u32 (puzzle-embedding positions prepended: TRM 16, HRM 1)
     72    4 hidden_size      u32
     76    4 num_heads        u32
     80    4 intermediate     u32 (channel SwiGLU width)
     84    4 token_inter      u32 (mlp_t SwiGLU width over positions; 0 without mlp_t)
     88    4 H_cycles         u32
     92    4 L_cycles         u32
     96    4 H_layers         u32
    100    4 L_layers         u32
    104    4 halt_max_steps   u32
    108    4 num_puzzle_ids   u32 (rows of the puzzle-embedding file, which is not in the blob)
    112    4 puzzle_emb_ndim  u32
    116    4 rms_norm_eps     f32
    120    4 rope_theta       f32
    124    4 expansion        f32
    128   32 recipe           ASCII, NUL-padded (the quantization recipe's name)
    160    4 emb_crc32        u32, with EMB_BOUND: the data_crc32 of the embedding file exported with this blob
    164   88 reserved         zeros
    252    4 header_crc32     u32, CRC-32 of bytes [0, 252)

Tensor entry (128 bytes)::

    off size field
      0   64 name             ASCII, NUL-padded, at least one NUL (official state-dict key; ".scale"/".zero" suffixed)
     64    1 dtype            code, see DTYPES: 0 f32, 1 f16, 2 bf16, 3 i8, 4 u8, 5 i4, 6 u4, 7 i32
     65    1 ndim             0-4
     66    1 role             0 = tensor, 1 = scale, 2 = zero point
     67    1 bits             bits of information per element (32, 16, 8, 4; 2-3 bit codes use an i4/u4 container)
     68    1 granularity      0 = none (float), 1 = tensor, 2 = channel (output row), 3 = group
     69    1 act_bits         8: quantize this linear's input per token to int8 (W8A8/W4A8); 0: float input
     70    2 reserved         0
     72    4 group_size       u32: consecutive inputs of a row sharing one scale (0 for floats)
     76   16 shape            4 x u32, unused dimensions 0
     92    4 scale_index      i32: table index of this tensor's scale entry, -1 if none
     96    4 zero_index       i32: table index of its zero-point entry, -1 if none (symmetric)
    100    4 crc32            u32, CRC-32 of the tensor's nbytes data bytes
    104    8 offset           u64
    112    8 nbytes           u64
    120    8 reserved         0

Element formats: f32/f16/i32 IEEE/two's complement little-endian; bf16 = the high 16 bits of an f32; i8 two's
complement. **i4/u4 are packed two per byte along the last axis, row by row**: element 2k of a row in the low
nibble (bits 0-3), element 2k+1 in the high nibble (CMSIS-NN order: [1, 2, 3, 4] -> 0x21 0x43); a row of odd length
ends with a zero high nibble, so every row starts on a byte. i4 is signed (-8..7), u4 unsigned (0..15).

Quantized weights (W [out, in]): codes entry (i8/i4 if symmetric, u8/u4 with a zero point otherwise), a scale entry of
shape [1, 1] (tensor), [out, 1] (channel) or [out, ceil(in / group_size)] (group) in f32/f16/bf16, and for asymmetric
codes a u8 zero-point entry of the scale's shape. Weight (r, j) = (code - zero[r', j // group_size]) * scale[r', j //
group_size], r' = 0 for per-tensor and r otherwise. Entries referenced by scale_index/zero_index follow their tensor.

CRC-32 is the IEEE 802.3 polynomial (zlib.crc32: reflected 0xEDB88320, init and final xor 0xFFFFFFFF).

The blob and its puzzle-embedding file are two files, and no file system renames two files as one. `export` renames
the embedding file first and the blob last, so the blob is the commit point, and a blob exported with a table is
bound to it (EMB_BOUND, emb_crc32): a process killed between the two renames leaves the new embedding file beside
the old blob (or alone), and readers refuse that pair (`check_embedding_pair`; `rt_emb_check` in C:
RT_ERR_PAIR) instead of running one model's weights with another model's puzzle rows.

Limits. Every header field that sizes a loop, a buffer or a table is bounded; a blob outside these bounds is rejected
by this reader (RedgeInputError naming the file and the field) and by the C loader (`rt_load`: RT_ERR_FORMAT for the
table, RT_ERR_CONFIG for the config), checksums or not, so a crafted blob cannot make the runtime loop for hours::

    field(s)                                        bound                 limit key (C macro)
    H_layers, L_layers                              <= 16                 max_layers (RT_MAX_LAYERS); L_layers >= 1
    seq_len, prefix_len, seq_len + prefix_len       <= 8,192              max_seq (RT_MAX_SEQ); seq_len >= 1
    vocab_size, hidden_size, intermediate,
      token_inter, puzzle_emb_ndim                  <= 65,536             max_dim (RT_MAX_DIM); vocab, hidden,
                                                                          intermediate >= 1
    num_heads                                       1..hidden_size, hidden_size / num_heads even (C runtime)
    H_cycles, L_cycles                              1..64                 max_cycles (RT_MAX_CYCLES)
    halt_max_steps                                  1..256                max_steps (RT_MAX_STEPS)
    num_puzzle_ids (and embedding-file rows)        <= 16,777,216         max_puzzle_ids (RT_MAX_PUZZLE_IDS)
    n_tensors                                       <= 4,096              max_tensors (RT_MAX_TENSORS)
    tensor dimensions                               1..2^28 each, size inside the file
    runtime arena (from the config, C loader only)  <= 1 GiB              max_arena (RT_MAX_ARENA)

The values live in one place, the C header (runtime/include/redge_rt.h, `RT_MAX_*`); `redge.deploy.capabilities`
reads them from there (`LIMITS`, `LIMIT_FIELDS`), and a target YAML's `runtime.max_*` may only narrow them.
"""
from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from redge.core.atomic import atomic_open
from redge.core.errors import RedgeInputError
from redge.deploy.capabilities import LIMIT_FIELDS, LIMIT_MIN_ONE, LIMITS

MAGIC = b"REDGEBLB"
VERSION = 1
HEADER_SIZE = 256
ENTRY_SIZE = 128
ALIGNMENT = 32
NAME_BYTES = 64
MAX_DIMS = 4
MAX_EXTENT = 1 << 28  # largest tensor dimension

# code -> (name, bytes per element or None for nibble-packed, numpy storage dtype)
DTYPES: dict[int, tuple[str, int | None, np.dtype]] = {
    0: ("f32", 4, np.dtype("<f4")),
    1: ("f16", 2, np.dtype("<f2")),
    2: ("bf16", 2, np.dtype("<u2")),  # raw bit patterns; numpy has no bfloat16
    3: ("i8", 1, np.dtype("i1")),
    4: ("u8", 1, np.dtype("u1")),
    5: ("i4", None, np.dtype("i1")),
    6: ("u4", None, np.dtype("u1")),
    7: ("i32", 4, np.dtype("<i4")),
}
DTYPE_CODES = {name: code for code, (name, _, _) in DTYPES.items()}
ROLES = ("tensor", "scale", "zero")
GRANULARITIES = ("none", "tensor", "channel", "group")
ARCHS = ("trm", "hrm")
POS_ENCODINGS = ("none", "rope", "learned")

_HEADER = struct.Struct("<8sHHHHII QQQ II BBBB 14I 3f 32s I 88x")
_ENTRY = struct.Struct("<64s BBBBBB 2x I 4I ii I QQ 8x")
_CONFIG_INTS = ("vocab_size", "seq_len", "prefix_len", "hidden_size", "num_heads", "intermediate", "token_inter",
                "H_cycles", "L_cycles", "H_layers", "L_layers", "halt_max_steps", "num_puzzle_ids", "puzzle_emb_ndim")
_CONFIG_FLOATS = ("rms_norm_eps", "rope_theta", "expansion")
FLAG_EMB_BOUND = 1  # header flag: emb_crc32 names the embedding file's data CRC
assert _HEADER.size == HEADER_SIZE - 4 and _ENTRY.size == ENTRY_SIZE


@dataclass(frozen=True)
class TensorMeta:
    """One table entry without its placement: what the tensor is and how its bytes are encoded."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    role: str = "tensor"
    bits: int = 32
    granularity: str = "none"
    group_size: int = 0
    act_bits: int = 0
    scale_index: int = -1
    zero_index: int = -1

    @property
    def nbytes(self) -> int:
        """Encoded size: nibble-packed rows for i4/u4, element size times count otherwise."""
        return encoded_nbytes(self.dtype, self.shape)


@dataclass(frozen=True)
class BlobTensor:
    """A table entry with its decoded values (i4/u4 unpacked to one int8/uint8 per element)."""

    meta: TensorMeta
    array: np.ndarray

    def to_torch(self) -> Any:
        """The values as a torch tensor (bf16 bit patterns become torch.bfloat16)."""
        import torch

        if self.meta.dtype == "bf16":
            return torch.from_numpy(self.array.copy().view(np.int16)).view(torch.bfloat16)
        return torch.from_numpy(self.array.copy())


@dataclass(frozen=True)
class Blob:
    """A parsed blob: model config (header fields), recipe name, and the tensors in table order."""

    config: dict[str, Any]
    recipe: str
    tensors: dict[str, BlobTensor]
    file_size: int


def encoded_nbytes(dtype: str, shape: Sequence[int]) -> int:
    """Bytes of a tensor of `dtype` and `shape` in the blob (nibble types pack each row to ceil(cols / 2) bytes)."""
    _, elem, _ = DTYPES[DTYPE_CODES[dtype]]
    count = math.prod(shape)
    if elem is not None:
        return count * elem
    if not shape:
        return 1
    rows = math.prod(shape[:-1])
    return rows * ((shape[-1] + 1) // 2)


def _align(n: int, alignment: int = ALIGNMENT) -> int:
    return -(n // -alignment) * alignment


def layout(metas: Sequence[TensorMeta]) -> tuple[list[int], int, int]:
    """Offsets of each tensor, the data offset and the total file size for tensors written in this order."""
    data_offset = _align(HEADER_SIZE + ENTRY_SIZE * len(metas))
    offsets, pos = [], data_offset
    for meta in metas:
        offsets.append(pos)
        pos = _align(pos + meta.nbytes)
    return offsets, data_offset, (pos if metas else data_offset)


def blob_size(metas: Sequence[TensorMeta]) -> int:
    """Exact size in bytes of a blob holding these tensors (header, table, aligned data)."""
    return layout(metas)[2]


def pack_nibbles(values: np.ndarray) -> np.ndarray:
    """Pack 4-bit values two per byte along the last axis (even index -> low nibble), padding odd rows with 0."""
    v = np.asarray(values).astype(np.uint8) & 0x0F
    if v.ndim == 0:
        v = v.reshape(1)
    if v.shape[-1] % 2:
        v = np.concatenate([v, np.zeros(v.shape[:-1] + (1,), np.uint8)], axis=-1)
    return (v[..., 0::2] | (v[..., 1::2] << 4)).astype(np.uint8)


def unpack_nibbles(packed: np.ndarray, cols: int, signed: bool) -> np.ndarray:
    """Inverse of `pack_nibbles`: [..., ceil(cols/2)] bytes -> [..., cols] int8 (signed) or uint8 values."""
    lo, hi = packed & 0x0F, packed >> 4
    out = np.stack([lo, hi], axis=-1).reshape(packed.shape[:-1] + (-1,))[..., :cols]
    if signed:
        return ((out.astype(np.int16) ^ 8) - 8).astype(np.int8)
    return out.astype(np.uint8)


def encode(meta: TensorMeta, values: np.ndarray) -> bytes:
    """The bytes of `values` (shape `meta.shape`, integer values for i4/u4) in the blob's element format."""
    values = np.asarray(values)
    if tuple(values.shape) != tuple(meta.shape):
        raise ValueError(f"{meta.name}: values have shape {values.shape}, entry says {meta.shape}")
    code = DTYPE_CODES[meta.dtype]
    _, elem, np_dtype = DTYPES[code]
    if elem is None:
        lo, hi = (-8, 7) if meta.dtype == "i4" else (0, 15)
        if values.size and (values.min() < lo or values.max() > hi):
            raise ValueError(f"{meta.name}: values outside [{lo}, {hi}] for {meta.dtype}")
        return pack_nibbles(values.reshape(meta.shape or (1,))).tobytes()
    if values.dtype != np_dtype:
        raise ValueError(f"{meta.name}: values are {values.dtype}, {meta.dtype} needs {np_dtype}")
    return np.ascontiguousarray(values).tobytes()


def decode(meta: TensorMeta, data: bytes | memoryview) -> np.ndarray:
    """Values of one tensor from its blob bytes (copies; i4/u4 unpacked)."""
    _, elem, np_dtype = DTYPES[DTYPE_CODES[meta.dtype]]
    raw = np.frombuffer(data, dtype=np_dtype if elem is not None else np.uint8).copy()
    if elem is not None:
        return raw.reshape(meta.shape)
    shape = meta.shape or (1,)
    packed = raw.reshape(shape[:-1] + ((shape[-1] + 1) // 2,))
    return unpack_nibbles(packed, shape[-1], signed=meta.dtype == "i4").reshape(meta.shape)


# ---------------------------------------------------------------------------------------------------------------
# Writing

def header_fields(config: Any, recipe: str) -> dict[str, Any]:
    """The model-config fields of the header, from a `ModelConfig` (everything the C runtime needs)."""
    from redge.models.layers import swiglu_intermediate

    token_inter = swiglu_intermediate(config.total_seq_len, config.expansion) if config.mlp_t else 0
    return {
        "arch": config.arch, "pos_encodings": config.pos_encodings, "mlp_t": bool(config.mlp_t),
        "no_act_continue": bool(config.no_ACT_continue), "vocab_size": config.vocab_size,
        "seq_len": config.seq_len or 0, "prefix_len": config.prefix_len, "hidden_size": config.hidden_size,
        "num_heads": config.num_heads, "intermediate": swiglu_intermediate(config.hidden_size, config.expansion),
        "token_inter": token_inter, "H_cycles": config.H_cycles, "L_cycles": config.L_cycles,
        "H_layers": config.H_layers, "L_layers": config.L_layers, "halt_max_steps": config.halt_max_steps,
        "num_puzzle_ids": config.num_puzzle_identifiers if config.puzzle_emb_ndim > 0 else 0,
        "puzzle_emb_ndim": config.puzzle_emb_ndim, "rms_norm_eps": config.rms_norm_eps,
        "rope_theta": config.rope_theta, "expansion": config.expansion, "recipe": recipe,
    }


def _pack_header(fields: dict[str, Any], n: int, data_offset: int, file_size: int, table_crc: int) -> bytes:
    recipe = fields["recipe"].encode("ascii")[:31]
    emb_crc = fields.get("emb_crc32")
    flags = 0 if emb_crc is None else FLAG_EMB_BOUND
    body = _HEADER.pack(
        MAGIC, VERSION, HEADER_SIZE, ENTRY_SIZE, ALIGNMENT, n, flags, HEADER_SIZE, data_offset, file_size, table_crc,
        0, ARCHS.index(fields["arch"]), POS_ENCODINGS.index(fields["pos_encodings"]), int(fields["mlp_t"]),
        int(fields["no_act_continue"]), *(int(fields[k]) for k in _CONFIG_INTS),
        *(float(fields[k]) for k in _CONFIG_FLOATS), recipe, emb_crc or 0)
    return body + struct.pack("<I", zlib.crc32(body))


def _pack_entry(meta: TensorMeta, offset: int, crc: int) -> bytes:
    name = meta.name.encode("ascii")
    if len(name) >= NAME_BYTES:
        raise ValueError(f"tensor name {meta.name!r} is longer than {NAME_BYTES - 1} bytes")
    if len(meta.shape) > MAX_DIMS:
        raise ValueError(f"{meta.name}: more than {MAX_DIMS} dimensions")
    shape = tuple(meta.shape) + (0,) * (MAX_DIMS - len(meta.shape))
    return _ENTRY.pack(name, DTYPE_CODES[meta.dtype], len(meta.shape), ROLES.index(meta.role), meta.bits,
                       GRANULARITIES.index(meta.granularity), meta.act_bits, meta.group_size, *shape, meta.scale_index,
                       meta.zero_index, crc, offset, meta.nbytes)


def write_blob(path: str | Path, fields: dict[str, Any], tensors: Iterable[tuple[TensorMeta, np.ndarray]]) -> int:
    """Write a blob atomically (temp file + rename); returns its size. `fields` comes from `header_fields`."""
    items = [(meta, encode(meta, values)) for meta, values in tensors]
    metas = [meta for meta, _ in items]
    offsets, data_offset, file_size = layout(metas)
    table = b"".join(_pack_entry(meta, off, zlib.crc32(data)) for (meta, data), off in zip(items, offsets))
    header = _pack_header(fields, len(items), data_offset, file_size, zlib.crc32(table))
    with atomic_open(path) as fh:
        fh.write(header + table)
        for (_, data), off in zip(items, offsets):
            fh.write(b"\0" * (off - fh.tell()))
            fh.write(data)
        fh.write(b"\0" * (file_size - fh.tell()))
    return file_size


# ---------------------------------------------------------------------------------------------------------------
# Reading (every offset, size and index is checked before use)

def _parse_header(buf: bytes, path: Path) -> tuple[dict[str, Any], int, int, int, int]:
    def bad(msg: str) -> RedgeInputError:
        return RedgeInputError(msg, path)

    if len(buf) < len(MAGIC) or buf[:len(MAGIC)] != MAGIC:
        raise bad(f"bad magic {bytes(buf[:len(MAGIC)])!r}: not a redge blob (expected {MAGIC!r})")
    if len(buf) < HEADER_SIZE:
        raise bad(f"truncated: {len(buf)} bytes, the header alone needs {HEADER_SIZE}")
    values = _HEADER.unpack_from(buf)
    (_, version, header_size, entry_size, alignment, n, flags, table_offset, data_offset, file_size, table_crc,
     _reserved, arch, pos, mlp_t, no_act, *rest, recipe_bytes, emb_crc) = values
    stored_crc, = struct.unpack_from("<I", buf, HEADER_SIZE - 4)
    computed = zlib.crc32(buf[:HEADER_SIZE - 4])
    if stored_crc != computed:
        raise bad(f"bad header checksum (stored {stored_crc:#010x}, computed {computed:#010x})")
    if version != VERSION:
        raise bad(f"unsupported blob version {version} (this reader knows {VERSION})")
    if flags & ~FLAG_EMB_BOUND:
        raise bad(f"unknown header flags {flags:#x} (this reader knows EMB_BOUND = {FLAG_EMB_BOUND:#x})")
    if (header_size, entry_size, table_offset) != (HEADER_SIZE, ENTRY_SIZE, HEADER_SIZE):
        raise bad(f"unexpected header/entry size or table offset ({header_size}, {entry_size}, {table_offset})")
    if alignment == 0 or alignment & (alignment - 1):
        raise bad(f"alignment {alignment} is not a power of two")
    if n > LIMITS["max_tensors"]:
        raise bad(f"n_tensors {n} exceeds the runtime limit {LIMITS['max_tensors']} (max_tensors)")
    if file_size != len(buf):
        what = "truncated" if len(buf) < file_size else "trailing bytes"
        raise bad(f"{what}: header says {file_size} bytes, file has {len(buf)}")
    table_end = HEADER_SIZE + n * ENTRY_SIZE
    if table_end > data_offset or data_offset > file_size:
        raise bad(f"tensor table out of range: {n} entries end at byte {table_end}, data offset {data_offset}, "
                  f"file size {file_size}")
    if zlib.crc32(buf[HEADER_SIZE:table_end]) != table_crc:
        raise bad("bad tensor-table checksum")
    if arch >= len(ARCHS) or pos >= len(POS_ENCODINGS) or mlp_t > 1 or no_act > 1:
        raise bad(f"invalid model config in header (arch {arch}, pos_encodings {pos}, mlp_t {mlp_t})")
    ints = dict(zip(_CONFIG_INTS, rest[:len(_CONFIG_INTS)]))
    floats = dict(zip(_CONFIG_FLOATS, rest[len(_CONFIG_INTS):len(_CONFIG_INTS) + 3]))
    recipe = recipe_bytes.split(b"\0", 1)[0].decode("ascii", errors="replace")
    config = {"arch": ARCHS[arch], "pos_encodings": POS_ENCODINGS[pos], "mlp_t": bool(mlp_t),
              "no_act_continue": bool(no_act), **ints, **floats, "recipe": recipe,
              "emb_crc32": emb_crc if flags & FLAG_EMB_BOUND else None}
    problem = _limit_problem(ints)
    if problem:
        raise bad(problem)
    return config, n, data_offset, file_size, alignment


def _limit_problem(ints: dict[str, int]) -> str | None:
    """What in these header integers is outside the runtime's limits (see the module docstring), or None."""
    for key, fields in LIMIT_FIELDS.items():
        for field in fields:
            if ints[field] > LIMITS[key]:
                return f"{field} {ints[field]} exceeds the runtime limit {LIMITS[key]} ({key})"
    for field in LIMIT_MIN_ONE:
        if ints[field] < 1:
            return f"{field} {ints[field]} must be at least 1"
    if ints["seq_len"] + ints["prefix_len"] > LIMITS["max_seq"]:
        return (f"seq_len + prefix_len = {ints['seq_len'] + ints['prefix_len']} exceeds the runtime limit "
                f"{LIMITS['max_seq']} (max_seq)")
    if ints["num_heads"] > ints["hidden_size"]:
        return f"num_heads {ints['num_heads']} exceeds hidden_size {ints['hidden_size']}"
    return None


def _parse_entry(buf: bytes, i: int, n: int, data_offset: int, file_size: int, alignment: int,
                 path: Path) -> tuple[TensorMeta, int, int]:
    (raw_name, dtype, ndim, role, bits, gran, act_bits, group_size, *rest) = _ENTRY.unpack_from(
        buf, HEADER_SIZE + i * ENTRY_SIZE)
    shape4, (scale_index, zero_index, crc, offset, nbytes) = rest[:4], rest[4:]
    if b"\0" not in raw_name:
        raise RedgeInputError(f"tensor {i}: name is not NUL-terminated", path)
    try:
        name = raw_name.split(b"\0", 1)[0].decode("ascii")
    except UnicodeDecodeError:
        raise RedgeInputError(f"tensor {i}: name is not ASCII", path) from None

    def bad(msg: str) -> RedgeInputError:
        return RedgeInputError(f"tensor {i} ({name!r}): {msg}", path)

    if dtype not in DTYPES:
        raise bad(f"unknown dtype code {dtype}")
    if ndim > MAX_DIMS or role >= len(ROLES) or gran >= len(GRANULARITIES):
        raise bad(f"invalid ndim {ndim}, role {role} or granularity {gran}")
    for index, what in ((scale_index, "scale"), (zero_index, "zero-point")):
        if index != -1 and not 0 <= index < n:
            raise bad(f"{what} index {index} out of range (table has {n} entries)")
    meta = TensorMeta(name, DTYPES[dtype][0], tuple(shape4[:ndim]), ROLES[role], bits, GRANULARITIES[gran],
                      group_size, act_bits, scale_index, zero_index)
    if any(not 1 <= d <= MAX_EXTENT for d in meta.shape) or math.prod(meta.shape) > file_size * 2:
        raise bad(f"shape {list(meta.shape)} out of range")
    if nbytes != meta.nbytes:
        raise bad(f"size {nbytes} does not match shape {list(meta.shape)} of dtype {meta.dtype} ({meta.nbytes})")
    if offset % alignment or offset < data_offset or offset + nbytes > file_size:
        raise bad(f"offset {offset} + size {nbytes} out of range (data [{data_offset}, {file_size}), "
                  f"alignment {alignment})")
    return meta, offset, crc


def parse_blob(buf: bytes, path: str | Path = "<blob>") -> Blob:
    """Parse and verify blob bytes; any inconsistency raises a one-line RedgeInputError naming the problem."""
    path = Path(path)
    config, n, data_offset, file_size, alignment = _parse_header(buf, path)
    tensors: dict[str, BlobTensor] = {}
    end = data_offset
    metas = []
    for i in range(n):
        meta, offset, crc = _parse_entry(buf, i, n, data_offset, file_size, alignment, path)
        if offset < end:
            raise RedgeInputError(f"tensor {i} ({meta.name!r}): overlaps the previous tensor", path)
        end = offset + meta.nbytes
        data = memoryview(buf)[offset:end]
        if zlib.crc32(data) != crc:
            raise RedgeInputError(f"tensor {i} ({meta.name!r}): bad data checksum", path)
        if meta.name in tensors:
            raise RedgeInputError(f"tensor {i}: duplicate name {meta.name!r}", path)
        tensors[meta.name] = BlobTensor(meta, decode(meta, data))
        metas.append(meta)
    for meta in metas:
        for index, role in ((meta.scale_index, "scale"), (meta.zero_index, "zero")):
            if index != -1 and metas[index].role != role:
                raise RedgeInputError(f"tensor {meta.name!r}: entry {index} is not a {role} tensor", path)
    return Blob(config=config, recipe=config.pop("recipe"), tensors=tensors, file_size=file_size)


def read_blob(path: str | Path) -> Blob:
    """Read and verify a blob file (see `parse_blob`)."""
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise RedgeInputError(f"cannot read blob ({exc.strerror or type(exc).__name__})", path) from None
    return parse_blob(buf, path)
