"""From a model (+ recipe) to the blob's tensor list and the puzzle-embedding file.

One function, `model_weights`, lists every tensor the runtime needs as `NamedWeight`s (official key, shape, format,
values or None). It reads formats either from a quantized model (`quantize_` swapped in modules exposing codes,
scales and zero points) or, for planning, from a float model on the `meta` device plus a recipe resolved by the
quantization engine's `plan`. `blob_entries` turns that list into table entries; the plan and the export both call
it, so the plan's blob size is the exported file's size by construction.

What goes where: every weight, bias and the initial states `H_init`/`L_init` into the blob; the puzzle-embedding
table into its own file (rows streamed); RoPE tables nowhere (the runtime recomputes them from `rope_theta`).
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from redge.core.atomic import atomic_path
from redge.deploy.blob import TensorMeta, header_fields, write_blob
from redge.deploy.embeddings import EmbeddingFile, save_table
from redge.models.layers import CastedEmbedding, PuzzleEmbedding
from redge.quant.apply import plan as resolve_recipe
from redge.quant.modules import Bf16Embedding, Bf16Linear, QuantEmbedding, QuantLinear
from redge.quant.qtensor import QuantizedWeight
from redge.quant.spec import QuantRecipe, QuantSpec

PUZZLE_EMB = "puzzle_emb"
_SCALE_DTYPES = {"float32": ("f32", np.dtype("<f4")), "float16": ("f16", np.dtype("<f2")), "bfloat16": ("bf16", None)}


@dataclass(frozen=True)
class WeightFormat:
    """How one tensor is stored: bits 32 (fp32), 16 (bf16) or 2-8 (integer codes with scales)."""

    bits: int = 32
    granularity: str = "none"
    group_size: int = 0  # inputs per scale (the row width for tensor/channel granularity)
    symmetric: bool = True
    scale_dtype: str = "float32"
    act_bits: int = 0

    @classmethod
    def from_spec(cls, spec: QuantSpec | None, in_features: int) -> WeightFormat:
        """The storage format a recipe spec gives a weight with `in_features` columns."""
        if spec is None:
            return cls()
        if spec.is_float:
            return cls(bits=16, act_bits=spec.act_bits or 0)
        group = spec.group_size if spec.granularity == "group" else in_features
        return cls(spec.bits, spec.granularity, group, spec.symmetric, spec.scale_dtype, spec.act_bits or 0)

    @classmethod
    def from_quantized(cls, qw: QuantizedWeight, act_bits: int | None) -> WeightFormat:
        """The storage format of a quantized weight from the quantization engine."""
        return cls(qw.bits, qw.granularity, qw.group_size, qw.symmetric, qw.scale_dtype, act_bits or 0)


@dataclass(frozen=True)
class NamedWeight:
    """One tensor for the blob: official key, shape, format, and its values (None when planning from shapes)."""

    key: str
    shape: tuple[int, ...]
    fmt: WeightFormat
    values: torch.Tensor | QuantizedWeight | None = None


def _float_tensor(key: str, t: torch.Tensor, fmt: WeightFormat, with_values: bool) -> NamedWeight:
    return NamedWeight(key, tuple(t.shape), fmt, t.detach() if with_values else None)


def _module_weights(name: str, m: nn.Module, spec: QuantSpec | None, with_values: bool) -> list[NamedWeight]:
    """The weight (and bias) of one addressable module, in the format its quantized form or `spec` gives it."""
    bias = getattr(m, "bias", None)
    out: list[NamedWeight] = []
    if isinstance(m, (QuantLinear, QuantEmbedding)):
        qw = m.quantized_weight()
        key = f"{name}.weight" if isinstance(m, QuantLinear) else f"{name}.embedding_weight"
        out.append(NamedWeight(key, tuple(qw.shape), WeightFormat.from_quantized(qw, getattr(m, "act_bits", None)),
                               qw if with_values else None))
    elif isinstance(m, Bf16Linear):
        out.append(_float_tensor(f"{name}.weight", m.weight, WeightFormat(bits=16), with_values))
    elif isinstance(m, Bf16Embedding):
        out.append(_float_tensor(f"{name}.embedding_weight", m.table, WeightFormat(bits=16), with_values))
    elif isinstance(m, nn.Linear):
        out.append(_float_tensor(f"{name}.weight", m.weight, WeightFormat.from_spec(spec, m.in_features), with_values))
    elif isinstance(m, CastedEmbedding):
        w = m.embedding_weight
        out.append(_float_tensor(f"{name}.embedding_weight", w, WeightFormat.from_spec(spec, w.shape[1]), with_values))
    if isinstance(bias, torch.Tensor):
        out.append(_float_tensor(f"{name}.bias", bias, WeightFormat(), with_values))
    return out


def model_weights(model: nn.Module, recipe: QuantRecipe | None = None, with_values: bool = True) -> list[NamedWeight]:
    """Every tensor of the blob in order: H_init, L_init, then each linear/embedding in module order.

    With `recipe`, formats come from resolving it against the (float, possibly `meta`) model; without, from the
    model's quantized modules (everything not quantized is fp32).
    """
    specs = {a.name: a.spec for a in resolve_recipe(model, recipe)} if recipe is not None else {}
    out = [_float_tensor(k, getattr(model, k), WeightFormat(), with_values) for k in ("H_init", "L_init")]
    for name, m in model.named_modules():
        if name == PUZZLE_EMB or name.startswith(PUZZLE_EMB + "."):
            continue
        out.extend(_module_weights(name, m, specs.get(name), with_values))
    return out


def _code_dtype(fmt: WeightFormat) -> str:
    small = fmt.bits <= 4
    return ("i4" if small else "i8") if fmt.symmetric else ("u4" if small else "u8")


def _entries_for(w: NamedWeight, index: int) -> list[TensorMeta]:
    fmt = w.fmt
    if fmt.bits in (32, 16):
        return [TensorMeta(w.key, "f32" if fmt.bits == 32 else "bf16", w.shape, bits=fmt.bits, act_bits=fmt.act_bits)]
    out_features, in_features = w.shape
    rows = 1 if fmt.granularity == "tensor" else out_features
    scale_shape = (rows, -(in_features // -fmt.group_size))
    zero_index = index + 2 if not fmt.symmetric else -1
    codes = TensorMeta(w.key, _code_dtype(fmt), w.shape, "tensor", fmt.bits, fmt.granularity, fmt.group_size,
                       fmt.act_bits, index + 1, zero_index)
    scale = TensorMeta(f"{w.key}.scale", _SCALE_DTYPES[fmt.scale_dtype][0], scale_shape, "scale",
                       16 if fmt.scale_dtype != "float32" else 32)
    zero = [TensorMeta(f"{w.key}.zero", "u8", scale_shape, "zero", fmt.bits)] if not fmt.symmetric else []
    return [codes, scale, *zero]


def blob_entries(weights: list[NamedWeight]) -> list[TensorMeta]:
    """Table entries for `weights`: one per float tensor; codes + scale (+ zero point) per quantized weight."""
    metas: list[TensorMeta] = []
    for w in weights:
        metas.extend(_entries_for(w, len(metas)))
    return metas


def _scale_array(scales: torch.Tensor, scale_dtype: str) -> np.ndarray:
    if scale_dtype == "bfloat16":
        return scales.to(torch.bfloat16).contiguous().view(torch.int16).numpy().view(np.uint16)
    return scales.to(torch.float32).numpy().astype(_SCALE_DTYPES[scale_dtype][1])


def _float_array(t: torch.Tensor, bits: int) -> np.ndarray:
    if bits == 16:
        return t.to(torch.bfloat16).contiguous().view(torch.int16).numpy().view(np.uint16)
    return t.to(torch.float32).contiguous().numpy()


def blob_arrays(weights: list[NamedWeight]) -> list[tuple[TensorMeta, np.ndarray]]:
    """Entries with their values (codes int8/uint8, scales in their storage dtype, zero points uint8)."""
    metas = blob_entries(weights)
    arrays: list[np.ndarray] = []
    for w in weights:
        if w.values is None:
            raise ValueError(f"{w.key}: no values (the weight list was built for planning only)")
        if isinstance(w.values, QuantizedWeight):
            arrays.append(w.values.codes.numpy())
            arrays.append(_scale_array(w.values.scales, w.fmt.scale_dtype))
            if w.values.zeros is not None:
                arrays.append(w.values.zeros.to(torch.uint8).numpy())
        else:
            arrays.append(_float_array(w.values, w.fmt.bits))
    return list(zip(metas, arrays))


def puzzle_table(model: nn.Module) -> tuple[torch.Tensor, str] | None:
    """The puzzle-embedding table [N_ids, ndim] and its file dtype (f32, or bf16 for a bf16 recipe), if any.

    An integer-quantized table is written dequantized (fp32): the file format holds float rows only.
    """
    m = getattr(model, PUZZLE_EMB, None)
    if m is None:
        return None
    if isinstance(m, PuzzleEmbedding):
        table = m.weights
    elif isinstance(m, Bf16Embedding):
        table = m.table
    else:
        table = m.embedding_weight
    return table, embedding_dtype(model)


def embedding_path(out: str | Path, emb_out: str | Path | None = None) -> Path:
    """Where `export` writes the puzzle-embedding file: `emb_out`, else the blob path with the suffix `.emb`."""
    return Path(emb_out) if emb_out is not None else Path(out).with_suffix(".emb")


def export(model: nn.Module, out: str | Path, recipe_name: str,
           emb_out: str | Path | None = None) -> dict[str, tuple[Path, int]]:
    """Write the blob of a (quantized) model and, if it has a puzzle table, the embedding file (default: OUT.emb).

    Both are written to temporary files beside their targets and renamed only when both are complete, so a failure
    (say an unwritable embedding path) leaves neither, and the previous pair stays. The embedding file is renamed
    first and the blob, which names the embedding file's data CRC, last: a kill between the two renames leaves a
    pair that `check_embedding_pair` and the C runtime refuse, never one that runs with another export's rows.
    Returns {"blob": (path, bytes)} plus {"embeddings": (path, bytes)} when a table was written.
    """
    out = Path(out)
    arrays = blob_arrays(model_weights(model))
    table = puzzle_table(model)
    emb_path = embedding_path(out, emb_out)
    fields = header_fields(model.config, recipe_name)
    # the inner block (the embedding file) is renamed into place before the outer one (the blob)
    with atomic_path(out) as blob_tmp, (atomic_path(emb_path) if table is not None else nullcontext()) as emb_tmp:
        if table is not None:
            emb_bytes = save_table(emb_tmp, table[0], table[1])
            fields["emb_crc32"] = EmbeddingFile(emb_tmp).data_crc
        written = {"blob": (out, write_blob(blob_tmp, fields, arrays))}
    if table is not None:
        written["embeddings"] = (emb_path, emb_bytes)
    return written


def embedding_dtype(model: nn.Module, recipe: QuantRecipe | None = None) -> str | None:
    """The row dtype of the model's puzzle-embedding file (None without a table), as `export` would write it."""
    if getattr(model, PUZZLE_EMB, None) is None:
        return None
    if recipe is not None:
        spec = next(a.spec for a in resolve_recipe(model, recipe) if a.name == PUZZLE_EMB)
        return "bf16" if spec is not None and spec.is_float else "f32"
    return "bf16" if isinstance(getattr(model, PUZZLE_EMB), Bf16Embedding) else "f32"
