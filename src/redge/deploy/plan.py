"""The memory plan: flash and RAM bytes of a model + recipe on a target, placed into its regions, fits or not.

Flash: the blob (exactly the bytes `redge export` writes: weights, scales, zero points, header, table, alignment),
the puzzle-embedding file, and a code estimate (the target's `code_bytes`). RAM: the weights when the target runs
them from RAM (a copy of the blob), the activation arena of one block planned as TFLite Micro does
(`schedule.plan_block`), and the runtime state: carry z_H and z_L, the input embedding x, the puzzle-embedding rows
in use (batch 1), outputs (predicted token per position + Q logits), scratch (fp32 kernel sums of the widest
linear and one fp32 softmax row) and the stack.

Schedule: the untiled block if everything fits, otherwise the largest token tile (256 ... 8 rows) that fits. The
tiled schedule is always reported beside the untiled one for long sequences, with its cost: weight bytes read per
ACT step (compute is unchanged). Placement: every item goes to one of its candidate regions (target `place`); the
first combination in preference order that fits wins; if none fits, the plan reports the closest one and, per
overflowing region, what is short.

Before any of that, the plan refuses (one-line RedgeInputError naming why) a model + recipe that the target's C
runtime would reject (`compat.check_runtime`): a plan that says FITS is a blob the runtime loads.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from redge.core.errors import RedgeInputError
from redge.deploy.blob import (
    DTYPE_CODES,
    DTYPES,
    ENTRY_SIZE,
    HEADER_SIZE,
    TensorMeta,
    blob_size,
)
from redge.deploy.compat import check_runtime
from redge.deploy.embeddings import embedding_file_size
from redge.deploy.schedule import ACT_FORMATS, ActFormat, BlockShape, plan_block
from redge.deploy.targets import IN_PLACE, ITEMS, Target, load_target
from redge.models.config import ModelConfig
from redge.models.layers import swiglu_intermediate
from redge.quant.spec import QuantRecipe, load_recipe

TILES = (256, 128, 64, 32, 16, 8)
LONG_SEQUENCE = 256  # from this many positions on, the tiled schedule is reported even when untiled fits
REPORT_TILE = 64  # the tile reported then
_PLACE_ORDER = ("weights", "arena", "state", "image", "code", "embeddings")


@dataclass(frozen=True)
class PlanRequest:
    """Everything the plan needs: model config, blob entries, embedding file dtype, target, formats, tile."""

    config: ModelConfig
    entries: tuple[TensorMeta, ...]
    embedding_dtype: str | None
    target: Target
    recipe: str
    act: ActFormat
    carry: ActFormat
    tile: int | None = None  # force this tile (rows); None: choose


def default_act(entries: tuple[TensorMeta, ...]) -> str:
    """Activation format a runtime would use: int8 per token with integer weights, else the weights' float type."""
    bits = {e.bits for e in entries if e.role == "tensor"}
    if any(b <= 8 for b in bits):
        return "int8"
    return "bf16" if 16 in bits else "fp32"


def block_shape(config: ModelConfig) -> BlockShape:
    """Dimensions of one block of this model."""
    seq = config.total_seq_len
    token_inter = swiglu_intermediate(seq, config.expansion) if config.mlp_t else None
    return BlockShape(seq, config.hidden_size, config.num_heads, swiglu_intermediate(config.hidden_size,
                                                                                     config.expansion), token_inter)


def block_calls(config: ModelConfig) -> dict[str, int]:
    """Module calls per ACT step by level (TRM: T(n+1) calls of L_level; HRM: T*n L_level + T H_level)."""
    if config.arch == "trm":
        return {"L_level": config.H_cycles * (config.L_cycles + 1)}
    return {"L_level": config.H_cycles * config.L_cycles, "H_level": config.H_cycles}


