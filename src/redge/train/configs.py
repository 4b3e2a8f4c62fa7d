"""Named training configurations (plain dataclasses; a YAML/JSON file or `key=value` overrides may change any field).

Model fields use the official names (`ModelConfig`); `vocab_size`, `seq_len` and `num_puzzle_identifiers` come from
the training data. Recipe defaults are the official ones (spec §6.4): global batch 768, lr 1e-4 with 2000 warm-up
steps then constant, Adam-atan2 betas (0.9, 0.95), weight decay 1.0 for Sudoku/Maze, puzzle-embedding SignSGD,
EMA 0.999 for TRM (none for HRM), stablemax cross-entropy.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from redge.core.errors import RedgeInputError
from redge.core.jsonio import read_structured


@dataclass
class TrainConfig:
    """Everything a training run needs besides the output folder."""

    name: str
    model: dict[str, Any]
    data: list[str]  # dataset folders (official format); their `train` splits are mixed
    data_weights: list[float] | None = None
    augment: str | None = None  # none | sudoku | dihedral, applied on the fly; None: the data task's (registry)
    eval_data: dict[str, str] = field(default_factory=dict)  # name -> dataset folder (its `test` split)
    global_batch_size: int = 768
    micro_batch_size: int | None = None  # rows per forward/backward (same gradients, less memory); None: all local rows
    lr: float = 1e-4
    lr_warmup_steps: int = 2000
    beta1: float = 0.9
    beta2: float = 0.95
    weight_decay: float = 1.0
    puzzle_emb_lr: float = 1e-4
    puzzle_emb_weight_decay: float = 1.0
    optimizer: str = "adam_atan2"
    loss: str = "stablemax_cross_entropy"
    ema: float | None = 0.999
    max_steps: int = 100_000
    max_minutes: float | None = None
    log_every: int = 50
    eval_every_minutes: float | None = None  # periodic test evaluation at depth 16 (raw weights) for the curve
    eval_limit: int = 1000
    checkpoint_every_minutes: float | None = 5.0
    seed: int = 0
    init_from: str | None = None  # warm start: weights of a redge checkpoint (fresh optimizer, step 0)
    # with init_from: which of the checkpoint's layers (indices) become this model's, in order, in every layer stack:
    # a shallower student warm-started from its teacher (DistilBERT keeps every other layer), e.g. [0] for 2 -> 1
    init_layers: list[int] | None = None
    prune: str | None = None  # masked fine-tune after pruning by this method (compress.prune), e.g. prune-2:4
    qat: str | None = None  # quantization-aware training towards this recipe (compress.qat): fake-quant + STE
    teacher: str | None = None  # a checkpoint run beside the model on the same rows (distillation, trajectory loss)
    teacher_kl: float = 0.0  # weight of the token-level KL to the teacher's logits (distillation)
    teacher_trajectory: float = 0.0  # weight of 1 - cos of the carry to the teacher's carry (same hidden size)
    teacher_temperature: float = 1.0
    compile: bool = False
    token_pad_multiple: int = 0  # compute mlp_t with the sequence zero-padded to this multiple (same values; GPU speed)
    bf16: bool = True  # bf16 forward on CUDA (the official forward_dtype); fp32 on CPU

    def __post_init__(self) -> None:
        """Refuse a field of the wrong type (`--set eval_data=null`, a string where a number belongs) here, with its
        name, rather than deep inside a training run."""
        hints = typing.get_type_hints(TrainConfig)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not _matches(value, hints[f.name]):
                raise RedgeInputError(f"training config field {f.name}: {value!r} is not {_type_name(hints[f.name])}")
        if self.init_layers is not None and (not self.init_from or not self.init_layers):
            raise RedgeInputError("training config field init_layers: needs init_from and at least one layer index")

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with fields changed (unknown fields are an input error)."""
        known = {f.name for f in dataclasses.fields(self)}
        bad = sorted(set(changes) - known)
        if bad:
            raise RedgeInputError(f"unknown training config fields: {', '.join(bad)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (written next to every run)."""
        return dataclasses.asdict(self)


def _matches(value: Any, hint: Any) -> bool:
    """Whether `value` (plain data from code, YAML or JSON) fits the type hint `hint` (an int fits a float)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items())
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    """A type hint as a reader writes it (`dict[str, str]`, `float | None`)."""
    return getattr(hint, "__name__", None) if isinstance(hint, type) else str(hint).replace("typing.", "")


_TRM_SUDOKU = {"arch": "trm", "hidden_size": 512, "num_heads": 8, "expansion": 4, "H_cycles": 3, "L_cycles": 6,
               "L_layers": 2, "puzzle_emb_ndim": 512, "puzzle_emb_len": 16, "halt_max_steps": 16,
               "halt_exploration_prob": 0.1, "no_ACT_continue": True}
_SUDOKU_DATA = ["runs/refdata/sudoku-gen", "runs/refdata/sudoku-hard"]
_SUDOKU_EVAL = {"generated": "runs/refdata/sudoku-gen", "hard": "runs/refdata/sudoku-hard"}
_TINY_DATA = "runs/data/sudoku-easy"

CONFIGS: dict[str, TrainConfig] = {
    # CPU smoke/demo config: TRM-MLP, hidden 64, T=1 n=2, on easy generated Sudoku (built on first use).
    "tiny": TrainConfig(
        name="tiny", model={**_TRM_SUDOKU, "mlp_t": True, "pos_encodings": "none", "hidden_size": 64, "num_heads": 2,
                            "expansion": 2, "H_cycles": 1, "L_cycles": 2, "puzzle_emb_ndim": 64, "puzzle_emb_len": 1,
                            "halt_max_steps": 4},
        data=[_TINY_DATA], eval_data={"easy": _TINY_DATA}, global_batch_size=32, lr=1e-3, lr_warmup_steps=50,
        weight_decay=0.1, puzzle_emb_lr=1e-3, puzzle_emb_weight_decay=0.1, ema=None, max_steps=2000, max_minutes=2.5,
        log_every=25, eval_limit=200, checkpoint_every_minutes=None),
    # token_pad_multiple=128: 7.94 vs 7.67 steps/s unpadded on one H200 (benchmarks/results/train_throughput_h200.json)
    "trm-mlp-sudoku": TrainConfig(
        name="trm-mlp-sudoku", model={**_TRM_SUDOKU, "mlp_t": True, "pos_encodings": "none"},
        data=_SUDOKU_DATA, eval_data=_SUDOKU_EVAL, lr_warmup_steps=1000, eval_every_minutes=2.0,
        token_pad_multiple=128),
    "trm-att-sudoku": TrainConfig(
        name="trm-att-sudoku", model={**_TRM_SUDOKU, "mlp_t": False, "pos_encodings": "rope"},
        data=_SUDOKU_DATA, eval_data=_SUDOKU_EVAL, lr_warmup_steps=1000, eval_every_minutes=2.0),
    "hrm-sudoku": TrainConfig(
        name="hrm-sudoku", model={"arch": "hrm", "hidden_size": 512, "num_heads": 8, "expansion": 4, "H_cycles": 2,
                                  "L_cycles": 2, "H_layers": 4, "L_layers": 4, "puzzle_emb_ndim": 512,
                                  "pos_encodings": "rope", "halt_max_steps": 16, "halt_exploration_prob": 0.1,
                                  "no_ACT_continue": False},
        data=_SUDOKU_DATA, eval_data=_SUDOKU_EVAL, lr_warmup_steps=1000, ema=None, eval_every_minutes=2.0),
    # The 900-token configs (official `H_cycles=3 L_cycles=4`) run 384 rows per forward: 768 at once ran out of
    # one H200's 140 GB (ARC, 2026-11-29); micro-batches give the same gradients.
    "trm-att-maze": TrainConfig(
        name="trm-att-maze", model={**_TRM_SUDOKU, "mlp_t": False, "pos_encodings": "rope", "L_cycles": 4},
        data=["runs/refdata/maze-hard"], eval_data={"maze": "runs/refdata/maze-hard"},
        lr_warmup_steps=1000, eval_every_minutes=4.0, micro_batch_size=384),
    # ARC-AGI-1 (+ ConceptARC) as the official README run (`arch.L_cycles=4 ema=True`, ARC recipe of
    # cfg_pretrain.yaml): data from `redge data build arc --num-aug 50 --out runs/refdata/arc1-aug50`.
    "trm-att-arc": TrainConfig(
        name="trm-att-arc", model={**_TRM_SUDOKU, "mlp_t": False, "pos_encodings": "rope", "L_cycles": 4},
        data=["runs/refdata/arc1-aug50"], eval_data={"arc": "runs/refdata/arc1-aug50"},
        weight_decay=0.1, puzzle_emb_lr=1e-2, puzzle_emb_weight_decay=0.1, eval_every_minutes=4.0,
        micro_batch_size=384),
}


def get_config(name_or_path: str) -> TrainConfig:
    """A named config, or one read from a YAML/JSON file holding TrainConfig fields (missing ones: defaults)."""
    if name_or_path in CONFIGS:
        return CONFIGS[name_or_path]
    path = Path(name_or_path)
    if not path.exists():
        raise RedgeInputError(f"no such config; named configs are {', '.join(CONFIGS)}", path)
    data = read_structured(path, dict, "training config")
    try:
        return TrainConfig(**data)
    except (TypeError, ValueError) as exc:
        raise RedgeInputError(f"not a training config ({exc})", path) from None


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`key=value` strings to a dict; values are parsed as YAML (numbers, lists, null); `model.x=v` edits the model."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RedgeInputError(f"override {item!r} is not key=value")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML 1.1 reads "3e-4" as a string
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        out[key.strip()] = parsed
    return out


def apply_overrides(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """Apply `parse_overrides` output: `model.<field>` keys change the model dict, the rest TrainConfig fields."""
    model = dict(config.model)
    top = {}
    for key, value in overrides.items():
        if key.startswith("model."):
            model[key[len("model."):]] = value
        else:
            top[key] = value
    return config.replace(model=model, **top)
