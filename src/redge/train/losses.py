"""The official ACT loss (`models/losses.py::ACTLossHead`): stablemax or softmax cross-entropy per token, averaged
per sequence and summed over the batch, plus 0.5 x (Q-halt BCE + Q-continue BCE), with the official metrics.

All sums are over the local batch; the loop divides by the *global* batch size before backward, as the official
`pretrain.py` does. Stablemax cross-entropy runs in float64, as upstream.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_LABEL_ID = -100
LOSSES = ("stablemax_cross_entropy", "softmax_cross_entropy")


def _stablemax_s(x: torch.Tensor, epsilon: float = 1e-30) -> torch.Tensor:
    return torch.where(x < 0, 1 / (1 - x + epsilon), x + 1)


def log_stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log of stablemax: s(x) / sum s(x), with s(x) = 1/(1-x) for x < 0 and x + 1 otherwise."""
    s_x = _stablemax_s(x)
    return torch.log(s_x / torch.sum(s_x, dim=dim, keepdim=True))


def stablemax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, valid_mask: torch.Tensor) -> torch.Tensor:
    """Per-token stablemax cross-entropy in float64, zero where `valid_mask` is false."""
    logprobs = log_stablemax(logits.to(torch.float64), dim=-1)
    index = torch.where(valid_mask, labels, 0).to(torch.long).unsqueeze(-1)
    return -torch.where(valid_mask, torch.gather(logprobs, -1, index).squeeze(-1), 0)


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, valid_mask: torch.Tensor) -> torch.Tensor:
    """Per-token softmax cross-entropy in float32, zero where `valid_mask` is false."""
    flat = F.cross_entropy(logits.to(torch.float32).flatten(0, -2), torch.where(valid_mask, labels, 0).long().flatten(),
                           reduction="none").view(labels.shape)
    return torch.where(valid_mask, flat, 0)


def act_loss(outputs: dict[str, torch.Tensor], labels: torch.Tensor, halted: torch.Tensor, steps: torch.Tensor,
             loss_type: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(summed loss, summed metrics) of one ACT step; metrics count only the rows that halted at this step.

    `outputs` may carry `target_q_continue` (HRM's bootstrapped target), which adds the Q-continue BCE.
    Metric keys: count, accuracy, exact_accuracy, q_halt_accuracy, steps, lm_loss, q_halt_loss[, q_continue_loss].
    """
    if loss_type not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss_type!r}")
    loss_fn = stablemax_cross_entropy if loss_type == LOSSES[0] else softmax_cross_entropy
    logits = outputs["logits"]
    mask = labels != IGNORE_LABEL_ID
    counts = mask.sum(-1)
    divisor = counts.clamp_min(1).unsqueeze(-1)
    with torch.no_grad():
        is_correct = mask & (logits.argmax(-1) == labels)
        seq_correct = is_correct.sum(-1) == counts
        valid = halted & (counts > 0)
        metrics = {
            "count": valid.sum(),
            "accuracy": torch.where(valid, (is_correct.float() / divisor).sum(-1), 0).sum(),
            "exact_accuracy": (valid & seq_correct).sum(),
            "q_halt_accuracy": (valid & ((outputs["q_halt_logits"] >= 0) == seq_correct)).sum(),
            "steps": torch.where(valid, steps, 0).sum(),
        }
    lm_loss = (loss_fn(logits, labels, mask) / divisor).sum()
    q_halt = outputs["q_halt_logits"]
    q_halt_loss = F.binary_cross_entropy_with_logits(q_halt, seq_correct.to(q_halt.dtype), reduction="sum")
    metrics["lm_loss"] = lm_loss.detach()
    metrics["q_halt_loss"] = q_halt_loss.detach()
    total = lm_loss + 0.5 * q_halt_loss
    if "target_q_continue" in outputs:
        q_cont_loss = F.binary_cross_entropy_with_logits(outputs["q_continue_logits"], outputs["target_q_continue"],
                                                         reduction="sum")
        metrics["q_continue_loss"] = q_cont_loss.detach()
        total = total + 0.5 * q_cont_loss
    return total, metrics


def token_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
             temperature: float = 1.0) -> torch.Tensor:
    """Token-level distillation loss, summed over rows: per puzzle the mean over its target tokens of
    KL(softmax(teacher / T) || softmax(student / T)) x T^2 (the T^2 keeps gradient sizes comparable across T)."""
    mask = labels != IGNORE_LABEL_ID
    t_log = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    s_log = F.log_softmax(student_logits.float() / temperature, dim=-1)
    kl = (t_log.exp() * (t_log - s_log)).sum(-1) * temperature**2
    return (torch.where(mask, kl, 0).sum(-1) / mask.sum(-1).clamp_min(1)).sum()


def trajectory_loss(z_H: torch.Tensor, z_L: torch.Tensor, teacher_z_H: torch.Tensor, teacher_z_L: torch.Tensor
                    ) -> torch.Tensor:
    """Carry-trajectory loss, summed over rows: per puzzle the mean over positions of 1 - cos(student, teacher) for
    z_H and for z_L, averaged; zero exactly when the student's carry points where the teacher's does."""
    def one(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (1 - F.cosine_similarity(a.float(), b.float(), dim=-1)).mean(-1)

    return (0.5 * (one(z_H, teacher_z_H) + one(z_L, teacher_z_L))).sum()
