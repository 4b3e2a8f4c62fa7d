"""The label-free search of `redge autocompress`: per-module sensitivity, a greedy climb in bytes, depth and cycles
under a latency budget, the best candidate by the selection rule among those that fit.

1. The FP32 reference on the unlabelled inputs, once (`trajectory.reference`).
2. Sensitivity: each unit alone compressed by each menu spec (the rest fp32), scored on the first
   `sensitivity_puzzles` puzzles at full depth: drop = 1 - fidelity. Per unit this gives a ladder: the specs in
   order of bytes, each kept only if it drops less than every cheaper one.
3. Start at the bottom of every ladder (the fewest bytes; nothing fits if this does not) and climb: each round takes
   the upgrade (one unit to any higher rung of its ladder) with the largest drop saved per byte added whose recipe
   still fits the target (the plan: flash and RAM; `max_bytes`: the blob) and scores it on all inputs. The uniform
   presets that fit are scored too.
4. With a latency budget (the target's instruction model, `deploy.latency`), the best recipes run at the depth that
   fits the budget, at the checkpoint's inner cycles and a few cheaper ones (T, n); fidelity then compares the
   shipped state with the FP32 state at full depth.
5. The chosen variant: the highest score by the selection rule among the candidates that fit (ties: fewer bytes):
   `fidelity` (closest carry to FP32's), `self-assessed` (the most answers the model's own halting
   rule judges done, then fidelity) or `checked` (the most answers that pass the task's own answer check, then
   fidelity; Sudoku and Maze, not ARC). Fidelity cannot see a variant that solves more than FP32 and the halting
   head of a weak model is a poor judge; the answer check measures solved puzzles, but on the search inputs only
   (a small sample: its noise can reorder close variants). `auto` (the default) is `checked` where the inputs'
   task has an answer check and `fidelity` otherwise (ARC). The top three are kept for `--verify`.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from redge.auto import space, trajectory
from redge.core.errors import RedgeInputError, check_range
from redge.core.jsonio import read_json, write_json
from redge.deploy.latency import estimate
from redge.deploy.pack import blob_entries, model_weights
from redge.deploy.plan import plan_config
from redge.deploy.targets import Target, load_target
from redge.models import RecursiveReasoner, build_model
from redge.quant.spec import PRESETS, QuantRecipe
from redge.study.evaluate import check_compatible
from redge.study.store import checkpoint_hash, digest, hash_files
from redge.study.sweep import Variant, build_variant_model
from redge.tasks.registry import answer_check

PRESET_CANDIDATES = ("int8", "int4-channel-cal", "int4-channel", "int4-g32", "int4-g128", "int4-naive", "w8a8",
                     "w4a8")
SIGNALS = {"fidelity": "fidelity_by_depth", "self-assessed": "self_assessed_by_depth", "checked": "checked_by_depth"}
# --select: the score (per depth) that ranks the candidates; auto: checked where the inputs' task has an answer
# check, fidelity otherwise
SELECTION_RULES = ("auto", *SIGNALS)
FIDELITY_ONLY = frozenset({"fidelity"})  # what the sensitivity pass reads of a score
ProgressFn = Callable[[str], None]


@dataclass(frozen=True)
class AutoSpec:
    """What to search: a checkpoint for a target on unlabelled inputs, with optional latency and byte budgets."""

    checkpoint: Path
    target: str | Path
    data: Path
    split: str = "test"
    limit: int | None = None
    depth: int | None = None  # deepest ACT depth (default: the checkpoint's halt_max_steps)
    budget_ms: float | str | None = None  # per puzzle (high end of the estimate): ms, PRESET or FRACTION*PRESET
    max_bytes: str | None = None  # blob bytes at most: a number or a preset name (its blob on this model)
    methods: tuple[str, ...] = ("minmax", "mse")
    group_sizes: tuple[int, ...] = space.GROUP_SIZES
    batch_size: int = 256
    sensitivity_puzzles: int = 256
    max_candidates: int = 24  # greedy rounds
    guard: float = 0.999
    calib_batches: int = 4
    cache: Path | None = None
    select: str = "auto"  # SELECTION_RULES: what ranks the candidates that fit


@dataclass(eq=False)
class Candidate:
    """One scored variant: recipe, cycles, depth, what the plan says and the label-free score."""

    label: str
    kind: str  # start, greedy, preset, depth
    recipe: QuantRecipe
    H_cycles: int
    L_cycles: int
    depth: int
    assess: dict[str, Any]
    score: dict[str, Any] = field(default_factory=dict)

    @property
    def fidelity(self) -> float:
        """Fidelity at the candidate's depth."""
        return self.signal("fidelity")

    def signal(self, rule: str) -> float | None:
        """The score selection rule `rule` ranks by, at the candidate's depth (None: the task has no answer check)."""
        by_depth = self.score[SIGNALS[rule]]
        return None if by_depth is None else by_depth[self.depth - 1]

    @property
    def self_assessed(self) -> float:
        """Fraction of puzzles whose halting rule judges the answer done at the candidate's depth."""
        return self.signal("self-assessed")

    @property
    def checked(self) -> float | None:
        """Fraction of puzzles whose answer passes the task's answer check at the candidate's depth."""
        return self.signal("checked")

    def rank_key(self, select: str) -> tuple[float, ...]:
        """Sort key of the selection rule `select` (best first): its signal, then fidelity; ties go to fewer
        bytes."""
        first = (-self.signal(select),) if select != "fidelity" else ()
        return (*first, -self.fidelity, self.assess["blob_bytes"])

    def summary(self) -> dict[str, Any]:
        """Plain data for search.json."""
        a, s = self.assess, self.score
        return {"label": self.label, "kind": self.kind, "recipe": self.recipe.name, "H_cycles": self.H_cycles,
                "L_cycles": self.L_cycles, "depth": self.depth, "fits": a["fits"], "blob_bytes": a["blob_bytes"],
                "flash_bytes": a["flash_bytes"], "ram_bytes": a["ram_bytes"], "latency_ms": a["latency_ms"],
                "fidelity": self.fidelity, "agreement": s["agreement_by_depth"][self.depth - 1],
                "self_assessed": self.self_assessed, "checked": self.checked,
                "assignment": describe_assignment(self.recipe)}


