"""One configuration dataclass for both recursive reasoners, with the official field names.

The official repos build the model config from `all_config.yaml` (`arch:` section) plus the dataset metadata
(`vocab_size`, `seq_len`, `num_puzzle_identifiers`); `ModelConfig.from_official` accepts that merged dict and ignores
training-only fields (`batch_size`, `loss`, `name`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

ARCHS = ("trm", "hrm")
POS_ENCODINGS = ("rope", "learned", "none")
ATTENTION_KERNELS = ("softmax", "linear")
# Fields added after the format was fixed: a config written before them means their default (softmax attention).
OPTIONAL_FIELDS = frozenset({"attention"})
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


# Integer fields and their smallest valid value; the positive real-valued fields.
_INT_FIELDS = {"vocab_size": 1, "seq_len": 1, "num_puzzle_identifiers": 1, "hidden_size": 1, "num_heads": 1,
               "H_cycles": 1, "L_cycles": 1, "H_layers": 0, "L_layers": 1, "puzzle_emb_ndim": 0, "puzzle_emb_len": 0,
               "halt_max_steps": 1}
_POSITIVE_FIELDS = ("expansion", "rms_norm_eps", "rope_theta")


class ConfigError(ValueError):
    """A model configuration that cannot describe a valid TRM/HRM."""


@dataclass
class ModelConfig:
    """Architecture of a TRM or HRM (defaults: the official TRM-Att Sudoku config, fp32 forward for the CPU)."""

    arch: str = "trm"
    vocab_size: int = 11
    seq_len: int | None = 81  # None: unknown (RoPE tables are then sized from the batch)
    num_puzzle_identifiers: int = 1
    hidden_size: int = 512
    num_heads: int = 8
    expansion: float = 4.0
    H_cycles: int = 3
    L_cycles: int = 6
    H_layers: int = 0  # TRM ignores it; HRM's H-level depth
    L_layers: int = 2
    pos_encodings: str = "rope"
    mlp_t: bool = False
    puzzle_emb_ndim: int = 512
    puzzle_emb_len: int = 16  # TRM: fixed prefix length (0 = ceil(ndim / hidden)); HRM always uses the ceil
    halt_max_steps: int = 16
    halt_exploration_prob: float = 0.1
    no_ACT_continue: bool = True
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    forward_dtype: str = "float32"
    attention: str = "softmax"  # softmax (official) or linear (elu+1 feature maps; a compression of TRM-Att / HRM)
    extra: dict[str, Any] = field(default_factory=dict)  # official fields we do not use, kept for the record

    def __post_init__(self) -> None:
        self._check_types_and_ranges()
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.pos_encodings not in POS_ENCODINGS:
            raise ConfigError(f"pos_encodings must be one of {POS_ENCODINGS}, got {self.pos_encodings!r}")
        if self.attention not in ATTENTION_KERNELS:
            raise ConfigError(f"attention must be one of {ATTENTION_KERNELS}, got {self.attention!r}")
        if self.mlp_t and self.attention != "softmax":
            raise ConfigError("an mlp_t model mixes tokens with an MLP: it has no attention to make linear")
        if self.forward_dtype not in DTYPES:
            raise ConfigError(f"forward_dtype must be one of {tuple(DTYPES)}, got {self.forward_dtype!r}")
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if self.arch == "hrm" and self.mlp_t:
            raise ConfigError("HRM has no mlp_t variant")
        if self.mlp_t and self.seq_len is None:
            raise ConfigError("mlp_t needs seq_len: its token-mixing width is seq_len + puzzle prefix")
        if self.arch == "hrm" and self.pos_encodings == "none":
            raise ConfigError("HRM requires rope or learned positions")
        if self.pos_encodings == "learned" and self.seq_len is None:
            raise ConfigError("learned positions need seq_len")

    def _check_types_and_ranges(self) -> None:
        """Every numeric field has the right type and a usable value: a negative or fractional size would otherwise
        surface later as a math error or a tensor-shape mismatch that does not name the field."""
        for name, low in _INT_FIELDS.items():
            value = getattr(self, name)
            if name == "seq_len" and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        for name in _POSITIVE_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        prob = self.halt_exploration_prob
        if not isinstance(prob, (int, float)) or isinstance(prob, bool) or not 0 <= prob <= 1:
            raise ConfigError(f"halt_exploration_prob must be a number in [0, 1], got {prob!r}")
        for name in ("mlp_t", "no_ACT_continue"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.extra, dict):
            raise ConfigError(f"extra must be a mapping, got {self.extra!r}")

    @property
    def prefix_len(self) -> int:
        """Number of puzzle-embedding positions prepended to the sequence (TRM 16, HRM 1, 0 without embedding)."""
        if self.puzzle_emb_ndim <= 0:
            return 0
        ceil = -(self.puzzle_emb_ndim // -self.hidden_size)
        if self.arch == "trm" and self.puzzle_emb_len > 0:
            return self.puzzle_emb_len
        return ceil

    @property
    def total_seq_len(self) -> int | None:
        """S = seq_len + prefix: the carry's position count."""
        return None if self.seq_len is None else self.seq_len + self.prefix_len

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.forward_dtype]

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from our own JSON config; unknown keys are an error (they would be silently ignored otherwise), and
        so is a missing one (a silently defaulted size would only show up later as a tensor-shape mismatch)."""
        if not isinstance(data, dict):
            raise ConfigError(f"config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config fields: {', '.join(unknown)}")
        missing = sorted(known - set(data) - {"extra"} - OPTIONAL_FIELDS)
        if missing:
            raise ConfigError(f"missing config fields: {', '.join(missing)}")
        return cls(**data)

    @classmethod
    def from_official(cls, arch_cfg: dict[str, Any], **overrides: Any) -> ModelConfig:
        """Build from an official `arch:` dict (all_config.yaml) plus dataset fields given as overrides."""
        data = dict(arch_cfg)
        name = str(data.pop("name", ""))
        arch = "hrm" if ("hrm" in name.lower() or "hierarchical" in name.lower()) else "trm"
        known = {f.name for f in dataclasses.fields(cls)} - {"arch", "extra"}
        kwargs: dict[str, Any] = {k: data.pop(k) for k in list(data) if k in known}
        if isinstance(kwargs.get("puzzle_emb_ndim"), str):  # unresolved "${.hidden_size}" interpolation
            kwargs["puzzle_emb_ndim"] = kwargs.get("hidden_size", cls.hidden_size)
        trained_dtype = kwargs.pop("forward_dtype", None)  # the run's dtype; inference picks its own
        if trained_dtype is not None:
            data["trained_forward_dtype"] = trained_dtype
        kwargs.update(overrides)
        if arch == "hrm":
            kwargs.setdefault("H_cycles", 2)
            kwargs.setdefault("L_cycles", 2)
            kwargs["no_ACT_continue"] = False
        return cls(arch=arch, extra={"official_name": name, **{k: v for k, v in data.items() if k != "loss"}}, **kwargs)
