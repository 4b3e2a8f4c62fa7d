"""ACT loss: stablemax matches its definition, metrics count halted rows, Q-continue adds its BCE."""
import torch

from redge.train.losses import (
    act_loss,
    log_stablemax,
    softmax_cross_entropy,
    stablemax_cross_entropy,
)


def test_log_stablemax_definition():
    x = torch.tensor([[-2.0, 0.0, 3.0]], dtype=torch.float64)
    s = torch.tensor([[1 / 3, 1.0, 4.0]], dtype=torch.float64)
    assert torch.allclose(log_stablemax(x), torch.log(s / s.sum()))


def test_cross_entropies_ignore_masked_tokens():
    logits = torch.randn(2, 5, 7)
    labels = torch.randint(0, 7, (2, 5))
    mask = torch.ones_like(labels, dtype=torch.bool)
    mask[0, 0] = False
    for fn in (stablemax_cross_entropy, softmax_cross_entropy):
        out = fn(logits, labels, mask)
        assert out.shape == labels.shape and out[0, 0] == 0 and (out[mask] > 0).all()
    assert stablemax_cross_entropy(logits, labels, mask).dtype == torch.float64


def test_act_loss_metrics_and_q_continue():
    labels = torch.tensor([[2, 3], [4, -100]])
    logits = torch.full((2, 2, 5), -5.0)
    logits[0, 0, 2] = logits[0, 1, 3] = logits[1, 0, 1] = 5.0  # row 0 right, row 1 wrong
    out = {"logits": logits, "q_halt_logits": torch.tensor([1.0, 1.0]), "q_continue_logits": torch.zeros(2)}
    halted = torch.tensor([True, True])
    loss, m = act_loss(out, labels, halted, torch.tensor([3, 5]), "softmax_cross_entropy")
    assert m["count"] == 2 and m["exact_accuracy"] == 1 and m["q_halt_accuracy"] == 1 and m["steps"] == 8
    out["target_q_continue"] = torch.tensor([0.5, 0.5])
    loss2, m2 = act_loss(out, labels, halted, torch.tensor([3, 5]), "softmax_cross_entropy")
    assert torch.isclose(loss2 - loss, 0.5 * m2["q_continue_loss"].to(loss.dtype))
