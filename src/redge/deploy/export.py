"""`redge plan` / `redge export` on a checkpoint: float (quantized here by a recipe, calibrated on data if given) or
already quantized by `redge quantize` (taken as it is, with its own recipe).

Both refuse, before any file is written, what the target's C runtime would reject (`compat.check_runtime`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from redge.core.atomic import check_output_path
from redge.core.errors import RedgeInputError
from redge.deploy.compat import check_runtime
from redge.deploy.pack import blob_entries, embedding_path, export, model_weights
from redge.deploy.plan import plan_config, plan_model
from redge.deploy.targets import Target, load_target
from redge.models.config import ModelConfig
from redge.quant.calibration import calibration_batches
from redge.quant.io import is_quantized_checkpoint
from redge.quant.load import read_config


def stored_recipe_name(model: nn.Module) -> str:
    """The recipe name a quantized checkpoint was made with (`redge quantize` stores it), else 'quantized'."""
    recipe = getattr(model, "quant_recipe", None)
    return str(recipe.get("name") or "quantized") if isinstance(recipe, dict) else "quantized"


def _load_quantized(checkpoint: Path, recipe: str | None) -> nn.Module:
    """A `redge quantize` checkpoint as it is; a --recipe on top is refused (it would quantize a second time)."""
    from redge.quant.load import load_checkpoint

    model = load_checkpoint(checkpoint)
    if recipe is not None:
        raise RedgeInputError(f"the checkpoint is already quantized (recipe {stored_recipe_name(model)!r}); leave "
                              f"out --recipe {recipe} to use it as it is, or start from the float checkpoint",
                              checkpoint)
    return model


def with_seq_len(config: ModelConfig, seq_len: int | None, checkpoint: Path) -> ModelConfig:
    """The config with its task's sequence length: the stored one, or `seq_len` (`--seq-len`) where the checkpoint
    fixes none (an official RoPE file: positions are not in its shapes); a contradiction is an input error."""
    if seq_len is None:
        if config.seq_len is None:
            raise RedgeInputError("the checkpoint does not fix seq_len (a RoPE model's weights do not tell it): pass "
                                  "--seq-len N (81 for Sudoku, 900 for Maze and ARC)", checkpoint)
        return config
    if seq_len < 1 or (config.seq_len is not None and config.seq_len != seq_len):
        raise RedgeInputError(f"--seq-len {seq_len} contradicts the checkpoint's seq_len {config.seq_len}", checkpoint)
    return config.replace(seq_len=seq_len)


def plan_checkpoint(checkpoint: Path, recipe: str | None, target: str | Path | Target, act: str | None = None,
                    carry: str | None = None, tile: int | None = None, seq_len: int | None = None) -> dict[str, Any]:
    """Plan a checkpoint on a target: a float one with `recipe` (default fp32; only its config is read), a quantized
    one as it is (see `plan.plan_config`, `plan.plan_model`); `seq_len` where the checkpoint fixes none."""
    if is_quantized_checkpoint(checkpoint):
        model = _load_quantized(checkpoint, recipe)
        model.config = with_seq_len(model.config, seq_len, checkpoint)
        return plan_model(model, stored_recipe_name(model), target, act, carry, tile, checkpoint)
    config = with_seq_len(read_config(checkpoint), seq_len, checkpoint)
    return plan_config(config, recipe or "fp32", target, act, carry, tile, checkpoint)


def export_checkpoint(checkpoint: Path, out: Path, recipe: str | None = None, target: str | Path | None = None,
                      calib: Path | None = None, emb_out: Path | None = None, calib_split: str = "train",
                      calib_batches: int = 4, calib_batch_size: int = 16, seq_len: int | None = None
                      ) -> dict[str, Any]:
    """Write the blob (and puzzle-embedding file) of a checkpoint for the C runtime.

    A float checkpoint is quantized by `recipe` (default fp32), with calibration batches from `calib` (an
    official-format dataset directory) when given (required by GPTQ recipes); a quantized checkpoint is written as
    it is; `seq_len` where the checkpoint fixes none. The runtime check (against `target`'s runtime, or any build without one) runs before quantizing and again
    on the quantized model, so nothing is written that the runtime would reject.
    """
    from redge.quant.apply import quantize_
    from redge.quant.load import load_checkpoint
    from redge.quant.spec import load_recipe

    check_output_path(out, directory=False)  # a bad --out or --emb-out fails before any compute
    check_output_path(embedding_path(out, emb_out), directory=False)
    tgt = load_target(target) if target is not None else None
    if is_quantized_checkpoint(checkpoint):
        if calib is not None:
            raise RedgeInputError("--calib only applies to a float checkpoint (this one is already quantized)",
                                  checkpoint)
        model = _load_quantized(checkpoint, recipe)
        model.config = with_seq_len(model.config, seq_len, checkpoint)
        name = stored_recipe_name(model)
    else:
        quant_recipe = load_recipe(recipe or "fp32")
        name = quant_recipe.name
        model = load_checkpoint(checkpoint)
        model.config = with_seq_len(model.config, seq_len, checkpoint)
        check_runtime(model.config, blob_entries(model_weights(model, quant_recipe, with_values=False)), tgt, name,
                      checkpoint)
        batches = None if calib is None else calibration_batches(calib, calib_split, calib_batches, calib_batch_size)
        quantize_(model, quant_recipe, calib=batches)
    return export_model(model, out, name, tgt, emb_out, checkpoint)


def export_model(model: nn.Module, out: Path, name: str, target: Target | None = None, emb_out: Path | None = None,
                 source: str | Path | None = None) -> dict[str, Any]:
    """Write the blob (and puzzle-embedding file) of an in-memory model, quantized or float, as it is (its config:
    cycles and `halt_max_steps` go into the header); refuses (naming `source`) what `target`'s runtime would reject."""
    check_runtime(model.config, blob_entries(model_weights(model, with_values=False)), target, name, source)
    written = export(model, out, name, emb_out)
    return {"recipe": name, "target": None if target is None else target.name,
            **{kind: {"path": str(path), "bytes": size} for kind, (path, size) in written.items()}}
