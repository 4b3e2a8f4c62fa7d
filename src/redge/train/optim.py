"""Optimizers of the official recipe: Adam-atan2 (pure PyTorch), AdamW, the sparse SignSGD of the puzzle
embedding, and the warm-up-then-constant learning-rate schedule.

Adam-atan2 follows the `adam-atan2` package the official code imports (its CUDA kernel, written here with tensor
ops): decoupled weight decay `p *= 1 - lr*wd`, Adam moments, then `p -= lr / bc1 * atan2(m, sqrt(v) / sqrt(bc2))`,
which needs no epsilon and is scale-invariant.
"""
from __future__ import annotations

import math

import torch
import torch.distributed as dist

from redge.models.layers import PuzzleEmbedding

OPTIMIZERS = ("adam_atan2", "adamw")


class AdamAtan2(torch.optim.Optimizer):
    """Adam with atan2 in place of the epsilon-guarded division (Everett et al. 2024), as `adam_atan2.AdamATan2`."""

    def __init__(self, params, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.95),
                 weight_decay: float = 0.0) -> None:
        if lr < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid AdamAtan2 settings lr={lr}, betas={betas}, weight_decay={weight_decay}")
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 - torch.optim signature
        """One update of every parameter that has a gradient.

        Parameters that share a device, dtype and step count are updated together with `torch._foreach_*` ops: a
        handful of kernel launches per group instead of six per parameter (atan2 has no foreach form and stays
        per tensor, written in place)."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, wd = group["lr"], group["weight_decay"]
            buckets: dict[tuple, list[torch.Tensor]] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                buckets.setdefault((p.device, p.dtype, state["step"]), []).append(p)
            for (_, _, t), params in buckets.items():
                grads = [p.grad for p in params]
                m = [self.state[p]["exp_avg"] for p in params]
                v = [self.state[p]["exp_avg_sq"] for p in params]
                if wd:
                    torch._foreach_mul_(params, 1 - lr * wd)
                torch._foreach_lerp_(m, grads, 1 - beta1)
                torch._foreach_mul_(v, beta2)
                torch._foreach_addcmul_(v, grads, grads, value=1 - beta2)
                update = torch._foreach_sqrt(v)
                torch._foreach_div_(update, math.sqrt(1 - beta2 ** t))
                for m_i, u_i in zip(m, update):
                    torch.atan2(m_i, u_i, out=u_i)
                torch._foreach_add_(params, update, alpha=-lr / (1 - beta1 ** t))
        return loss


def make_optimizer(name: str, params, lr: float, betas: tuple[float, float], weight_decay: float
                   ) -> torch.optim.Optimizer:
    """The dense optimizer named `name` ('adam_atan2' as official, or 'adamw')."""
    if name == "adam_atan2":
        return AdamAtan2(params, lr=lr, betas=betas, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


class SparseSignSGD:
    """SignSGD with decoupled weight decay on the puzzle-embedding rows used in the step (official
    `CastedSparseEmbeddingSignSGD_Distributed`): gradients of all ranks are gathered, summed per identifier, and
    each touched row becomes `w * (1 - lr*wd) - lr * sign(g)`."""

    def __init__(self, embedding: PuzzleEmbedding, lr: float, weight_decay: float) -> None:
        self.embedding = embedding
        self.lr = lr
        self.weight_decay = weight_decay

    def state_dict(self) -> dict[str, float]:
        """Hyper-parameters (the method itself keeps no moments)."""
        return {"lr": self.lr, "weight_decay": self.weight_decay}

    @torch.no_grad()
    def step(self) -> None:
        """Apply the update for the rows gathered since the last step (all micro-batches), then drop them."""
        used = [(leaf.grad, ids) for leaf, ids in self.embedding.gathered if leaf.grad is not None]
        self.embedding.gathered = []
        if not used:
            return
        grad, ids = torch.cat([g for g, _ in used]), torch.cat([i for _, i in used])
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            world = dist.get_world_size()
            all_grad = grad.new_empty((world * grad.shape[0], grad.shape[1]))
            all_ids = ids.new_empty(world * ids.shape[0])
            dist.all_gather_into_tensor(all_grad, grad.contiguous())
            dist.all_gather_into_tensor(all_ids, ids.contiguous())
            grad, ids = all_grad, all_ids
        # Gradients are summed per identifier in a table-sized buffer rather than through `unique`, whose
        # data-dependent size would stall the GPU queue every step; rows of repeated identifiers get the same value.
        weights, ids = self.embedding.weights, ids.long()
        summed = grad.new_zeros((weights.shape[0], grad.shape[1])).index_add_(0, ids, grad)[ids]
        rows = weights[ids] * (1 - self.lr * self.weight_decay) - self.lr * torch.sign(summed)
        weights[ids] = rows.to(weights.dtype)


def warmup_constant_lr(step: int, base_lr: float, warmup_steps: int) -> float:
    """Official schedule with `lr_min_ratio=1`: linear warm-up from 0 over `warmup_steps`, then constant."""
    if step < warmup_steps:
        return base_lr * step / max(1, warmup_steps)
    return base_lr
