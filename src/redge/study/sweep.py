"""The sweep: recipes x inner cycles (T, n), every ACT depth 1..D from one forward pass per (recipe, T, n).

For each batch, the FP32 reference (the checkpoint at its own T, n) and every pending variant run side by side,
one ACT step at a time (`fidelity.lockstep`); after each step each variant's outputs are scored and its carry is
compared with the reference carry of the same step, so depths 1..D cost one D-step run and no trajectory is kept.
Each round of batches is written to the runs store in one transaction (`store.RunStore`); a re-run skips the
batches already there. Under `torchrun`, batch i goes to rank i mod world and rank 0 writes (`parallel`).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from redge.compress import CompressionConfig, compress_, load_method
from redge.core.device import describe_device
from redge.core.errors import RedgeInputError, check_range
from redge.core.ranks import Ranks, join
from redge.models import Batch, RecursiveReasoner
from redge.quant import load_checkpoint
from redge.study import evaluate
from redge.study.fidelity import carry_cosines, lockstep
from redge.study.flops import flop_count
from redge.study.memory import carry_bytes, weight_bytes
from redge.study.parallel import broadcast, gather, sweep_device
from redge.study.records import BatchRecord, StepRecorder
from redge.study.store import RunStore, checkpoint_hash, digest, hash_files, run_key
from redge.tasks import registry
from redge.tasks.format import PuzzleSplit, load_split
from redge.tasks.loader import iter_eval_batches

DEFAULT_RECIPES = ("fp32", "int8", "int4-naive", "int4-channel-cal")


@dataclass(frozen=True)
class Variant:
    """One compressed model setting: a compression method (a quantization recipe, a pruning config, ...: see
    `redge.compress`) and the inner cycles (T, n) it runs with; depths come for free."""

    recipe: CompressionConfig
    H_cycles: int
    L_cycles: int

    @property
    def label(self) -> str:
        """Short name, e.g. `int8 T3 n6`."""
        return f"{self.recipe.name} T{self.H_cycles} n{self.L_cycles}"

    @property
    def compresses(self) -> bool:
        """False when the method leaves the model as it is (e.g. the fp32 recipe)."""
        return self.recipe.changes_model

    def describe(self) -> dict[str, Any]:
        """Plain data identifying the variant (part of the store key)."""
        return {"recipe": self.recipe.to_dict(), "H_cycles": self.H_cycles, "L_cycles": self.L_cycles}


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: one checkpoint on one data split, recipes x cycles, depths 1..depth."""

    checkpoint: Path
    data: Path
    split: str = "test"
    recipes: tuple[str, ...] = DEFAULT_RECIPES
    cycles: tuple[tuple[int | None, int | None], ...] = ((None, None),)
    depth: int = 16  # deepest ACT depth recorded (official evaluation: 16), whatever the checkpoint's halt_max_steps
    batch_size: int = 64
    limit: int | None = None  # first N examples of the split
    calib_batches: int = 4  # calibration: this many batches of the sweep's batch size ...
    calib_max_puzzles: int = 256  # ... and never more puzzles than this, whatever the batch size


@dataclass
class SweepData:
    """The loaded split and what identifies it: examples used, batch layout, task blank tokens, content hash."""

    split: PuzzleSplit
    examples: int
    batch_size: int
    blank_tokens: tuple[int, ...]
    hash: str
    calib: list[Batch] = field(default_factory=list)

    @property
    def n_batches(self) -> int:
        """Number of batches (the last one padded)."""
        return math.ceil(self.examples / self.batch_size)

    def batches(self) -> Iterator[tuple[int, Batch, int]]:
        """Yield (index, batch, real rows) over the selected examples, in order."""
        for i, (batch, n_real) in enumerate(iter_eval_batches(self.split, self.batch_size)):
            if i >= self.n_batches:
                return
            yield i, batch, min(n_real, self.examples - i * self.batch_size)


