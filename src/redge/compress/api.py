"""The method registry: config type -> handler, and method names (presets of every method) -> configs."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar, Protocol

from torch import nn

from redge.core.errors import RedgeInputError
from redge.quant import QuantRecipe, load_recipe, quantize_
from redge.quant.spec import PRESETS as QUANT_PRESETS


class CompressionConfig(Protocol):
    """What every method's config offers the sweep and the reports."""

    name: str
    description: str

    @property
    def needs_calibration(self) -> bool: ...

    @property
    def changes_model(self) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...


class DataFreeMethod:
    """Base of a method config that reads no data and always changes the model (pruning, linear attention)."""

    method: ClassVar[str]

    @property
    def needs_calibration(self) -> bool:
        """No calibration data is read."""
        return False

    @property
    def changes_model(self) -> bool:
        """The method always changes the model."""
        return True

    def to_dict(self) -> dict[str, Any]:
        """Plain data (part of a sweep variant's store key)."""
        return {"method": self.method, **dataclasses.asdict(self)}


Handler = Callable[[nn.Module, Any, Iterable[dict] | None], nn.Module]
_HANDLERS: dict[type, Handler] = {}
_PRESETS: dict[str, Callable[[], CompressionConfig]] = {}


def register_handler(config_type: type, handler: Handler, presets: dict[str, Callable[[], Any]] | None = None
                     ) -> None:
    """Make `compress_` apply `handler(model, config, calib)` to configs of `config_type`; `presets` names configs."""
    _HANDLERS[config_type] = handler
    _PRESETS.update(presets or {})


def compress_(model: nn.Module, config: Any, calib: Iterable[dict] | None = None) -> nn.Module:
    """Apply a compression method to `model` in place and return it; the handler is chosen by the config's type."""
    handler = _HANDLERS.get(type(config))
    if handler is None:
        known = ", ".join(t.__name__ for t in _HANDLERS)
        raise RedgeInputError(f"no compression method handles a {type(config).__name__} (known: {known})")
    return handler(model, config, calib)


def method_names() -> list[str]:
    """Every named method: quantization presets, then the other methods' presets."""
    return [*QUANT_PRESETS, *_PRESETS]


def load_method(name_or_file: str | Path) -> Any:
    """A method's config by name (any method's preset) or from a quantization recipe file."""
    key = str(name_or_file)
    if key in _PRESETS:
        return _PRESETS[key]()
    if key not in QUANT_PRESETS and not Path(key).is_file():
        raise RedgeInputError(f"unknown method {key!r}: not a preset ({', '.join(method_names())}) nor a recipe file")
    return load_recipe(name_or_file)


register_handler(QuantRecipe, lambda model, recipe, calib: quantize_(
    model, recipe, calib=list(calib) if calib is not None and recipe.needs_calibration else None))