def describe_assignment(recipe: QuantRecipe) -> dict[str, str]:
    """Pattern -> spec label of a recipe's rules."""
    return {r.pattern: "fp32" if r.spec is None else r.spec.describe() for r in recipe.rules}


def read_cache(path: Path | None) -> dict[str, Any]:
    """The scores a `--cache` file holds by key (none without a file); writers put back the whole dict they read."""
    return read_json(path, dict, "cache") if path is not None and path.is_file() else {}


class Evaluator:
    """Builds and scores variants against one reference; counts them and caches scores in an optional JSON file.

    `tried` counts every variant the search asked for, `scored_here` those this run built and scored, and
    `from_cache` the distinct ones whose score the cache file already held (e.g. left by a search interrupted on
    another machine), so the cost it reports is honest. A cached score that lacks a measure the caller needs (one
    written before that measure existed) is scored again; the sensitivity pass needs fidelity only.
    """

    def __init__(self, model: RecursiveReasoner, calib: list, cache: Path | None, key_base: dict[str, Any],
                 guard: float) -> None:
        self.model, self.calib, self.cache, self.key_base, self.guard = model, calib, cache, key_base, guard
        self.tried = 0
        self.memo = read_cache(cache)
        self.preloaded, self.cache_hits = set(self.memo), set()

    @property
    def scored_here(self) -> int:
        """Variants this run built and scored: every score it added to the memo."""
        return len(self.memo) - len(self.preloaded)

    def __call__(self, recipe: QuantRecipe, T: int, n: int, depth: int, ref: trajectory.Reference,
                 needs: frozenset[str] = trajectory.SCORE_KEYS) -> dict[str, Any]:
        key = digest({**self.key_base, "recipe": recipe.to_dict(), "T": T, "n": n, "depth": depth,
                      "puzzles": ref.puzzles, "guard": self.guard})
        self.tried += 1
        if key in self.memo and not needs <= self.memo[key].keys():
            del self.memo[key]
            self.preloaded.discard(key)
        if key in self.preloaded:
            self.cache_hits.add(key)
        if key not in self.memo:
            vmodel = build_variant_model(self.model, Variant(recipe, T, n), self.calib)
            self.memo[key] = trajectory.score(vmodel, ref, T, n, depth, self.guard)
            del vmodel
            if self.cache is not None:
                write_json(self.cache, self.memo)
        return self.memo[key]