def load_data(spec: SweepSpec) -> SweepData:
    """Load the split, apply `limit`, pick `calib_batches` calibration batches of at most `calib_max_puzzles` puzzles
    in all (train split if present, else these inputs; labels dropped). Batches are never wider than the selection,
    so a small `--limit` with a large `--batch-size` does not run padding rows."""
    split = load_split(spec.data, spec.split)
    check_range("--batch-size", spec.batch_size, 1)
    check_range("--limit", spec.limit, 1)
    examples = split.num_examples if spec.limit is None else min(spec.limit, split.num_examples)
    if examples == 0:
        raise RedgeInputError("the split holds no examples", split.path)
    batch_size = min(spec.batch_size, examples)
    selection = {"split": spec.split, "examples": examples, "batch_size": batch_size,
                 "calib": [spec.calib_batches, spec.calib_max_puzzles]}
    data = SweepData(split, examples, batch_size, registry.blank_tokens(split.metadata),
                     digest({"files": hash_files(split.path), **selection}))
    calib_split = load_split(spec.data, "train") if (Path(spec.data) / "train").is_dir() else split
    taken = 0
    for batch, rows in iter_eval_batches(calib_split, min(batch_size, spec.calib_max_puzzles), pad=False):
        if len(data.calib) >= spec.calib_batches or taken >= spec.calib_max_puzzles:
            break
        data.calib.append({k: v for k, v in batch.items() if k != "labels"})
        taken += rows
    return data


def plan_variants(model: RecursiveReasoner, spec: SweepSpec) -> list[Variant]:
    """Recipes x cycles, with None cycles resolved to the checkpoint's own T and n."""
    recipes = [load_method(r) for r in spec.recipes]
    variants = []
    for T, n in spec.cycles:
        T = model.config.H_cycles if T is None else T
        n = model.config.L_cycles if n is None else n
        if T < 1 or n < 1:
            raise RedgeInputError(f"inner cycles must be >= 1, got T={T} n={n}")
        variants.extend(Variant(r, T, n) for r in recipes)
    if len({v.label for v in variants}) != len(variants):
        raise RedgeInputError("the same recipe and cycles are listed twice")
    return variants


def is_reference(model: RecursiveReasoner, variant: Variant) -> bool:
    """True when the variant is exactly the FP32 reference path (no quantization, the checkpoint's T and n)."""
    cfg = model.config
    return not variant.compresses and (variant.H_cycles, variant.L_cycles) == (cfg.H_cycles, cfg.L_cycles)


def build_variant_model(model: RecursiveReasoner, variant: Variant, calib: list[Batch]) -> RecursiveReasoner:
    """The variant's model: the checkpoint itself for fp32 recipes, else a compressed copy (`compress_`).

    Calibration batches are passed only to methods that need them (GPTQ), so the others cost no extra forward pass.
    """
    if not variant.compresses:
        return model
    compressed = copy.deepcopy(model)
    compress_(compressed, variant.recipe, calib=calib if variant.recipe.needs_calibration else None)
    return compressed.eval()


def record_batch(reference: RecursiveReasoner, entries: Sequence[tuple[RecursiveReasoner, int, int] | None],
                 batch: Batch, n_real: int, depth: int, blank_tokens: Sequence[int],
                 device: torch.device | str = "cpu") -> list[BatchRecord]:
    """Run the reference and each entry (model, T, n) on one batch for `depth` steps, scoring every step.

    An entry of None stands for the reference itself (scored from the reference outputs, not run twice).
    Returns one BatchRecord per entry.
    """
    recorders = [StepRecorder(batch, n_real, depth, blank_tokens) for _ in entries]
    on_device = {k: v.to(device) for k, v in batch.items()}
    running = [e for e in entries if e is not None]
    models = [reference] + [m for m, _, _ in running]
    cycles = [(None, None)] + [(T, n) for _, T, n in running]
    for d, steps in enumerate(lockstep(models, on_device, depth, cycles), start=1):
        ref_carry, ref_out = steps[0]
        ref_halts = reference.halts(ref_out).cpu()
        others = iter(steps[1:])
        for entry, recorder in zip(entries, recorders, strict=True):
            carry, out = steps[0] if entry is None else next(others)
            halts = ref_halts if entry is None else entry[0].halts(out).cpu()
            cos = {k: v.cpu() for k, v in carry_cosines(carry, ref_carry).items()}
            recorder.add(d, {k: v.cpu() for k, v in out.items()}, cos, halts, ref_halts)
    return [r.record for r in recorders]


