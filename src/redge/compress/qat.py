"""Quantization-aware training as prepare / convert, through the same recipes as post-training quantization.

`prepare_qat_(model, recipe)` puts a fake-quant parametrization on the weight of every linear the recipe quantizes
(embeddings and bf16 rules are left to the final `quantize_`): the forward pass sees exactly the weights that
`quantize_` would produce (the engine's own `quantize_weight`, same scales, same rounding), and the gradient passes
straight through the rounding to the float weight (straight-through estimator). Training then uses the ordinary loss
(token-level cross-entropy + the Q-halt terms) through `redge.train`, with `TrainConfig.qat = RECIPE`.

`strip_qat_(model)` removes the parametrizations and leaves the trained float weights; `quantize_(model, recipe)` on
them is the convert step (what `redge sweep -r RECIPE` or `redge quantize` do with the saved checkpoint), and gives
the weights the training forward used.
"""
from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn.utils import parametrize

from redge.core.errors import RedgeInputError
from redge.quant.apply import plan
from redge.quant.qtensor import quantize_weight
from redge.quant.spec import FLOAT_BITS, QuantRecipe, QuantSpec, load_recipe

_WEIGHT = {"CastedEmbedding": "embedding_weight"}  # the quantized tensor of a module that is no nn.Linear


class FakeQuant(nn.Module):
    """w -> dequantize(quantize(w)) in the forward pass, identity in the backward pass (straight-through)."""

    def __init__(self, spec: QuantSpec) -> None:
        super().__init__()
        self.spec = spec

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        deq = quantize_weight(weight, self.spec).dequantize().to(weight.dtype)
        return weight + (deq - weight).detach()


def prepare_qat_(model: nn.Module, recipe: str | QuantRecipe) -> list[str]:
    """Fake-quantize, in place, every weight `recipe` quantizes to integers (linears and the token embedding table);
    returns the modules' names."""
    recipe = load_recipe(recipe) if isinstance(recipe, str) else recipe
    if recipe.needs_calibration:
        raise RedgeInputError(f"QAT recipe {recipe.name!r}: GPTQ rounding needs calibration data, which training has "
                              "not; use a round-to-nearest recipe (minmax, percentile or mse ranges)")
    names = []
    for a in plan(model, recipe):
        if a.spec is None or a.spec.bits == FLOAT_BITS:
            continue
        if a.spec.act_bits:
            raise RedgeInputError(f"QAT recipe {recipe.name!r}: int8 activations ({a.name}) are not simulated in "
                                  "training yet; use a weight-only recipe")
        module = model.get_submodule(a.name)
        attribute = _WEIGHT.get(type(module).__name__, "weight" if isinstance(module, nn.Linear) else None)
        if attribute is None:
            raise RedgeInputError(f"QAT recipe {recipe.name!r}: cannot train {a.name} ({type(module).__name__}) "
                                  "towards integers; keep it in float in the recipe")
        parametrize.register_parametrization(module, attribute, FakeQuant(a.spec))
        names.append(a.name)
    if not names:
        raise RedgeInputError(f"QAT recipe {recipe.name!r} quantizes no weight to integers")
    return names


def strip_qat_(model: nn.Module) -> nn.Module:
    """Remove every fake-quant parametrization, keeping the trained float weights (convert with `quantize_`)."""
    for module in model.modules():
        if parametrize.is_parametrized(module):
            for attribute in list(module.parametrizations):
                parametrize.remove_parametrizations(module, attribute, leave_parametrized=False)
    return model


def float_name(name: str) -> str:
    """The plain model's name of a parameter or state-dict key (`x.parametrizations.weight.original` -> `x.weight`)."""
    return re.sub(r"\.parametrizations\.(\w+)\.original$", r".\1", name)


def float_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """`model.state_dict()` under the plain model's keys: the float weights under fake-quant parametrizations."""
    return {float_name(k): v for k, v in model.state_dict().items()}
