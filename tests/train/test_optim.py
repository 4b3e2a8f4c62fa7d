"""Adam-atan2 against its formula, sparse SignSGD on the touched rows only, warm-up schedule."""
import math

import torch

from redge.models.layers import PuzzleEmbedding
from redge.train.optim import AdamAtan2, SparseSignSGD, warmup_constant_lr


def test_adam_atan2_two_steps_match_formula():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = AdamAtan2([p], lr=0.1, betas=(0.9, 0.95), weight_decay=0.5)
    ref = p.detach().clone()
    m = torch.zeros(2)
    v = torch.zeros(2)
    for t, g in enumerate((torch.tensor([0.3, -1.0]), torch.tensor([0.1, 2.0])), start=1):
        p.grad = g.clone()
        opt.step()
        ref = ref * (1 - 0.1 * 0.5)
        m = 0.9 * m + 0.1 * g
        v = 0.95 * v + 0.05 * g * g
        ref = ref - 0.1 / (1 - 0.9 ** t) * torch.atan2(m, v.sqrt() / math.sqrt(1 - 0.95 ** t))
    assert torch.allclose(p.detach(), ref, atol=1e-6)


def test_sparse_signsgd_updates_touched_rows_only():
    emb = PuzzleEmbedding(4, 3).train()
    emb.weights.fill_(1.0)
    out = emb(torch.tensor([1, 1, 3]), torch.float32)
    (out * torch.tensor([[1.0, -1.0, 0.0]])).sum().backward()
    SparseSignSGD(emb, lr=0.1, weight_decay=1.0).step()
    w = emb.weights
    assert torch.equal(w[0], torch.ones(3)) and torch.equal(w[2], torch.ones(3))
    assert torch.allclose(w[1], torch.tensor([0.8, 1.0, 0.9])) and torch.allclose(w[3], w[1])


def test_warmup_then_constant():
    assert warmup_constant_lr(0, 1e-4, 10) == 0
    assert math.isclose(warmup_constant_lr(5, 1e-4, 10), 5e-5)
    assert warmup_constant_lr(10, 1e-4, 10) == warmup_constant_lr(10_000, 1e-4, 10) == 1e-4


def test_adam_atan2_groups_match_one_parameter_at_a_time():
    # The batched (foreach) update of several parameters, one of them without a gradient in a step, equals
    # optimizing each parameter alone.
    torch.manual_seed(0)
    shapes = [(3, 4), (5,), (2, 2, 2)]
    together = [torch.nn.Parameter(torch.randn(s)) for s in shapes]
    alone = [torch.nn.Parameter(p.detach().clone()) for p in together]
    opt = AdamAtan2(together, lr=0.01, weight_decay=0.1)
    opts = [AdamAtan2([p], lr=0.01, weight_decay=0.1) for p in alone]
    for step in range(4):
        grads = [torch.randn(s) for s in shapes]
        for i, (a, b, g) in enumerate(zip(together, alone, grads)):
            skip = step == 1 and i == 1
            a.grad = None if skip else g.clone()
            b.grad = None if skip else g.clone()
        opt.step()
        for o in opts:
            o.step()
    for a, b in zip(together, alone):
        assert torch.allclose(a.detach(), b.detach(), atol=1e-7)
    assert opt.state[together[1]]["step"] == 3 and opt.state[together[0]]["step"] == 4