def _variant_meta(spec: SweepSpec, data: SweepData, model: RecursiveReasoner, vmodel: RecursiveReasoner,
                  variant: Variant, depth: int, device: torch.device) -> dict[str, Any]:
    cfg = model.config
    seq_len = data.split.metadata.seq_len
    flops = flop_count(model, seq_len, depth, variant.H_cycles, variant.L_cycles)
    wb = weight_bytes(vmodel)
    return {
        "checkpoint": str(spec.checkpoint), "data": str(spec.data), "split": spec.split,
        "architecture": "HRM" if cfg.arch == "hrm" else ("TRM-MLP" if cfg.mlp_t else "TRM-Att"),
        "recipe": variant.recipe.name, "recipe_description": variant.recipe.description, "label": variant.label,
        "H_cycles": variant.H_cycles, "L_cycles": variant.L_cycles, "depth": depth,
        "reference": is_reference(model, variant), "ref_cycles": [cfg.H_cycles, cfg.L_cycles],
        "examples": data.examples, "batch_size": data.batch_size,
        "flops_per_step": flops.per_step, "flops_per_step_formula": flops.per_step_formula,
        "weight_bytes": wb["weights"], "puzzle_emb_bytes": wb["puzzle_emb"],
        "carry_bytes": carry_bytes(vmodel, seq_len),
        "calibration": ("train split" if (Path(spec.data) / "train").is_dir() else f"{spec.split} inputs")
        if variant.recipe.needs_calibration else "none",
        "measured_on": describe_device(device),
    }


ProgressFn = Callable[[int, int], None]  # (batches done, batches total)


def run_sweep(spec: SweepSpec, store_path: Path, ranks: Ranks | None = None,
              progress: ProgressFn | None = None) -> list[str]:
    """Run (or resume) the sweep; return the store keys of its variants, in plan order.

    Every rank must call this with the same spec; only rank 0 reads and writes the store.
    """
    ranks = ranks or join(sweep_device())
    model = load_checkpoint(spec.checkpoint).eval().to(ranks.device)
    depth = spec.depth
    check_range("--depths", depth, 1)
    data = load_data(spec)
    evaluate.check_compatible(model, data.split, spec.checkpoint)
    variants = plan_variants(model, spec)
    ckpt_hash = checkpoint_hash(spec.checkpoint)
    keys = [run_key(ckpt_hash, data.hash, {**v.describe(), "depth": depth}) for v in variants]

    done: dict[str, set[int]] = {}
    if ranks.main:
        with RunStore(store_path) as store:
            done = store.done_batches(keys)
    done = broadcast(ranks, done)
    pending = [i for i, k in enumerate(keys) if len(done[k]) < data.n_batches]
    calib = [{k: v.to(ranks.device) for k, v in b.items()} for b in data.calib]
    models = {i: build_variant_model(model, variants[i], calib) for i in pending}
    if ranks.main and pending:
        with RunStore(store_path) as store:
            for i in pending:
                meta = _variant_meta(spec, data, model, models[i], variants[i], depth, ranks.device)
                store.register(keys[i], ckpt_hash, data.hash, meta, data.n_batches)

    store = RunStore(store_path) if ranks.main else None
    try:
        mine: list[tuple[str, int, BatchRecord]] = []
        for b, batch, n_real in data.batches():
            todo = [i for i in pending if b not in done[keys[i]]]
            if b % ranks.world == ranks.rank and todo:
                entries = [None if is_reference(model, variants[i])
                           else (models[i], variants[i].H_cycles, variants[i].L_cycles) for i in todo]
                records = record_batch(model, entries, batch, n_real, depth, data.blank_tokens, ranks.device)
                mine.extend((keys[i], b, r) for i, r in zip(todo, records, strict=True))
            if b % ranks.world == ranks.world - 1 or b == data.n_batches - 1:
                gathered = gather(ranks, mine)
                mine = []
                if store is not None:
                    store.write_batches(row for part in gathered for row in part)
                if progress is not None and ranks.main:
                    progress(b + 1, data.n_batches)
    finally:
        if store is not None:
            store.close()
    return keys
