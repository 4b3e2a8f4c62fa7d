"""Schedule distillation for `redge autocompress --finetune-minutes`: when a latency budget cuts the checkpoint's
depth or inner cycles, fine-tune the model for a cheaper schedule instead, still without labels.

Post-training compression can only cut the work per puzzle by running fewer ACT steps or inner cycles than the model
was trained for, and a model still improving late in its recursion loses what those steps did. Here the model is
trained for a while at the richest inner cycles (T, n) at which a uniform preset runs the full depth within the
budget (`schedule_for_budget`), on its own full-schedule answers that pass the task's answer check
(`pseudo_labels`), taken from inputs after the search's own (so the search never scores a model on puzzles it was
fine-tuned on). The search then runs again on the fine-tuned weights with the same budget and byte cap in absolute
terms, and the better of the two choices by the selection rule wins; that needs a rule that compares two models
(the answer check or the halting rule): fidelity measures each against its own FP32 carry.

The fine-tune ships its raw or its EMA weights, whichever gives more answers that pass the check on the search's
inputs (a short fine-tune's EMA is mostly the starting weights; a long one's raw weights are noisy). It is kept in a
work folder with what it was made from (`finetune.json`); the same inputs reuse it.
"""
from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from redge.auto.pseudo_labels import model_answers, pseudo_label
from redge.auto.search import PRESET_CANDIDATES, AutoSpec, Outcome, ProgressFn, run_search
from redge.auto.trajectory import load_inputs
from redge.core.errors import RedgeInputError
from redge.core.jsonio import read_json, write_json
from redge.models.config import ModelConfig
from redge.quant.spec import PRESETS
from redge.study.store import checkpoint_hash, digest, hash_files
from redge.tasks.registry import answer_check
from redge.train.configs import TrainConfig

RECORD = "finetune.json"
DATA_FIELDS = ("vocab_size", "seq_len", "num_puzzle_identifiers")  # a training run takes these from its data


@dataclass(frozen=True)
class FinetuneSpec:
    """How long and on what to fine-tune: training minutes, pseudo-labelled puzzles, global batch (None: the
    checkpoint's training config's), seed, and the work folder (reused when made from the same inputs)."""

    minutes: float
    workdir: Path
    puzzles: int = 8192
    batch: int | None = None
    seed: int = 0


def schedule_for_budget(assess: Callable[..., dict[str, Any]], fits: Callable[[dict[str, Any]], bool], T0: int,
                        n0: int, depth: int, budget_ms: float) -> tuple[int, int] | None:
    """The inner cycles (T <= T0, n <= n0) with the most network applications per ACT step, T * (n + 1) (ties: more
    outer cycles), at which a uniform preset that fits the target runs all `depth` steps within `budget_ms`; None
    when no schedule does."""
    schedules = sorted(((T, n) for T in range(1, T0 + 1) for n in range(1, n0 + 1)),
                       key=lambda s: (s[0] * (s[1] + 1), s[0]), reverse=True)
    for T, n in schedules:
        for preset in PRESET_CANDIDATES:
            try:
                a = assess(PRESETS[preset], T, n, depth)
            except RedgeInputError:  # the target's runtime rejects it
                continue
            if fits(a) and a["latency_ms"] <= budget_ms:
                return T, n
    return None


def base_config(checkpoint: Path) -> TrainConfig:
    """The checkpoint's own training recipe (its `train_config.json`, as `redge train` writes it), else the
    official defaults: the fine-tune keeps the optimiser, learning rate, weight decay and EMA it was trained with."""
    path = checkpoint / "train_config.json"
    if checkpoint.is_dir() and path.is_file():
        train = read_json(path, dict, "training config").get("train")
        if isinstance(train, dict):
            known = {f.name for f in dataclasses.fields(TrainConfig)}
            try:
                return TrainConfig(**{k: v for k, v in train.items() if k in known})
            except (TypeError, RedgeInputError) as exc:
                raise RedgeInputError(f"not a training config ({exc})", path) from None
    return TrainConfig(name=checkpoint.name, model={}, data=[])


def finetune_config(checkpoint: Path, model: ModelConfig, pseudo: Path, T: int, n: int,
                    spec: FinetuneSpec) -> TrainConfig:
    """The training run: the checkpoint's weights (warm start) and recipe, its model at inner cycles (T, n), the
    pseudo-labels as the only data, `spec.minutes` of training, no teacher, pruning, QAT or test evaluation."""
    base = base_config(checkpoint)
    fields = {k: v for k, v in model.to_dict().items() if k not in DATA_FIELDS}
    return base.replace(
        name=f"{base.name}-finetune-T{T}n{n}", model={**fields, "H_cycles": T, "L_cycles": n}, data=[str(pseudo)],
        data_weights=None, augment=None, eval_data={}, eval_every_minutes=None, max_minutes=spec.minutes,
        max_steps=10**9, lr_warmup_steps=min(base.lr_warmup_steps, 100), init_from=str(checkpoint), init_layers=None,
        prune=None, qat=None, teacher=None, teacher_kl=0.0, teacher_trajectory=0.0, compile=False, seed=spec.seed,
        global_batch_size=spec.batch or base.global_batch_size, checkpoint_every_minutes=None)


def checked_share(weights: Path, data: Path, split: str, puzzles: int, depth: int, device: torch.device) -> float:
    """The share of the first `puzzles` inputs of `data`'s split (the search's) whose answer at `depth` by the
    weights at their own schedule passes the task's answer check: how the fine-tune's raw and EMA weights compare
    without labels."""
    from redge.quant import load_checkpoint

    model = load_checkpoint(weights).eval().to(device)
    loaded, batches = load_inputs(data, split, puzzles)
    check = answer_check(loaded.metadata)
    passed = sum(int(np.asarray(check(b["inputs"].numpy(), model_answers(
        model, {k: v.to(device) for k, v in b.items()}, depth).cpu().numpy())).sum()) for b in batches)
    return passed / sum(int(b["inputs"].shape[0]) for b in batches)