class Assessor:
    """The plan (fits, flash, RAM, blob bytes) and the latency estimate of a recipe at (T, n, depth), memoised."""

    def __init__(self, model: RecursiveReasoner, target: Target, source: Path) -> None:
        self.config, self.target, self.source = model.config, target, source
        with torch.device("meta"):
            self.meta = build_model(model.config)
        self.memo: dict[str, dict[str, Any]] = {}

    def __call__(self, recipe: QuantRecipe, T: int, n: int, depth: int) -> dict[str, Any]:
        key = digest({"recipe": recipe.to_dict(), "T": T, "n": n, "depth": depth})
        if key not in self.memo:
            config = self.config.replace(H_cycles=T, L_cycles=n, halt_max_steps=depth)
            plan = plan_config(config, recipe, self.target, source=self.source)
            entries = blob_entries(model_weights(self.meta, recipe, with_values=False))
            lat = estimate(config, entries, self.target, plan, depth)
            self.memo[key] = {"fits": plan["fits"], "blob_bytes": plan["flash"]["blob"]["total"],
                              "flash_bytes": plan["flash"]["total"], "ram_bytes": plan["ram"]["total"],
                              "latency": lat, "latency_ms": None if lat is None else lat["per_puzzle_ms"][1],
                              "step_ms": None if lat is None else lat["per_step_ms"][1], "plan": plan}
        return self.memo[key]


def resolve_max_bytes(value: str | None, assess: Assessor, T: int, n: int, depth: int) -> int | None:
    """`--max-bytes`: a number of blob bytes, or a preset whose blob on this model sets the cap."""
    if value is None:
        return None
    if str(value) in PRESETS:
        return assess(PRESETS[str(value)], T, n, depth)["blob_bytes"]
    try:
        out = int(value)
    except ValueError:
        raise RedgeInputError(f"--max-bytes must be a number of bytes or a preset ({', '.join(PRESETS)}), "
                              f"got {value!r}") from None
    check_range("--max-bytes", out, 1)
    return out


def resolve_budget_ms(value: float | str | None, assess: Assessor, T: int, n: int, depth: int) -> float | None:
    """`--budget-ms`: milliseconds per puzzle, or a preset's estimate on this model at full depth (`int8`), or a
    fraction of it (`0.5*int8`: half of int8's latency), so that a budget can be stated relative to a baseline."""
    if value is None:
        return None
    text = str(value).strip()
    fraction, _, preset = text.rpartition("*") if "*" in text else ("1", "", text)
    number = _float_or_none(fraction if preset in PRESETS else text)
    if number is None:
        raise RedgeInputError(f"--budget-ms must be milliseconds, a preset or FRACTION*PRESET (e.g. 0.5*int8; "
                              f"presets: {', '.join(PRESETS)}), got {value!r}")
    if preset in PRESETS:
        check_range("--budget-ms fraction", number, 1e-6)
        return number * assess(PRESETS[preset], T, n, depth)["latency_ms"]
    check_range("--budget-ms", number, 0.001)
    return number


def _float_or_none(text: str) -> float | None:
    """`text` as a float, or None when it is not a number."""
    try:
        return float(text)
    except ValueError:
        return None


def ladders(units: list[str], options: list[space.Option], nbytes: dict[str, dict[str, int]],
            drops: dict[str, dict[str, float]]) -> dict[str, list[space.Option]]:
    """Per unit, the menu in order of bytes keeping only specs that drop less than every cheaper one."""
    out = {}
    for u in units:
        ladder: list[space.Option] = []
        for opt in sorted(options, key=lambda o: (nbytes[o.label][u], drops[u][o.label])):
            if not ladder or drops[u][opt.label] < drops[u][ladder[-1].label]:
                ladder.append(opt)
        out[u] = ladder
    return out


