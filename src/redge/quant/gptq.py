"""GPTQ rounding (Frantar et al. 2022, arXiv 2210.17323) with fixed, precomputed scales ("static groups").

Columns are quantized left to right; each column's rounding error is spread over the not-yet-quantized columns
through the inverse Hessian of the layer's calibration inputs, H = X^T X (pooled over every call of the module,
i.e. over all recursion cycles and ACT steps of the calibration run). Scales and zero points are chosen beforehand
(min-max/MSE ranges), so GPTQ changes only which integer each weight rounds to.
"""
from __future__ import annotations

import torch

from redge.quant.rounding import round_codes


def gptq_round(w: torch.Tensor, hessian: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor | None, bits: int,
               block: int = 128, damp: float = 0.01) -> torch.Tensor:
    """Float codes [out, in] for W [out, in] given full-shape scale/zero and H [in, in]; lazy block updates."""
    w = w.detach().to(torch.float64).clone()
    h = hessian.detach().to(torch.float64).clone()
    k = w.shape[1]
    dead = torch.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0  # inputs never seen in calibration: their weight does not affect the calibrated output
    h += damp * torch.diag(h).mean() * torch.eye(k, dtype=h.dtype, device=h.device)
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    scale, zero = scale.to(torch.float64), None if zero is None else zero.to(torch.float64)
    codes = torch.zeros_like(w)
    for i1 in range(0, k, block):
        i2 = min(i1 + block, k)
        w1, err1, hinv1 = w[:, i1:i2].clone(), torch.zeros_like(w[:, i1:i2]), hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            j = i1 + i
            zj = None if zero is None else zero[:, j]
            q = round_codes(w1[:, i], scale[:, j], zj, bits)
            codes[:, j] = q
            deq = (q - zj if zj is not None else q) * scale[:, j]
            err = (w1[:, i] - deq) / hinv1[i, i]
            w1[:, i:] -= err[:, None] * hinv1[i, i:][None, :]
            err1[:, i] = err
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
    return codes.to(torch.float32)