def finetune(outcome: Outcome, data: Path, split: str, T: int, n: int, spec: FinetuneSpec,
             device: torch.device, progress: ProgressFn) -> tuple[Path, dict[str, Any]]:
    """Pseudo-label, then fine-tune the outcome's checkpoint at (T, n) in `spec.workdir` (or reuse what an earlier
    run made there from the same inputs); returns the fine-tuned weights and the record of how they were made."""
    from redge.train.loop import Trainer

    result = outcome.result
    checkpoint = Path(result["checkpoint"])
    skip = result["puzzles"]  # the search's inputs are the split's first rows: the fine-tune never sees them
    key = {"checkpoint": checkpoint_hash(checkpoint), "inputs": hash_files(Path(data) / split / "all__inputs.npy"),
           "split": split, "skip": skip, "puzzles": spec.puzzles, "depth": result["depth"], "T": T, "n": n,
           "minutes": spec.minutes, "batch": spec.batch, "seed": spec.seed}
    work = spec.workdir
    record_path = work / RECORD
    if record_path.is_file():
        record = read_json(record_path, dict, "fine-tune record")
        weights = Path(record.get("weights", ""))
        if record.get("key") == digest(key) and (weights / "config.json").is_file():
            return weights, {**record, "reused": True}
    if work.exists() and any(work.iterdir()) and not record_path.is_file():
        raise RedgeInputError(f"exists and is not an earlier fine-tune (no {RECORD}); choose another "
                              "--finetune-dir", work)
    shutil.rmtree(work, ignore_errors=True)
    progress(f"pseudo-labels: the FP32 answers on {spec.puzzles} inputs after the first {skip}")
    labels = pseudo_label(outcome.model, data, split, work / "pseudo", result["depth"], device, spec.puzzles, skip)
    config = finetune_config(checkpoint, outcome.model.config, work / "pseudo", T, n, spec)
    progress(f"fine-tune at T{T} n{n} for {spec.minutes:g} min on {labels['kept']} checked answers")
    trained = Trainer(config, work / "train", device=str(device), progress=False).run()
    shares = {kind: checked_share(work / "train" / folder, data, split, skip, result["depth"], device)
              for kind, folder in (("EMA", "ema"), ("raw", "model")) if (work / "train" / folder).is_dir()}
    kind = max(shares, key=shares.get)  # ties: EMA, listed first
    weights = work / "train" / ("ema" if kind == "EMA" else "model")
    record = {"key": digest(key), "made_from": key, "weights": str(weights), "H_cycles": T, "L_cycles": n,
              "pseudo_labels": labels, "steps": trained["step"], "minutes": trained["minutes"],
              "steps_per_s": trained["steps_per_s"], "device": str(device),
              "weights_kind": kind, "checked_by_weights": shares}
    write_json(record_path, record, indent=2)
    return weights, {**record, "reused": False}


def search_with_finetune(spec: AutoSpec, first: Outcome, ft: FinetuneSpec, device: torch.device,
                         progress: ProgressFn | None = None) -> tuple[Outcome, Outcome]:
    """Fine-tune for the budget's schedule and search again (module docstring). Returns (the outcome whose choice
    ranks first by the selection rule, the checkpoint's own outcome), the first carrying `result["finetune"]`."""
    say = progress or (lambda _: None)
    result = first.result
    budget, cap, rule = result["budget_ms"], result["max_bytes"], result["select"]
    if budget is None:
        raise RedgeInputError("--finetune-minutes trains a cheaper schedule for a latency budget: give --budget-ms")
    if rule == "fidelity":
        raise RedgeInputError("--finetune-minutes compares the variants of two models, which fidelity cannot (each "
                              "is measured against its own FP32 carry): use --select checked or self-assessed")
    T0, n0 = result["cycles"]
    schedule = schedule_for_budget(first.assess, lambda a: a["fits"] and (cap is None or a["blob_bytes"] <= cap),
                                   T0, n0, result["depth"], budget)
    if schedule is None or schedule == (T0, n0):
        why = ("no schedule runs the full depth within the budget" if schedule is None
               else "the checkpoint's own schedule runs the full depth within the budget")
        result["finetune"] = {"skipped": why}
        return first, first
    weights, record = finetune(first, spec.data, spec.split, *schedule, ft, device, say)
    say(f"search of the fine-tuned T{schedule[0]} n{schedule[1]} model")
    second = run_search(dataclasses.replace(spec, checkpoint=weights, budget_ms=budget,
                                            max_bytes=None if cap is None else str(cap)), device, progress)
    for c in second.result["candidates"]:
        c.label = f"fine-tuned T{schedule[0]} n{schedule[1]}: {c.label}"
    mine, theirs = first.result["chosen"], second.result["chosen"]
    wins = theirs is not None and (mine is None or theirs.rank_key(rule) < mine.rank_key(rule))
    best = second if wins else first
    best.result["asked"] = result["asked"]  # the user's words: the fine-tuned search was asked in resolved bytes
    best.result["finetune"] = {**record, "checkpoint": result["checkpoint"],
                               "chosen_from": "fine-tuned weights" if wins else "the checkpoint",
                               "checkpoint_choice": None if mine is None else mine.summary(),
                               "finetuned_choice": None if theirs is None else theirs.summary()}
    return best, first
