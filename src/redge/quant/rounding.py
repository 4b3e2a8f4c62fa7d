"""The integer grid of a b-bit code: which codes exist and how a float weight rounds to one.

Shared by round-to-nearest (`qtensor`) and GPTQ (`gptq`), which differ only in which weights they round when.
Symmetric codes are signed, asymmetric ones unsigned with an integer zero point; rounding is round-half-to-even.
"""
from __future__ import annotations

import torch


def code_range(bits: int, symmetric: bool) -> tuple[int, int]:
    """Inclusive integer code range for `bits` (signed for symmetric, unsigned otherwise)."""
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if symmetric else (0, 2**bits - 1)


def round_codes(w: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor | None, bits: int) -> torch.Tensor:
    """Round-to-nearest float codes of `w` for broadcastable scale/zero (zero None = symmetric), clamped to range."""
    qmin, qmax = code_range(bits, zero is None)
    q = torch.round(w / scale)
    if zero is not None:
        q = q + zero
    return torch.clamp(q, qmin, qmax)
