"""Quantization recipes as plain data: `QuantSpec` (how to quantize one module), `Rule` (which modules), `QuantRecipe`.

A recipe is an ordered list of rules; each module takes the spec of the *first* rule whose pattern matches its name
(put exceptions before the general rule). A rule with `spec=None` keeps the matched modules in fp32. Patterns are
fnmatch globs over module names (`L_level.layers.0.mlp_t.gate_up_proj`), `re:<regex>` for a regular expression, or a
named group `@token_mixing`, `@channel_mlp`, `@attention`, `@embeddings`, `@heads`, `@linears`, `@all` (see `GROUPS`).

Bits: 2-8 give integer codes; 16 keeps the weight as bfloat16. Everything else is rejected by `validate`, which runs
before any work and raises a one-line `RedgeInputError`.

Recipes load from a preset name (`PRESETS`), or from a YAML/JSON file of the form::

    name: my-recipe
    rules:
      - {pattern: "@heads", spec: null}                      # keep heads fp32
      - {pattern: "@token_mixing", spec: {bits: 4, granularity: group, group_size: 32}}
      - {pattern: "@linears", spec: {bits: 4, granularity: channel, method: mse}}
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redge.core.errors import RedgeInputError
from redge.core.jsonio import read_structured

GRANULARITIES = ("tensor", "channel", "group")
METHODS = ("minmax", "percentile", "mse", "gptq")
SCALE_DTYPES = {"float32": 4, "float16": 2, "bfloat16": 2}
FLOAT_BITS = 16  # bits=16 means "store the weight as bfloat16", not 16-bit integers

# Named module groups, usable as `@name` in rule patterns (globs over module names).
GROUPS: dict[str, tuple[str, ...]] = {
    "token_mixing": ("*mlp_t.*",),
    "channel_mlp": ("*.mlp.*",),
    "attention": ("*self_attn.*",),
    "embeddings": ("embed_tokens", "embed_pos", "puzzle_emb"),
    "heads": ("lm_head", "q_head"),
    "linears": ("*_proj", "lm_head", "q_head"),
    "all": ("*",),
}


@dataclass(frozen=True)
class QuantSpec:
    """How to quantize one weight (and optionally its input activations).

    bits: 2-8 integer codes, or 16 for bfloat16 storage. granularity: one scale per tensor, per output channel
    (row of the [out, in] weight) or per group of `group_size` consecutive inputs of a row (the last group of a row is
    zero-padded when `group_size` does not divide the width). symmetric: zero point 0, codes signed; otherwise codes
    unsigned with an integer zero point per scale. method: range setting (`minmax`, `percentile` of |w| or of w,
    `mse` = per-unit grid search over `clip_grid` clip ratios in [`clip_min`, 1], `gptq` = mse ranges then GPTQ
    rounding with calibration activations). act_bits: 8 for int8 per-token dynamic activation quantization (W8A8,
    W4A8), None for weight-only. scale_dtype: storage dtype of the scales (the simulation uses the stored values).
    """

    bits: int = 8
    granularity: str = "channel"
    group_size: int | None = None
    symmetric: bool = True
    method: str = "minmax"
    percentile: float = 99.99
    clip_grid: int = 20
    clip_min: float = 0.5
    act_bits: int | None = None
    scale_dtype: str = "float32"

    @property
    def is_float(self) -> bool:
        """True for bits=16 (bfloat16 weight, no integer codes)."""
        return self.bits == FLOAT_BITS

    def validate(self, where: str = "spec") -> None:
        """Raise a one-line RedgeInputError if any field is out of range."""
        def bad(msg: str) -> RedgeInputError:
            return RedgeInputError(f"{where}: {msg}")

        if not isinstance(self.bits, int) or not 2 <= self.bits <= 16:
            raise bad(f"bits must be in 2-16, got {self.bits!r}")
        if 8 < self.bits < FLOAT_BITS:
            raise bad(f"bits {self.bits} unsupported: integer weights take 2-8 bits, 16 means bfloat16")
        if self.granularity not in GRANULARITIES:
            raise bad(f"granularity must be one of {GRANULARITIES}, got {self.granularity!r}")
        if self.granularity == "group" and (not isinstance(self.group_size, int) or self.group_size < 1):
            raise bad(f"granularity 'group' needs a positive integer group_size, got {self.group_size!r}")
        if self.granularity != "group" and self.group_size is not None:
            raise bad(f"group_size is only meaningful with granularity 'group' (got {self.granularity!r})")
        if self.method not in METHODS:
            raise bad(f"method must be one of {METHODS}, got {self.method!r}")
        if not 50.0 < self.percentile <= 100.0:
            raise bad(f"percentile must be in (50, 100], got {self.percentile!r}")
        if self.clip_grid < 1 or not 0.0 < self.clip_min <= 1.0:
            raise bad("clip_grid must be >= 1 and clip_min in (0, 1]")
        if self.act_bits not in (None, 8):
            raise bad(f"act_bits must be null or 8 (int8 per-token dynamic), got {self.act_bits!r}")
        if self.scale_dtype not in SCALE_DTYPES:
            raise bad(f"scale_dtype must be one of {tuple(SCALE_DTYPES)}, got {self.scale_dtype!r}")

    def describe(self) -> str:
        """Short human label, e.g. `int4 group32 sym mse` or `bf16`."""
        if self.is_float:
            return "bf16"
        gran = f"group{self.group_size}" if self.granularity == "group" else self.granularity
        act = f" a{self.act_bits}" if self.act_bits else ""
        return f"int{self.bits} {gran} {'sym' if self.symmetric else 'asym'} {self.method}{act}"


@dataclass(frozen=True)
class Rule:
    """Modules whose name matches `pattern` get `spec`; `spec=None` keeps them fp32 (`reason` says why)."""

    pattern: str
    spec: QuantSpec | None
    reason: str = ""


@dataclass(frozen=True)
class QuantRecipe:
    """An ordered list of rules (first match wins) plus calibration settings."""

    name: str
    rules: tuple[Rule, ...] = ()
    calib_depth: int | None = None  # ACT steps to run per calibration batch (None: the model's halt_max_steps)
    description: str = ""

    def validate(self) -> None:
        """Check every rule's spec and pattern syntax (pattern-vs-model matching happens in `apply.plan`)."""
        if not self.rules:
            raise RedgeInputError(f"recipe {self.name!r}: no rules")
        for i, rule in enumerate(self.rules):
            if rule.pattern.startswith("@") and rule.pattern[1:] not in GROUPS:
                raise RedgeInputError(f"recipe {self.name!r} rule {i}: unknown group {rule.pattern!r} "
                                      f"(known: {', '.join('@' + g for g in GROUPS)})")
            if rule.spec is not None:
                rule.spec.validate(f"recipe {self.name!r} rule {i} ({rule.pattern})")

    @property
    def needs_calibration(self) -> bool:
        """True if some rule needs calibration activations (GPTQ)."""
        return any(r.spec is not None and r.spec.method == "gptq" for r in self.rules)

    @property
    def changes_model(self) -> bool:
        """False when every rule keeps its modules fp32 (the quantized model is the checkpoint itself)."""
        return any(rule.spec is not None for rule in self.rules)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (the YAML/JSON schema)."""
        return {"name": self.name, "description": self.description, "calib_depth": self.calib_depth,
                "rules": [{"pattern": r.pattern, "reason": r.reason,
                           "spec": None if r.spec is None else dataclasses.asdict(r.spec)} for r in self.rules]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "recipe") -> QuantRecipe:
        """Build from the YAML/JSON schema; unknown keys are an error, not silently ignored."""
        if not isinstance(data, dict):
            raise RedgeInputError(f"{source}: a recipe must be a mapping with 'rules'")
        unknown = set(data) - {"name", "description", "calib_depth", "rules"}
        if unknown:
            raise RedgeInputError(f"{source}: unknown recipe keys {sorted(unknown)}")
        spec_fields = {f.name for f in dataclasses.fields(QuantSpec)}
        rules = []
        for i, raw in enumerate(data.get("rules") or []):
            if not isinstance(raw, dict) or "pattern" not in raw:
                raise RedgeInputError(f"{source}: rule {i} needs a 'pattern'")
            raw_spec = raw.get("spec")
            if raw_spec is not None:
                if not isinstance(raw_spec, dict) or set(raw_spec) - spec_fields:
                    bad = sorted(set(raw_spec) - spec_fields) if isinstance(raw_spec, dict) else raw_spec
                    raise RedgeInputError(f"{source}: rule {i}: invalid spec fields {bad}")
                raw_spec = QuantSpec(**raw_spec)
            rules.append(Rule(str(raw["pattern"]), raw_spec, str(raw.get("reason", ""))))
        recipe = cls(name=str(data.get("name", source)), rules=tuple(rules),
                     calib_depth=data.get("calib_depth"), description=str(data.get("description", "")))
        recipe.validate()
        return recipe


def _uniform(name: str, spec: QuantSpec | None, description: str) -> QuantRecipe:
    """A preset: the halting head stays fp32, every other linear and the token embedding get `spec`."""
    rules = (
        Rule("q_head", None, "halting head (2 outputs): decides ACT halting, negligible bytes"),
        Rule("@linears", spec),
        Rule("embed_tokens", spec),
    )
    return QuantRecipe(name=name, rules=rules if spec is not None else (Rule("@all", None, "fp32 preset"),),
                       description=description)


def _act8(name: str, linear: QuantSpec, description: str) -> QuantRecipe:
    """A preset with int8 per-token activations into every linear (W8A8, W4A8): the halting head stays fp32, the
    token table is int8 per row (an embedding lookup has no input activations to quantize)."""
    rules = (
        Rule("q_head", None, "halting head (2 outputs): decides ACT halting, negligible bytes"),
        Rule("@linears", linear),
        Rule("embed_tokens", QuantSpec(bits=8, granularity="channel")),
    )
    return QuantRecipe(name=name, rules=rules, description=description)


PRESETS: dict[str, QuantRecipe] = {
    r.name: r for r in (
        _uniform("fp32", None, "no quantization (reference)"),
        _uniform("bf16", QuantSpec(bits=16), "bfloat16 weights"),
        _uniform("int8", QuantSpec(bits=8, granularity="channel"), "int8 per-output-channel, min-max"),
        _uniform("int8-tensor", QuantSpec(bits=8, granularity="tensor"), "int8 per-tensor, min-max"),
        _uniform("int4-naive", QuantSpec(bits=4, granularity="tensor"), "int4 per-tensor round-to-nearest, min-max"),
        _uniform("int4-channel", QuantSpec(bits=4, granularity="channel"), "int4 per-output-channel, min-max"),
        _uniform("int4-channel-cal", QuantSpec(bits=4, granularity="channel", method="mse"),
                 "int4 per-output-channel with MSE-optimal clipping (grid search per channel)"),
        _uniform("int4-g32", QuantSpec(bits=4, granularity="group", group_size=32), "int4 groups of 32, min-max"),
        _uniform("int4-g128", QuantSpec(bits=4, granularity="group", group_size=128), "int4 groups of 128, min-max"),
        _act8("w8a8", QuantSpec(bits=8, granularity="channel", act_bits=8),
              "int8 per-channel weights, int8 per-token activations (the C runtime's deployment recipe)"),
        _act8("w4a8", QuantSpec(bits=4, granularity="channel", method="mse", act_bits=8),
              "int4 per-channel weights with MSE-optimal clipping, int8 per-token activations"),
    )
}


def load_recipe(source: str | Path | QuantRecipe) -> QuantRecipe:
    """A recipe from a preset name, a YAML/JSON file path, or an existing recipe (validated either way)."""
    if isinstance(source, QuantRecipe):
        source.validate()
        return source
    if str(source) in PRESETS:
        return PRESETS[str(source)]
    path = Path(source)
    if not path.is_file():
        raise RedgeInputError(f"unknown recipe {str(source)!r}: not a preset ({', '.join(PRESETS)}) nor a file")
    data = read_structured(path, dict, "recipe")
    try:
        return QuantRecipe.from_dict(data, source=path.name)
    except TypeError as exc:
        raise RedgeInputError(f"invalid recipe: {exc}", path) from None
