"""`CheckpointInfo`: where a loaded checkpoint came from, shared by every checkpoint format."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CheckpointInfo:
    """Where a checkpoint came from and what had to be assumed to rebuild its architecture."""

    path: str
    source: str  # "official", "redge" or "redge-quant"
    config_source: str  # "all_config.yaml", "config.json", "metadata" or "inferred from shapes"
    assumptions: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