def weight_traffic(req: PlanRequest, tile: int | None) -> int:
    """Weight bytes read per ACT step: each level's weights once per module call (per tile for tiled ops), heads once.

    Tiled: the K/V two thirds of `qkv_proj` are read once per block, everything else of the block once per tile
    (token tiles of S positions; mlp_t weights once per tile of D channel rows).
    """
    shape = block_shape(req.config)
    token_tiles = 1 if tile is None else -(shape.seq // -tile)
    channel_tiles = 1 if tile is None else -(shape.hidden // -tile)
    calls = block_calls(req.config)
    total = 0
    for e in req.entries:
        level = e.name.split(".", 1)[0]
        if level not in calls:
            total += e.nbytes
        elif "self_attn.qkv_proj" in e.name:
            total += calls[level] * round(e.nbytes * (2 + token_tiles) / 3)
        else:
            total += calls[level] * e.nbytes * (channel_tiles if ".mlp_t." in e.name else token_tiles)
    return total


def state_bytes(req: PlanRequest) -> dict[str, int]:
    """The runtime's persistent RAM besides the arena and the weights (see the module docstring)."""
    c = req.config
    s, d = c.total_seq_len, c.hidden_size
    row = 0 if req.embedding_dtype is None else c.puzzle_emb_ndim * DTYPES[DTYPE_CODES[req.embedding_dtype]][1]
    widest = max((e.shape[0] for e in req.entries if e.role == "tensor" and len(e.shape) == 2), default=0)
    return {"carry": 2 * req.carry.bytes(s, d), "input_embedding": req.act.bytes(s, d), "puzzle_rows": row,
            "outputs": (c.seq_len or 0) + 8, "scratch": 4 * widest + 4 * s, "stack": req.target.stack_bytes}


def blob_breakdown(entries: tuple[TensorMeta, ...]) -> dict[str, int]:
    """Blob bytes by kind: weights (codes and float tensors), scales, zero points, header + table, alignment padding."""
    by_role = {role: sum(e.nbytes for e in entries if e.role == role) for role in ("tensor", "scale", "zero")}
    total = blob_size(entries)
    header = HEADER_SIZE + ENTRY_SIZE * len(entries)
    return {"weights": by_role["tensor"], "scales": by_role["scale"], "zero_points": by_role["zero"],
            "header_and_table": header, "padding": total - header - sum(by_role.values()), "total": total}


def _place(sizes: dict[str, int], target: Target) -> tuple[dict[str, str], dict[str, int], int]:
    """First placement in preference order that fits, else the one with the least overflow: (where, used, over)."""
    avail = {r.name: r.available for r in target.regions}
    best: tuple[int, dict[str, str], dict[str, int]] | None = None
    for combo in itertools.product(*(target.place[item] for item in _PLACE_ORDER)):
        where = dict(zip(_PLACE_ORDER, combo))
        used = dict.fromkeys(avail, 0)
        for item, region in where.items():
            if region == IN_PLACE:
                where[item] = f"{IN_PLACE}:{where['image']}"
                continue
            used[region] += sizes[item]
        over = sum(max(0, used[r] - avail[r]) for r in avail)
        if best is None or over < best[0]:
            best = (over, where, used)
        if over == 0:
            break
    over, where, used = best
    return {item: where[item] for item in ITEMS}, used, over


def _schedule(req: PlanRequest, tile: int | None) -> dict[str, Any]:
    arena = plan_block(block_shape(req.config), req.act, tile)
    return {"tile": tile, "arena_bytes": arena.size, "arena_peak_live_bytes": arena.peak_live,
            "weight_bytes_per_act_step": weight_traffic(req, tile), "arena": arena}


def _item_sizes(req: PlanRequest, blob: int, emb: int, arena: int, state: int) -> dict[str, int]:
    return {"image": blob, "code": req.target.code_bytes, "embeddings": emb, "weights": blob, "arena": arena,
            "state": state}


def make_plan(req: PlanRequest) -> dict[str, Any]:
    """The full plan as one JSON-able dict (see the module docstring for what is counted and how it is placed)."""
    c, target = req.config, req.target
    blob = blob_breakdown(req.entries)
    emb = embedding_file_size(c.num_puzzle_identifiers, c.puzzle_emb_ndim, req.embedding_dtype) \
        if req.embedding_dtype is not None else 0
    state = state_bytes(req)
    seq = c.total_seq_len
    tiles = [req.tile] if req.tile is not None else [None] + [t for t in TILES if t < seq]
    chosen, fallback = None, None
    for tile in tiles:
        sched = _schedule(req, tile)
        where, used, over = _place(_item_sizes(req, blob["total"], emb, sched["arena_bytes"], sum(state.values())),
                                   target)
        if fallback is None or over < fallback[3]:
            fallback = (sched, where, used, over)
        if over == 0:
            chosen = (sched, where, used, over)
            break
    sched, where, used, over = chosen or fallback
    sizes = _item_sizes(req, blob["total"], emb, sched["arena_bytes"], sum(state.values()))
    schedules = {"untiled": _schedule(req, None) if sched["tile"] is not None else sched}
    if sched["tile"] is not None:
        schedules["tiled"] = sched
    elif seq >= LONG_SEQUENCE:
        schedules["tiled"] = _schedule(req, REPORT_TILE)
    regions = []
    for r in target.regions:
        items = {item: sizes[item] for item, reg in where.items() if reg == r.name}
        regions.append({"name": r.name, "kind": r.kind, "size": r.size, "reserved": r.reserved,
                        "available": r.available, "used": used[r.name], "free": r.available - used[r.name],
                        "items": items, "note": r.note})
    return _assemble(req, blob, emb, state, sched, schedules, where, regions, over == 0)


def _assemble(req: PlanRequest, blob: dict[str, int], emb: int, state: dict[str, int], sched: dict[str, Any],
              schedules: dict[str, dict[str, Any]], where: dict[str, str], regions: list[dict[str, Any]],
              fits: bool) -> dict[str, Any]:
    c = req.config
    weights_in_ram = not where["weights"].startswith(IN_PLACE)
    holding = [r for r in regions if r["items"]]
    tight = min(holding, key=lambda r: r["free"] / max(r["available"], 1))
    why_not = [f"{r['name']} ({r['kind']}): needs {r['used']:,} B ("
               + ", ".join(f"{k} {v:,}" for k, v in r["items"].items() if v) +
               f") but has {r['available']:,} B available: short by {r['used'] - r['available']:,} B"
               for r in regions if r["free"] < 0]
    public = {name: {k: v for k, v in s.items() if k != "arena"} for name, s in schedules.items()}
    for name, s in schedules.items():
        public[name]["buffers"] = s["arena"].to_dict()["buffers"]
    return {
        "model": {"arch": c.arch, "mlp_t": c.mlp_t, "seq_len": c.seq_len, "positions": c.total_seq_len,
                  "hidden_size": c.hidden_size, "num_puzzle_identifiers": c.num_puzzle_identifiers},
        "recipe": req.recipe, "target": {"name": req.target.name, "core": req.target.core,
                                         "clock_mhz": req.target.clock_mhz, "description": req.target.description},
        "formats": {"activations": req.act.name, "carry": req.carry.name},
        "flash": {"blob": blob, "embeddings": emb, "code_estimate": req.target.code_bytes,
                  "total": blob["total"] + emb + req.target.code_bytes},
        "ram": {"weights": blob["total"] if weights_in_ram else 0, "arena": sched["arena_bytes"], "state": state,
                "total": (blob["total"] if weights_in_ram else 0) + sched["arena_bytes"] + sum(state.values())},
        "schedule": "untiled" if sched["tile"] is None else f"tiled ({sched['tile']} rows per tile)",
        "schedules": public, "placement": where, "regions": regions, "fits": fits,
        "margin_bytes": tight["free"], "margin_region": tight["name"],
        "margin_fraction": round(tight["free"] / max(tight["available"], 1), 4), "why_not": why_not,
    }


def request(config: ModelConfig, entries: list[TensorMeta], embedding_dtype: str | None, target: Target,
            recipe: str, act: str | None = None, carry: str | None = None, tile: int | None = None) -> PlanRequest:
    """Build a PlanRequest, defaulting the activation format from the weights and the carry to the activations."""
    entries = tuple(entries)
    act_name = act or default_act(entries)
    return PlanRequest(config, entries, embedding_dtype, target, recipe, ACT_FORMATS[act_name],
                       ACT_FORMATS[carry or act_name], tile)


def _check_options(act: str | None, carry: str | None, tile: int | None) -> None:
    for name, value in (("--act", act), ("--carry", carry)):
        if value is not None and value not in ACT_FORMATS:
            raise RedgeInputError(f"{name} must be one of {', '.join(ACT_FORMATS)}, got {value!r}")
    if tile is not None and tile < 1:
        raise RedgeInputError(f"--tile must be a positive number of rows, got {tile}")


def plan_config(config: ModelConfig, recipe: str | Path | QuantRecipe, target: str | Path | Target,
                act: str | None = None, carry: str | None = None, tile: int | None = None,
                source: str | Path | None = None) -> dict[str, Any]:
    """Plan a model config (built on the meta device: shapes only) with a recipe on a target (name, YAML or Target).

    `act`/`carry`: storage formats (ACT_FORMATS; default from the weights); `tile`: force a token tile of that many
    rows. Refuses (RedgeInputError, naming `source`: the checkpoint) what the target's C runtime would reject.
    """
    from redge.deploy.pack import blob_entries, embedding_dtype, model_weights
    from redge.models import build_model

    _check_options(act, carry, tile)
    quant_recipe = load_recipe(recipe)
    target = load_target(target)
    with torch.device("meta"):
        model = build_model(config)
    entries = blob_entries(model_weights(model, quant_recipe, with_values=False))
    check_runtime(config, entries, target, quant_recipe.name, source)
    return make_plan(request(config, entries, embedding_dtype(model, quant_recipe), target, quant_recipe.name,
                             act, carry, tile))


def plan_model(model: torch.nn.Module, recipe_name: str, target: str | Path | Target, act: str | None = None,
               carry: str | None = None, tile: int | None = None, source: str | Path | None = None) -> dict[str, Any]:
    """Plan an already-quantized model (e.g. a `redge quantize` checkpoint) as it is, with its own formats."""
    from redge.deploy.pack import blob_entries, embedding_dtype, model_weights

    _check_options(act, carry, tile)
    target = load_target(target)
    entries = blob_entries(model_weights(model, with_values=False))
    check_runtime(model.config, entries, target, recipe_name, source)
    return make_plan(request(model.config, entries, embedding_dtype(model), target, recipe_name, act, carry, tile))