def depth_within(assess: Assessor, recipe: QuantRecipe, T: int, n: int, depth: int, budget_ms: float) -> int:
    """The deepest depth, at most `depth`, whose per-puzzle latency estimate with inner cycles (T, n) stays within
    `budget_ms` (0 when not even one step does)."""
    d = min(depth, int(budget_ms // assess(recipe, T, n, 1)["step_ms"]))
    while d >= 1 and assess(recipe, T, n, d)["latency_ms"] > budget_ms:
        d -= 1
    return max(d, 0)


def cycle_options(T0: int, n0: int) -> list[tuple[int, int]]:
    """The checkpoint's (T, n) and a few cheaper inner-cycle settings tried under a latency budget."""
    options = [(T0, n0), (T0, max(1, n0 - 2)), (T0, max(1, n0 // 2)), (max(1, T0 - 1), n0)]
    return list(dict.fromkeys(options))


@dataclass
class Outcome:
    """What the search found (`result`: plain data but for the Candidates) and what writing its outputs needs."""

    result: dict[str, Any]
    model: RecursiveReasoner
    calib: list
    target: Target
    assess: Assessor


def run_search(spec: AutoSpec, device: torch.device, progress: ProgressFn | None = None) -> Outcome:
    """Run the whole search (module docstring): the chosen candidate, the top three, every candidate, the
    sensitivities, the space and what the search cost."""
    from redge.quant import load_checkpoint

    start = time.perf_counter()
    if spec.select not in SELECTION_RULES:  # before the checkpoint loads
        raise RedgeInputError(f"--select must be one of {', '.join(SELECTION_RULES)}, got {spec.select!r}")
    say = progress or (lambda _: None)
    target = load_target(spec.target)
    model = load_checkpoint(spec.checkpoint).eval().to(device)
    cfg = model.config
    T0, n0 = cfg.H_cycles, cfg.L_cycles
    depth = spec.depth or cfg.halt_max_steps
    check_range("--depths", depth, 1, target.runtime.max_steps, "the runtime's max_steps")
    check_range("--sensitivity-puzzles", spec.sensitivity_puzzles, 1)
    split, batches = trajectory.load_inputs(spec.data, spec.split, spec.limit, spec.batch_size)
    check_compatible(model, split, spec.checkpoint)
    check = answer_check(split.metadata)
    select = spec.select if spec.select != "auto" else "checked" if check is not None else "fidelity"
    if select == "checked" and check is None:
        raise RedgeInputError("--select checked: the inputs' task has no label-free answer check (Sudoku and Maze "
                              "have one; an ARC output cannot be checked without its label)", split.path)
    units = space.search_units(model)
    options = space.menu(target, spec.methods, spec.group_sizes)
    if spec.budget_ms is not None and (target.cycle_model is None or not target.cycle_model.instructions_per_mac):
        raise RedgeInputError(f"--budget-ms: target {target.name!r} has no instruction model "
                              "(cycle_model.instructions_per_mac in its YAML)", target.source or None)
    assess = Assessor(model, target, spec.checkpoint)
    cap = resolve_max_bytes(spec.max_bytes, assess, T0, n0, depth)
    budget_ms = resolve_budget_ms(spec.budget_ms, assess, T0, n0, depth)
    asked = {"max_bytes": spec.max_bytes, "budget_ms": spec.budget_ms}  # as given: a preset names the baseline

    def fits(a: dict[str, Any]) -> bool:
        return a["fits"] and (cap is None or a["blob_bytes"] <= cap)


    nbytes = space.unit_bytes(model, units, options)
    cheapest = space.make_recipe(f"auto-{target.name}", {u: min(options, key=lambda o: nbytes[o.label][u]).spec
                                                        for u in units})
    smallest_assess = assess(cheapest, T0, n0, depth)
    smallest = {"recipe": describe_assignment(cheapest), "blob_bytes": smallest_assess["blob_bytes"],
                "why_not": smallest_assess["plan"]["why_not"]}
    if not fits(smallest_assess):  # the fewest bytes the menu allows: nothing else can fit
        return Outcome({"checkpoint": str(spec.checkpoint), "target": target.name, "fits": False, "chosen": None,
                        "top": [], "candidates": [], "smallest": smallest, "max_bytes": cap,
                        "budget_ms": budget_ms, "asked": asked,
                        "cost": {"variants_tried": 0, "candidates_scored": 0, "device": str(device),
                                 "minutes": (time.perf_counter() - start) / 60}}, model, [], target, assess)

    say(f"reference: FP32, {sum(len(b['inputs']) for b in batches)} puzzles x {depth} steps")
    ref = trajectory.reference(model, batches, depth, device, check)
    calib = ref.batches[:spec.calib_batches] if "gptq" in spec.methods else []
    inputs_hash = digest([hash_files(split.path / f"all__{k}.npy") for k in ("inputs", "puzzle_identifiers")])
    cache_key = {"checkpoint": checkpoint_hash(spec.checkpoint), "inputs": inputs_hash}
    evaluate = Evaluator(model, calib, spec.cache, cache_key, spec.guard)

    # 2. sensitivity
    sub = ref.subset(spec.sensitivity_puzzles)
    drops: dict[str, dict[str, float]] = {u: {} for u in units}
    for i, u in enumerate(units):
        say(f"sensitivity {i + 1}/{len(units)}: {u}")
        for opt in options:
            if opt.spec is None:
                drops[u][opt.label] = 0.0
                continue
            solo = space.make_recipe("solo", {v: opt.spec if v == u else None for v in units})
            drops[u][opt.label] = 1.0 - evaluate(solo, T0, n0, depth, sub, needs=FIDELITY_ONLY)["fidelity"]
    ladder = ladders(units, options, nbytes, drops)
    sensitivity = sorted(units, key=lambda u: -drops[u][ladder[u][0].label])

    # 3. start, greedy, presets
    candidates: list[Candidate] = []

    def add(label: str, kind: str, recipe: QuantRecipe, T: int, n: int, d: int, a: dict[str, Any]) -> Candidate:
        c = Candidate(label, kind, recipe, T, n, d, a, evaluate(recipe, T, n, d, ref))
        candidates.append(c)
        say(f"candidate {len(candidates)} ({kind}): fidelity {c.fidelity:.4f}, blob {a['blob_bytes']:,} B")
        return c

    name = f"auto-{target.name}"
    level = {u: 0 for u in units}

    def recipe_at(levels: dict[str, int]) -> QuantRecipe:  # its text is part of the cache keys: keep it stable
        return space.make_recipe(name, {u: ladder[u][levels[u]].spec for u in units},
                                 f"redge autocompress for {target.name}: per-module specs chosen by carry fidelity")

    start_recipe = recipe_at(level)
    start_assess = assess(start_recipe, T0, n0, depth)
    if fits(start_assess):
        add("start", "start", start_recipe, T0, n0, depth, start_assess)
        for round_ in range(spec.max_candidates):
            upgrades = []  # any higher rung of a ladder, so a large gain is not hidden behind a small first step
            for u in units:
                cur = ladder[u][level[u]].label
                for up in range(level[u] + 1, len(ladder[u])):
                    nxt = ladder[u][up].label
                    gain = drops[u][cur] - drops[u][nxt]
                    upgrades.append((gain / max(nbytes[nxt][u] - nbytes[cur][u], 1), u, up))
            chosen = None
            for _, u, up in sorted(upgrades, reverse=True):
                trial = {**level, u: up}
                a = assess(recipe_at(trial), T0, n0, depth)
                if fits(a):
                    chosen = (u, trial, a)
                    break
            if chosen is None:
                break
            u, level, a = chosen
            add(f"greedy {round_ + 1}: {u} -> {ladder[u][level[u]].label}", "greedy", recipe_at(level), T0, n0,
                depth, a)
    for preset in PRESET_CANDIDATES:
        try:
            a = assess(PRESETS[preset], T0, n0, depth)
        except RedgeInputError:  # the target's runtime rejects it
            continue
        if fits(a):
            add(f"preset {preset}", "preset", PRESETS[preset], T0, n0, depth, a)

    # 4. latency budget: depth and cycles
    if budget_ms is not None:
        full = list(candidates)
        ranked = sorted(full, key=lambda c: c.rank_key(select))[:3] + [c for c in full if c.kind == "start"]
        for c in {id(c): c for c in ranked}.values():
            for T, n in cycle_options(T0, n0):
                d = depth_within(assess, c.recipe, T, n, depth, budget_ms)
                if d < 1 or ((T, n) == (T0, n0) and d == depth):
                    continue
                a = assess(c.recipe, T, n, d)
                if not fits(a):
                    continue
                if (T, n) == (T0, n0):  # the full-depth pass already scored every shallower depth
                    candidates.append(Candidate(f"{c.label} @ depth {d}", "depth", c.recipe, T, n, d, a, c.score))
                else:
                    add(f"{c.label} @ T{T} n{n} depth {d}", "depth", c.recipe, T, n, d, a)
        candidates = [c for c in candidates if c.assess["latency_ms"] <= budget_ms]

    ranked = sorted(candidates, key=lambda c: c.rank_key(select))
    minutes = (time.perf_counter() - start) / 60
    return Outcome({
        "checkpoint": str(spec.checkpoint), "target": target.name, "data": str(spec.data), "split": spec.split,
        "puzzles": ref.puzzles, "sensitivity_puzzles": sub.puzzles, "depth": depth, "cycles": [T0, n0],
        "budget_ms": budget_ms, "max_bytes": cap, "asked": asked, "select": select,
        "fits": bool(ranked),
        "chosen": ranked[0] if ranked else None, "top": ranked[:3], "candidates": candidates,
        "smallest": smallest, "units": units, "options": [o.label for o in options],
        "sensitivity": {"order": sensitivity, "drop": drops,
                        "ladders": {u: [o.label for o in ladder[u]] for u in units}},
        "cost": {"variants_tried": evaluate.tried, "variants_scored_here": evaluate.scored_here,
                 "variants_from_cache": len(evaluate.cache_hits),
                 "candidates_scored": len(candidates), "minutes": minutes, "device": str(device)},
    }, model, calib, target, assess)
