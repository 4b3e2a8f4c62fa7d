"""Linear attention: the kernel formula, memory linear in the sequence length, the conversion as a method, and a
runtime that would compute softmax refuses it."""
from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from redge.compress import compress_, load_method
from redge.core.errors import RedgeInputError
from redge.deploy.compat import runtime_rejections
from redge.models import ModelConfig, build_model
from redge.models.checkpoints import save_checkpoint
from redge.models.layers import linear_attention
from redge.quant.load import load_checkpoint

SMALL = dict(hidden_size=64, num_heads=2, puzzle_emb_ndim=64, H_cycles=1, L_cycles=2)


class LargestTensor(TorchDispatchMode):
    """Records the largest tensor any op produces (elements)."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_the_kernel_is_elu_plus_one_attention() -> None:
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 17, 8) for _ in range(3))
    phi_q, phi_k = torch.nn.functional.elu(q) + 1, torch.nn.functional.elu(k) + 1
    scores = phi_q @ phi_k.transpose(-2, -1)
    naive = (scores / scores.sum(-1, keepdim=True)) @ v
    assert torch.allclose(linear_attention(q, k, v), naive, atol=1e-5)


def test_memory_grows_linearly_with_the_sequence() -> None:
    largest = {}
    for seq in (256, 1024):
        q, k, v = (torch.randn(1, 2, seq, 32) for _ in range(3))
        with LargestTensor() as probe:
            linear_attention(q, k, v)
        largest[seq] = probe.largest
    assert largest[1024] <= 4 * largest[256]  # 4x the positions, at most 4x the memory (softmax scores: 16x)
    assert largest[1024] < 1024 * 1024  # never an S x S matrix


def test_the_method_converts_attention_models_and_the_checkpoint_keeps_it(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(**SMALL)).eval()
    batch = {"inputs": torch.randint(1, 11, (2, 81)), "puzzle_identifiers": torch.zeros(2, dtype=torch.long)}
    ref = model.predict(batch, depth=2)["logits"]
    linear = compress_(model, load_method("linear-attn"))
    assert linear.config.attention == "linear"
    out = linear.predict(batch, depth=2)["logits"]
    assert not torch.allclose(out, ref)
    save_checkpoint(linear, tmp_path / "lin")
    again = load_checkpoint(tmp_path / "lin")
    assert again.config.attention == "linear" and torch.allclose(again.predict(batch, depth=2)["logits"], out)
    assert any("linear attention" in r for r in runtime_rejections(again.config, []))


def test_an_mlp_t_model_has_no_attention_to_convert() -> None:
    model = build_model(ModelConfig(mlp_t=True, pos_encodings="none", **SMALL))
    with pytest.raises(RedgeInputError, match="no attention"):
        compress_(model, load_method("linear-attn"))
